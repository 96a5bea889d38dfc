"""The restore target dies mid-restore: a clean failure naming the entry; with
``--single-transaction`` nothing of the backup is left in the target."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import pgtest
from tests.support.helpers import pydump, start_pyrestore, wait_for_copy


@pytest.mark.parametrize("single", [False, True], ids=["autocommit", "single-transaction"])
def test_target_dies_mid_restore(private_server, run_sql, tmp_path: Path, single: bool) -> None:  # type: ignore[no-untyped-def]
    server = private_server
    src = server.create_database("src")
    run_sql(src, "CREATE TABLE public.small (id int PRIMARY KEY);"
                 "INSERT INTO public.small SELECT generate_series(1, 10);"
                 "CREATE TABLE public.big (id bigint PRIMARY KEY, payload text NOT NULL);"
                 "INSERT INTO public.big SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 600000) g;")
    backup = pydump(src, tmp_path / "b")
    dst = server.create_database("dst")
    run_sql(dst, "CHECKPOINT")
    proc = start_pyrestore([str(backup), dst, "--no-report", "--quiet"] + (["--single-transaction"] if single else []))
    try:
        wait_for_copy(dst, proc, "big", app="pyrestore")
        server.stop(mode="immediate")
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode not in (0, 1), stderr
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("pyrestore: error:"), stderr
    # names the entry it was restoring when the server went away
    assert re.match(r"pyrestore: error: connection lost during entry \d+ \(TABLE DATA public\.big\)", lines[0]), stderr
    server.start()
    tables = pgtest.query(dst, "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                               " WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1")
    if single:
        assert tables == [], tables  # one transaction: nothing of the backup survived
