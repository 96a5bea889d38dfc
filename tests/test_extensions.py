"""Extensions with configuration tables, as PostGIS has them (issue 17 items 2 and 3).

No extension shipped with the test servers registers configuration tables that hold rows of
their own, so the test installs a small one into the server's extension directory: two
configuration tables (a parent and a child with a foreign key to it, like PostGIS topology's
``topology`` and ``layer``), each filled by ``CREATE EXTENSION`` with rows of its own and
filtered (``WHERE NOT builtin``), like ``spatial_ref_sys``. Both replays must load the users'
rows parents first, and pyrestore's verification must count what the backup restored, not the
extension's own rows.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import oracle
from tests.support import pgtest
from restore.cli import main
from tests.support.helpers import pydump

pytestmark = pytest.mark.all_versions

CONTROL = """comment = 'pydump test: configuration tables with rows of their own'
default_version = '1.0'
relocatable = false
schema = cfgext
"""

SCRIPT = """
CREATE TABLE cfgext.zz_parent (id int PRIMARY KEY, label text, builtin boolean NOT NULL DEFAULT false);
CREATE TABLE cfgext.aa_child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES cfgext.zz_parent,
                              builtin boolean NOT NULL DEFAULT false);
INSERT INTO cfgext.zz_parent SELECT g, 'builtin ' || g, true FROM generate_series(1, 50) g;
INSERT INTO cfgext.aa_child SELECT g, g, true FROM generate_series(1, 50) g;
SELECT pg_catalog.pg_extension_config_dump('cfgext.zz_parent', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('cfgext.aa_child', 'WHERE NOT builtin');
"""


def install_test_extension(dsn: str) -> None:
    """Write pydump_cfgtest's control and script files into the server's extension directory."""
    sharedir = pgtest.query(dsn, "SELECT setting FROM pg_catalog.pg_config WHERE name = 'SHAREDIR'")[0][0]
    ext = Path(sharedir) / "extension"
    (ext / "pydump_cfgtest.control").write_text(CONTROL)
    (ext / "pydump_cfgtest--1.0.sql").write_text(SCRIPT)


def test_config_tables_load_parents_first_and_verify_what_was_restored(make_db, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = make_db("cfg_src")
    install_test_extension(src)
    pgtest.run_sql(src, """
        CREATE SCHEMA cfgext;
        CREATE EXTENSION pydump_cfgtest SCHEMA cfgext;
        INSERT INTO cfgext.zz_parent VALUES (100, 'mine', false), (101, 'mine too', false);
        INSERT INTO cfgext.aa_child VALUES (100, 101, false), (101, 100, false), (102, 1, false);
    """)
    b = pydump(src, tmp_path)
    counts = json.loads((b / "row_counts.json").read_text())
    assert counts["cfgext.zz_parent"] == 2 and counts["cfgext.aa_child"] == 3
    ids = {(e["kind"], e["name"]): e["id"] for e in json.loads((b / "toc.json").read_text())["entries"]}
    order = [e["name"] for e in json.loads((b / "toc.json").read_text())["entries"] if e["kind"] == "TABLE DATA"]
    assert order.index("zz_parent") < order.index("aa_child"), order
    assert ids[("TABLE DATA", "zz_parent")] in next(
        e for e in json.loads((b / "toc.json").read_text())["entries"] if e["name"] == "aa_child" and e["kind"] == "TABLE DATA")["deps"]
    ref = make_db("cfg_psql")
    oracle.psql_replay(make_db.server, ref, b / "backup.sql.gz")
    oracle.assert_same_database(make_db.server, src, ref)
    dst = make_db("cfg_dst")
    capsys.readouterr()
    rc = main([str(b), dst, "--no-report"])
    assert rc == 0, capsys.readouterr().err  # 52 rows in the table, 2 restored: not a mismatch
    oracle.assert_same_database(make_db.server, src, dst)
    assert pgtest.query(dst, "SELECT count(*) FROM cfgext.zz_parent") == [(52,)]
