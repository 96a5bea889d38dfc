"""``pyrestore --data-only`` into a schema-only copy, for every fixture (superuser).

The schema comes from ``pydump --schema-only`` + pyrestore, as an application's migrations
would build it; the data from a full backup. Triggers that exist in the target (including
one that copies rows into another table) must not fire during the load, and the result must
be the source database by the usual oracle.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import oracle
import pgtest
from restore.cli import main
from test_restore_dumper import pydump

FIXTURES = sorted(p.stem for p in pgtest.FIXTURES_DIR.glob("*.sql") if p.stem != "kinds_contrib")


@pytest.mark.parametrize("fixture", FIXTURES)
def test_data_only_into_schema_only_copy(fixture_db, make_db, tmp_path: Path, fixture: str) -> None:  # type: ignore[no-untyped-def]
    src = fixture_db(f"{fixture}.sql")
    schema_b = pydump(src, tmp_path / "s", "--schema-only")
    full_b = pydump(src, tmp_path / "f")
    dst = make_db("dst")
    assert main([str(schema_b), dst, "--quiet", "--no-report"]) == 0
    assert main([str(full_b), dst, "--data-only", "--quiet", "--no-report"]) == 0
    oracle.assert_same_database(make_db.server, src, dst)


TRIGGERS = """
CREATE TABLE public.t (id int PRIMARY KEY);
CREATE TABLE public.log (n serial PRIMARY KEY, id int);
CREATE FUNCTION public.log_it() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO public.log (id) VALUES (NEW.id); RETURN NEW; END$$;
CREATE TRIGGER t_log AFTER INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION public.log_it();
CREATE TRIGGER t_log_always AFTER INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION public.log_it();
ALTER TABLE public.t ENABLE ALWAYS TRIGGER t_log_always;
INSERT INTO public.t VALUES (1), (2), (3);
"""


@pytest.mark.parametrize("as_owner", [False, True], ids=["superuser", "non-superuser-owner"])
def test_data_only_does_not_fire_triggers(make_db, tmp_path: Path, as_owner: bool) -> None:  # type: ignore[no-untyped-def]
    """Replaying rows must not re-run the triggers that made them (the log would double)."""
    server = make_db.server
    role = "dataonly_owner"
    pgtest.run_sql(server.dsn("postgres"), f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
                                           f"THEN CREATE ROLE {role} LOGIN; END IF; END $$;")
    src, dst = make_db("src"), make_db("dst")
    if as_owner:
        for d in (src, dst):
            name = pgtest.query(d, "SELECT current_database()")[0][0]
            pgtest.run_sql(d, f'ALTER DATABASE "{name}" OWNER TO {role}; ALTER SCHEMA public OWNER TO {role};')
        src_role = server.dsn(pgtest.query(src, "SELECT current_database()")[0][0], user=role)
        dst = server.dsn(pgtest.query(dst, "SELECT current_database()")[0][0], user=role)
        pgtest.run_sql(src_role, TRIGGERS)
    else:
        pgtest.run_sql(src, TRIGGERS)
    assert pgtest.query(src, "SELECT count(*) FROM public.log") == [(6,)]
    schema_b = pydump(src, tmp_path / "s", "--schema-only")
    full_b = pydump(src, tmp_path / "f")
    assert main([str(schema_b), dst, "--quiet", "--no-report"]) == 0
    assert main([str(full_b), dst, "--data-only", "--quiet", "--no-report"]) == 0
    assert pgtest.query(dst, "SELECT count(*) FROM public.log") == [(6,)]
    assert pgtest.query(dst, "SELECT tgname, tgenabled::text FROM pg_trigger WHERE tgrelid = 'public.t'::regclass"
                             " ORDER BY 1") == [("t_log", "O"), ("t_log_always", "A")]
    oracle.assert_same_database(server, src, dst)
