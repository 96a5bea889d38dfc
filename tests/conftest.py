"""Fixtures: real PostgreSQL servers started by the tests themselves (see tests/support/pgtest.py).

Fixtures
--------
``pg_server``      session-scoped, parametrized over the available servers (ids ``pg15``, ``pg16``,
                   or ``ext`` with PYDUMP_TEST_DSN): every test that uses it, directly or through
                   the fixtures below, runs once per server.
``make_db``        ``make_db(name_hint="db", template="template0") -> dsn``: a fresh database on
                   ``pg_server``, superuser over the unix socket; dropped WITH (FORCE) after the
                   test. ``template=<dbname>`` clones a database (it must have no connections).
``db``             the DSN of one fresh database.
``run_sql``        ``run_sql(dsn, sql_text_or_path)``: autocommit, whole text in one execute.
``fixture_db``     ``fixture_db(name) -> dsn``: a fresh database loaded with tests/fixtures/<name>.sql
                   (skips when the fixture's ``-- requires-extension:`` lines are not available,
                   or the server is older than its ``-- min-server-version: N`` line).
``require_extension`` ``require_extension(dsn, name)``: pytest.skip unless the server has it.
``private_server`` function-scoped: an own server of the first available kind, for destructive
                   tests (stop/start/kill); destroyed after the test.

Options: ``--pg-servers=pg15,pg16`` or env ``PYDUMP_TEST_SERVERS`` restricts the server kinds.

No server, no green run
-----------------------
When no PostgreSQL server can be started at all (no server binaries, no ``pgserver``, no
registry servers, no ``PYDUMP_TEST_DSN``), every test that needs one **fails** with a line that
says so: a run that skipped everything and went green would have tested nothing, which is
worse than a red one. On a developer's laptop without PostgreSQL, ``PYDUMP_TEST_ALLOW_NO_SERVER=1``
turns those failures into skips; ``pytest tests/unit`` needs no server in the first place.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.support import pgtest
from tests.support.pgtest import PgServer, ServerUnavailable


def pytest_addoption(parser):
    parser.addoption("--pg-servers", default=None,
                     help="comma-separated server kinds to test against (pg15,pg16); "
                          "default: every available one (env PYDUMP_TEST_SERVERS)")


def pytest_sessionstart(session):
    # a plain SIGTERM (CI timeout, kill) should clean up like Ctrl-C: servers are stopped by the
    # fixtures' finalizers or, at the latest, by pgtest's atexit hook
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        def _term(signum, frame):
            raise KeyboardInterrupt("SIGTERM")

        signal.signal(signal.SIGTERM, _term)


def _names(config) -> list[str]:
    return pgtest.selected_kind_names(config.getoption("--pg-servers", default=None))


def pytest_report_header(config):
    names = _names(config)
    return f"pydump test servers: {', '.join(names) or 'NONE AVAILABLE'}"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "all_versions: run on every available server version (fidelity tests); other tests run on "
        "the first available server only, unless PYDUMP_TEST_ALL_VERSIONS=1",
    )
    config.addinivalue_line(
        "markers", "upgrade: dump on an older major, restore into a newer one (make test-versions)")
    config.addinivalue_line(
        "markers", "slow: long-running (soak, thousands of tables, fuzzing); `make test-slow` runs them "
        "so that `make test` stays within about 15 minutes on two cores; CI runs both")


def pytest_generate_tests(metafunc):
    """Fidelity depends on the server version, so those tests run on every version; the rest
    (options, layout, failures, security, ...) test pydump's own logic and run on the first
    available server, which keeps `make test` within its time budget on two cores."""
    if "pg_server" in metafunc.fixturenames:
        names = _names(metafunc.config) or ["none"]
        every = metafunc.definition.get_closest_marker("all_versions") is not None
        if not every and os.environ.get("PYDUMP_TEST_ALL_VERSIONS") != "1":
            names = names[:1]
        metafunc.parametrize("pg_server", names, indirect=True, ids=names, scope="session")


@pytest.fixture(scope="session")
def _server_pool(request):
    pool = pgtest.ServerPool(_names(request.config))
    yield pool
    pool.close()


#: The opt-out for a machine without PostgreSQL: tests that need a server skip instead of failing.
ALLOW_NO_SERVER_ENV = "PYDUMP_TEST_ALLOW_NO_SERVER"


def _no_server(reason: str) -> None:
    """Fail the test (the default) or, with ``PYDUMP_TEST_ALLOW_NO_SERVER=1``, skip it."""
    if os.environ.get(ALLOW_NO_SERVER_ENV) == "1":
        pytest.skip(f"{reason} ({ALLOW_NO_SERVER_ENV}=1)")
    pytest.fail(f"{reason}: install PostgreSQL server binaries or the pgserver package, or set "
                f"PYDUMP_TEST_DSN; {ALLOW_NO_SERVER_ENV}=1 skips these tests instead", pytrace=False)


@pytest.fixture(scope="session")
def pg_server(request, _server_pool) -> PgServer:
    name = request.param
    if name == "none":
        _no_server("no PostgreSQL server available (no server binaries, no pgserver package)")
    try:
        server = _server_pool.get(name)
    except ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    return server


@pytest.fixture
def make_db(pg_server):
    created: list[str] = []

    def make(name_hint: str = "db", template: str = "template0") -> str:
        name = pgtest.unique_db_name(name_hint)
        dsn = pg_server.create_database(name, template=template)
        created.append(name)
        return dsn

    make.server = pg_server  # type: ignore[attr-defined]
    make.created = created  # type: ignore[attr-defined]
    yield make
    if pg_server.running:
        for name in created:
            try:
                pg_server.drop_database(name)
            except Exception as exc:  # do not hide the test's own outcome
                print(f"warning: could not drop test database {name}: {exc}", file=sys.stderr)


@pytest.fixture
def db(make_db) -> str:
    return make_db("db")


@pytest.fixture
def run_sql():
    return pgtest.run_sql


def _require_extension(dsn: str, name: str) -> None:
    if pgtest.missing_extension(dsn, name):
        pytest.skip(f"extension {name} is not available on this server")


@pytest.fixture
def require_extension():
    return _require_extension


@pytest.fixture
def fixture_db(make_db):
    def load(name: str) -> str:
        path = pgtest.fixture_path(name)
        need = pgtest.fixture_min_version(path)
        if make_db.server.version < need:
            pytest.skip(f"fixture {path.name} needs PostgreSQL {need}+ (server: {make_db.server.version})")
        dsn = make_db(Path(name).stem)
        for ext in pgtest.fixture_requirements(path):
            _require_extension(dsn, ext)
        pgtest.run_sql(dsn, path)
        return dsn

    load.server = make_db.server  # type: ignore[attr-defined]
    return load


@pytest.fixture
def private_server(request):
    if os.environ.get("PYDUMP_TEST_DSN"):
        pytest.skip("destructive test: needs a local server, not PYDUMP_TEST_DSN")
    names = _names(request.config)
    kinds = {k.name: k for k in pgtest.available_kinds()}
    kind = next((kinds[n] for n in names if n in kinds), None)
    if kind is None:
        _no_server("no local PostgreSQL server binaries available")
    server = pgtest.start_local(kind)
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def supabase_admin_cluster(pg_server):  # type: ignore[no-untyped-def]
    """A private cluster of the primary server's major whose bootstrap superuser is
    ``supabase_admin``, as a Supabase cluster's is (it has no ``postgres`` role yet)."""
    kind = {k.name: k for k in pgtest.available_kinds()}.get(pg_server.name)
    if kind is None:
        pytest.skip("needs a local server kind (not PYDUMP_TEST_DSN)")
    server = pgtest.start_local(kind, superuser="supabase_admin")
    try:
        yield server
    finally:
        server.destroy()
