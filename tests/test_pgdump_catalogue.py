"""pg_dump's own test catalogue (src/bin/pg_dump/t/002_pg_dump.pl in postgres/postgres) as a
checklist: every object family its ``create_sql`` seeds is covered by one of our fixtures on
each server version where the family exists, or listed here with the reason it is not.

The fixtures themselves go through both replays and pg_dump 18's judgement in
``test_restore_dumper``; this file checks *coverage* (each family really reaches the dump, as
the entry kinds of ``toc.json`` show) and the families that cannot live in a fixture
(subscriptions: a database that has one cannot be dropped).
"""

from __future__ import annotations

import gzip
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import oracle
from tests.support import pgtest
from tests.support.helpers import REPO_ROOT as REPO, dbname, pydump

pytestmark = pytest.mark.all_versions




@dataclass(frozen=True)
class Family:
    """One object family of 002_pg_dump.pl and where our fixtures cover it."""

    name: str
    fixture: str | None  # None: not covered by a fixture (``why`` says where it is tested)
    kind: str = ""  # toc.json entry kind that shows the family in a dump of the fixture
    pattern: str = ""  # regex on the entry's "schema.name" (or name)
    since: int = 12  # first major that has the family
    why: str = ""


FAMILIES: tuple[Family, ...] = (
    Family("schema", "pgdump_catalogue", "SCHEMA", r"^cat$"),
    Family("base type (shell first, I/O functions, CREATE TYPE)", "pgdump_catalogue", "SHELL TYPE", r"cat\.small_int"),
    Family("base type, variable length, typmod, collatable", "pgdump_catalogue", "TYPE", r"cat\.label$"),
    Family("base type with ELEMENT and SUBSCRIPT", "pgdump_catalogue_14", "TYPE", r"cat14\.two_ints$", 14),
    Family("shell type never completed", "pgdump_catalogue", "TYPE", r"cat\.placeholder$"),
    Family("I/O functions of a base type (LANGUAGE internal)", "pgdump_catalogue", "FUNCTION", r"small_int_in"),
    Family("composite type with a base-type column", "pgdump_catalogue", "TYPE", r"cat\.measured$"),
    Family("comment on a composite type's column", "pgdump_catalogue", "COMMENT", r"column cat\.measured\.reading"),
    Family("enum type", "tables", "TYPE", r"app\.mood$"),
    Family("range type with collation / subtype_diff", "tables", "TYPE", r"app\.floatrange$"),
    Family("range type with a custom subtype opclass", "pgdump_catalogue", "TYPE", r"cat\.int_span$"),
    Family("range type with a named multirange", "pgdump_catalogue_14", "TYPE", r"cat14\.day_span$", 14),
    Family("domain with collation, default, check", "pgdump_catalogue", "DOMAIN", r"cat\.zip$"),
    Family("comment on a domain constraint", "pgdump_catalogue", "COMMENT", r"domain constraint zip_digits"),
    Family("index access method", "pgdump_catalogue", "ACCESS METHOD", r"cat_gist2"),
    Family("table access method", "pgdump_catalogue", "ACCESS METHOD", r"cat_heap2"),
    Family("operator class on a custom index access method", "pgdump_catalogue", "OPERATOR CLASS", r"box_ops2 USING cat_gist2"),
    Family("index using a custom index access method", "pgdump_catalogue", "INDEX", r"am_custom_c_idx"),
    Family("tables USING a custom table access method between heap ones", "pgdump_catalogue", "TABLE", r"cat\.am_custom$"),
    Family("materialized view USING a table access method", "pgdump_catalogue", "MATERIALIZED VIEW", r"cat\.am_mv$"),
    Family("partitioned table USING an access method", "pgdump_catalogue_17", "TABLE", r"cat17\.parts_custom$", 17),
    Family("CLUSTER ON a constraint's index", "pgdump_catalogue", "CONSTRAINT", r"clustered clustered_pkey"),
    Family("CLUSTER ON an index", "tables", "INDEX", r"indexed_id_idx"),
    Family("cast through a built-in function", "pgdump_catalogue", "CAST", r"timestamp without time zone AS interval"),
    Family("cast without function", "pgdump_catalogue", "CAST", r"small_int AS integer"),
    Family("aggregate (old BASETYPE syntax)", "pgdump_catalogue", "AGGREGATE", r"old_sum"),
    Family("aggregate with FINALFUNC_MODIFY", "kinds", "AGGREGATE", r"."),
    Family("function with SUPPORT", "pgdump_catalogue", "FUNCTION", r"series_with_support"),
    Family("procedure", "pgdump_catalogue", "PROCEDURE", r"add_reading"),
    Family("C-language function (language handler)", "kinds", "FUNCTION", r"."),
    Family("procedural language", "kinds", "PROCEDURAL LANGUAGE", r"."),
    Family("operator family with loose members", "kinds", "OPERATOR FAMILY", r"."),
    Family("operator class with only STORAGE", "pgdump_catalogue", "OPERATOR CLASS", r"big_empty"),
    Family("operator", "pgdump_catalogue", "OPERATOR", r"=~="),
    Family("collation", "kinds", "COLLATION", r"."),
    Family("conversion (DEFAULT)", "kinds", "CONVERSION", r"."),
    Family("transform", "kinds", "TRANSFORM", r"."),
    Family("text search parser", "kinds", "TEXT SEARCH PARSER", r"."),
    Family("text search template", "kinds", "TEXT SEARCH TEMPLATE", r"."),
    Family("text search dictionary", "kinds", "TEXT SEARCH DICTIONARY", r"."),
    Family("text search configuration", "kinds", "TEXT SEARCH CONFIGURATION", r"."),
    Family("foreign-data wrapper", "kinds", "FOREIGN DATA WRAPPER", r"."),
    Family("foreign server", "kinds", "SERVER", r"."),
    Family("user mapping", "kinds", "USER MAPPING", r"."),
    Family("foreign table with column options", "kinds", "FOREIGN TABLE", r"."),
    Family("event trigger (disabled, WHEN TAG)", "pgdump_catalogue", "EVENT TRIGGER", r"cat_ddl_watch"),
    Family("table with serial, CHECK, storage parameters", "tables", "TABLE", r"."),
    Family("table without columns holding rows", "pgdump_catalogue", "TABLE DATA", r"cat\.no_columns$"),
    Family("bit and NaN values", "pgdump_catalogue", "TABLE DATA", r"cat\.odd_values$"),
    Family("identity column", "tables", "TABLE", r"."),
    Family("stored generated columns after a dropped column", "tables", "TABLE", r"."),
    Family("inheritance (local and inherited constraints)", "tables", "TABLE", r"."),
    Family("partitioned table and partition in another schema", "pgdump_catalogue", "TABLE ATTACH", r"cat_other\.events_2024"),
    Family("index on a partitioned table, attached", "tables", "INDEX ATTACH", r"."),
    Family("trigger (WHEN, per-partition enable states)", "tables", "TRIGGER", r"."),
    Family("row level security and policies", "tables", "POLICY", r"."),
    Family("view with check option, security_barrier, column default", "tables", "VIEW", r"."),
    Family("materialized views on materialized views", "tables", "MATERIALIZED VIEW DATA", r"."),
    Family("extended statistics (with target)", "kinds", "STATISTICS", r"."),
    Family("column statistics target, storage, n_distinct", "tables", "TABLE", r"."),
    Family("index column statistics", "tables", "INDEX", r"."),
    Family("large objects (comment, grant)", "kinds", "BLOB METADATA", r"."),
    Family("default privileges", "kinds", "DEFAULT ACL", r"."),
    Family("grants on types, domains, tables, columns, partitions", "pgdump_catalogue", "ACL", r"."),
    Family("publication (FOR ALL TABLES, publish = '')", "pgdump_catalogue", "PUBLICATION", r"cat_pub_nothing"),
    Family("publication tables, column lists, row filters, TABLES IN SCHEMA", "kinds", "PUBLICATION TABLE", r".", 15),
    Family("publication publish_generated_columns", "pgdump_catalogue_18", "PUBLICATION", r"cat18_pub_stored", 18),
    Family("view and materialized view that need a primary key (GROUP BY it)", "pgdump_catalogue", "VIEW", r"cat\.per_account$"),
    Family("materialized view that needs a primary key, populated", "pgdump_catalogue", "MATERIALIZED VIEW DATA", r"cat\.per_account_mv$"),
    Family("function body (BEGIN ATOMIC) that needs a primary key", "pgdump_catalogue_14", "FUNCTION", r"cat14\.item_labels", 14),
    Family("generated column in inheritance children (no columns / columns declared again)", "pgdump_catalogue", "TABLE", r"cat\.gen_child_local$"),
    Family("foreign key on a partitioned table", "tables", "FK CONSTRAINT", r"parts\.by_list by_list_hash_ref_fkey"),
    Family("column compression, extended statistics on expressions", "pg14", "STATISTICS", r"v14\.st_expr", 14),
    Family("domain NOT NULL constraint with a name", "pg17", "DOMAIN", r"v17\.d_named$", 17),
    Family("comment on a domain's NOT NULL constraint", "pgdump_catalogue_17", "COMMENT", r"domain constraint postcode_set", 17),
    Family("NOT NULL constraints as catalog rows (names, NO INHERIT, NOT VALID, children)", "pg18", "CHECK CONSTRAINT", r"v18\.nn c_checked_later", 18),
    Family("comment on a table's NOT NULL constraint", "pg18", "COMMENT", r"table constraint a_is_set", 18),
    Family("virtual generated columns", "pg18", "TABLE", r"v18\.gen$", 18),
    Family("PRIMARY KEY / UNIQUE ... WITHOUT OVERLAPS", "pg18", "CONSTRAINT", r"v18\.(rooms rooms_pk|booked booked_uq)", 18),
    Family("privileges on system objects (pg_init_privs): functions, pg_proc columns, languages", "privileges", "ACL",
           r"pg_catalog\.(FUNCTION pg_catalog\.pg_sleep|TABLE pg_catalog\.pg_proc|LANGUAGE plpgsql)"),
    Family("built-in function given to another owner who revoked its own rights", "pgdump_catalogue", "ACL", r"pg_stat_reset"),
    Family("public schema: another owner, the owner's rights revoked, no comment", "pgdump_catalogue_public", "COMMENT", r"^schema public$"),
    Family("database without a public schema", "pgdump_catalogue_nopublic", "TABLE", r"elsewhere\.things$", 15,
           why="12-14: pg_dump 18 prints a target's default public schema of those majors, which a source without one lacks"),
    Family("subscription (options, origin, comment)", None,
           why="test_subscription_options_survive (a database with a subscription cannot be dropped)"),
    Family("extension members (test_pg_dump): not dumped; grants changed since, configuration rows, "
           "objects of one's own in the extension's schema", None,
           why="test_extension_members_are_not_dumped_but_what_changed_is (an extension of our own, installed by the test)"),
    Family("table hash-partitioned on an enum, with a newline in its name", None,
           why="test_hash_partitions_on_an_enum_restore: rows loaded through the partition root (toc.json `load_via`), psql, pyrestore -j1/-j2 and the CSV path"),
    Family("planner statistics (statistics_import, extended_statistics_import)", None,
           why="not dumped, as by pg_dump 18 without --statistics (its default)"),
    Family("databases, tablespaces, roles (pg_dumpall)", None, why="pg_dumpall's, not pg_dump's: pydump writes guarded roles only"),
    Family("property graph and its grants", None, since=19, why="PostgreSQL 19 (devel) only: not applicable"),
    Family("publication FOR ALL SEQUENCES / FOR ALL TABLES EXCEPT", None, since=19, why="PostgreSQL 19 (devel) only: not applicable"),
)


def families_table() -> str:
    """The README's table of families: which fixture covers each, from which major on."""
    lines = ["| family (002_pg_dump.pl) | fixture | entry kind | majors |", "|---|---|---|---|"]
    for f in FAMILIES:
        where = f"`{f.fixture}.sql`" if f.fixture else f"— {f.why}"
        if f.fixture and f.why:
            where += f" ({f.why})"
        majors = f"{f.since}–18" if f.since <= 18 else f"{f.since} only"
        lines.append(f"| {f.name} | {where} | {f.kind or '—'} | {majors} |")
    return "\n".join(lines) + "\n"


def test_every_family_reaches_the_dump_of_its_fixture(fixture_db, tmp_path: Path) -> None:
    """Each covered family's entry kind is in ``toc.json`` of a dump of its fixture, on this
    server (families newer than the server are skipped); a family without a fixture must say why."""
    version = fixture_db.server.version
    missing: list[str] = []
    for fixture in sorted({f.fixture for f in FAMILIES if f.fixture and f.since <= version}):
        if pgtest.fixture_min_version(pgtest.fixture_path(fixture)) > version:
            continue
        try:
            dsn = fixture_db(fixture)
        except pytest.skip.Exception:  # a contrib extension it needs is missing here: the others still count
            continue
        toc = json.loads((pydump(dsn, tmp_path / fixture) / "toc.json").read_text())["entries"]
        seen = [(e["kind"], f"{e['schema']}.{e['name']}" if e["schema"] else e["name"]) for e in toc]
        for f in FAMILIES:
            if f.fixture == fixture and f.since <= version:
                if not any(k == f.kind and re.search(f.pattern, n) for k, n in seen):
                    missing.append(f"{f.name}: no {f.kind} entry matching {f.pattern!r} in {fixture}.sql")
    assert not missing, "\n".join(missing)
    assert all(f.why for f in FAMILIES if f.fixture is None)


def test_readme_lists_the_families() -> None:
    """README's table is this file's (regenerate: python tests/test_pgdump_catalogue.py)."""
    assert families_table() in (REPO / "README.md").read_text()


def _subscriptions(dsn: str) -> list[tuple]:
    """Every column of this database's subscriptions but the oids, owner and enabled flag
    (``connect = false`` restores them disabled, as pg_dump does)."""
    rows = pgtest.query(dsn, "SELECT to_jsonb(s) - 'oid' - 'subdbid' - 'subowner' - 'subenabled' - 'subskiplsn' "
                             "FROM pg_subscription s WHERE subdbid = (SELECT oid FROM pg_database "
                             "WHERE datname = current_database()) ORDER BY subname")
    return [r[0] for r in rows]


def _drop_subscriptions(dsn: str) -> None:
    for (name,) in pgtest.query(dsn, "SELECT subname FROM pg_subscription WHERE subdbid = "
                                     "(SELECT oid FROM pg_database WHERE datname = current_database())"):
        pgtest.run_sql(dsn, f'ALTER SUBSCRIPTION "{name}" DISABLE; ALTER SUBSCRIPTION "{name}" SET (slot_name = NONE); '
                            f'DROP SUBSCRIPTION "{name}"')


def test_subscription_options_survive(make_db, tmp_path: Path) -> None:
    """Each WITH option the catalog holds comes back as it was, defaults included: a default of
    the dumping server is not the restoring one's (``streaming`` is off up to 17, parallel on 18)."""
    server = make_db.server
    v = server.version
    opts = ["binary = true", "streaming = off"] if v >= 14 else []
    if v >= 15:
        opts += ["two_phase = true", "disable_on_error = true"]
    if v >= 16:
        opts += ["password_required = false", "run_as_owner = true", "origin = none"]
    if v >= 17:
        opts += ["failover = true"]
    tag = uuid.uuid4().hex[:6]
    src = make_db("sub")
    dbs = [src]
    try:
        conn = "host=/nonexistent port=5 dbname=upstream"
        pgtest.run_sql(src, f"CREATE SUBSCRIPTION cat_sub_{tag}_a CONNECTION '{conn}' PUBLICATION p1 "
                            f"WITH ({', '.join(['connect = false', 'synchronous_commit = local'] + opts)})")
        pgtest.run_sql(src, f"CREATE SUBSCRIPTION cat_sub_{tag}_b CONNECTION '{conn}' PUBLICATION p1, p2 "
                            "WITH (connect = false, slot_name = 'cat_slot')")
        pgtest.run_sql(src, f"COMMENT ON SUBSCRIPTION cat_sub_{tag}_b IS 'a comment on a subscription'")
        if v >= 16:
            pgtest.run_sql(src, f"CREATE SUBSCRIPTION cat_sub_{tag}_c CONNECTION '{conn}' PUBLICATION p1 "
                                "WITH (connect = false, streaming = parallel, origin = any)")
        backup = pydump(src, tmp_path / "out")
        script = gzip.decompress((backup / "backup.sql.gz").read_bytes()).decode()
        if v >= 14:
            assert "streaming = off" in script  # the default of 14-17, not of 18: written
        assert f"COMMENT ON SUBSCRIPTION cat_sub_{tag}_b IS 'a comment on a subscription';" in script
        dst = make_db("sub_copy")
        dbs.append(dst)
        oracle.psql_replay(server, dst, backup / "backup.sql.gz")
        assert _subscriptions(dst) == _subscriptions(src)
        oracle.assert_same_database(server, src, dst)
    finally:
        for dsn in dbs:
            _drop_subscriptions(dsn)


def test_initdb_object_acl_never_names_its_dump_time_owner(fixture_db, tmp_path: Path) -> None:
    """pg_stat_reset() handed to cat_user, who revoked its own right to run it: owners of initdb
    objects are never dumped, so its ACL is written against the bootstrap superuser (as pg_dump
    does) and no statement about it names cat_user."""
    b = pydump(fixture_db("pgdump_catalogue"), tmp_path / "out")
    script = gzip.decompress((b / "backup.sql.gz").read_bytes()).decode()
    lines = [ln for ln in script.splitlines() if "pg_stat_reset" in ln and not ln.startswith("--")]
    assert lines and not [ln for ln in lines if "cat_user" in ln], lines


# ------------------------------------------------------------------ test_pg_dump's extension
# src/test/modules/test_pg_dump installs an extension whose members carry grants of their own;
# its tests expect no member to be dumped, only what changed after CREATE EXTENSION (grants
# compared with pg_init_privs), a configuration table's and sequence's contents, and the user's
# own objects in the extension's schema. No extension shipped with the test servers has that
# shape, so this one (our own SQL) is written into the server's extension directory.

EXT_CONTROL = """comment = 'pydump test: extension members of every kind, with initial privileges'
default_version = '1.0'
relocatable = false
"""

EXT_SCRIPT = """
CREATE TABLE @extschema@.catext_items (id serial, qty integer CHECK (qty > 0));
CREATE SEQUENCE @extschema@.catext_counter;
CREATE SEQUENCE @extschema@.catext_kept_seq;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.catext_kept_seq', '');
CREATE TABLE @extschema@.catext_settings (k text PRIMARY KEY, v text);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.catext_settings', '');
CREATE SCHEMA catext_inner;
CREATE TABLE catext_inner.things (a integer, b integer CHECK (b > 0));
CREATE SEQUENCE catext_inner.things_seq;
CREATE TYPE catext_inner.pair AS (x integer, y integer);
CREATE FUNCTION catext_inner.one() RETURNS integer LANGUAGE sql AS 'SELECT 1';
CREATE AGGREGATE catext_inner.total(int2) (SFUNC = int2_sum, STYPE = int8);
CREATE ACCESS METHOD catext_btree TYPE INDEX HANDLER bthandler;
GRANT SELECT ON @extschema@.catext_items TO cat_user;
GRANT SELECT (id) ON @extschema@.catext_items TO PUBLIC;
GRANT USAGE ON SEQUENCE @extschema@.catext_counter TO cat_user;
GRANT SELECT ON catext_inner.things TO cat_user;
GRANT USAGE ON TYPE catext_inner.pair TO cat_user;
GRANT EXECUTE ON FUNCTION catext_inner.one() TO cat_user;
GRANT EXECUTE ON FUNCTION catext_inner.total(int2) TO cat_user;
"""


def _install_catalogue_extension(dsn: str) -> None:
    sharedir = pgtest.query(dsn, "SELECT setting FROM pg_catalog.pg_config WHERE name = 'SHAREDIR'")[0][0]
    ext = Path(sharedir) / "extension"
    (ext / "pydump_catext.control").write_text(EXT_CONTROL)
    (ext / "pydump_catext--1.0.sql").write_text(EXT_SCRIPT)


def test_extension_members_are_not_dumped_but_what_changed_is(make_db, tmp_path: Path) -> None:
    """test_pg_dump's family: members (tables, sequences, a schema with a table, sequence, type,
    function and aggregate, an index access method) come back with ``CREATE EXTENSION`` and are
    never written; grants changed after it are; configuration contents are; the user's table in
    the extension's schema is. Both replays give the source back by pg_dump 18's judgement."""
    server = make_db.server
    src = make_db("catext")
    _install_catalogue_extension(src)
    pgtest.run_sql(src, """
        DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cat_user') THEN
          CREATE ROLE cat_user NOLOGIN; END IF; END $$;
        CREATE SCHEMA catext;
        CREATE EXTENSION pydump_catext WITH SCHEMA catext;
        REVOKE SELECT ON catext.catext_items FROM cat_user;
        GRANT SELECT (qty) ON catext.catext_items TO cat_user;
        REVOKE EXECUTE ON FUNCTION catext_inner.one() FROM PUBLIC;
        GRANT USAGE ON SCHEMA catext_inner TO cat_user;
        INSERT INTO catext.catext_settings VALUES ('mode', 'strict');
        SELECT nextval('catext.catext_kept_seq'), nextval('catext.catext_kept_seq');
        INSERT INTO catext.catext_items (qty) VALUES (3);
        CREATE TABLE catext_inner.users_own (id integer PRIMARY KEY, pair catext_inner.pair);
        INSERT INTO catext_inner.users_own VALUES (1, ROW(1, 2));
    """)
    b = pydump(src, tmp_path / "out")
    script = gzip.decompress((b / "backup.sql.gz").read_bytes()).decode()
    for member in ("TABLE catext.catext_items (", "SEQUENCE catext.catext_counter", "TABLE catext_inner.things",
                   "SCHEMA catext_inner", "TYPE catext_inner.pair", "FUNCTION catext_inner.one",
                   "AGGREGATE catext_inner.total", "ACCESS METHOD catext_btree"):
        assert f"CREATE {member}" not in script, f"extension member written: CREATE {member}"
    assert "GRANT SELECT(qty) ON TABLE catext.catext_items TO cat_user" in script.replace("SELECT (qty)", "SELECT(qty)")
    assert "CREATE TABLE catext_inner.users_own" in script
    ref = make_db("catext_psql")
    oracle.psql_replay(server, ref, b / "backup.sql.gz")
    oracle.assert_same_database(server, src, ref)
    dst = make_db("catext_dst")
    from restore.cli import main
    assert main([str(b), dst, "--quiet", "--no-report"]) == 0
    oracle.assert_same_database(server, src, dst)
    # objects in an excluded schema are not dumped (pg_dump's exclude_dump_test_schema run)
    excluded = gzip.decompress((pydump(src, tmp_path / "n", "-N", "catext_inner") / "backup.sql.gz").read_bytes()).decode()
    assert "users_own" not in excluded and "catext.catext_settings" in excluded


# ------------------------------------------------------------------ hash partitions on an enum
def test_hash_partitions_on_an_enum_restore(make_db, tmp_path: Path) -> None:
    """002_pg_dump.pl's 'newline of table name in comment' entry: a table hash-partitioned on an
    enum (pg_dump's "unsafe" partitioning, loaded through the root) whose name holds a newline,
    plus a list-partitioned table whose partition is hash-partitioned on an enum (the rows of
    the whole tree go through the topmost root), and keys whose type holds the enum (an array
    and a range of it; a composite on 14+), which pg_dump 18 loads into the partitions, failing
    the restore. The hash is of the labels' OIDs, which the
    target assigns anew: rows may land in other partitions than in the source (as with
    pg_dump), so the rows are compared through the partitioned tables, and every way of loading
    (psql replay, pyrestore -j1/-j2, the CSV files of a --data-only load) must succeed and
    pyrestore's row count check must accept it."""
    server = make_db.server
    src = make_db("enumhash")
    pgtest.run_sql(src, """
        CREATE SCHEMA ceh;
        CREATE TYPE ceh.colour AS ENUM ('red', 'orange', 'yellow', 'green', 'blue', 'indigo', 'violet', 'black');
        CREATE TABLE ceh.lights (c ceh.colour NOT NULL, n integer) PARTITION BY HASH (c);
        CREATE TABLE ceh.lights_0 PARTITION OF ceh.lights FOR VALUES WITH (MODULUS 4, REMAINDER 0);
        CREATE TABLE ceh.lights_1 PARTITION OF ceh.lights FOR VALUES WITH (MODULUS 4, REMAINDER 1);
        CREATE TABLE ceh.lights_2 PARTITION OF ceh.lights FOR VALUES WITH (MODULUS 4, REMAINDER 2);
        CREATE TABLE ceh.lights_3 PARTITION OF ceh.lights FOR VALUES WITH (MODULUS 4, REMAINDER 3);
        INSERT INTO ceh.lights SELECT c, g FROM unnest(enum_range(NULL::ceh.colour)) c, generate_series(1, 2) g;
        ALTER TABLE ceh.lights RENAME TO "lights
on the road";
        CREATE TABLE ceh.paint (k text NOT NULL, c ceh.colour NOT NULL, n integer) PARTITION BY LIST (k);
        CREATE TABLE ceh.paint_wall PARTITION OF ceh.paint FOR VALUES IN ('wall') PARTITION BY HASH (c);
        CREATE TABLE ceh.paint_wall_a PARTITION OF ceh.paint_wall FOR VALUES WITH (MODULUS 3, REMAINDER 0);
        CREATE TABLE ceh.paint_wall_b PARTITION OF ceh.paint_wall FOR VALUES WITH (MODULUS 3, REMAINDER 1);
        CREATE TABLE ceh.paint_wall_c PARTITION OF ceh.paint_wall FOR VALUES WITH (MODULUS 3, REMAINDER 2);
        CREATE TABLE ceh.paint_door PARTITION OF ceh.paint FOR VALUES IN ('door');
        INSERT INTO ceh.paint SELECT k, c, g FROM unnest(ARRAY['wall', 'door']) k,
                                    unnest(enum_range(NULL::ceh.colour)) c, generate_series(1, 3) g;
        -- an array and a range of the enum hash its OIDs too (pg_dump 18 does not see these)
        CREATE TYPE ceh.span AS RANGE (subtype = ceh.colour);
        CREATE TABLE ceh.tags (c ceh.colour[] NOT NULL, s ceh.span NOT NULL) PARTITION BY HASH (c, s);
        CREATE TABLE ceh.tags_0 PARTITION OF ceh.tags FOR VALUES WITH (MODULUS 2, REMAINDER 0);
        CREATE TABLE ceh.tags_1 PARTITION OF ceh.tags FOR VALUES WITH (MODULUS 2, REMAINDER 1);
        INSERT INTO ceh.tags SELECT ARRAY[c], ceh.span(c, c, '[]') FROM unnest(enum_range(NULL::ceh.colour)) c;
    """)
    composite = int(pgtest.query(src, "SHOW server_version_num")[0][0]) >= 140000  # hash of a record: 14+
    if composite:
        pgtest.run_sql(src, """
            CREATE TYPE ceh.pair AS (c ceh.colour, n integer);
            CREATE TABLE ceh.pairs (p ceh.pair NOT NULL) PARTITION BY HASH (p);
            CREATE TABLE ceh.pairs_0 PARTITION OF ceh.pairs FOR VALUES WITH (MODULUS 2, REMAINDER 0);
            CREATE TABLE ceh.pairs_1 PARTITION OF ceh.pairs FOR VALUES WITH (MODULUS 2, REMAINDER 1);
            INSERT INTO ceh.pairs SELECT ROW(c, 1)::ceh.pair FROM unnest(enum_range(NULL::ceh.colour)) c;
        """)
    rows = ('SELECT c::text, n, NULL FROM ceh."lights\non the road"'  # the name holds a newline
            ' UNION ALL SELECT c::text, n, k FROM ceh.paint'
            ' UNION ALL SELECT c::text, NULL, s::text FROM ceh.tags'
            + (' UNION ALL SELECT p::text, NULL, NULL FROM ceh.pairs' if composite else '') + ' ORDER BY 1, 2, 3')
    want = pgtest.query(src, rows)
    b = pydump(src, tmp_path / "out", "--csv", "all")
    toc = json.loads((b / "toc.json").read_text())["entries"]
    via = {e["table"]: e.get("load_via") for e in toc if e["kind"] == "TABLE DATA"}
    assert via["ceh.paint_wall_a"] == "ceh.paint" and via["ceh.paint_door"] is None, via
    assert via["ceh.tags_0"] == via["ceh.tags_1"] == "ceh.tags", via
    assert not composite or via["ceh.pairs_0"] == via["ceh.pairs_1"] == "ceh.pairs", via
    assert sum(1 for v in via.values() if v == 'ceh."lights\non the road"') == 4, via
    ref = make_db("enumhash_psql")
    prc, err = oracle.psql_replay(server, ref, b / "backup.sql.gz", check=False)
    assert prc == 0, err[-2000:]
    assert pgtest.query(ref, rows) == want
    assert not oracle.diff_statements(oracle.schema_dump(server, src), oracle.schema_dump(server, ref),
                                      dbname(src), dbname(ref))
    from restore.cli import main
    for jobs in ("1", "2"):
        dst = make_db(f"enumhash_j{jobs}")
        assert main([str(b), dst, "-j", jobs, "--quiet", "--no-report"]) == 0
        assert pgtest.query(dst, rows) == want
    schema_only = make_db("enumhash_csv")
    assert main([str(b), schema_only, "--schema-only", "--quiet", "--no-report"]) == 0
    assert main([str(b), schema_only, "--data-only", "--from-csv", "--quiet", "--no-report"]) == 0
    assert pgtest.query(schema_only, rows) == want
    # one partition selected alone: its root is not in the backup, so it is a table of its own
    # (no ATTACH) whose rows load into itself, not through a root the target may not have
    # (the fullest partition: which labels hash where depends on the OIDs the source assigned)
    [(name,)] = pgtest.query(src, 'SELECT tableoid::regclass::text FROM ceh."lights\non the road" '
                                  "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
    one = pydump(src, tmp_path / "one", "--table", name, "--csv", "none")
    toc = json.loads((one / "toc.json").read_text())["entries"]
    assert [(e["table"], e.get("load_via")) for e in toc if e["kind"] == "TABLE DATA"] == [(name, None)]
    alone = make_db("enumhash_one")
    pgtest.run_sql(alone, "CREATE SCHEMA ceh; CREATE TYPE ceh.colour AS ENUM "
                          "('red', 'orange', 'yellow', 'green', 'blue', 'indigo', 'violet', 'black')")
    assert main([str(one), alone, "--quiet", "--no-report"]) == 0
    part = f"SELECT c::text, n FROM {name} ORDER BY 1, 2"
    assert pgtest.query(alone, part) == pgtest.query(src, part) != []
    assert pgtest.query(alone, f"SELECT relispartition FROM pg_class WHERE oid = '{name}'::regclass") == [(False,)]


if __name__ == "__main__":
    print(families_table(), end="")
