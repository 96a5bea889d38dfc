"""``pyrestore --data-only`` into a schema-only copy, for every fixture (superuser).

The schema comes from ``pydump --schema-only`` + pyrestore, as an application's migrations
would build it; the data from a full backup. Triggers that exist in the target (including
one that copies rows into another table) must not fire during the load, and the result must
be the source database by the usual oracle.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import oracle
import pgtest
from restore.cli import main
from test_restore_dumper import pydump

FIXTURES = sorted(p.stem for p in pgtest.FIXTURES_DIR.glob("*.sql") if p.stem != "kinds_contrib")


@pytest.mark.parametrize("fixture", FIXTURES)
def test_data_only_into_schema_only_copy(fixture_db, make_db, tmp_path: Path, fixture: str) -> None:  # type: ignore[no-untyped-def]
    src = fixture_db(f"{fixture}.sql")
    schema_b = pydump(src, tmp_path / "s", "--schema-only")
    full_b = pydump(src, tmp_path / "f")
    dst = make_db("dst")
    assert main([str(schema_b), dst, "--quiet", "--no-report"]) == 0
    assert main([str(full_b), dst, "--data-only", "--quiet", "--no-report"]) == 0
    oracle.assert_same_database(make_db.server, src, dst)
