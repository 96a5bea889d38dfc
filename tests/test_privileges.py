"""Privileges are written as pg_dump writes them: the difference from what the restore
starts with (acldefault(), pg_init_privs, a new database's ``public``), nothing more.

The fidelity tests (every fixture, both replays) show the restored privileges are right; these
show the script holds no noise beside them (issue 17 item 4: an owner keeping its default
privileges got ``REVOKE ALL ... FROM owner; GRANT INSERT, SELECT, ... TO owner``), by comparing
pydump's GRANT/REVOKE statements with pg_dump 18's for the same database.
"""

from __future__ import annotations

import collections
import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import oracle

pytestmark = pytest.mark.all_versions  # what a new database starts with depends on the major

_ACL = re.compile(r"^(ALTER DEFAULT PRIVILEGES FOR ROLE \S+(?: IN SCHEMA \S+)? )?(GRANT|REVOKE) (.+?) (ON .*)$", re.S)


def _pydump_script(dsn: str, out: Path, *extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "DATABASE_URL"}
    proc = subprocess.run([sys.executable, "-m", "dumper", dsn, "--out", str(out), "--no-report", "--json", *extra],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    backup = Path(json.loads(proc.stdout)["backup_dir"])
    return gzip.decompress((backup / "backup.sql.gz").read_bytes()).decode()


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
    ours = acl_statements(_pydump_script(src, tmp_path))
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
    script = _pydump_script(src, tmp_path, "--no-acl")
    assert not [s for s in oracle.statements(script) if re.match(r"(GRANT|REVOKE) .* ON ", s)]
    # with -n the system objects are not part of the dump (pg_dump: pg_catalog is not selected)
    script = _pydump_script(src, tmp_path / "n", "-n", "app")
    assert "pg_catalog.pg_sleep" not in script and "extensions.crypt" not in script
    assert "GRANT SELECT ON TABLE app.keeps TO privx_reader;" in script
