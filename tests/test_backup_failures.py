"""Failures leave nothing that looks like a backup, and say why in one line.

The spec's contract (issue 2, point 7): the directory is built under a hidden temporary name
and renamed only when complete; on any failure that temporary directory is removed, the exit
status is non-zero (the code documented in ``pydump --help``) and stderr carries one line,
never a traceback. The mid-dump cases act on a real server while a real pydump process is
inside its ``COPY``: the backend is terminated, or pydump itself gets SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.support import pgtest
from tests.support.helpers import (PydumpRun, assert_clean_failure, backup_dirs, dbname, leftovers, load_json, run_pydump,
                                   scratch_db, start_pydump, wait_for_copy)

BIG_ROWS = 100_000
# Incompressible-ish text (32 distinct md5s per row, 256 bytes): with gzip level 9 the dump of
# this table takes seconds, long enough to act on it while its COPY is running.
BIG_SQL = f"""
CREATE TABLE public.big (id integer PRIMARY KEY, payload text NOT NULL);
INSERT INTO public.big
SELECT i, md5(i || 'a') || md5(i || 'b') || md5(i || 'c') || md5(i || 'd')
       || md5(i || 'e') || md5(i || 'f') || md5(i || 'g') || md5(i || 'h')
FROM generate_series(1, {BIG_ROWS}) AS i;
CREATE TABLE public.small (id integer PRIMARY KEY REFERENCES public.big (id));
INSERT INTO public.small VALUES (1), (2), (3);
"""
SLOW = ["--compress", "gzip:9"]


@pytest.fixture(scope="module")
def big_db(pg_server):
    """One database per server with a table big enough to catch pydump inside its COPY."""
    with scratch_db(pg_server, "big") as dsn:
        pgtest.run_sql(dsn, BIG_SQL)
        yield dsn


def _finish(proc: subprocess.Popen, timeout: float = 120) -> PydumpRun:
    out, err = proc.communicate(timeout=timeout)
    return PydumpRun(proc.returncode, out, err, None)


# --------------------------------------------------------------------------- before any data

def test_nonexistent_database(pg_server, tmp_path):
    out = tmp_path / "out"
    run = run_pydump([pg_server.dsn("pydump_no_such_database"), "--out", str(out), "--no-report"])
    line = assert_clean_failure(run, 3)
    assert "pydump_no_such_database" in line and "does not exist" in line, line
    assert run.stdout == ""
    assert leftovers(out) == [], "not even a hidden partial directory may be left"


def test_wrong_port(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "out"
    run = run_pydump([f"host=127.0.0.1 port={port} dbname=postgres user=postgres connect_timeout=5",
                      "--out", str(out), "--no-report", "--json"])
    line = assert_clean_failure(run, 3)
    assert "cannot connect" in line and str(port) in line, line
    # --json: one object on stdout, also on failure (issue 12)
    assert run.json is not None and run.json["ok"] is False and run.json["exit_code"] == 3, run.stdout
    assert leftovers(out) == []


def test_out_is_a_file(db, tmp_path):
    target = tmp_path / "not-a-directory"
    target.write_text("precious\n")
    run = run_pydump([db, "--out", str(target), "--no-report"])
    assert_clean_failure(run, 5)
    assert target.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-directory"]


def test_schema_only_with_data_only(tmp_path):
    out = tmp_path / "out"
    run = run_pydump(["host=/nonexistent-socket-dir dbname=x", "--schema-only", "--data-only", "--out", str(out)])
    line = assert_clean_failure(run, 2)
    assert "--schema-only" in line and "--data-only" in line, line
    assert leftovers(out) == []


def test_unknown_option_is_a_usage_error(tmp_path):
    run = run_pydump(["--no-such-option", "--out", str(tmp_path / "out")])
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert leftovers(tmp_path / "out") == []


# --------------------------------------------------------------------------- mid-dump

def test_killed_connection_mid_dump(pg_server, big_db, tmp_path):
    """The server terminates pydump's backend inside the COPY: exit 7 (the server failed
    mid-dump), one line saying the COPY lost the server, nothing left.

    Deterministic about *where* the backend dies: pydump is stopped (SIGSTOP) once its COPY
    runs, and the backend is terminated only when it is seen blocked writing to pydump
    (``wait_event = 'ClientWrite'``), so it cannot have finished the COPY and moved on to
    another query (on a loaded machine that gave a different error line); then pydump resumes
    and reads the dead connection.
    """
    out = tmp_path / "out"
    proc = start_pydump([big_db, "--out", str(out), "--no-report", "--json", *SLOW])
    try:
        pids = wait_for_copy(big_db, proc, "big")
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            with pg_server.connect() as admin:
                def blocked_in_copy() -> bool:
                    return admin.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s) AND state = 'active'"
                        " AND wait_event = 'ClientWrite' AND query ILIKE 'COPY%%'", (pids,)).fetchone()[0] == len(pids)

                assert pgtest.wait_for(blocked_in_copy, timeout=30), \
                    "pydump's COPY ended before the backend blocked on it: the test cannot act inside the COPY"
                for pid in pids:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                assert pgtest.wait_for(lambda: not admin.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)).fetchone(), timeout=30)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        run = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    line = assert_clean_failure(run, 7)
    assert line.startswith("pydump: error: lost the server during COPY"), line
    result = json.loads(run.stdout)  # --json: one object on stdout, also on failure (issue 12)
    assert result["ok"] is False and result["exit_code"] == 7, run.stdout
    assert leftovers(out) == [], "the partial directory must be removed"


def test_sigterm_mid_dump(pg_server, big_db, tmp_path):
    """SIGTERM while copying: exit 130, one line, the partial directory removed."""
    out = tmp_path / "out"
    proc = start_pydump([big_db, "--out", str(out), "--no-report", "--json", *SLOW])
    try:
        wait_for_copy(big_db, proc, "big")
        proc.send_signal(signal.SIGTERM)
        run = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    line = assert_clean_failure(run, 130)
    assert "interrupt" in line, line
    assert leftovers(out) == []
    # and the server-side session is gone (no idle transaction holding locks)
    with pg_server.connect() as admin:
        assert pgtest.wait_for(lambda: not admin.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND application_name = 'pydump'",
            (dbname(big_db),)).fetchone(), timeout=10)


def test_concurrent_drop_table_waits_for_the_dump(pg_server, big_db, tmp_path):
    """A table cannot vanish mid-dump: pydump holds ACCESS SHARE on it until the end, so a
    DROP TABLE from another session waits (here: times out), and the backup completes."""
    out = tmp_path / "out"
    proc = start_pydump([big_db, "--out", str(out), "--no-report", "--json", *SLOW])
    try:
        wait_for_copy(big_db, proc, "big")
        with pgtest.connect(big_db) as other:
            other.execute("SET lock_timeout = '500ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("DROP TABLE public.big CASCADE")
        run = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert run.returncode == 0, run.stderr
    (backup,) = backup_dirs(out)
    counts = load_json(backup / "row_counts.json")
    assert counts == {"public.big": BIG_ROWS, "public.small": 3}
    assert pgtest.query(big_db, "SELECT count(*) FROM public.big") == [(BIG_ROWS,)]
    assert [p for p in leftovers(out) if p.startswith(".")] == []


def test_lock_wait_timeout(pg_server, big_db, tmp_path):
    """A table locked exclusively by someone else: with --lock-wait-timeout pydump gives up
    (exit 6) instead of waiting forever, and leaves nothing."""
    out = tmp_path / "out"
    with pgtest.connect(big_db, autocommit=False) as holder:
        holder.execute("LOCK TABLE public.small IN ACCESS EXCLUSIVE MODE")
        run = run_pydump([big_db, "--out", str(out), "--no-report", "--lock-wait-timeout", "300"], timeout=60)
        holder.rollback()
    line = assert_clean_failure(run, 6)
    assert "lock" in line, line
    assert leftovers(out) == []


def test_a_failed_run_does_not_disturb_earlier_backups(pg_server, db, tmp_path):
    """A failure removes only its own partial directory."""
    pgtest.run_sql(db, "CREATE TABLE t (a int); INSERT INTO t VALUES (1)")
    out = tmp_path / "out"
    first = run_pydump([db, "--out", str(out), "--no-report", "--json"])
    assert first.returncode == 0, first.stderr
    before = {p.name: sorted(q.name for q in p.rglob("*")) for p in backup_dirs(out)}
    bad = run_pydump([pg_server.dsn("pydump_no_such_database"), "--out", str(out), "--no-report"])
    assert_clean_failure(bad, 3)
    after = {p.name: sorted(q.name for q in p.rglob("*")) for p in backup_dirs(out)}
    assert after == before and leftovers(out) == sorted(before)
    assert Path(first.json["backup_dir"]).is_dir()
