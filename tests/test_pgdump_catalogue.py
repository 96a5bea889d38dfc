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
from tests.support.helpers import REPO_ROOT as REPO, pydump

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
    Family("subscription (options, origin)", None, why="test_subscription_options_survive (a database with a subscription cannot be dropped)"),
    Family("privileges on system objects (pg_init_privs)", None, why="owned by the privileges work (catalog/privileges.py)"),
    Family("public schema owner, ACL and comment", None, why="owned by the privileges work (namespaces.py)"),
    Family("NOT NULL constraints as catalog rows, virtual generated columns (18)", None,
           why="owned by the PostgreSQL 18 catalog work"),
    Family("databases and roles (pg_dumpall)", None, why="pg_dumpall's, not pg_dump's: pydump writes guarded roles only"),
)


def families_table() -> str:
    """The README's table of families: which fixture covers each, from which major on."""
    lines = ["| family (002_pg_dump.pl) | fixture | entry kind | majors |", "|---|---|---|---|"]
    for f in FAMILIES:
        where = f"`{f.fixture}.sql`" if f.fixture else f"— {f.why}"
        lines.append(f"| {f.name} | {where} | {f.kind or '—'} | {f.since}–18 |")
    return "\n".join(lines) + "\n"


def test_every_family_reaches_the_dump_of_its_fixture(fixture_db, tmp_path: Path) -> None:
    """Each covered family's entry kind is in ``toc.json`` of a dump of its fixture, on this
    server (families newer than the server are skipped); a family without a fixture must say why."""
    version = fixture_db.server.version
    missing: list[str] = []
    for fixture in sorted({f.fixture for f in FAMILIES if f.fixture and f.since <= version}):
        toc = json.loads((pydump(fixture_db(fixture), tmp_path / fixture) / "toc.json").read_text())["entries"]
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
        if v >= 16:
            pgtest.run_sql(src, f"CREATE SUBSCRIPTION cat_sub_{tag}_c CONNECTION '{conn}' PUBLICATION p1 "
                                "WITH (connect = false, streaming = parallel, origin = any)")
        backup = pydump(src, tmp_path / "out")
        script = gzip.decompress((backup / "backup.sql.gz").read_bytes()).decode()
        if v >= 14:
            assert "streaming = off" in script  # the default of 14-17, not of 18: written
        dst = make_db("sub_copy")
        dbs.append(dst)
        oracle.psql_replay(server, dst, backup / "backup.sql.gz")
        assert _subscriptions(dst) == _subscriptions(src)
        oracle.assert_same_database(server, src, dst)
    finally:
        for dsn in dbs:
            _drop_subscriptions(dsn)


if __name__ == "__main__":
    print(families_table(), end="")
