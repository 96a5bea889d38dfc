"""Restoring into a Supabase-like target as a non-superuser ``postgres``-like role.

The target is built the way a new Supabase project looks to its ``postgres`` role: the
``auth`` and ``storage`` schemas with their tables, types and sequences already exist, owned by
``supabase_auth_admin`` / ``supabase_storage_admin``; the platform roles exist; the restoring
role is not a superuser and has only the grants Supabase gives ``postgres`` on those schemas
(USAGE, table DML, REFERENCES, sequence use). The platform's auth schema is a different
GoTrue version than the source's: ``auth.users`` lacks ``is_super_admin`` and has an extra
``instance_id`` (supabase/cli#1845), and ``auth.schema_migrations`` already holds the
platform's own row (the classic duplicate-key failure of supabase#35188).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import oracle
from tests.support import pgtest
from restore.cli import main
from tests.support.helpers import dbname, pydump
from tests.support.supabase import TARGET_PLATFORM

ROLE = "sb_restorer"



@pytest.fixture
def supabase_like(fixture_db, make_db):  # type: ignore[no-untyped-def]
    """(source dsn, target dsn as the restoring role, target dsn as superuser)."""
    server = make_db.server
    src = fixture_db("supabase")  # creates the platform roles too
    pgtest.run_sql(src, "CREATE TABLE auth.schema_migrations (version text PRIMARY KEY);"
                        " ALTER TABLE auth.schema_migrations OWNER TO supabase_auth_admin;"
                        " INSERT INTO auth.schema_migrations VALUES ('20240101000000'), ('20240202000000');")
    pgtest.run_sql(server.dsn("postgres"), f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') "
                                           f"THEN CREATE ROLE {ROLE} LOGIN NOSUPERUSER; END IF; END $$;")
    dst = make_db("sbtarget")
    pgtest.run_sql(dst, f"ALTER DATABASE {dbname(dst)} OWNER TO {ROLE}; ALTER SCHEMA public OWNER TO {ROLE};"
                        + TARGET_PLATFORM.replace("{role}", ROLE))
    return src, server.dsn(dbname(dst), user=ROLE), dst


def test_restore_into_supabase_like_target(supabase_like, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src, dst_role, dst = supabase_like
    b = pydump(src, tmp_path)
    # The target is not empty, but everything in it belongs to other roles: --skip-existing is chosen.
    rc = main([str(b), dst_role, "--role-map", "postgres=" + ROLE, "--no-report", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    res = json.loads(out.out)
    assert res["ok"] and res["skip_existing"] and "skip-existing" not in out.err  # --json: no info lines
    reasons = {s["entry"]: s["reason"] for s in res["skipped"]}
    text = "\n".join(f"{k}: {v}" for k, v in reasons.items())
    assert "SCHEMA auth)" in text and "schema auth exists" in text
    assert "TABLE auth.users)" in text and "TYPE auth.aal_level)" in text
    assert "ACL auth.users" in text  # grants of a platform table are not touched
    assert "is_super_admin" in text  # the column the target lacks
    assert "TABLE DATA auth.schema_migrations" in text and "already holds rows" in text
    assert "must be owner" in text  # post-data on platform tables (their PKs exist already)
    # The data is there: every table but the migrations one equals the source.
    ha, hb = oracle.table_hashes(src), oracle.table_hashes(dst)
    for key in ha:
        if key.startswith("auth.users") or key == "auth.schema_migrations":
            continue
        assert hb.get(key) == ha[key], key
    assert pgtest.query(dst, "SELECT version FROM auth.schema_migrations") == [("20240101000000",)]
    cols = "id, email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data, phone, created_at"
    assert pgtest.query(dst, f"SELECT ({cols})::text FROM auth.users ORDER BY id") == \
        pgtest.query(src, f"SELECT ({cols})::text FROM auth.users ORDER BY id")
    assert pgtest.query(dst, "SELECT count(*) FROM auth.users WHERE instance_id IS NOT NULL") == [(0,)]
    # Platform objects keep their owners; the new ones belong to the restoring role.
    assert pgtest.query(dst, "SELECT tableowner FROM pg_tables WHERE schemaname = 'auth' AND tablename = 'users'") \
        == [("supabase_auth_admin",)]
    assert pgtest.query(dst, "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'crawler'") == [(ROLE,)]
    # FKs from the user's tables into the platform's are in place, and sequences continue.
    assert pgtest.query(dst, "SELECT count(*) FROM pg_constraint WHERE conname = 'conversations_user_id_fkey'") == [(1,)]
    assert oracle.sequence_values(dst)["auth.refresh_tokens_id_seq"] == oracle.sequence_values(src)["auth.refresh_tokens_id_seq"]


def test_strict_turns_skips_into_errors(supabase_like, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src, dst_role, dst = supabase_like
    b = pydump(src, tmp_path)
    rc = main([str(b), dst_role, "--role-map", "postgres=" + ROLE, "--no-report", "--quiet", "--strict",
               "--single-transaction"])
    assert rc == 7
    assert "--strict" in capsys.readouterr().err
    assert pgtest.query(dst, "SELECT count(*) FROM pg_namespace WHERE nspname = 'crawler'") == [(0,)]
    assert pgtest.query(dst, "SELECT count(*) FROM auth.users") == [(0,)]


def test_second_restore_never_rewinds_a_sequence(supabase_like, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Issue 10 item 1: restoring the same backup again with --skip-existing skips every table's
    data (the rows are there) and must not set the sequences back to the backup's values."""
    src, dst_role, dst = supabase_like
    b = pydump(src, tmp_path)
    args = [str(b), dst_role, "--role-map", "postgres=" + ROLE, "--no-report", "--quiet", "--skip-existing"]
    assert main(args) == 0
    seq = "crawler.pages_id_seq"
    before = oracle.sequence_values(dst)[seq]
    pgtest.run_sql(dst, "INSERT INTO crawler.pages (source_id, url) SELECT source_id, url || '#new' FROM crawler.pages LIMIT 1")
    advanced = oracle.sequence_values(dst)[seq]
    assert advanced[0] == before[0] + 1
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert oracle.sequence_values(dst)[seq] == advanced  # not moved back to the backup's value
    assert any("never moved backwards" in s["reason"] for s in res["skipped"]), res["skipped"]
    # the application's next insert works (no duplicate key)
    pgtest.run_sql(dst, "INSERT INTO crawler.pages (source_id, url) SELECT source_id, url || '#next' FROM crawler.pages LIMIT 1")


def test_skip_report_is_grouped_on_the_terminal_and_whole_in_a_file(supabase_like, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Issue 10 item 9: hundreds of skip lines (DEFAULT ACL entries two to four times) buried
    what mattered: the terminal gets counts by kind, the full list goes to --json and a file."""
    src, dst_role, dst = supabase_like
    b = pydump(src, tmp_path)
    assert main([str(b), dst_role, "--role-map", "postgres=" + ROLE, "--no-report"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "Skipped (already in the target" in ln)
    assert " TABLE" in line and " ACL" in line, line
    assert len([ln for ln in out.splitlines() if ln.strip().startswith("- entry")]) == 0, out
    report = b.parent / f"{b.name}.skipped.json"
    assert str(report) in out
    skipped = json.loads(report.read_text())
    assert oct(report.stat().st_mode & 0o777) == "0o600"
    pairs = [(s["entry"], s["reason"]) for s in skipped]
    assert len(pairs) == len(set(pairs)), "an entry is reported twice for one reason"
    assert any(s["kind"] == "TABLE" and "auth.users" in s["entry"] for s in skipped)


def test_clean_on_a_managed_target_drops_only_what_the_role_may(supabase_like, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Issue 10 item 7: ``--clean`` as the project's non-superuser role used to stop at the first
    platform object (``DROP EVENT TRIGGER pgrst_drop_watch``: must be owner). It now drops what
    the role owns, leaves the platform's objects in place with a report, and restores again."""
    src, dst_role, dst = supabase_like
    watch = ("CREATE FUNCTION public.pgrst_watch() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN NULL; END $$;"
             " CREATE EVENT TRIGGER pgrst_drop_watch ON sql_drop EXECUTE FUNCTION public.pgrst_watch();")
    pgtest.run_sql(src, watch)
    pgtest.run_sql(dst, watch.replace("public.", "auth.").replace("FUNCTION auth", "FUNCTION auth"))
    b = pydump(src, tmp_path)
    args = [str(b), dst_role, "--role-map", "postgres=" + ROLE, "--no-report"]
    assert main([*args, "--quiet"]) == 0
    pgtest.run_sql(dst, "UPDATE crawler.pages SET url = url || '#changed' WHERE id < 10")
    capsys.readouterr()
    rc = main([*args, "--clean", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    res = json.loads(out.out)
    left = "\n".join(res["clean_left_in_place"])
    assert "EVENT TRIGGER pgrst_drop_watch" in left and "auth" in left, left
    assert res["cleaned"] > 0 and res["skip_existing"]
    # the user's data is the backup's again (the platform's tables kept their rows)
    assert oracle.table_hashes(dst)["crawler.pages"] == oracle.table_hashes(src)["crawler.pages"]


def _fixture_section(name: str, heading: str) -> str:
    """One ``-- ---...--- heading`` section of a fixture file, so the test follows the fixture."""
    text = pgtest.fixture_path(name).read_text()
    start = text.index(f"-- {'-' * 64} {heading}")
    end = text.find(f"-- {'-' * 64} ", start + 1)
    return text[start:end if end >= 0 else None]


def test_system_object_and_member_grants_on_a_non_superuser_target_are_skipped_and_reported(
        supabase_like, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The privileges fixture's grants on system objects (``pg_catalog.pg_sleep``, column
    grants on ``pg_proc``, ``LANGUAGE plpgsql``, ...) and on a member of an extension the
    platform installed (``extensions.gen_random_bytes`` of pgcrypto, owned by the platform's
    superuser) cannot be made by the project's non-superuser role. Each such statement is
    skipped and reported, naming it, and the restore succeeds. Where the server only warns
    ("no privileges were granted/could be revoked": the role holds the privilege through
    PUBLIC but may not grant it), the statement changed nothing, so it is reported as skipped
    too: a ``REVOKE ... FROM PUBLIC`` that silently did nothing must not look restored."""
    src, dst_role, dst = supabase_like
    pgtest.run_sql(src, """
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'privx_reader') THEN CREATE ROLE privx_reader NOLOGIN; END IF;
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'privx_app') THEN CREATE ROLE privx_app NOLOGIN; END IF;
        END $$;
        CREATE SCHEMA extensions;
        CREATE EXTENSION pgcrypto WITH SCHEMA extensions;
        REVOKE ALL ON FUNCTION extensions.gen_random_bytes(integer) FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION extensions.gen_random_bytes(integer) TO privx_app;
    """ + _fixture_section("privileges", "system objects"))
    # the platform installed pgcrypto as its superuser, as Supabase does
    pgtest.run_sql(dst, "CREATE SCHEMA extensions; CREATE EXTENSION pgcrypto WITH SCHEMA extensions;"
                        f" GRANT USAGE ON SCHEMA extensions TO {ROLE};")
    b = pydump(src, tmp_path)
    rc = main([str(b), dst_role, "--role-map", "postgres=" + ROLE, "--no-report", "--json", "--skip-existing"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    skipped = json.loads(out.out)["skipped"]
    statements = "\n".join(s.get("statement") or s["entry"] for s in skipped)
    for needle in ("pg_catalog.pg_sleep(double precision)", "pg_catalog.pg_stat_reset()", "LANGUAGE plpgsql",
                   "pg_catalog.pg_proc", "pg_catalog.macaddr8", "pg_catalog.pg_stat_activity",
                   "pg_catalog.percentile_disc", "extensions.gen_random_bytes(integer)"):
        assert needle in statements, (needle, statements)
    # nothing changed on the target's system objects or the platform's extension
    assert pgtest.query(dst, """SELECT has_function_privilege('privx_app', 'pg_catalog.pg_sleep(double precision)', 'EXECUTE'),
                                      has_function_privilege('public', 'pg_catalog.pg_sleep(double precision)', 'EXECUTE'),
                                      has_language_privilege('public', 'plpgsql', 'USAGE'),
                                      has_function_privilege('public', 'extensions.gen_random_bytes(integer)', 'EXECUTE')""") \
        == [(True, True, True, True)]
