"""pyrestore against real pydump backups (the dumper run as a subprocess, as a user runs it).

The oracle is the one of the dump tests: ``pg_dump --schema-only`` statements, per-table
content hashes and sequence values of the source and of the restored copy must be identical.
Most restores here run with ``--no-report`` for speed; the fixture round trip and the
self-reporting test run with the defaults (a restore reports only into an events table the
target had before it began, so a fresh copy gets no row of pyrestore's own).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import oracle
from tests.support import pgtest
from tests.support.helpers import CYCLES, dbname, pydump, pyrestore
from restore.cli import main

pytestmark = pytest.mark.all_versions  # fidelity depends on the server version

#: Every fixture present (others add fixtures while this file exists); contrib-only ones skip where unavailable.
FIXTURES = sorted(p.stem for p in pgtest.FIXTURES_DIR.glob("*.sql"))



@pytest.mark.parametrize("fixture", FIXTURES)
def test_full_restore_of_every_fixture_is_identical(fixture_db, make_db, tmp_path: Path, fixture: str) -> None:  # type: ignore[no-untyped-def]
    """Both replays of one backup, ``zcat | psql`` and ``pyrestore``, give the source back by
    pg_dump 18's judgement; the psql replay goes first, so a failure says whose bug it is."""
    src = fixture_db(fixture)
    b = pydump(src, tmp_path)
    assert pyrestore("--check", str(b)) == 0
    ref = make_db("psql")
    prc, err = oracle.psql_replay(make_db.server, ref, next(b.glob("backup.sql*")), check=False)
    assert prc == 0, f"the backup of {fixture}.sql does not replay with psql (dumper): {err.strip()[-2000:]}"
    oracle.assert_same_database(make_db.server, src, ref)
    dst = make_db("dst")
    assert main([str(b), dst, "--quiet"]) == 0  # default options: reporting on, it writes nothing here
    oracle.assert_same_database(make_db.server, src, dst)


def test_jobs_and_single_transaction_give_the_same_database(fixture_db, make_db, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = fixture_db("supabase")
    pgtest.run_sql(src, CYCLES)
    b = pydump(src, tmp_path)
    par = make_db("par")
    assert main([str(b), par, "--jobs", "4", "--no-report", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["jobs"] == 4 and out["ok"] is True
    oracle.assert_same_database(make_db.server, src, par)
    one = make_db("one")
    assert main([str(b), one, "--jobs", "4", "--single-transaction", "--no-report"]) == 0
    assert "using one connection" in capsys.readouterr().err
    oracle.assert_same_database(make_db.server, src, one)


def test_data_only_into_schema_only_copy_superuser(fixture_db, make_db, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = fixture_db("supabase")
    pgtest.run_sql(src, CYCLES)
    schema_b = pydump(src, tmp_path / "s", "--schema-only")
    full_b = pydump(src, tmp_path / "f")
    for from_csv in (False, True):
        dst = make_db("dst")
        assert pyrestore(str(schema_b), dst) == 0
        assert pgtest.query(dst, "SELECT count(*) FROM cyc.a") == [(0,)]
        args = ["--data-only"] + (["--from-csv"] if from_csv else [])
        assert main([str(full_b), dst, *args, "--no-report"]) == 0
        assert "session_replication_role" in capsys.readouterr().err
        if from_csv:  # CSV files exist only for some categories: compare what was loaded
            assert pgtest.query(dst, "SELECT count(*) FROM crawler.pages") == [(2000,)]
        else:
            oracle.assert_same_database(make_db.server, src, dst)


def test_data_only_fk_cycles_as_non_superuser_owner(make_db, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    server = make_db.server
    role = "pyrestore_owner"
    pgtest.run_sql(server.dsn("postgres"), f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
                                           f"THEN CREATE ROLE {role} LOGIN; END IF; END $$;")
    src, dst = make_db("src"), make_db("dst")
    for d in (src, dst):
        pgtest.run_sql(d, f"ALTER DATABASE {dbname(d)} OWNER TO {role}; ALTER SCHEMA public OWNER TO {role};")
    src_role, dst_role = server.dsn(dbname(src), user=role), server.dsn(dbname(dst), user=role)
    pgtest.run_sql(src_role, CYCLES)
    schema_b = pydump(src, tmp_path / "s", "--schema-only")
    full_b = pydump(src, tmp_path / "f")
    assert pyrestore(str(schema_b), dst_role) == 0
    assert main([str(full_b), dst_role, "--data-only", "--no-report"]) == 0
    assert "dropped and are re-created" in capsys.readouterr().err
    oracle.assert_same_database(server, src, dst)


def test_clean_restores_over_a_modified_copy(fixture_db, make_db, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    server = make_db.server
    src = fixture_db("supabase")
    pgtest.run_sql(src, CYCLES)
    b = pydump(src, tmp_path)
    dst = make_db("dst")
    assert pyrestore(str(b), dst) == 0
    pgtest.run_sql(dst, """
        DELETE FROM crawler.pages WHERE id < 100;
        UPDATE agents.agents SET name = 'changed';
        INSERT INTO rbac.roles (name) VALUES ('intruder');
        ALTER TABLE rag.chunks ADD COLUMN extra int;
        ALTER TABLE public.tasks DROP CONSTRAINT tasks_conversation_id_fkey;
        DROP TABLE law.contracts;
        DROP VIEW rag.document_stats;
        CREATE INDEX extra_idx ON crawler.pages (url);
        ALTER TYPE public.task_status ADD VALUE 'extra';
        SELECT setval('crawler.pages_id_seq', 99999);
    """)
    assert pyrestore(str(b), dst) == 11  # not empty, no --clean: refused
    assert pyrestore(str(b), dst, "--clean") == 0  # law.contracts is missing: fine
    oracle.assert_same_database(server, src, dst)
    assert pyrestore(str(b), dst, "--clean", "--if-exists", "--jobs", "3") == 0
    oracle.assert_same_database(server, src, dst)
    # An object outside the backup that depends on one in it: the clean refuses, all or nothing.
    pgtest.run_sql(dst, "CREATE VIEW public.mine AS SELECT id FROM crawler.pages;")
    before = oracle.table_hashes(dst)
    assert pyrestore(str(b), dst, "--clean") == 7
    assert "mine" in capsys.readouterr().err
    assert oracle.table_hashes(dst) == before


@pytest.mark.parametrize("fixture", ["tables", "kinds", "pgdump_catalogue"])
def test_clean_over_every_object_kind(fixture_db, make_db, tmp_path: Path, fixture: str) -> None:  # type: ignore[no-untyped-def]
    """--clean drops every kind the dumper writes (collations, casts, operators, FDWs, large objects, ...)."""
    server = make_db.server
    src = fixture_db(fixture)
    b = pydump(src, tmp_path)
    dst = make_db("dst")
    assert pyrestore(str(b), dst) == 0
    pgtest.run_sql(dst, """SET CONSTRAINTS ALL IMMEDIATE; DO $$ DECLARE r record; n bigint; BEGIN
        FOR r IN SELECT c.oid::regclass AS t FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
                 WHERE c.relkind = 'r' AND s.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1::text LOOP
          BEGIN
            EXECUTE format('DELETE FROM %s WHERE ctid = (SELECT min(ctid) FROM %s)', r.t, r.t);
            GET DIAGNOSTICS n = ROW_COUNT;
            EXIT WHEN n > 0;
          EXCEPTION WHEN others THEN NULL;  -- referenced by a foreign key, ...
          END;
        END LOOP; END $$;""")
    assert oracle.table_hashes(dst) != oracle.table_hashes(src)  # a row is gone
    pgtest.run_sql(dst, "CREATE TABLE public.clean_extra (id int); INSERT INTO public.clean_extra VALUES (1);")
    assert pyrestore(str(b), dst, "--clean") == 0
    pgtest.run_sql(dst, "DROP TABLE public.clean_extra;")  # not in the backup: --clean leaves it alone
    oracle.assert_same_database(server, src, dst)
    assert pyrestore(str(b), dst, "--clean", "--if-exists") == 0
    oracle.assert_same_database(server, src, dst)


def test_create_database(fixture_db, make_db, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    server = make_db.server
    src = fixture_db("supabase")
    b = pydump(src, tmp_path)
    name = pgtest.unique_db_name("created")
    make_db.created.append(name)  # dropped by the fixture after the test
    dst = server.dsn(name)
    assert pyrestore(str(b), dst, "--create") == 0
    oracle.assert_same_database(server, src, dst)
    assert pyrestore(str(b), dst, "--create") == 11
    assert "already exists" in capsys.readouterr().err
    pgtest.run_sql(dst, "DELETE FROM crawler.pages")
    assert pyrestore(str(b), dst, "--create", "--clean") == 0
    oracle.assert_same_database(server, src, dst)


def test_role_map(make_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = make_db.server
    pgtest.run_sql(server.dsn("postgres"), """DO $$ DECLARE r text; BEGIN
        FOREACH r IN ARRAY ARRAY['rm_old_owner', 'rm new owner', 'rm_reader', 'rm_new_reader'] LOOP
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN EXECUTE format('CREATE ROLE %I', r); END IF;
        END LOOP; END $$;""")
    src = make_db("src")
    pgtest.run_sql(src, """
        CREATE SCHEMA app AUTHORIZATION rm_old_owner;
        CREATE TABLE app.rm_old_owner (id int PRIMARY KEY, note text);
        ALTER TABLE app.rm_old_owner OWNER TO rm_old_owner;
        ALTER TABLE app.rm_old_owner ENABLE ROW LEVEL SECURITY;
        CREATE POLICY p ON app.rm_old_owner FOR SELECT TO rm_reader USING (note <> 'rm_reader');
        GRANT SELECT ON app.rm_old_owner TO rm_reader;
        GRANT UPDATE (note) ON app.rm_old_owner TO rm_reader;
        CREATE FUNCTION app.f() RETURNS text LANGUAGE sql AS $$ SELECT 'rm_old_owner' $$;
        ALTER FUNCTION app.f() OWNER TO rm_old_owner;
        INSERT INTO app.rm_old_owner VALUES (1, 'rm_reader');
    """)
    b = pydump(src, tmp_path)
    dst = make_db("dst")
    assert pyrestore(str(b), dst, "--role-map", "rm_old_owner=rm new owner", "--role-map", "rm_reader=rm_new_reader") == 0
    assert pgtest.query(dst, "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'app'") == [("rm new owner",)]
    assert pgtest.query(dst, "SELECT tableowner FROM pg_tables WHERE schemaname = 'app'") == [("rm new owner",)]
    assert pgtest.query(dst, "SELECT pg_get_userbyid(proowner), app.f() FROM pg_proc WHERE proname = 'f'") \
        == [("rm new owner", "rm_old_owner")]  # the function body is code, not a role reference
    assert pgtest.query(dst, "SELECT roles::text[], qual FROM pg_policies WHERE tablename = 'rm_old_owner'") \
        == [(["rm_new_reader"], "(note <> 'rm_reader'::text)")]
    grants = pgtest.query(dst, "SELECT grantee, privilege_type FROM information_schema.role_table_grants"
                               " WHERE table_schema = 'app' AND grantee LIKE 'rm%' ORDER BY 1, 2")
    assert ("rm_new_reader", "SELECT") in grants and not any(g == "rm_reader" for g, _ in grants)
    assert pgtest.query(dst, "SELECT grantee FROM information_schema.column_privileges WHERE table_schema = 'app'"
                             " AND privilege_type = 'UPDATE' AND grantee IN ('rm_reader', 'rm_new_reader')") == [("rm_new_reader",)]
    assert pgtest.query(dst, "SELECT * FROM app.rm_old_owner") == [(1, "rm_reader")]  # data untouched


def test_self_reporting_rows_of_a_real_dump(fixture_db, make_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 10 item 3: a fresh restore writes no row of its own (the events table is one the
    restore creates), so the copy equals the source with the default options; a restore into a
    target whose events table existed before (a live project) records its invoked/completed rows."""
    src = fixture_db("supabase")
    b = pydump(src, tmp_path)
    schema_b = pydump(src, tmp_path / "s", "--schema-only")
    fresh = make_db("fresh")
    assert main([str(b), fresh, "--quiet"]) == 0  # reporting on (no --no-report)
    oracle.assert_same_database(make_db.server, src, fresh)
    assert pgtest.query(fresh, "SELECT count(*) FROM code_ops.artifact_events WHERE artifact_name = 'restore-db'") == [(0,)]
    live = make_db("live")
    assert main([str(schema_b), live, "--quiet", "--no-report"]) == 0
    assert main([str(b), live, "--quiet", "--data-only"]) == 0
    rows = pgtest.query(live, "SELECT run_id, artifact_type, artifact_version IS NOT NULL, event_type, success,"
                              " details->>'mode' FROM code_ops.artifact_events WHERE artifact_name = 'restore-db' ORDER BY id")
    assert [r[1:] for r in rows] == [("command", True, "invoked", None, "data-only"),
                                     ("command", True, "completed", True, "data-only")]
    assert rows[0][0] == rows[1][0]  # one run id
    # the backup's own rows are there unchanged, ahead of ours
    assert pgtest.query(live, "SELECT id, artifact_name, event_type FROM code_ops.artifact_events ORDER BY id")[:2] == \
        pgtest.query(src, "SELECT id, artifact_name, event_type FROM code_ops.artifact_events ORDER BY id")


def test_keyword_and_dollar_table_names_pass_check_with_every_csv(fixture_db, make_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 10 item 4: the dumper keys ``public."order"``; the check side must not compute
    ``public.order`` and call a healthy backup broken (script counts and CSV files alike)."""
    src = fixture_db("keywords")
    b = pydump(src, tmp_path, "--csv", "all")
    counts = json.loads((b / "row_counts.json").read_text())
    assert counts['public."order"'] == 2 and counts['public."a$b"'] == 2, counts
    assert counts['"Mixed Case"."table"'] == 3, counts
    assert len(list((b / "data").glob("*.csv"))) == 6
    assert pyrestore("--check", str(b)) == 0
    dst = make_db("dst")
    assert pyrestore(str(b), dst) == 0  # verification of row counts included
    oracle.assert_same_database(make_db.server, src, dst)
