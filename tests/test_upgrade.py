"""Upgrades: a backup taken on an older major, restored into PostgreSQL 18 (issue 20).

pg_dump's documented way to upgrade is to dump with the newer pg_dump and replay into the
newer server; the database that gives behaves like the old one even where a new database's
defaults changed (the ``public`` schema on 14 and older lets PUBLIC create). The judge here is
that same path: for every fidelity fixture and every older major the run has, the source is

- dumped by pydump and restored by pyrestore into a database on 18, and
- dumped by pg_dump 18 (``-Fp``) and replayed by psql 18 into another database on 18,

and the two databases on 18 must be the same (``pg_dump -s`` statements, rows, sequences).
Roles are cluster-wide: the target gets the source's roles first (``pg_dumpall --roles-only``),
so the pg_dump side does not depend on pydump's role entries.

The 18 server is session-scoped: the pool's when ``pg18`` is among the selected servers,
otherwise one started here and destroyed at the end. ``make test-versions`` runs this matrix
(``-m upgrade``) for each of its majors; ``make test`` for its older ones.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.support import oracle
from tests.support import pgtest
from tests.support.pgtest import PgServer, ServerUnavailable
from tests.support.helpers import pydump, pydump_env
from restore.cli import main as pyrestore_main

pytestmark = pytest.mark.upgrade

TARGET = 18
FIXTURES = sorted(p.stem for p in pgtest.FIXTURES_DIR.glob("*.sql"))


def _source_names(config: pytest.Config) -> list[str]:
    """Every selected local server older than the target (none with PYDUMP_TEST_DSN)."""
    names = pgtest.selected_kind_names(config.getoption("--pg-servers", default=None))
    versions = {k.name: k.version for k in pgtest.available_kinds()}
    return [n for n in names if versions.get(n, TARGET) < TARGET]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per (older major, fixture): the matrix is the point of this module, so it
    does not narrow to the primary server as the version-independent tests do."""
    if "source" in metafunc.fixturenames:
        names = _source_names(metafunc.config) or ["none"]
        metafunc.parametrize("source", names, indirect=True, ids=names, scope="session")


@pytest.fixture(scope="session")
def source(request: pytest.FixtureRequest, _server_pool: pgtest.ServerPool) -> PgServer:
    if request.param == "none":
        pytest.skip(f"no local server older than {TARGET} selected")
    try:
        return _server_pool.get(request.param)
    except ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def target(_server_pool: pgtest.ServerPool) -> Iterator[PgServer]:
    """A PostgreSQL 18 server: the pool's, or an own one when pg18 is not selected."""
    name = f"pg{TARGET}"
    if name in _server_pool.names:
        yield _server_pool.get(name)
        return
    kind = next((k for k in pgtest.available_kinds() if k.version == TARGET), None)
    if kind is None:
        pytest.skip(f"no PostgreSQL {TARGET} server binaries available")
    server = pgtest.start_local(kind)
    try:
        yield server
    finally:
        server.destroy()


class _Databases:
    """Databases made by one test, dropped at its end whatever the outcome."""

    def __init__(self) -> None:
        self.made: list[tuple[PgServer, str]] = []

    def make(self, server: PgServer, hint: str) -> str:
        name = pgtest.unique_db_name(hint)
        dsn = server.create_database(name)
        self.made.append((server, name))
        return dsn

    def drop_all(self) -> None:
        for server, name in self.made:
            try:
                server.drop_database(name)
            except Exception as exc:  # 12 has no DROP DATABASE ... WITH (FORCE); never hide the outcome
                print(f"warning: could not drop test database {name}: {exc}", file=sys.stderr)


@pytest.fixture
def dbs() -> Iterator[_Databases]:
    d = _Databases()
    yield d
    d.drop_all()


def _client(server: PgServer, tool: str, *args: str, out: Path | None = None) -> str:
    """Run pg_dump/pg_dumpall 18 (the oracle's client tools) against ``server``."""
    cmd = [str(server.pg_dump_path.with_name(tool)), "--no-password", *args]
    if out is not None:
        cmd += ["-f", str(out)]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=pydump_env(), timeout=300)
    assert proc.returncode == 0, f"{tool} failed ({proc.returncode}): {proc.stderr}"
    return proc.stdout


def _copy_roles(source: PgServer, target: PgServer, tmp: Path) -> None:
    """The source's roles on the target. The script also names roles the target has already
    (its bootstrap superuser, roles of earlier tests): those statements fail harmlessly, so
    it is replayed without ON_ERROR_STOP."""
    script = tmp / "roles.sql"
    _client(source, "pg_dumpall", "--roles-only", "--no-role-passwords", "-d", source.dsn(), out=script)
    subprocess.run([str(target.psql_path), "-X", "-q", "-d", target.dsn(), "-f", str(script)],
                   stdin=subprocess.DEVNULL, capture_output=True, text=True, env=pydump_env(), timeout=300)


def _load_source(source: PgServer, target: PgServer, fixture: str, dbs: _Databases) -> str:
    path = pgtest.fixture_path(fixture)
    need = pgtest.fixture_min_version(path)
    if source.version < need:
        pytest.skip(f"fixture {path.name} needs PostgreSQL {need}+ (source: {source.version})")
    for ext in pgtest.fixture_requirements(path):
        for server in (source, target):
            if not server.has_extension(ext):
                pytest.skip(f"extension {ext} is not available on {server.name}")
    src = dbs.make(source, fixture)
    pgtest.run_sql(src, path)
    return src


_MISSING = re.compile(r"ERROR:\s+(function|relation|type) (.+?) does not exist$", re.M)


def _member_grants(backup: Path) -> set[str]:
    """The objects of the backup's extension-member grant entries (ACL entries that depend on
    an EXTENSION entry alone), e.g. ``extensions.pg_stat_statements_reset(oid, oid, bigint)``."""
    entries = json.loads((backup / "toc.json").read_text())["entries"]
    kinds = {e["id"]: e["kind"] for e in entries}
    return {e["name"].split(" ", 1)[1] for e in entries
            if e["kind"] == "ACL" and e["deps"] and all(kinds[d] == "EXTENSION" for d in e["deps"])
            and " " in e["name"]}


@pytest.mark.parametrize("fixture", FIXTURES)
def test_backup_from_older_major_restores_into_18_as_pg_dump_18_does(
    source: PgServer, target: PgServer, fixture: str, dbs: _Databases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One fixture from one older major into 18 (see the module's docstring).

    Where pg_dump 18's own script stops on 18 only at grants on extension members the
    target's extension version no longer has (``pg_stat_statements_reset(oid, oid, bigint)``
    from a source older than 17: pg_stat_statements 1.11 replaced it by a four-argument
    function), the reference is that script replayed past those errors (psql without
    ON_ERROR_STOP): pg_dump's result minus those grants, which is all that can be restored,
    since the objects they were for do not exist on 18. pydump + pyrestore must then succeed
    without any help, warn naming exactly those objects, and give the same database. Any other
    failure of pg_dump's script still skips the case (nothing to compare with)."""
    src = _load_source(source, target, fixture, dbs)
    _copy_roles(source, target, tmp_path)
    # pg_dump 18 + psql 18 first: the reference, and a failure here is not pydump's
    script = tmp_path / "pg_dump.sql"
    _client(source, "pg_dump", "-Fp", "-d", src, out=script)
    ref = dbs.make(target, f"{fixture}_pgdump")
    rc, err = oracle.psql_replay(target, ref, script, check=False)
    backup = pydump(src, tmp_path / "pydump")
    missing: set[str] = set()
    if rc != 0:
        ref = dbs.make(target, f"{fixture}_pgdump_all")
        _rc, err_all = oracle.psql_replay(target, ref, script, check=False, extra_args=("-v", "ON_ERROR_STOP=0"))
        errors = [ln for ln in err_all.splitlines() if "ERROR:" in ln]
        missing = {m.group(2) for m in _MISSING.finditer(err_all)}
        if not errors or len(errors) != len(_MISSING.findall(err_all)) or not missing <= _member_grants(backup):
            # Not every database can move up a major (e.g. an aggregate over a function whose
            # signature changed): without pg_dump's reference there is nothing to compare with.
            pytest.skip(f"pg_dump {TARGET}'s own script of {fixture}.sql from {source.name} does not replay "
                        f"into {TARGET}: {err.strip()[-300:]}")
    dst = dbs.make(target, f"{fixture}_pydump")
    capsys.readouterr()
    assert pyrestore_main([str(backup), dst, "--no-report", "--json"]) == 0
    warnings = json.loads(capsys.readouterr().out.strip().splitlines()[-1]).get("warnings", [])
    unmatched = [w for w in warnings if "has no such member" in w]
    for name in sorted(missing):
        assert any(name in w for w in unmatched), (name, warnings)
    assert len(unmatched) == len(missing), (missing, warnings)
    oracle.assert_same_database(target, ref, dst)


def test_public_schema_of_a_pre_15_database_keeps_its_behaviour(
    source: PgServer, target: PgServer, dbs: _Databases, tmp_path: Path
) -> None:
    """Issue 20's case by itself: on 14 and older a new database lets PUBLIC create in
    ``public``; restored into 18 by pydump it still does, as with pg_dump 18 (on 15+ sources
    nothing changes: PUBLIC has USAGE only on both sides)."""
    src = dbs.make(source, "public_schema")
    backup = pydump(src, tmp_path / "pydump")
    dst = dbs.make(target, "public_schema_copy")
    assert pyrestore_main([str(backup), dst, "--quiet", "--no-report"]) == 0
    acl_query = ("SELECT pg_catalog.pg_get_userbyid(nspowner), nspacl::text[], "
                 "pg_catalog.obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = 'public'")
    (owner, acl, comment), = pgtest.query(dst, acl_query)
    public_creates = any(item.startswith("=") and "C" in item.split("/")[0] for item in acl)
    assert public_creates == (source.version < 15), acl
    assert owner == ("pg_database_owner" if source.version >= 15 else source.superuser)
    assert comment == "standard public schema"
