"""Regression tests for what the soak (tests/soak, issue 14) found, each fault made deterministic.

1. A SIGKILLed pydump left its ``.NAME.partial`` directory forever: the next run now removes
   the ``.partial`` of any dead run (its ``flock`` is free) and never one a live run holds.
2. A connection through a path that stays up but forwards nothing (a stuck proxy or pooler)
   hung pydump and pyrestore forever: keepalives are answered by the middlebox, so the stall
   watchdog (dumper/connect.py) asks the server and shuts the dead socket down -> exit 7.
3. pyrestore reported a connection lost outside a restore step as exit 1 "internal error" over
   three lines: now exit 7 and one line.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from tests.soak.proxy import FlakyProxy
from tests.support.helpers import dump, pydump, run_pyrestore


def _error_lines(stderr: str, prog: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith(f"{prog}: warning: ")]


def test_next_run_removes_a_dead_runs_partial_but_not_a_live_one(db, run_sql, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_sql(db, "CREATE TABLE public.t (id int PRIMARY KEY); INSERT INTO public.t VALUES (1);")
    out = tmp_path / "out"
    out.mkdir()
    dead = out / ".20200101_000000.partial"  # what a SIGKILLed run leaves: nobody holds its lock
    (dead / "data").mkdir(parents=True)
    (dead / "backup.sql.gz").write_bytes(b"half")
    live = out / ".20200101_000001.partial"  # a run still writing: its lock is held
    live.mkdir()
    fd = os.open(live, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    unrelated = out / ".notes.partial"  # not named like a backup: not ours to remove
    unrelated.mkdir()
    try:
        backup = pydump(db, out)
    finally:
        os.close(fd)
    assert not dead.exists()
    assert live.is_dir() and unrelated.is_dir()
    assert sorted(os.listdir(out)) == sorted([backup.name, live.name, unrelated.name])


def test_stalled_network_path_fails_instead_of_hanging(make_db, run_sql, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = make_db("stall")
    run_sql(src, "CREATE TABLE public.big AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 200000) g;")
    server = make_db.server
    # past the startup and the first catalog reads: the stall hits an established session
    proxy = FlakyProxy(server.port, "stall", 0, after_bytes=60_000)
    try:
        t0 = time.monotonic()
        run = dump(server.dsn(src.split("dbname=")[1].split()[0], tcp=True, port=proxy.port), tmp_path / "out",
                   env={"PYDUMP_STALL_TIMEOUT_S": "2"}, timeout=120)
        took = time.monotonic() - t0
    finally:
        proxy.close()
    assert proxy.faults["stall"] >= 1
    assert run.returncode == 7, run.stderr
    assert len(_error_lines(run.stderr, "pydump")) == 1 and "Traceback" not in run.stderr, run.stderr
    assert took < 60, f"pydump took {took:.0f} s to notice the stalled connection"
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


def test_pyrestore_lost_connection_is_exit_7_in_one_line(make_db, run_sql, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = make_db("rsrc")
    run_sql(src, "CREATE TABLE public.big AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 100000) g;")
    backup = pydump(src, tmp_path / "out")
    dst = make_db("rdst")
    server = make_db.server
    proxy = FlakyProxy(server.port, "stall", 0, after_bytes=200_000)
    try:
        dbname = dst.split("dbname=")[1].split()[0]
        run = run_pyrestore([str(backup), server.dsn(dbname, tcp=True, port=proxy.port), "--quiet", "--no-report",
                             "--single-transaction"], {"PYDUMP_STALL_TIMEOUT_S": "2"}, timeout=120)
    finally:
        proxy.close()
    assert proxy.faults["stall"] >= 1
    assert run.returncode == 7, run.stderr
    lines = _error_lines(run.stderr, "pyrestore")
    assert len(lines) == 1 and lines[0].startswith("pyrestore: error: "), run.stderr
