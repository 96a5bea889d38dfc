"""The test infrastructure itself: servers, fixtures and the pg_dump/psql oracle.

If these fail, no other database test means anything.
"""

from __future__ import annotations

import gzip
import re
import subprocess
import uuid

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.support import oracle
from tests.support import pgtest

pytestmark = pytest.mark.all_versions  # every server the tests can start must work

CATEGORY_SCHEMAS = {"auth", "storage", "prediction", "crawler", "rbac", "agents", "rag",
                    "marketing", "law", "engineering", "leads", "company_data", "risk",
                    "code_ops", "public"}
TRANSIENT = {"conversations", "tasks", "plans", "deliverables", "checkpoints", "llm_usage"}


def _dbname(dsn: str) -> str:
    return conninfo_to_dict(dsn)["dbname"]


# --------------------------------------------------------------------------- no server needed

def test_split_script_handles_quotes_dollar_quotes_and_copy():
    script = "\n".join([
        "--",
        "-- PostgreSQL database dump",
        "\\restrict abc123",
        "SET statement_timeout = 0;",
        "SELECT pg_catalog.set_config('search_path', '', false);",
        "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $_$SELECT 'a;b' -- not a comment end;",
        "$_$;",
        "COMMENT ON TABLE t IS 'it''s; here';",
        "COMMENT ON COLUMN t.c IS E'back\\\\slash\\'; quote';",
        "CREATE   TABLE  \"we;ird\"   (",
        "    a int  /* block; comment */",
        ");",
        "COPY public.t (a, b) FROM stdin;",
        "1\tx;y",
        "\\N\t\\\\.",
        "\\.",
        "SELECT 1;",
        "\\unrestrict abc123",
    ])
    stmts = oracle.split_script(script)
    assert stmts[0] == "SET statement_timeout = 0;"
    assert stmts[2].startswith("CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $_$SELECT 'a;b' -- not")
    assert stmts[3] == "COMMENT ON TABLE t IS 'it''s; here';"
    assert stmts[4] == "COMMENT ON COLUMN t.c IS E'back\\\\slash\\'; quote';"
    assert stmts[5] == 'CREATE TABLE "we;ird" ( a int );'
    assert stmts[6] == "COPY public.t (a, b) FROM stdin;\n1\tx;y\n\\N\t\\\\.\n\\."
    assert stmts[7] == "SELECT 1;"
    assert len(stmts) == 8
    counted = oracle.statements(script)
    assert "SET statement_timeout = 0;" not in counted
    assert sum(counted.values()) == 6


def test_diff_statements_reports_both_sides():
    a = "CREATE TABLE x (a int);\nCREATE TABLE y (b int);\n"
    b = "CREATE TABLE y (b   int);\n-- comment\nCREATE TABLE x (a bigint);\n"
    d = oracle.diff_statements(a, b)
    assert "only in A" in d and "CREATE TABLE x (a int);" in d
    assert "only in B" in d and "CREATE TABLE x (a bigint);" in d
    assert "y" not in d.replace("only", "")
    assert oracle.diff_statements(a, a) == ""
    assert oracle.diff_statements("COMMENT ON DATABASE db1 IS 'x';", "COMMENT ON DATABASE db2 IS 'x';",
                                  "db1", "db2") == ""


# --------------------------------------------------------------------------- servers

def test_server_is_usable(pg_server):
    with pg_server.connect() as conn:
        num = int(conn.execute("SHOW server_version_num").fetchone()[0])
        assert num // 10000 == pg_server.version
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        if not pg_server.external:
            assert conn.execute("SHOW wal_level").fetchone()[0] == "logical"
            assert conn.execute("SHOW fsync").fetchone()[0] == "off"
    for tool in (pg_server.pg_dump_path, pg_server.psql_path):
        out = subprocess.run([str(tool), "--version"], capture_output=True, text=True).stdout
        major = int(re.search(r"\) (\d+)", out).group(1))
        assert major >= pg_server.version, f"{tool} is older than the server"


def test_dsn_forms(pg_server, db):
    assert _dbname(db).startswith("t_db_")
    uri = pg_server.dsn(_dbname(db), uri=True)
    assert uri.startswith("postgresql://")
    with psycopg.connect(uri) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == _dbname(db)


def test_password_auth_over_tcp(pg_server, db, run_sql):
    if not pg_server.supports_password:
        pytest.skip("this server does not do password authentication over TCP")
    role = f"pw_{uuid.uuid4().hex[:10]}"
    password = "s3cr3t 'quoted' pässword"
    run_sql(db, f"CREATE ROLE {role} LOGIN PASSWORD '{password.replace(chr(39), chr(39) * 2)}'")
    try:
        ok = pg_server.dsn(_dbname(db), user=role, password=password, tcp=True)
        assert pgtest.query(ok, "SELECT current_user")[0][0] == role
        assert pgtest.query(pg_server.dsn(_dbname(db), user=role, password=password, tcp=True,
                                          uri=True), "SELECT 1") == [(1,)]
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            pgtest.query(pg_server.dsn(_dbname(db), user=role, password="wrong", tcp=True), "SELECT 1")
    finally:
        run_sql(db, f"DROP ROLE {role}")


def test_require_extension(pg_server, db, require_extension, run_sql):
    require_extension(db, "pgcrypto")  # skips on pgserver's 16
    run_sql(db, "CREATE EXTENSION pgcrypto")
    assert pgtest.query(db, "SELECT encode(digest('x', 'sha1'), 'hex')")[0][0].startswith("11f6ad8e")


def test_private_server_stop_start(private_server):
    dsn = private_server.create_database("survivor")
    pgtest.run_sql(dsn, "CREATE TABLE t (a int); INSERT INTO t VALUES (1)")
    private_server.stop()
    assert not private_server.running
    with pytest.raises(psycopg.OperationalError):
        pgtest.query(dsn, "SELECT 1")
    private_server.start()
    assert pgtest.query(dsn, "SELECT a FROM t") == [(1,)]
    private_server.restart()
    assert pgtest.query(dsn, "SELECT count(*) FROM t") == [(1,)]


# --------------------------------------------------------------------------- fixture + oracle

def test_supabase_fixture_loads(fixture_db):
    dsn = fixture_db("supabase")
    schemas = {r[0] for r in pgtest.query(dsn, "SELECT nspname FROM pg_namespace")}
    assert CATEGORY_SCHEMAS <= schemas
    hashes = oracle.table_hashes(dsn)
    assert {f"public.{t}" for t in TRANSIENT} <= set(hashes)
    assert hashes["crawler.pages"][0] == 2000
    assert hashes["auth.users"][0] == 5
    assert all(rows > 0 for rows, _ in hashes.values()), hashes
    owners = dict(pgtest.query(dsn, "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'auth'"))
    assert set(owners.values()) == {"supabase_auth_admin"}
    cols = [r[0] for r in pgtest.query(
        dsn, "SELECT column_name FROM information_schema.columns "
             "WHERE table_schema = 'code_ops' AND table_name = 'artifact_events' ORDER BY ordinal_position")]
    assert cols == ["id", "run_id", "artifact_type", "artifact_name", "artifact_version", "event_type",
                    "success", "details", "created_at"]
    assert oracle.sequence_values(dsn)["prediction.models_id_seq"] == (100, False)


def test_oracle_equal_and_detects_differences(pg_server, fixture_db, make_db, run_sql):
    src = fixture_db("supabase")
    copy = make_db("copy", template=_dbname(src))
    oracle.assert_same_database(pg_server, src, copy)
    oracle.assert_same_database(pg_server, src, src)

    # one changed value in one row
    run_sql(copy, "UPDATE agents.agent_memory SET note = note || ' ' WHERE note = ''")
    with pytest.raises(AssertionError, match=r"agents\.agent_memory"):
        oracle.assert_same_database(pg_server, src, copy, schema=False)
    run_sql(copy, "UPDATE agents.agent_memory SET note = '' WHERE note = ' '")
    oracle.assert_same_database(pg_server, src, copy)

    # NULL vs empty string is a difference
    run_sql(copy, "UPDATE leads.leads SET notes = NULL WHERE notes = ''")
    with pytest.raises(AssertionError, match=r"leads\.leads"):
        oracle.assert_same_database(pg_server, src, copy, schema=False)
    run_sql(copy, "UPDATE leads.leads SET notes = '' WHERE notes IS NULL")

    # a sequence value
    run_sql(copy, "SELECT setval('prediction.models_id_seq', 100, true)")
    with pytest.raises(AssertionError, match=r"prediction\.models_id_seq"):
        oracle.assert_same_database(pg_server, src, copy)
    run_sql(copy, "SELECT setval('prediction.models_id_seq', 100, false)")
    oracle.assert_same_database(pg_server, src, copy)

    # schema: a changed default, a comment and an owner
    run_sql(copy, "ALTER TABLE public.tasks ALTER COLUMN priority SET DEFAULT 1")
    with pytest.raises(AssertionError, match=r"(?s)only in copy.*priority integer DEFAULT 1"):
        oracle.assert_same_database(pg_server, src, copy)
    run_sql(copy, "ALTER TABLE public.tasks ALTER COLUMN priority SET DEFAULT 0;"
                  "ALTER TABLE rag.chunks OWNER TO authenticated")
    with pytest.raises(AssertionError, match=r"OWNER TO authenticated"):
        oracle.assert_same_database(pg_server, src, copy)


def test_psql_replay_of_pg_dump_round_trips(pg_server, fixture_db, make_db, tmp_path):
    """The oracle end to end, with pg_dump standing in for pydump."""
    src = fixture_db("supabase")
    plain = oracle.pg_dump_script(pg_server, src)
    script = tmp_path / "backup.sql.gz"
    half = len(plain) // 2
    # two concatenated gzip members, as parallel pydump writers produce them
    script.write_bytes(gzip.compress(plain[:half]) + gzip.compress(plain[half:]))
    dst = make_db("replay")
    rc, err = oracle.psql_replay(pg_server, dst, script)
    assert rc == 0, err
    oracle.assert_same_database(pg_server, src, dst)

    bad = tmp_path / "bad.sql"
    bad.write_text("CREATE TABLE ok (a int);\nSELECT * FROM no_such_table;\n")
    rc, err = oracle.psql_replay(pg_server, make_db("bad"), bad, check=False)
    assert rc != 0 and "no_such_table" in err
    with pytest.raises(AssertionError, match="no_such_table"):
        oracle.psql_replay(pg_server, make_db("bad2"), bad)
