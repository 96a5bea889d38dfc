"""Databases with more tables than the server's lock table holds (issue 18).

One private server with a default-sized lock table (``max_locks_per_transaction`` 64,
``max_connections`` 20, background slots turned down so the spare shared memory is small too)
and a database of 3,000 tables, more than a single transaction can lock on it: pg_dump fails
there with ``out of shared memory``. pydump's default run stops before its first lock with the
numbers; ``--lock-batches`` backs it up without a settings change, and a ``DROP``/``ALTER``
between two of its batches (made deterministic by ``PYDUMP_TEST_BATCH_PAUSE``, a test-only
hook) fails the backup naming the table, leaving no complete-looking directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import psycopg
import pytest

from tests.support import oracle
from tests.support import pgtest
from tests.support.helpers import assert_clean_failure, backup_dirs, dump_ok, leftovers, load_json, run_pydump, start_pydump

pytestmark = pytest.mark.slow  # builds 3,000 tables (and a small lock table) on its own servers: `make test-slow`

TABLES = 3000
#: a default-sized lock table: guaranteed 64 × 20 = 1,280 entries; a lone session gets ~2,500
SMALL_LOCKS = {"max_locks_per_transaction": "64", "max_connections": "20", "max_wal_senders": "0",
               "max_worker_processes": "0", "autovacuum_max_workers": "1"}


def _build(dsn: str) -> None:
    """3,000 tenant tables (PK, default, CHECK, two rows), a view every 100 tables joining two of
    them, a serial table, a partitioned table and ``zz.last`` (the last table the dump copies).
    Each DO block is its own transaction: CREATE TABLE holds a lock until commit too."""
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE SCHEMA tenants; CREATE SCHEMA zz")
        for lo in range(1, TABLES + 1, 500):
            c.execute(f"""
                DO $$ BEGIN FOR i IN {lo}..{min(TABLES, lo + 499)} LOOP
                  EXECUTE format('CREATE TABLE tenants.t%1$s (id int PRIMARY KEY, v text DEFAULT ''x'' CHECK (v <> ''''));
                                  INSERT INTO tenants.t%1$s VALUES (1, ''a%1$s''), (2, ''b'');', i);
                  IF i % 100 = 0 THEN
                    EXECUTE format('CREATE VIEW tenants.v%1$s AS SELECT a.id, a.v, b.v AS w
                                    FROM tenants.t%1$s a JOIN tenants.t%2$s b USING (id);
                                    COMMENT ON VIEW tenants.v%1$s IS ''view %1$s''', i, i - 1);
                  END IF;
                END LOOP; END $$""")
        c.execute("""
            CREATE TABLE tenants.serials (id serial PRIMARY KEY, note text);
            INSERT INTO tenants.serials (note) SELECT 'n' || g FROM generate_series(1, 5) g;
            CREATE TABLE tenants.events (at date NOT NULL, what text) PARTITION BY RANGE (at);
            CREATE TABLE tenants.events_2024 PARTITION OF tenants.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
            CREATE TABLE tenants.events_2025 PARTITION OF tenants.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
            INSERT INTO tenants.events VALUES ('2024-05-01', 'a'), ('2025-05-01', 'b');
            CREATE TABLE zz.last (id int PRIMARY KEY, v text);
            INSERT INTO zz.last VALUES (1, 'one'), (2, 'two');
        """)


@pytest.fixture(scope="module")
def many(request) -> Iterator[tuple[pgtest.PgServer, str]]:
    """(server, dsn) of the 3,000-table database on a server with a small lock table."""
    if os.environ.get("PYDUMP_TEST_DSN"):
        pytest.skip("needs its own server with a small lock table, not PYDUMP_TEST_DSN")
    names = pgtest.selected_kind_names(request.config.getoption("--pg-servers", default=None))
    kinds = {k.name: k for k in pgtest.available_kinds()}
    kind = next((kinds[n] for n in names if n in kinds), None)
    if kind is None:
        pytest.skip("no local PostgreSQL server binaries available")
    settings = dict(SMALL_LOCKS)
    if kind.version >= 18:
        settings["autovacuum_worker_slots"] = "1"
    server = pgtest.start_local(kind, settings=settings)
    try:
        dsn = server.create_database("many")
        _build(dsn)
        yield server, dsn
    finally:
        server.destroy()


def _relations_locked_by_default(dsn: str) -> int:
    """What a default dump holds a lock on: every table, partition, view and sequence here."""
    with psycopg.connect(dsn) as c:
        return int(c.execute("SELECT count(*) FROM pg_class WHERE relnamespace IN ('tenants'::regnamespace, "
                             "'zz'::regnamespace) AND relkind IN ('r', 'p', 'v', 'm', 'S')").fetchone()[0])


def test_default_run_fails_fast_with_the_numbers(many, tmp_path: Path) -> None:
    """Before any lock: one line with both numbers, the setting and its value, the alternative;
    exit 6 (as a lock failure); nothing left in --out. pg_dump 18 itself cannot dump this
    database (it runs out of shared memory), so the numbers are not over-cautious."""
    server, dsn = many
    run = run_pydump([dsn, "--out", str(tmp_path), "--no-report"])
    line = assert_clean_failure(run, 6)
    needed = _relations_locked_by_default(dsn)
    assert f"must lock {needed:,} relations" in line, line
    assert "sized for 1,280 locks" in line and "max_locks_per_transaction 64 × 20" in line, line
    m = re.search(r"raise max_locks_per_transaction to at least (\d+)", line)
    assert m and int(m.group(1)) * 20 >= needed, line
    assert "--lock-batches" in line, line
    assert backup_dirs(tmp_path) == [] and leftovers(tmp_path) == []

    proc = subprocess.run([str(server.pg_dump_path), "--schema-only", "-f", os.devnull, "-d", dsn],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "out of shared memory" in proc.stderr, proc.stderr[-500:]


def test_out_of_shared_memory_mid_dump_is_the_same_clear_message(many, tmp_path: Path) -> None:
    """The lock table filling up *after* the check (another session takes nearly all of it
    while a ``--lock-batches`` dump waits between two batches) still ends in the one clear line
    (exit 6), not the server's bare ``out of shared memory``."""
    _, dsn = many
    other = psycopg.connect(dsn)
    try:
        def fill() -> None:
            """Lock tables 100 at a time until the lock table is full, keeping what fitted."""
            other.execute("BEGIN")
            for lo in range(1, TABLES + 1, 100):
                other.execute("SAVEPOINT s")
                try:
                    other.execute("LOCK TABLE " + ", ".join(f"tenants.t{i}" for i in range(lo, min(TABLES, lo + 99) + 1))
                                  + " IN ACCESS SHARE MODE")
                except psycopg.errors.OutOfMemory:
                    other.execute("ROLLBACK TO SAVEPOINT s")
                    return
            raise AssertionError("the lock table never filled up")

        code, err = _dump_with_ddl_between_batches(dsn, tmp_path, None, during=fill)
        lines = [ln for ln in err.splitlines() if ln.startswith("pydump: error:")]
        assert code == 6 and len(lines) == 1, err
        assert "lock table is full (out of shared memory)" in lines[0] and "--lock-batches" in lines[0], err
        assert "max_locks_per_transaction to at least" in lines[0], err
    finally:
        other.close()


def test_lock_batches_backup_restores_identical(many, tmp_path: Path) -> None:
    """``--lock-batches -j2`` (workers commit and re-import the snapshot between batches): the
    backup restores into a database pg_dump 18 finds identical to the source, rows and
    sequences included. pg_dump needs more locks than this server has, so for the comparison
    only the server is restarted with a larger lock table (the dump ran on the small one)."""
    server, dsn = many
    backup, run = dump_ok(dsn, tmp_path, "--lock-batches", "-j2")
    assert any("--lock-batches" in w for w in run.json["warnings"]), run.stderr
    meta = load_json(backup / "metadata.json")
    # with -j2 each worker's own lock on a table it copies counts too: × (1 + 2) / 2
    assert meta["locks"]["batched"] is True and meta["locks"]["needed"] == (_relations_locked_by_default(dsn) * 3 + 1) // 2
    assert meta["locks"]["batches"] >= 2 and meta["locks"]["per_batch"] < TABLES, meta["locks"]
    assert meta["tables"] == TABLES + 4  # + serials, two partitions, zz.last
    server.settings["max_locks_per_transaction"] = "1024"
    server.restart()
    try:
        target = server.create_database("restored")
        proc = subprocess.run([sys.executable, "-m", "restore", str(backup), target, "--quiet", "--no-report"],
                              capture_output=True, text=True, timeout=300, cwd=pgtest.REPO_ROOT)
        assert proc.returncode == 0, proc.stderr
        oracle.assert_same_database(server, dsn, target)
    finally:
        server.settings["max_locks_per_transaction"] = SMALL_LOCKS["max_locks_per_transaction"]
        server.restart()


def _dump_with_ddl_between_batches(dsn: str, tmp_path: Path, ddl: str | None,
                                   during: Callable[[], None] | None = None) -> tuple[int, str]:
    """A ``--lock-batches`` dump that pauses after its first data batch; ``ddl`` (or
    ``during``) runs then."""
    pause = tmp_path / "pause"
    pause.mkdir()
    out = tmp_path / "out"
    proc = start_pydump([dsn, "--out", str(out), "--no-report", "--lock-batches", "-q"],
                        {"PYDUMP_TEST_BATCH_PAUSE": str(pause)})
    try:
        deadline = time.monotonic() + 120
        while not (pause / "paused").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the dump never reached its first batch boundary"
            time.sleep(0.05)
        if ddl is not None:
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute(ddl)  # no lock of the dump's is held now: this does not wait
        if during is not None:
            during()
        (pause / "resume").write_text("go")
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert backup_dirs(out) == [] and leftovers(out) == [], "a failed dump left a directory"
    return proc.returncode, err


def test_drop_table_between_batches_fails_naming_it(many, tmp_path: Path) -> None:
    """``zz.last`` is dropped after the snapshot, before its batch: its COPY fails, and the
    check names it (exit 7) instead of the server's ``relation does not exist``."""
    _, dsn = many
    try:
        code, err = _dump_with_ddl_between_batches(dsn, tmp_path, "DROP TABLE zz.last")
        run_line = [ln for ln in err.splitlines() if ln.startswith("pydump: error:")]
        assert code == 7 and len(run_line) == 1, err
        assert "zz.last (dropped)" in run_line[0] and "--lock-batches" in run_line[0], err
    finally:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("CREATE TABLE IF NOT EXISTS zz.last (id int PRIMARY KEY, v text)")
            c.execute("INSERT INTO zz.last VALUES (1, 'one'), (2, 'two') ON CONFLICT DO NOTHING")


def test_alter_table_between_batches_fails_naming_it(many, tmp_path: Path) -> None:
    """``ALTER TABLE zz.last ADD COLUMN`` after the snapshot: the COPY would succeed (its column
    list is the snapshot's), so only the end-of-dump check sees it; the dump fails naming the
    table and the catalogs that changed."""
    _, dsn = many
    try:
        code, err = _dump_with_ddl_between_batches(dsn, tmp_path, "ALTER TABLE zz.last ADD COLUMN extra int")
        lines = [ln for ln in err.splitlines() if ln.startswith("pydump: error:")]
        assert code == 7 and len(lines) == 1, err
        assert "zz.last (pg_attribute, pg_class)" in lines[0] or "zz.last (pg_class" in lines[0], err
    finally:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("ALTER TABLE zz.last DROP COLUMN IF EXISTS extra")
