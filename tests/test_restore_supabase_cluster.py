"""Restores into and out of a cluster built the way Supabase builds one (issue 10).

The cluster is bootstrapped by ``supabase_admin``; ``postgres`` is not a superuser but has
CREATEROLE, CREATEDB and BYPASSRLS and is a member of the platform roles; the managed schemas
(``auth``, ``storage``) belong to their admin roles; an event trigger belongs to ``postgres``,
which was a superuser when it was set and is not any more (Supabase's
``issue_pg_net_access``). Into it, as ``postgres``, a backup restores twice in a row and with
``--clean``; out of it, a backup of the project restores into a plain PostgreSQL as that
server's own superuser with no options at all.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from restore.cli import main
from tests.support import oracle, pgtest
from tests.support.helpers import pydump
from tests.support.supabase import TARGET_PLATFORM

PLATFORM_ROLES = ("anon", "authenticated", "service_role", "supabase_auth_admin", "supabase_storage_admin")


@pytest.fixture
def supabase_built(supabase_admin_cluster):  # type: ignore[no-untyped-def]
    """(cluster, dsn of the project database as postgres, dsn as supabase_admin)."""
    server = supabase_admin_cluster
    admin = server.dsn("postgres")
    pgtest.run_sql(admin, "CREATE ROLE postgres LOGIN SUPERUSER CREATEROLE CREATEDB BYPASSRLS;"
                   + "".join(f"CREATE ROLE {r} NOLOGIN;" for r in PLATFORM_ROLES)
                   + "GRANT anon, authenticated, service_role TO postgres;")
    server.create_database("project")
    project_admin = server.dsn("project")
    pgtest.run_sql(project_admin, "ALTER DATABASE project OWNER TO postgres; ALTER SCHEMA public OWNER TO postgres;"
                   + TARGET_PLATFORM.replace("{role}", "postgres")
                   + """
        CREATE FUNCTION public.grant_pg_net_access() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN NULL; END $$;
        CREATE EVENT TRIGGER issue_pg_net_access ON ddl_command_end EXECUTE FUNCTION public.grant_pg_net_access();
        ALTER EVENT TRIGGER issue_pg_net_access OWNER TO postgres;
        ALTER FUNCTION public.grant_pg_net_access() OWNER TO postgres;
    """)
    pgtest.run_sql(admin, "ALTER ROLE postgres NOSUPERUSER;")
    yield server, server.dsn("project", user="postgres"), project_admin


def _restore(backup: Path, dsn: str, *extra: str) -> tuple[int, dict]:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main([str(backup), dsn, "--json", "--no-report", *extra])
    return rc, json.loads(buf.getvalue())


def test_restore_into_a_supabase_built_cluster_twice_and_with_clean(supabase_built, fixture_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, project, project_admin = supabase_built
    src = fixture_db("supabase")
    b = pydump(src, tmp_path)
    rc, first = _restore(b, project)
    assert rc == 0, first
    assert first["skip_existing"] is True
    src_hashes = oracle.table_hashes(src)

    def user_tables_equal() -> None:
        got = oracle.table_hashes(project_admin)
        for key, h in src_hashes.items():
            if key.startswith(("auth.", "storage.")):
                continue  # the platform's tables: rows merged into the platform's own schema
            assert got.get(key) == h, key

    user_tables_equal()
    # The same backup again: the target now holds the user's own objects too, so it is no longer
    # recognised as a fresh managed project; without an option the restore refuses (nothing
    # changed), with --skip-existing it goes through without touching what is there.
    rc, refused = _restore(b, project)
    assert rc == 11 and "--skip-existing" in refused["error"], refused
    rc, second = _restore(b, project, "--skip-existing")
    assert rc == 0, second
    user_tables_equal()
    pgtest.run_sql(project_admin, "UPDATE crawler.pages SET url = url || '#x' WHERE id < 5")
    rc, cleaned = _restore(b, project, "--clean")
    assert rc == 0, cleaned
    left = "\n".join(cleaned.get("clean_left_in_place", []))
    assert "SCHEMA auth" in left, left
    user_tables_equal()
    # the platform's event trigger is untouched, still the non-superuser's
    assert pgtest.query(project_admin, "SELECT pg_get_userbyid(evtowner) FROM pg_event_trigger "
                                       "WHERE evtname = 'issue_pg_net_access'") == [("postgres",)]


def test_a_supabase_built_project_restores_into_plain_postgres_with_no_options(supabase_built, make_db,
                                                                               tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The developer's local copy: everything owned by supabase_admin maps to the target's
    bootstrap superuser, the event trigger owned by a non-superuser stays with the restoring
    role, and nothing else needs an option."""
    server, project, project_admin = supabase_built
    pgtest.run_sql(project_admin, """
        CREATE SCHEMA app;
        CREATE TABLE app.notes (id int PRIMARY KEY, body text);
        INSERT INTO app.notes VALUES (1, 'one'), (2, 'two');
        ALTER TABLE app.notes OWNER TO postgres;
        INSERT INTO auth.users (id, email) VALUES ('00000000-0000-4000-8000-000000000001', 'a@example.com');
    """)
    b = pydump(project_admin, tmp_path)
    dst = make_db("local")
    capsys.readouterr()
    rc = main([str(b), dst])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "bootstrap superuser supabase_admin" in err
    assert oracle.table_hashes(dst) == oracle.table_hashes(project_admin)
    assert pgtest.query(dst, "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'auth'") == \
        [("supabase_auth_admin",)]
