"""Privileges are written as pg_dump writes them: the difference from what the restore
starts with (acldefault(), pg_init_privs, a new database's ``public``), nothing more.

The fidelity tests (every fixture, both replays) show the restored privileges are right; these
show the script holds no noise beside them (issue 17 item 4: an owner keeping its default
privileges got ``REVOKE ALL ... FROM owner; GRANT INSERT, SELECT, ... TO owner``), by comparing
pydump's GRANT/REVOKE statements with pg_dump 18's for the same database.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

import pytest

from tests.support import oracle
from tests.support import pgtest
from tests.support.helpers import pydump, read_script

pytestmark = pytest.mark.all_versions  # what a new database starts with depends on the major

_ACL = re.compile(r"^(ALTER DEFAULT PRIVILEGES FOR ROLE \S+(?: IN SCHEMA \S+)? )?(GRANT|REVOKE) (.+?) (ON .*)$", re.S)


def _normalise(stmt: str) -> str:
    """One GRANT/REVOKE with its privilege list sorted and spaced one way (pg_dump writes
    ``SELECT(c),INSERT``, pydump ``INSERT, SELECT (c)``; both mean the same)."""
    m = _ACL.match(stmt)
    assert m, stmt
    prefix, verb, privs, rest = m.groups()
    items = sorted(re.sub(r"\s+", "", p) for p in privs.split(","))
    return f"{prefix or ''}{verb} {','.join(items)} {rest}"


def acl_statements(script: str) -> collections.Counter:
    """GRANT/REVOKE on objects and ALTER DEFAULT PRIVILEGES, normalised; role memberships
    (``GRANT role TO role``, which pg_dump does not write) left out."""
    return collections.Counter(_normalise(s) for s in oracle.statements(script) if _ACL.match(s))


def _objects(statements: collections.Counter) -> set[str]:
    """What the statements are about: ``ON <object>`` (with the ALTER DEFAULT PRIVILEGES part)."""
    out = set()
    for s in statements:
        prefix, _verb, _privs, rest = _ACL.match(s).groups()  # type: ignore[union-attr]
        out.add((prefix or "") + re.sub(r" (TO|FROM) .*$", "", rest))
    return out


def test_privilege_statements_are_pg_dumps(fixture_db, tmp_path: Path) -> None:
    """No noise: pydump writes privileges for exactly the objects pg_dump 18 writes them for,
    and where an ACL only gained items after the ones its object starts with, the very same
    statements. (Where an item the object starts with changed and a later one stayed,
    pydump revokes and grants that later one too, to keep the array's order; pg_dump does not
    keep it.)"""
    src = fixture_db("privileges")
    ours = acl_statements(read_script(pydump(src, tmp_path)))
    theirs = acl_statements(oracle.schema_dump(fixture_db.server, src))
    diff = oracle.diff_statements("\n".join(ours.elements()), "\n".join(theirs.elements()),
                                  a_label="pydump", b_label="pg_dump")
    assert _objects(ours) == _objects(theirs), diff
    for stmt in ("GRANT SELECT ON TABLE app.keeps TO privx_reader;",  # issue 17 item 4
                 "REVOKE ALL ON FUNCTION extensions.gen_random_bytes(integer) FROM PUBLIC;",
                 "GRANT ALL ON FUNCTION extensions.crypt(text, text) TO privx_reader WITH GRANT OPTION;",
                 "REVOKE ALL ON FUNCTION pg_catalog.pg_sleep(double precision) FROM PUBLIC;",
                 "REVOKE ALL ON LANGUAGE plpgsql FROM PUBLIC;"):
        assert stmt in ours and stmt in theirs, (stmt, diff)
    # the owner of app.keeps kept its default privileges: nothing about it
    assert not [s for s in ours if "app.keeps" in s and "privx_owner" in s], diff


def test_no_acl_leaves_out_system_and_extension_member_grants(fixture_db, tmp_path: Path) -> None:
    src = fixture_db("privileges")
    script = read_script(pydump(src, tmp_path, "--no-acl"))
    assert not [s for s in oracle.statements(script) if re.match(r"(GRANT|REVOKE) .* ON ", s)]
    # with -n the system objects are not part of the dump (pg_dump: pg_catalog is not selected)
    script = read_script(pydump(src, tmp_path / "n", "-n", "app"))
    assert "pg_catalog.pg_sleep" not in script and "extensions.crypt" not in script
    assert "GRANT SELECT ON TABLE app.keeps TO privx_reader;" in script


# ------------------------------------------------------------------ grants an extension script made
# A home-made extension whose script grants on schemas it does not own as members, as
# postgis_topology does on its ``topology`` schema: the extension's own schema (``schema`` in
# the control file: CREATE EXTENSION makes it, not as a member) and a schema the user made
# before. Both get a pg_init_privs row of type 'e'; neither is an extension member.
SCRIPT_GRANT_CONTROL = """comment = 'pydump test: a script that grants on schemas outside the extension'
default_version = '1.0'
relocatable = false
schema = pxside
"""

SCRIPT_GRANT_SQL = """
CREATE FUNCTION @extschema@.hello() RETURNS int LANGUAGE sql AS 'SELECT 1';
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
GRANT USAGE ON SCHEMA pxshared TO PUBLIC;
GRANT USAGE ON SCHEMA pxplain TO PUBLIC;
"""

SCRIPT_GRANT_SOURCE = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'privx_reader') THEN CREATE ROLE privx_reader NOLOGIN; END IF;
END $$;
CREATE SCHEMA pxshared;
CREATE SCHEMA pxplain;
CREATE EXTENSION pydump_scriptgrant;
GRANT USAGE ON SCHEMA pxside TO privx_reader;          -- on top of the script's grant
REVOKE USAGE ON SCHEMA pxshared FROM PUBLIC;           -- takes the script's grant back
GRANT CREATE ON SCHEMA pxshared TO privx_reader;
-- pxplain: nobody changed what the script granted: nothing to write
"""

_SCRIPT_SCHEMAS = ("pxside", "pxshared", "pxplain")


def _install_extension(dsn: str, name: str, control: str, script: str) -> None:
    """Control and script files of a test extension in the server's extension directory
    (as tests/test_extensions.py does: the test servers are local)."""
    sharedir = pgtest.query(dsn, "SELECT setting FROM pg_catalog.pg_config WHERE name = 'SHAREDIR'")[0][0]
    ext = Path(sharedir) / "extension"
    (ext / f"{name}.control").write_text(control)
    (ext / f"{name}--1.0.sql").write_text(script)


def _init_privs(dsn: str) -> list[tuple]:
    """pg_init_privs of the test's schemas, by name (oids differ between databases)."""
    return pgtest.query(dsn, """SELECT n.nspname, i.privtype, i.initprivs::text FROM pg_init_privs i
                                  JOIN pg_namespace n ON n.oid = i.objoid
                                 WHERE i.classoid = 'pg_namespace'::regclass AND n.nspname = ANY(%s)
                                 ORDER BY 1""", (list(_SCRIPT_SCHEMAS),))


def _about_script_schemas(statements: collections.Counter) -> collections.Counter:
    return collections.Counter({s: n for s, n in statements.items()
                                if re.search(r" ON SCHEMA (pxside|pxshared|pxplain) ", s)})


def test_grants_on_schemas_an_extension_script_granted_on(make_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Schemas that are not extension members but have a pg_init_privs row from an extension
    script (issue 17 follow-up; PostGIS's ``topology`` on every version, without PostGIS):

    - their ACL is written as the difference from that row, as pg_dump 18 writes it: no
      ``GRANT USAGE ... TO PUBLIC`` that CREATE EXTENSION makes anyway, nothing for ``pxplain``;
    - the grants run after CREATE EXTENSION, so the copy's pg_init_privs equals the source's
      (before it, the script's GRANT would record privx_reader's grant as initial) and a
      backup of the copy writes the same statements as the backup of the source.
    """
    from restore.cli import main as pyrestore_main

    server = make_db.server
    src = make_db("scriptgrant_src")
    _install_extension(src, "pydump_scriptgrant", SCRIPT_GRANT_CONTROL, SCRIPT_GRANT_SQL)
    pgtest.run_sql(src, SCRIPT_GRANT_SOURCE)
    assert [r[:2] for r in _init_privs(src)] == [(s, "e") for s in sorted(_SCRIPT_SCHEMAS)]

    script = read_script(pydump(src, tmp_path / "first"))
    ours = _about_script_schemas(acl_statements(script))
    theirs = _about_script_schemas(acl_statements(oracle.schema_dump(server, src)))
    assert ours == theirs, (ours, theirs)
    assert "GRANT USAGE ON SCHEMA pxside TO privx_reader;" in ours
    assert "REVOKE USAGE ON SCHEMA pxshared FROM PUBLIC;" in ours
    assert not [s for s in ours if "pxplain" in s or "TO PUBLIC" in s], ours
    # after the CREATE EXTENSION that recorded the rows
    stmts = oracle.split_script(script)
    ext_at = next(i for i, s in enumerate(stmts) if s.startswith("CREATE EXTENSION") and "pydump_scriptgrant" in s)
    assert all(i > ext_at for i, s in enumerate(stmts) if re.search(r" ON SCHEMA (pxside|pxshared) ", s)), stmts

    backup = next((tmp_path / "first").iterdir())
    psql_dst, py_dst = make_db("scriptgrant_psql"), make_db("scriptgrant_py")
    oracle.psql_replay(server, psql_dst, backup / "backup.sql.gz")
    assert pyrestore_main([str(backup), py_dst, "--quiet", "--no-report"]) == 0
    for i, dst in enumerate((psql_dst, py_dst)):
        oracle.assert_same_database(server, src, dst)
        assert _init_privs(dst) == _init_privs(src)
        # the next generation: a backup of the copy writes the same grants
        assert _about_script_schemas(acl_statements(read_script(pydump(dst, tmp_path / f"copy{i}")))) == ours
