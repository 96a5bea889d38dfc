"""Restoring across platforms: a backup of a cluster whose bootstrap superuser is not the
target's (issue 10 item 5).

A Supabase cluster is created by ``supabase_admin``; many objects of a project belong to it,
and the dump never creates that role. Restored into a plain PostgreSQL (a developer's local
copy) with no options, pyrestore maps it to the target's bootstrap superuser and says so in
one line, where pg_dump | psql stops at the first ``OWNER TO supabase_admin``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import oracle
from tests.support import pgtest
from restore.cli import main
from tests.support.helpers import pydump


def test_bootstrap_superuser_is_mapped_with_one_note(supabase_admin_cluster, make_db, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    sb = supabase_admin_cluster
    src = sb.create_database("project")
    pgtest.run_sql(src, """
        CREATE ROLE postgres_like LOGIN;
        CREATE SCHEMA app;
        CREATE TABLE app.items (id int PRIMARY KEY, name text);
        INSERT INTO app.items VALUES (1, 'a'), (2, 'b');
        CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS 'SELECT 1';
        CREATE TABLE app.mine (id int);
        ALTER TABLE app.mine OWNER TO postgres_like;
        GRANT SELECT ON app.items TO postgres_like;
    """)
    b = pydump(src, tmp_path)
    meta = json.loads((b / "metadata.json").read_text())
    assert meta["server"]["bootstrap_superuser"] == "supabase_admin"
    dst = make_db("plain")
    assert pgtest.query(dst, "SELECT count(*) FROM pg_roles WHERE rolname = 'supabase_admin'") == [(0,)]
    capsys.readouterr()
    rc = main([str(b), dst, "--no-report"])
    err = capsys.readouterr().err
    assert rc == 0, err
    notes = [ln for ln in err.splitlines() if "bootstrap superuser supabase_admin" in ln]
    assert len(notes) == 1 and "goes to postgres" in notes[0], err
    assert pgtest.query(dst, "SELECT tableowner FROM pg_tables WHERE schemaname = 'app' ORDER BY tablename") == \
        [("postgres",), ("postgres_like",)]
    assert pgtest.query(dst, "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'app'") == [("postgres",)]
    assert oracle.table_hashes(dst) == oracle.table_hashes(src)


def test_missing_role_failure_names_the_way_out(make_db, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A role missing on the target, for a restoring role that cannot create it, is named in
    one line with --role-map / --no-owner."""
    server = make_db.server
    pgtest.run_sql(server.dsn("postgres"), "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gone_owner') "
                                           "THEN CREATE ROLE gone_owner; END IF; "
                                           "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'plain_restorer') "
                                           "THEN CREATE ROLE plain_restorer LOGIN; END IF; END $$;")
    src = make_db("src")
    pgtest.run_sql(src, "CREATE TABLE public.t (id int); ALTER TABLE public.t OWNER TO gone_owner;")
    b = pydump(src, tmp_path)
    dst = make_db("dst")
    pgtest.run_sql(dst, f"ALTER DATABASE {dst.split('dbname=')[1].split()[0]} OWNER TO plain_restorer;"
                        " ALTER SCHEMA public OWNER TO plain_restorer;")
    capsys.readouterr()
    rc = main([str(b), server.dsn(dst.split("dbname=")[1].split()[0], user="plain_restorer"), "--no-report"])
    err = capsys.readouterr().err
    assert rc != 0
    assert "--no-owner" in err and ("--role-map" in err), err


def test_event_trigger_of_a_former_superuser_restores_with_a_warning(make_db, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Issue 10 item 6: the owner of an event trigger must be a superuser when set; Supabase's
    ``issue_pg_net_access`` belongs to a role that no longer is one, so every restore into a
    fresh cluster stopped at ``permission denied to change owner of event trigger``."""
    server = make_db.server
    pgtest.run_sql(server.dsn("postgres"), "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'et_former_super') "
                                           "THEN CREATE ROLE et_former_super SUPERUSER; END IF; END $$;"
                                           "ALTER ROLE et_former_super SUPERUSER;")
    src = make_db("src")
    pgtest.run_sql(src, """
        CREATE FUNCTION public.note_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN NULL; END $$;
        CREATE EVENT TRIGGER issue_like ON ddl_command_end EXECUTE FUNCTION public.note_ddl();
        ALTER EVENT TRIGGER issue_like OWNER TO et_former_super;
        CREATE TABLE public.t (id int);
    """)
    pgtest.run_sql(server.dsn("postgres"), "ALTER ROLE et_former_super NOSUPERUSER;")
    try:
        b = pydump(src, tmp_path)
        dst = make_db("dst")
        capsys.readouterr()
        for extra in ([], ["--single-transaction"]):
            pgtest.run_sql(dst, "DROP EVENT TRIGGER IF EXISTS issue_like; DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            rc = main([str(b), dst, "--no-report", *extra])
            err = capsys.readouterr().err
            assert rc == 0, err
            assert "stays owned by the restoring role" in err
            assert pgtest.query(dst, "SELECT pg_get_userbyid(evtowner) FROM pg_event_trigger WHERE evtname = 'issue_like'") \
                == [("postgres",)]
    finally:
        pgtest.run_sql(server.dsn("postgres"), "ALTER ROLE et_former_super SUPERUSER;")
