"""Issue 6, reliability: consistency under concurrent writes, lock waits, faults (killed
connection, stopped server, signals, full disk), retention, integrity checks and bad input.

Every test runs ``pydump``/``pyrestore`` as a subprocess against a real server, the way a
user does, and checks exit codes, the one-line error, and what is (not) left on disk.
"""

from __future__ import annotations

import hashlib
import json
import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from tests.soak.load import app_schema
from tests.support import oracle
from tests.support import pgtest
from tests.support.helpers import (PydumpRun, dump, dump_args, pydump, run_pydump, run_pyrestore,
                                   start_pydump, wait_for_copy)



# --------------------------------------------------------------------------- helpers

def assert_one_error_line(stderr: str, prog: str = "pydump") -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, f"expected exactly one line on stderr, got:\n{stderr}"
    assert lines[0].startswith(f"{prog}: error: "), lines[0]
    return lines[0]


def entries(d: Path) -> list[str]:
    return sorted(os.listdir(d)) if d.exists() else []


def complete_backups(d: Path) -> list[str]:
    return sorted(n for n in entries(d) if not n.startswith(".") and (d / n).is_dir())


def fill_big_table(run_sql, dsn: str, rows: int = 400_000) -> None:
    run_sql(dsn, f"""
        CREATE TABLE public.big (id bigint PRIMARY KEY, payload text NOT NULL);
        INSERT INTO public.big SELECT g, md5(g::text) || md5((g * 7)::text)
          FROM generate_series(1, {rows}) g;
        ANALYZE public.big;
    """)


def count(dsn: str, sql: str):
    with pgtest.connect(dsn) as conn:
        return conn.execute(sql).fetchone()[0]


# =========================================================================== consistency

ACCOUNTS = 500
TOTAL = ACCOUNTS * 1000
INITIAL_PARENTS = 2000
CHILDREN_PER_PARENT = 100  # 200k children

LOAD_SCHEMA = app_schema(ACCOUNTS, INITIAL_PARENTS, CHILDREN_PER_PARENT, events=1000) + "ANALYZE;"


class Writer(threading.Thread):
    """Keeps changing parents/children/accounts/events in small transactions until told to
    stop (or, at the latest, after ``max_seconds``). Every transaction keeps the invariants:
    the accounts' total is constant, every parent's ``n_children`` is its number of children,
    and ``state_log`` gets the exact totals after the commit."""

    def __init__(self, dsn: str, max_seconds: float = 90) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.stop_event = threading.Event()
        self.max_seconds = max_seconds
        self.commits = 0
        self.error: BaseException | None = None
        self.commit_times: list[float] = []

    def run(self) -> None:
        import random

        rnd = random.Random(6)
        try:
            with psycopg.connect(self.dsn, autocommit=False) as conn:
                parents, children, events = (INITIAL_PARENTS, INITIAL_PARENTS * CHILDREN_PER_PARENT, 1000)
                version = 0
                deadline = time.monotonic() + self.max_seconds
                while not self.stop_event.is_set() and time.monotonic() < deadline:
                    op = version % 4
                    with conn.transaction():
                        # move money between two accounts: total unchanged
                        a, b = rnd.sample(range(1, ACCOUNTS + 1), 2)
                        amt = rnd.randint(1, 50)
                        conn.execute("UPDATE public.accounts SET balance = balance - %s WHERE id = %s", (amt, a))
                        conn.execute("UPDATE public.accounts SET balance = balance + %s WHERE id = %s", (amt, b))
                        if op == 0:  # a new parent with k children
                            k = rnd.randint(1, 20)
                            pid = conn.execute("INSERT INTO public.parents (n_children, note) VALUES (%s, 'new')"
                                               " RETURNING id", (k,)).fetchone()[0]
                            conn.execute("INSERT INTO public.children (parent_id, payload)"
                                         " SELECT %s, 'c' || g FROM generate_series(1, %s) g", (pid, k))
                            parents += 1
                            children += k
                        elif op == 1:  # delete a parent (children cascade)
                            row = conn.execute("SELECT id, n_children FROM public.parents"
                                               " ORDER BY random() LIMIT 1").fetchone()
                            if row:
                                conn.execute("DELETE FROM public.parents WHERE id = %s", (row[0],))
                                parents -= 1
                                children -= row[1]
                        elif op == 2:  # move children from one parent to another
                            rows = conn.execute("SELECT id FROM public.parents WHERE n_children > 1"
                                                " ORDER BY random() LIMIT 2").fetchall()
                            if len(rows) == 2:
                                src, dst = rows[0][0], rows[1][0]
                                moved = conn.execute(
                                    "UPDATE public.children SET parent_id = %s, payload = payload || '+'"
                                    " WHERE id IN (SELECT id FROM public.children WHERE parent_id = %s LIMIT 1)",
                                    (dst, src)).rowcount
                                conn.execute("UPDATE public.parents SET n_children = n_children - %s WHERE id = %s",
                                             (moved, src))
                                conn.execute("UPDATE public.parents SET n_children = n_children + %s WHERE id = %s",
                                             (moved, dst))
                        else:  # delete one child
                            row = conn.execute("SELECT c.id, c.parent_id FROM public.children c"
                                               " WHERE c.id = (SELECT max(id) FROM public.children)").fetchone()
                            if row:
                                conn.execute("DELETE FROM public.children WHERE id = %s", (row[0],))
                                conn.execute("UPDATE public.parents SET n_children = n_children - 1 WHERE id = %s",
                                             (row[1],))
                                children -= 1
                        conn.execute("INSERT INTO public.events (kind) VALUES (%s)", (f"op{op}",))
                        events += 1
                        version += 1
                        conn.execute("INSERT INTO public.state_log VALUES (%s, %s, %s, %s)",
                                     (version, parents, children, events))
                    self.commits += 1
                    self.commit_times.append(time.monotonic())
        except BaseException as e:  # surfaced by the test
            self.error = e


@pytest.mark.parametrize("jobs", [1, 2], ids=["j1", "j2"])
def test_consistent_snapshot_under_concurrent_writes(make_db, run_sql, tmp_path, jobs):
    server = make_db.server
    src = make_db("load")
    run_sql(src, LOAD_SCHEMA)
    writer = Writer(src)
    writer.start()
    try:
        # let the writer get going so that the dump certainly overlaps with commits
        t_wait = time.monotonic()
        while writer.commits < 20 and writer.is_alive() and time.monotonic() - t_wait < 30:
            time.sleep(0.01)
        t0 = time.monotonic()
        proc = dump(src, tmp_path / "out", "-j", str(jobs), "--csv", "none")
        t1 = time.monotonic()
    finally:
        writer.stop_event.set()
        writer.join(60)
    assert writer.error is None, f"writer failed: {writer.error!r}"
    assert proc.returncode == 0, proc.stderr
    during = [t for t in writer.commit_times if t0 < t < t1]
    assert len(during) >= 5, "the writer did not commit while pydump ran: the test proves nothing"

    backup = Path(json.loads(proc.stdout)["backup_dir"])
    if not backup.is_absolute():
        backup = (tmp_path / backup).resolve()
    dst = make_db("load_copy")
    # ON_ERROR_STOP: the post-data FOREIGN KEY validates every child against its parent
    oracle.psql_replay(server, dst, backup / "backup.sql.gz")

    row_counts = json.loads((backup / "row_counts.json").read_text())
    with pgtest.connect(dst) as conn:
        restored = {key: conn.execute(f"SELECT count(*) FROM {key}").fetchone()[0] for key in row_counts}
        assert restored == row_counts
        # the money moved around but none was created or lost
        assert conn.execute("SELECT sum(balance), count(*) FROM public.accounts").fetchone() == (TOTAL, ACCOUNTS)
        # no orphans, and every parent's counter matches its children (cross-table snapshot)
        assert conn.execute("SELECT count(*) FROM public.children c LEFT JOIN public.parents p"
                            " ON p.id = c.parent_id WHERE p.id IS NULL").fetchone()[0] == 0
        bad = conn.execute("SELECT p.id, p.n_children, count(c.id) FROM public.parents p"
                           " LEFT JOIN public.children c ON c.parent_id = p.id"
                           " GROUP BY p.id HAVING p.n_children <> count(c.id) LIMIT 5").fetchall()
        assert bad == [], f"parents whose children were dumped at another instant: {bad}"
        # the counts equal those of the database at one committed instant: the last writer
        # transaction the snapshot saw recorded the exact totals
        version, parents, children, events = conn.execute(
            "SELECT * FROM public.state_log ORDER BY version DESC LIMIT 1").fetchone()
        assert version > 0, "the snapshot was taken before any concurrent commit"
        assert (restored["public.parents"], restored["public.children"], restored["public.events"]) == \
            (parents, children, events)
        assert restored["public.state_log"] == version + 1
        # the sequences were dumped no earlier than the data they produced
        for seq, table in (("public.events_id_seq", "public.events"), ("public.children_id_seq", "public.children"),
                           ("public.parents_id_seq", "public.parents")):
            last = conn.execute(f"SELECT last_value FROM {seq}").fetchone()[0]
            top = conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
            assert last >= top, f"{seq} restored at {last} below max(id) {top} of {table}"


# =========================================================================== locks

def test_lock_wait_timeout_fails_clearly(db, run_sql, tmp_path):
    run_sql(db, "CREATE TABLE public.busy (id int PRIMARY KEY); INSERT INTO public.busy VALUES (1);"
                "CREATE TABLE public.other (id int);")
    out = tmp_path / "out"
    with pgtest.connect(db, autocommit=False) as holder:
        holder.execute("LOCK TABLE public.busy IN ACCESS EXCLUSIVE MODE")
        t0 = time.monotonic()
        proc = dump(db, out, "--lock-wait-timeout", "500", timeout=60)
        elapsed = time.monotonic() - t0
        holder.rollback()
    assert proc.returncode == 6, proc.stderr
    assert elapsed < 10, f"pydump took {elapsed:.1f}s to give up on a 500 ms lock wait"
    line = assert_one_error_line(proc.stderr)
    assert "lock" in line.lower()
    assert entries(out) == [], f"left behind: {entries(out)}"


def test_table_dropped_while_waiting_for_its_lock(db, run_sql, tmp_path):
    """A table dropped by a transaction that commits while pydump waits for its lock: the
    backup fails clearly (object vanished) instead of dumping a table that no longer exists."""
    run_sql(db, "CREATE TABLE public.doomed (id int); INSERT INTO public.doomed VALUES (1), (2);"
                "CREATE TABLE public.kept (id int);")
    out = tmp_path / "out"
    out.mkdir()
    with pgtest.connect(db, autocommit=False) as holder:
        holder.execute("DROP TABLE public.doomed")  # holds ACCESS EXCLUSIVE until commit
        proc = start_pydump(dump_args(db, out, "--lock-wait-timeout", "20000"), cwd=out.parent)
        try:
            # wait until pydump is blocked on the lock, then let the DROP commit
            deadline = time.monotonic() + 30
            with pgtest.connect(db) as mon:
                while time.monotonic() < deadline:
                    if mon.execute("SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'pydump%%'"
                                   " AND wait_event_type = 'Lock'").fetchone():
                        break
                    assert proc.poll() is None, proc.communicate()
                    time.sleep(0.02)
                else:
                    raise AssertionError("pydump never waited for the lock")
            holder.commit()
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 7, stderr
    line = assert_one_error_line(stderr)
    # LOCK TABLE re-resolves the name after its wait: the table is gone, and the line says which
    assert "disappeared" in line and "doomed" in line, line
    assert entries(out) == []


# =========================================================================== faults

EVENTS_DDL = """
CREATE SCHEMA code_ops;
CREATE TABLE code_ops.artifact_events (
    id bigserial PRIMARY KEY, run_id uuid, artifact_type text, artifact_name text,
    artifact_version text, event_type text, success boolean, details jsonb,
    created_at timestamptz DEFAULT now());
"""


def test_connection_terminated_mid_copy_reports_failure(db, run_sql, tmp_path):
    run_sql(db, EVENTS_DDL)
    fill_big_table(run_sql, db)
    out = tmp_path / "out"
    out.mkdir()
    proc = start_pydump(dump_args(db, out, report=True), cwd=out.parent)
    try:
        backend = wait_for_copy(db, proc, "big")[0]
        os.kill(proc.pid, signal.SIGSTOP)  # keep it mid-COPY while the server kills its session
        try:
            with pgtest.connect(db) as conn:
                assert conn.execute("SELECT pg_terminate_backend(%s)", (backend,)).fetchone()[0]
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 7, stderr
    assert_one_error_line(stderr)
    assert complete_backups(out) == [] and entries(out) == [], entries(out)
    with pgtest.connect(db) as conn:
        rows = conn.execute("SELECT event_type, success, details::text FROM code_ops.artifact_events"
                            " ORDER BY id").fetchall()
    kinds = [(r[0], r[1]) for r in rows]
    assert ("invoked", None) in kinds
    assert ("completed", False) in kinds, rows
    assert ("completed", True) not in kinds, rows


def test_server_stopped_mid_dump(private_server, run_sql, tmp_path):
    """The server dies mid-COPY and comes back: a clean failure, and once the server is back
    the ``completed`` row says ``success = false``."""
    server = private_server
    dsn = server.create_database("victim")
    run_sql(dsn, EVENTS_DDL)
    fill_big_table(run_sql, dsn)
    run_sql(dsn, "CHECKPOINT")  # the test server runs with fsync off: make the table durable
    out = tmp_path / "out"
    out.mkdir()
    proc = start_pydump(dump_args(dsn, out, report=True), cwd=out.parent)
    try:
        wait_for_copy(dsn, proc, "big")
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            server.stop(mode="immediate")
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        server.start()
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode not in (0, 1), stderr
    assert proc.returncode == 7, stderr
    assert_one_error_line(stderr)
    assert complete_backups(out) == []
    assert entries(out) == [], f"partial directory left behind: {entries(out)}"
    assert count(dsn, "SELECT count(*) FROM public.big") == 400_000
    with pgtest.connect(dsn) as conn:
        kinds = conn.execute("SELECT event_type, success FROM code_ops.artifact_events ORDER BY id").fetchall()
    # (the invoked row may be lost: the test server runs without durable commits)
    assert ("completed", False) in kinds and ("completed", True) not in kinds, kinds


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_dump(db, run_sql, tmp_path, sig):
    fill_big_table(run_sql, db)
    out = tmp_path / "out"
    out.mkdir()
    proc = start_pydump(dump_args(db, out, "-j", "2"), cwd=out.parent)
    try:
        wait_for_copy(db, proc, "big")
        os.kill(proc.pid, signal.SIGSTOP)
        os.kill(proc.pid, sig)
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGCONT)
        stdout, stderr = proc.communicate(timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert elapsed < 5, f"pydump took {elapsed:.1f}s to stop"
    assert proc.returncode == 130, stderr
    assert_one_error_line(stderr)
    assert entries(out) == [], f"partial directory left behind: {entries(out)}"
    # the workers stopped too: no session of pydump stays on the server
    deadline = time.monotonic() + 5
    while True:
        left = count(db, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pydump%%'")
        if left == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == 0, "pydump's server sessions outlived the process"


@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    """A small tmpfs at ``path`` for the test's duration (root can mount one here)."""
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_disk_full(db, run_sql, tmp_path):
    fill_big_table(run_sql, db, rows=100_000)  # ~7 MB of COPY text, hardly compressible md5s
    with tmpfs(tmp_path / "small", "size=256k") as mnt:
        proc = dump(db, mnt, "--csv", "all", cwd=tmp_path)
        left = entries(mnt)
    assert proc.returncode == 5, proc.stderr
    line = assert_one_error_line(proc.stderr)
    assert "no space" in line.lower(), line
    assert left == [], f"left on the full disk: {left}"


def test_keep_removes_only_the_oldest_complete_backups(db, run_sql, tmp_path):
    run_sql(db, "CREATE TABLE public.t (id int); INSERT INTO public.t VALUES (1);")
    out = tmp_path / "out"
    made = [pydump(db, out).name for _ in range(4)]
    assert complete_backups(out) == sorted(made)
    (out / ".19990101_000000.partial").mkdir()  # left by a killed run: no live run holds it
    (out / ".19990101_000000.partial" / "x").write_text("in progress")
    (out / "notes.txt").write_text("not a backup")
    (out / "20000101_000000").mkdir()  # named like a backup but without metadata.json: not ours
    newest = pydump(db, out, "--keep", "2").name
    assert complete_backups(out) == sorted([made[-1], newest, "20000101_000000"])
    assert not (out / ".19990101_000000.partial").exists()  # stale: cleaned (a live run's stays: test_soak_regressions)
    assert (out / "notes.txt").read_text() == "not a backup"
    for name in (made[-1], newest):
        assert (out / name / "metadata.json").is_file()


# =========================================================================== integrity

INTEGRITY_DB = """
CREATE TABLE public.parent (id int PRIMARY KEY, name text);
CREATE TABLE public.child (id serial PRIMARY KEY, parent_id int REFERENCES public.parent (id),
                           note text);
INSERT INTO public.parent SELECT g, 'parent ' || g FROM generate_series(1, 300) g;
INSERT INTO public.child (parent_id, note) SELECT 1 + g % 300, repeat('x', g % 50) || E'\\n"q"'
  FROM generate_series(1, 3000) g;
"""


def _flip(path: Path, at: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    i = min(len(data) - 1, max(0, int(len(data) * at)))
    data[i] ^= 0x20
    path.write_bytes(bytes(data))


def _fix_sha(backup: Path, rel: str) -> None:
    """Record the current size and sha256 of ``rel`` in metadata.json, so that only the
    deeper checks (streams, counts) can notice what was done to it."""
    meta_path = backup / "metadata.json"
    meta = json.loads(meta_path.read_text())
    p = backup / rel
    meta["files"][rel] = {"bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
    meta_path.write_text(json.dumps(meta, indent=2))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def _edit_row_counts(backup: Path) -> None:
    p = backup / "row_counts.json"
    counts = json.loads(p.read_text())
    counts["public.child"] += 1
    p.write_text(json.dumps(counts))
    _fix_sha(backup, "row_counts.json")


def _drop_csv_row(backup: Path) -> None:
    p = backup / "data" / "public.parent.csv"
    lines = p.read_bytes().splitlines(keepends=True)
    p.write_bytes(b"".join(lines[:-1]))
    _fix_sha(backup, "data/public.parent.csv")


def _remove_csv_and_listing(backup: Path) -> None:
    (backup / "data" / "public.parent.csv").unlink()
    meta = json.loads((backup / "metadata.json").read_text())
    del meta["files"]["data/public.parent.csv"]
    (backup / "metadata.json").write_text(json.dumps(meta))


# name -> (damage, detectable by checksums alone)
CORRUPTIONS = {
    "flipped byte in backup.sql.gz": (lambda b: _flip(b / "backup.sql.gz"), True),
    "flipped byte in a CSV": (lambda b: _flip(b / "data" / "public.child.csv"), True),
    "flipped byte in toc.json": (lambda b: _flip(b / "toc.json"), True),
    "flipped byte in row_counts.json": (lambda b: _flip(b / "row_counts.json", 0.3), True),
    "truncated gzip": (lambda b: _truncate(b / "backup.sql.gz"), True),
    "truncated gzip, checksum fixed up": (
        lambda b: (_truncate(b / "backup.sql.gz"), _fix_sha(b, "backup.sql.gz")), False),
    "flipped byte in gzip, checksum fixed up": (
        lambda b: (_flip(b / "backup.sql.gz", 0.7), _fix_sha(b, "backup.sql.gz")), False),
    "missing CSV": (lambda b: (b / "data" / "public.child.csv").unlink(), True),
    "missing CSV, unlisted too": (_remove_csv_and_listing, False),
    "row_counts.json edited, checksum fixed up": (_edit_row_counts, False),
    "CSV record removed, checksum fixed up": (_drop_csv_row, False),
    "unlisted extra file": (lambda b: (b / "data" / "extra.csv").write_text("id\n1\n"), True),
}


def _user_relations(dsn: str) -> list[str]:
    with pgtest.connect(dsn) as conn:
        return [r[0] for r in conn.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            " AND n.nspname NOT LIKE 'pg_temp%%' AND n.nspname NOT LIKE 'pg_toast_temp%%'").fetchall()]


def test_every_file_is_listed_with_its_checksum(db, run_sql, tmp_path):
    run_sql(db, INTEGRITY_DB)
    backup = pydump(db, tmp_path / "out")
    meta = json.loads((backup / "metadata.json").read_text())
    on_disk = {p.relative_to(backup).as_posix() for p in backup.rglob("*") if p.is_file()}
    assert set(meta["files"]) == on_disk - {"metadata.json"}
    assert "data/public.child.csv" in on_disk and "backup.sql.gz" in on_disk
    for rel, info in meta["files"].items():
        data = (backup / rel).read_bytes()
        assert info["bytes"] == len(data), rel
        assert info["sha256"] == hashlib.sha256(data).hexdigest(), rel


def test_check_and_verify_detect_every_corruption(db, run_sql, tmp_path):
    run_sql(db, INTEGRITY_DB)
    good = pydump(db, tmp_path / "out")
    for cmd in (["pyrestore", "--check"], ["pydump", "--verify"]):
        proc = _verify_cmd(cmd, good)
        assert proc.returncode == 0, f"{' '.join(cmd)} rejects an intact backup: {proc.stderr}"
    missed = []
    for i, (name, (damage, _)) in enumerate(CORRUPTIONS.items()):
        bad = tmp_path / f"bad{i}"
        shutil.copytree(good, bad)
        damage(bad)
        for cmd in (["pyrestore", "--check"], ["pydump", "--verify"]):
            proc = _verify_cmd(cmd, bad)
            if proc.returncode == 0:
                missed.append(f"{' '.join(cmd)} missed: {name}")
            elif "Traceback" in proc.stderr or proc.returncode == 1:
                missed.append(f"{' '.join(cmd)} crashed on {name}: {proc.stderr[-500:]}")
        shutil.rmtree(bad)
    assert not missed, "\n".join(missed)


def _verify_cmd(cmd: list[str], backup: Path) -> PydumpRun:
    if cmd[0] == "pyrestore":
        return run_pyrestore(["--check", str(backup)], timeout=120)
    return run_pydump(["--verify", str(backup)], timeout=120)


def test_restore_refuses_a_damaged_backup_unless_forced(db, make_db, run_sql, tmp_path):
    run_sql(db, INTEGRITY_DB)
    good = pydump(db, tmp_path / "out")
    for name in ("flipped byte in a CSV", "flipped byte in backup.sql.gz", "missing CSV",
                 "flipped byte in row_counts.json"):
        bad = tmp_path / re.sub(r"\W+", "_", name)
        shutil.copytree(good, bad)
        CORRUPTIONS[name][0](bad)
        target = make_db("refuse")
        proc = run_pyrestore([str(bad), target, "--no-report"])
        assert proc.returncode not in (0, 1), f"{name}: pyrestore restored it ({proc.returncode}) {proc.stderr}"
        assert "Traceback" not in proc.stderr
        assert _user_relations(target) == [], f"{name}: the target was changed"
    # --force restores anyway when the script itself is intact
    bad = tmp_path / "forced"
    shutil.copytree(good, bad)
    CORRUPTIONS["flipped byte in a CSV"][0](bad)
    target = make_db("forced")
    proc = run_pyrestore([str(bad), target, "--force", "--no-report"])
    assert proc.returncode == 0, proc.stderr
    assert oracle.table_hashes(target) == oracle.table_hashes(db)


@pytest.mark.parametrize("name", ["truncated gzip, checksum fixed up", "row_counts.json edited, checksum fixed up"])
def test_restore_of_a_damaged_backup_in_one_transaction_leaves_target_unchanged(db, make_db, run_sql, tmp_path, name):
    """Damage that only a full read notices (checksums fixed up): the restore fails
    (non-zero), and with --single-transaction nothing of it remains in the target."""
    run_sql(db, INTEGRITY_DB)
    good = pydump(db, tmp_path / "out")
    bad = tmp_path / "bad"
    shutil.copytree(good, bad)
    CORRUPTIONS[name][0](bad)
    target = make_db("onetx")
    proc = run_pyrestore([str(bad), target, "--single-transaction", "--no-report"])
    assert proc.returncode not in (0, 1), f"pyrestore accepted it ({proc.returncode}): {proc.stderr}"
    assert "Traceback" not in proc.stderr
    if "row_counts" in name:
        # the data is fine, only the recorded count is off: the mismatch must be reported
        assert proc.returncode == 8, proc.stderr
        assert "public.child" in proc.stderr
    else:
        assert _user_relations(target) == [], "a failed single-transaction restore left objects behind"


# =========================================================================== bad input

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def password_role(pg_server):
    """A login role with a password (scram over TCP); dropped afterwards."""
    import secrets

    if not pg_server.supports_password or pg_server.external:
        pytest.skip("needs a local server with password authentication over TCP")
    name = f"pydump_pw_{secrets.token_hex(4)}"
    password = f"Pw-{secrets.token_hex(12)}"
    with pg_server.connect() as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN SUPERUSER PASSWORD '{password}'")
    yield name, password
    with pg_server.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {name}")


def _expect_error(proc: subprocess.CompletedProcess, code: int, *words: str) -> str:
    assert proc.returncode == code, f"exit {proc.returncode}, wanted {code}: {proc.stderr}"
    line = assert_one_error_line(proc.stderr)
    for w in words:
        assert w.lower() in line.lower(), f"{w!r} not in {line!r}"
    out = json.loads(proc.stdout)  # --json: one object on failure too
    assert out["ok"] is False and out["exit_code"] == code and out["error"] in line, out
    return line


def _closed_dsn() -> str:
    return f"host=127.0.0.1 port={_free_port()} dbname=postgres user=postgres connect_timeout=5"


def test_unreachable_host(tmp_path):
    dsn = _closed_dsn()
    _expect_error(dump(dsn, tmp_path / "out", timeout=60), 3)
    assert entries(tmp_path / "out") == []


def test_wrong_password(pg_server, password_role, tmp_path):
    name, password = password_role
    wrong = password[::-1]
    dsn = pg_server.dsn(user=name, password=wrong, tcp=True)
    line = _expect_error(dump(dsn, tmp_path / "out", timeout=60), 3)
    assert wrong not in line and password not in line
    assert entries(tmp_path / "out") == []


def test_database_does_not_exist(pg_server, tmp_path):
    dsn = pg_server.dsn("no_such_database_pydump")
    _expect_error(dump(dsn, tmp_path / "out", timeout=60), 3, "no_such_database_pydump")


@pytest.mark.parametrize("content,code", [
    ('[core\npatterns = ["a.*"]\n', 2),
    ('[core]\nlabel = "Core"\npaterns = ["a.*"]\n', 2),
    ('[core]\npatterns = "a.*"\n', 2),
    ('[core]\ncsv = "yes"\n', 2),
], ids=["syntax", "unknown-key", "patterns-not-list", "csv-not-bool"])
def test_bad_category_file(tmp_path, content, code):
    """Options and the category file are checked before connecting (so no server is needed:
    the DSN points at a closed port, which would give exit 3)."""
    cats = tmp_path / "cats.toml"
    cats.write_text(content)
    _expect_error(dump(_closed_dsn(), tmp_path / "out", "--categories", str(cats)), code, "categor")
    assert entries(tmp_path / "out") == []


def test_missing_category_file(tmp_path):
    _expect_error(dump(_closed_dsn(), tmp_path / "out", "--categories", str(tmp_path / "nope.toml")), 2)


def test_pattern_matching_nothing_is_a_warning(db, run_sql, tmp_path):
    run_sql(db, "CREATE TABLE public.t (id int); INSERT INTO public.t VALUES (1);")
    proc = dump(db, tmp_path / "out", "-t", "public.no_such_table*")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    warn = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(warn) == 1 and warn[0].startswith("pydump: warning:"), proc.stderr
    assert "no_such_table" in warn[0]
    assert json.loads(proc.stdout)["ok"] is True


@pytest.mark.parametrize("args", [["--schema-only", "--data-only"], ["-s", "-a"], ["--jobs", "0"],
                                  ["--compress", "brotli"], ["--keep", "0"]])
def test_conflicting_options(tmp_path, args):
    _expect_error(dump(_closed_dsn(), tmp_path / "out", *args), 2)
    assert entries(tmp_path / "out") == []


def test_out_on_read_only_filesystem(db, run_sql, tmp_path):
    run_sql(db, "CREATE TABLE public.t (id int);")
    with tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        proc_direct = dump(db, ro, cwd=tmp_path)
        proc_sub = dump(db, ro / "sub", cwd=tmp_path)
        left = entries(ro)
    _expect_error(proc_direct, 5)
    _expect_error(proc_sub, 5)
    assert left == []


def test_out_below_a_regular_file(db, tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    _expect_error(dump(db, f / "sub", cwd=tmp_path), 5)
    assert f.read_text() == "x"


def test_backup_from_a_newer_pydump(db, run_sql, tmp_path):
    run_sql(db, "CREATE TABLE public.t (id int); INSERT INTO public.t VALUES (1);")
    backup = pydump(db, tmp_path / "out")
    meta = json.loads((backup / "metadata.json").read_text())
    meta["format"] = 99
    (backup / "metadata.json").write_text(json.dumps(meta))
    proc = run_pyrestore(["--check", str(backup)])
    assert proc.returncode == 12, proc.stderr  # an unusable backup
    errs = [ln for ln in proc.stderr.splitlines() if ln.startswith("pyrestore: error:")]
    assert errs and "format" in errs[0].lower(), proc.stderr
    assert "Traceback" not in proc.stderr
