"""Regression tests for what the soak (tests/soak, issue 14) found, each fault made deterministic.

1. A SIGKILLed pydump left its ``.NAME.partial`` directory forever: the next run now removes
   the ``.partial`` of any dead run (its ``flock`` is free) and never one a live run holds.
2. A connection through a path that stays up but forwards nothing (a stuck proxy or pooler)
   hung pydump and pyrestore forever: keepalives are answered by the middlebox, so the stall
   watchdog (dumper/connect.py) asks the server and shuts the dead socket down -> exit 7.
3. pyrestore reported a connection lost outside a restore step as exit 1 "internal error" over
   three lines: now exit 7 and one line.
4. A table dropped by another session after the dump's snapshot, before the dump listed the
   relations: the snapshot lists it but the server can no longer name it (``pg_identify_object``
   gives NULL), and pydump died with exit 1 ``TypeError`` while locking it: now exit 7, one line
   naming the table from the snapshot.
5. A view dropped by another session after the dump listed it, before its definition was read:
   the server's error gave only an OID (``could not open relation with OID 12345``); now the
   line names the view, as the snapshot listed it (before 14 the relation listing itself fails
   with ``cache lookup failed for relation 12345`` in case 4: named the same way).
6. An index dropped after the snapshot, before the table locks: its definition deparses to
   NULL and the line named it ``index 12345`` (``::regclass`` of a relation that is gone); now
   by its name in the snapshot.
7. A schema dropped after the snapshot, before the table locks: the line was the server's
   ``schema "zs" does not exist``, which reads like a wrong connection string; now it says the
   schema was dropped by another session while the dump ran.
8. A table dropped and created again under the same name after the snapshot, before the
   table locks: ``LOCK TABLE`` (by name) locked the new table and its rows, all newer than the
   snapshot, were invisible: pydump exited 0 with the table dumped *empty*. Now each locked
   name is checked to still be the snapshot's table: exit 7 naming it.
9. The connection lost (dropped, or stalled until the watchdog shut it) right at the
   ``SET LOCAL lock_timeout`` that precedes the table locks (``--lock-wait-timeout``): exit 1
   "internal error: OperationalError" over three lines; now exit 7 in one line, as anywhere else.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from pathlib import Path

import pytest

from tests.soak.proxy import FlakyProxy
from tests.support.helpers import dbname, dump, dump_args, pydump, run_pyrestore, start_pydump


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


def _dump_while_dropping(make_db, run_sql, out: Path, setup: str, hold_on: bytes, drop: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """pydump (through a proxy on 127.0.0.1) is held just before the query that contains
    ``hold_on``, after its snapshot; another session runs ``drop`` and commits; then the
    query goes on. pydump's exit code and stderr."""
    src = make_db("vanish")
    run_sql(src, setup)
    server = make_db.server
    proxy = FlakyProxy(server.port, "none", 0, hold_on=hold_on)
    try:
        proc = start_pydump(dump_args(server.dsn(dbname(src), tcp=True, port=proxy.port), out, "-j1"))
        try:
            assert proxy.held.wait(60), "pydump never sent the query to hold"
            run_sql(src, drop)
        finally:
            proxy.release.set()
        _out, err = proc.communicate(timeout=120)
    finally:
        proxy.close()
    return proc.returncode, err


#: (what the source holds, the query pydump is held before, what another session drops then,
#: what the error line must name): regressions 4 to 8 of the module docstring
DROPPED_AFTER_THE_SNAPSHOT = [
    pytest.param("CREATE TABLE public.keep (id int); CREATE TABLE public.victim (id int PRIMARY KEY, v text);"
                 " INSERT INTO public.victim VALUES (1, 'x');",
                 b"AS populated",  # the query that lists the relations (dumper/catalog/relations.py)
                 "DROP TABLE public.victim", "table public.victim", id="table-before-the-listing"),
    pytest.param("CREATE TABLE public.base (id int PRIMARY KEY, v text);"
                 " CREATE VIEW public.victim_v AS SELECT id, v FROM public.base;",
                 b"pg_get_viewdef(c.oid)",  # the query that deparses the views, after the table locks
                 "DROP VIEW public.victim_v", "view public.victim_v", id="view-before-its-definition"),
    pytest.param("CREATE TABLE public.base (id int PRIMARY KEY, v text); CREATE INDEX victim_idx ON public.base (v);",
                 b"LOCK TABLE",  # the snapshot lists the index; once it is gone the lock waits for nothing
                 "DROP INDEX public.victim_idx", "index public.victim_idx", id="index-before-the-locks"),
    pytest.param("CREATE SCHEMA zs; CREATE TABLE zs.x (id int); CREATE VIEW zs.vx AS SELECT id FROM zs.x;",
                 b"LOCK TABLE", "DROP SCHEMA zs CASCADE", "schema zs", id="schema-before-the-locks"),
    pytest.param("CREATE TABLE public.victim (id int, v text); INSERT INTO public.victim VALUES (1, 'old'), (2, 'old');",
                 b"LOCK TABLE",
                 "DROP TABLE public.victim; CREATE TABLE public.victim (id int, v text);"
                 " INSERT INTO public.victim VALUES (3, 'new');",
                 "table public.victim", id="table-created-again-before-the-locks"),
]


@pytest.mark.parametrize("setup, hold_on, drop, label", DROPPED_AFTER_THE_SNAPSHOT)
def test_relation_dropped_after_the_snapshot_is_named(make_db, run_sql, tmp_path: Path, setup: str,  # type: ignore[no-untyped-def]
                                                      hold_on: bytes, drop: str, label: str) -> None:
    out = tmp_path / "out"
    code, err = _dump_while_dropping(make_db, run_sql, out, setup, hold_on, drop)
    assert code == 7, err
    lines = _error_lines(err, "pydump")
    assert len(lines) == 1 and "Traceback" not in err, err
    # the server may still have the dropped relation in its cache for a moment: then the lock,
    # not the listing, finds it gone ('relation "public.victim" does not exist'), also named
    assert f"{label} was dropped or changed by another session" in lines[0] \
        or f'relation "{label.split()[-1]}" does not exist' in lines[0], err
    assert not re.search(r"OID|relation \d+", lines[0]), err
    assert not out.exists() or os.listdir(out) == []


@pytest.mark.parametrize("mode", ["drop", "stall"])
def test_connection_lost_at_the_lock_timeout_setting_is_exit_7(make_db, run_sql, tmp_path: Path, mode: str) -> None:  # type: ignore[no-untyped-def]
    src = make_db("lost")
    run_sql(src, "CREATE TABLE public.t (id int PRIMARY KEY); INSERT INTO public.t VALUES (1);")
    proxy = FlakyProxy(make_db.server.port, mode, 0, fault_on=b"SET LOCAL lock_timeout = 2000")
    try:
        run = dump(make_db.server.dsn(dbname(src), tcp=True, port=proxy.port), tmp_path / "out",
                   "--lock-wait-timeout", "2000", env={"PYDUMP_STALL_TIMEOUT_S": "2"}, timeout=120)
    finally:
        proxy.close()
    assert proxy.faults[mode] == 1
    assert run.returncode == 7, run.stderr
    lines = _error_lines(run.stderr, "pydump")
    assert len(lines) == 1 and lines[0].startswith("pydump: error: lost the server: "), run.stderr
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


def test_column_renamed_before_the_locks_names_the_table(make_db, run_sql, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A column renamed by another session after the snapshot, before the table locks: the
    snapshot's column list no longer matches the live table, so the COPY fails (as pg_dump's
    would). The line names the table with its schema; the server's message alone says
    'relation "t3"', which another schema may hold too."""
    out = tmp_path / "out"
    code, err = _dump_while_dropping(
        make_db, run_sql, out, "CREATE SCHEMA zc; CREATE TABLE zc.t3 (id int, w text); INSERT INTO zc.t3 VALUES (1, 'a');",
        b"LOCK TABLE", "ALTER TABLE zc.t3 RENAME COLUMN w TO w2")
    assert code == 7, err
    lines = _error_lines(err, "pydump")
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "zc.t3" in lines[0], err
    assert not out.exists() or os.listdir(out) == []
