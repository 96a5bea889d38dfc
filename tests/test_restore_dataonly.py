"""``pyrestore --data-only`` into a schema-only copy, for every fixture (superuser).

The schema comes from ``pydump --schema-only`` + pyrestore, as an application's migrations
would build it; the data from a full backup. Triggers that exist in the target (including
one that copies rows into another table) must not fire during the load, and the result must
be the source database by the usual oracle.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import oracle
from tests.support import pgtest
from restore.cli import main
from tests.support.helpers import pydump

FIXTURES = sorted(p.stem for p in pgtest.FIXTURES_DIR.glob("*.sql") if p.stem != "kinds_contrib")


#: The data-only sources: the script's COPY blocks; the CSV files of a ``--csv all`` backup;
#: the default ``--csv critical`` backup through the CSV path (critical tables from their CSV
#: files, the others from the script, all in one foreign-key order).
SOURCES = {"script": ((), ()), "csv-all": (("--csv", "all"), ("--from-csv",)), "csv-default": ((), ("--from-csv",))}


@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize("fixture", FIXTURES)
def test_data_only_into_schema_only_copy(fixture_db, make_db, tmp_path: Path, fixture: str, source: str) -> None:  # type: ignore[no-untyped-def]
    dump_args, load_args = SOURCES[source]
    src = fixture_db(f"{fixture}.sql")
    schema_b = pydump(src, tmp_path / "s", "--schema-only")
    full_b = pydump(src, tmp_path / "f", *dump_args)
    if source == "csv-all":
        assert len(list((full_b / "data").glob("*.csv"))) == len(json.loads((full_b / "row_counts.json").read_text()))
    dst = make_db("dst")
    assert main([str(schema_b), dst, "--quiet", "--no-report"]) == 0
    assert main([str(full_b), dst, "--data-only", *load_args, "--quiet", "--no-report"]) == 0
    oracle.assert_same_database(make_db.server, src, dst)


def test_csv_path_says_where_each_table_comes_from(fixture_db, make_db, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A default backup: critical tables from CSV, Transient ones from the script (in FK order
    between them), or left out with ``--csv-only`` together with their sequences."""
    src = fixture_db("csv_edge")
    schema_b = pydump(src, tmp_path / "s", "--schema-only")
    full_b = pydump(src, tmp_path / "f")
    dst = make_db("dst")
    assert main([str(schema_b), dst, "--quiet", "--no-report"]) == 0
    assert main([str(full_b), dst, "--data-only", "--from-csv", "--no-report", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sources"]["csv_edge.conversations"] == "script" and out["sources"]["csv_edge.tasks"] == "script"
    assert out["sources"]["csv_edge.messages_1"] == "csv" and out["sources"]["csv_edge.heartbeat"] == "csv"
    assert any("from the script's COPY blocks" in n and "csv_edge.conversations" in n for n in out["notes"])
    oracle.assert_same_database(make_db.server, src, dst)

    only = make_db("only")
    assert main([str(schema_b), only, "--quiet", "--no-report"]) == 0
    # Without the Transient tables the partitions' FKs to them cannot hold: drop those first,
    # as an application whose schema lacks them would.
    pgtest.run_sql(only, "ALTER TABLE csv_edge.messages DROP CONSTRAINT messages_conversation_id_fkey;"
                         " ALTER TABLE csv_edge.tasks DROP CONSTRAINT tasks_conversation_id_n_fkey;")
    assert main([str(full_b), only, "--data-only", "--from-csv", "--csv-only", "--no-report", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sources"]["csv_edge.conversations"] == "skipped"
    assert pgtest.query(only, "SELECT count(*) FROM csv_edge.conversations") == [(0,)]
    assert pgtest.query(only, "SELECT count(*) FROM csv_edge.messages") == [(300,)]
    assert pgtest.query(only, "SELECT count(*) FROM csv_edge.heartbeat") == [(3,)]
    assert pgtest.query(only, "SELECT last_value FROM csv_edge.computed_serial_col_seq") == \
        pgtest.query(src, "SELECT last_value FROM csv_edge.computed_serial_col_seq")


REORDERED = """
CREATE SCHEMA app;
CREATE TABLE app.parent (id int PRIMARY KEY, name text, note text DEFAULT 'x');
CREATE TABLE app.child (id int PRIMARY KEY, parent_id int REFERENCES app.parent (id), payload jsonb,
                        total numeric GENERATED ALWAYS AS (id * 2) STORED);
"""
#: The same tables as an application's migrations might have built them: other column order,
#: one more column with a default (not in the backup).
REORDERED_TARGET = """
CREATE SCHEMA app;
CREATE TABLE app.parent (note text DEFAULT 'x', added int DEFAULT 42, name text, id int PRIMARY KEY);
CREATE TABLE app.child (total numeric GENERATED ALWAYS AS (id * 2) STORED, payload jsonb,
                        parent_id int REFERENCES app.parent (id), id int PRIMARY KEY);
"""


@pytest.mark.parametrize("source", ["script", "csv"])
def test_columns_map_by_name_into_a_reordered_target(make_db, tmp_path: Path, source: str) -> None:  # type: ignore[no-untyped-def]
    src, dst = make_db("src"), make_db("dst")
    pgtest.run_sql(src, REORDERED + """
        INSERT INTO app.parent VALUES (1, 'one', NULL), (2, '', 'n,"2"');
        INSERT INTO app.child (id, parent_id, payload) VALUES (10, 1, '{"a": [1, ""]}'), (11, 2, NULL), (12, NULL, '"s"');
    """)
    pgtest.run_sql(dst, REORDERED_TARGET)
    b = pydump(src, tmp_path, "--csv", "all")
    args = ["--from-csv"] if source == "csv" else []
    assert main([str(b), dst, "--data-only", *args, "--quiet", "--no-report"]) == 0
    q_parent = "SELECT id, name, note FROM app.parent ORDER BY id"
    q_child = "SELECT id, parent_id, payload, total FROM app.child ORDER BY id"
    assert pgtest.query(dst, q_parent) == pgtest.query(src, q_parent)
    assert pgtest.query(dst, q_child) == pgtest.query(src, q_child)
    assert pgtest.query(dst, "SELECT DISTINCT added FROM app.parent") == [(42,)]


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


EVENT_AUDIT = """
CREATE SCHEMA audit;
CREATE TABLE audit.ddl_log (id serial PRIMARY KEY, tag text NOT NULL);
CREATE FUNCTION audit.log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO audit.ddl_log (tag) VALUES (tg_tag); END$$;
CREATE TABLE public.a (id int PRIMARY KEY, b_id int);
CREATE TABLE public.b (id int PRIMARY KEY, a_id int REFERENCES public.a);
ALTER TABLE public.a ADD FOREIGN KEY (b_id) REFERENCES public.b;
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER a_touch BEFORE INSERT ON public.a FOR EACH ROW EXECUTE FUNCTION public.touch();
INSERT INTO public.a VALUES (1, NULL); INSERT INTO public.b VALUES (1, 1); UPDATE public.a SET b_id = 1;
"""


@pytest.mark.parametrize("as_owner", [False, True], ids=["superuser", "non-superuser-owner"])
def test_data_only_writes_no_rows_through_event_triggers(make_db, tmp_path: Path, capsys, as_owner: bool) -> None:  # type: ignore[no-untyped-def]
    """Issue 10 item 2: pyrestore's own ALTER TABLE statements (trigger and constraint
    handling around a data-only load) fired the database's event triggers, and a DDL-audit
    table got rows the backup does not hold. The load must leave it exactly as the backup has it.

    The non-superuser case owns the event trigger the way Supabase's ``postgres`` owns
    ``issue_pg_net_access`` (set while it was a superuser)."""
    server = make_db.server
    role = "evt_dataonly_owner"
    admin = server.dsn("postgres")
    pgtest.run_sql(admin, f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
                          f"THEN CREATE ROLE {role} LOGIN; END IF; END $$;")
    src, dst = make_db("src"), make_db("dst")
    names = {d: pgtest.query(d, "SELECT current_database()")[0][0] for d in (src, dst)}
    for d in (src, dst):
        pgtest.run_sql(d, f'ALTER DATABASE "{names[d]}" OWNER TO {role}; ALTER SCHEMA public OWNER TO {role};')
    src_role = server.dsn(names[src], user=role)
    pgtest.run_sql(src_role, EVENT_AUDIT)
    evt = ("CREATE EVENT TRIGGER audit_ddl ON ddl_command_end EXECUTE FUNCTION audit.log_ddl();"
           + (f"ALTER EVENT TRIGGER audit_ddl OWNER TO {role};" if as_owner else ""))
    if as_owner:
        pgtest.run_sql(admin, f"ALTER ROLE {role} SUPERUSER;")
    try:
        pgtest.run_sql(src, evt)
        pgtest.run_sql(src_role, "CREATE TABLE public.after_trigger (id int); INSERT INTO public.after_trigger VALUES (1);")
    finally:
        pgtest.run_sql(admin, f"ALTER ROLE {role} NOSUPERUSER;")
    before = pgtest.query(src, "SELECT id, tag FROM audit.ddl_log ORDER BY id")
    assert before and before[-1][1] == "CREATE TABLE"
    schema_b = pydump(src, tmp_path / "s", "--schema-only")
    full_b = pydump(src, tmp_path / "f")
    target = server.dsn(names[dst], user=role) if as_owner else dst
    if as_owner:
        pgtest.run_sql(admin, f"ALTER ROLE {role} SUPERUSER;")  # the event trigger's owner must be one when set
    try:
        assert main([str(schema_b), dst, "--quiet", "--no-report"]) == 0
    finally:
        pgtest.run_sql(admin, f"ALTER ROLE {role} NOSUPERUSER;")
    assert pgtest.query(dst, "SELECT count(*) FROM audit.ddl_log") == [(0,)]
    capsys.readouterr()
    rc = main([str(full_b), target, "--data-only", "--no-report"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert pgtest.query(dst, "SELECT id, tag FROM audit.ddl_log ORDER BY id") == before
    assert pgtest.query(dst, "SELECT evtenabled::text FROM pg_event_trigger WHERE evtname = 'audit_ddl'") == [("O",)]
    oracle.assert_same_database(server, src, dst)
