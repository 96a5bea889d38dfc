"""``--clean`` for a full restore: drop what the backup will create, newest first.

The DROP statements are built from toc.json (kind, schema, name), in reverse TOC order, which
is a reverse dependency order: a view goes before its tables, a table before its types and
schema, and every foreign key (post-data, at the end of the TOC) before any table.

What is dropped, and why not more:

* foreign keys explicitly (``ALTER TABLE ... DROP CONSTRAINT``): they are the only edges
  between tables, so once they are gone each table can go without ``CASCADE``; likewise the
  edges the dumper split out of a table to break a dependency loop: column defaults (``DEFAULT``
  entries, ``ALTER COLUMN ... DROP DEFAULT``) and table CHECK constraints written after the
  table (``CHECK CONSTRAINT``), so a function they call can go before its table;
* tables, foreign tables, views, materialized views, sequences, functions/procedures,
  aggregates, types/domains (enum, composite, range), collations, conversions, casts,
  transforms, operators, operator classes and families, text search parsers, templates,
  dictionaries and configurations, procedural languages, foreign-data wrappers, servers, user
  mappings, extended statistics, event triggers, publications, subscriptions without a
  replication slot, large objects (``lo_unlink`` of the OIDs the backup creates), and schemas
  the backup creates (never ``public``, which the backup does not create either);
* not indexes, other constraints, triggers, policies, rules, comments, grants, publication
  members, partition attachments: they go with their table or object;
* not default privileges: there is nothing to drop, the backup re-applies them;
* not roles and memberships: they are cluster-wide and the backup creates them only if missing;
* not extensions: the backup says ``CREATE EXTENSION IF NOT EXISTS``, and dropping one would
  take objects outside the backup with it.

Where the TOC name is not enough to write the statement unambiguously (user mappings, column
defaults, check constraints, large objects, subscriptions), the identity is read from the
target's catalog by that name, at clean time; what cannot be dropped safely is skipped and
reported (a subscription with a replication slot: its DROP cannot run in a transaction and
would drop the slot on the publisher).

No ``CASCADE`` (but for base types, see :func:`drop_plan`): if the target holds an object that is not in the backup but depends
on one that is (a view of the user's own on a backed-up table, an extra table in a backed-up
schema), the server refuses the drop and the clean stops, rather than silently destroying
something the backup cannot give back. The whole clean runs in one transaction, so a refusal
leaves the target exactly as it was. A drop of an object that does not exist is skipped
(inside a savepoint; ``--if-exists`` adds ``IF EXISTS`` so the server does not even complain).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import psycopg

from restore.apply import Selection
from dumper.format.names import quote_ident, split_qualified
from dumper.format.toc import Kind, TocEntry
from restore.backup import Backup
from dumper.errors import StatementFailed
from restore.script import Statement, iter_script

#: "does not exist" SQLSTATEs: undefined_table, undefined_object, invalid_schema_name, undefined_function.
_MISSING = {"42P01", "42704", "3F000", "42883"}

_DROP_KEYWORD = {Kind.TABLE: "TABLE", Kind.FOREIGN_TABLE: "FOREIGN TABLE", Kind.VIEW: "VIEW",
                 Kind.MATERIALIZED_VIEW: "MATERIALIZED VIEW", Kind.SEQUENCE: "SEQUENCE", Kind.TYPE: "TYPE",
                 Kind.DOMAIN: "DOMAIN", Kind.FUNCTION: "FUNCTION", Kind.PROCEDURE: "PROCEDURE", Kind.AGGREGATE: "AGGREGATE",
                 Kind.COLLATION: "COLLATION", Kind.CONVERSION: "CONVERSION", Kind.STATISTICS: "STATISTICS",
                 Kind.TEXT_SEARCH_PARSER: "TEXT SEARCH PARSER", Kind.TEXT_SEARCH_TEMPLATE: "TEXT SEARCH TEMPLATE",
                 Kind.TEXT_SEARCH_DICTIONARY: "TEXT SEARCH DICTIONARY",
                 Kind.TEXT_SEARCH_CONFIGURATION: "TEXT SEARCH CONFIGURATION"}
#: Database-wide kinds named by one identifier.
_GLOBAL_KEYWORD = {Kind.EVENT_TRIGGER: "EVENT TRIGGER", Kind.PUBLICATION: "PUBLICATION",
                   Kind.PROCEDURAL_LANGUAGE: "LANGUAGE", Kind.FOREIGN_DATA_WRAPPER: "FOREIGN DATA WRAPPER",
                   Kind.SERVER: "SERVER", Kind.ACCESS_METHOD: "ACCESS METHOD"}

_LO_CREATE = re.compile(r"lo_create\('?(\d+)'?\)")


def _routine(schema: str, signature: str) -> str:
    """``schema."name"(args)`` from a toc name ``name(identity args)`` (args are already SQL)."""
    name, paren, args = signature.partition("(")
    return f"{quote_ident(schema)}.{quote_ident(name)}({args}" if paren else f"{quote_ident(schema)}.{quote_ident(name)}"


@dataclass(frozen=True, slots=True)
class Skip:
    """An object of the backup that the clean leaves in place, and why."""

    reason: str


#: Reads the target's catalog at clean time: the statement, None when the object is not
#: there, "" when there is nothing to do, or a Skip.
Resolver = Callable[[psycopg.Connection], "str | Skip | None"]


@dataclass(frozen=True, slots=True)
class Drop:
    """One DROP statement (or a catalog look-up that writes it) and the entry it undoes."""

    entry: TocEntry
    sql: str
    resolve: Resolver | None = None


def drop_statement(e: TocEntry, if_exists: bool) -> str | None:
    """The statement that removes what entry ``e`` creates, or None when nothing needs dropping
    (or when the name alone cannot say: see :func:`drop_resolver`)."""
    ie = " IF EXISTS" if if_exists else ""
    if e.kind == Kind.FK_CONSTRAINT:
        if not e.table:
            return None
        schema, tname = split_qualified(e.table)
        if not e.name.startswith(tname + " "):
            return None
        cname = e.name[len(tname) + 1:]
        tab = f"{quote_ident(schema)}.{quote_ident(tname)}" if schema else quote_ident(tname)
        return f"ALTER TABLE{ie} ONLY {tab} DROP CONSTRAINT{ie} {quote_ident(cname)};"
    if e.kind == Kind.SCHEMA:
        return None if e.name == "public" else f"DROP SCHEMA{ie} {quote_ident(e.name)};"
    if e.kind in _GLOBAL_KEYWORD:
        return f"DROP {_GLOBAL_KEYWORD[e.kind]}{ie} {quote_ident(e.name)};"
    if e.kind == Kind.CAST:  # "source AS target", both format_type() spellings
        return f"DROP CAST{ie} ({e.name});"
    if e.kind == Kind.TRANSFORM:  # "type language"
        type_name, _, lang = e.name.rpartition(" ")
        return f"DROP TRANSFORM{ie} FOR {type_name} LANGUAGE {quote_ident(lang)};" if type_name else None
    if e.schema is None:
        return None
    if e.kind == Kind.OPERATOR:  # "op(left|NONE, right)": operator names have no parentheses
        op, paren, args = e.name.partition("(")
        return f"DROP OPERATOR{ie} {quote_ident(e.schema)}.{op} ({args};" if paren and args.endswith(")") else None
    if e.kind in (Kind.OPERATOR_CLASS, Kind.OPERATOR_FAMILY):  # "name USING method"
        name, using, method = e.name.rpartition(" USING ")
        return f"DROP {e.kind}{ie} {quote_ident(e.schema)}.{quote_ident(name)} USING {quote_ident(method)};" if using else None
    kw = _DROP_KEYWORD.get(e.kind)
    if kw is None:
        return None
    if kw in ("FUNCTION", "PROCEDURE", "AGGREGATE"):
        return f"DROP {kw}{ie} {_routine(e.schema, e.name)};"
    return f"DROP {kw}{ie} {quote_ident(e.schema)}.{quote_ident(e.name)};"


def _one(conn: psycopg.Connection, sql: str, params: tuple[object, ...]) -> list[tuple]:
    return conn.execute(sql, params).fetchall()


def drop_resolver(e: TocEntry, if_exists: bool, blobs: dict[int, list[int]]) -> Resolver | None:
    """A catalog look-up for the kinds whose TOC name does not spell the DROP unambiguously."""
    ie = " IF EXISTS" if if_exists else ""
    if e.kind == Kind.BLOB_METADATA:
        oids = blobs.get(e.id)
        return partial(_drop_large_objects, oids=oids) if oids else None
    resolve = _RESOLVERS.get(e.kind)
    if resolve is None or (e.kind in _SCHEMA_QUALIFIED and e.schema is None):
        return None
    return partial(resolve, e=e, ie=ie)


def _drop_default(conn: psycopg.Connection, *, e: TocEntry, ie: str) -> str | Skip | None:
    """A column default: the TOC name is "table column"."""
    rows = _one(conn, """
        SELECT n.nspname, c.relname, a.attname
          FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = %s AND c.relname || ' ' || a.attname = %s AND a.attnum > 0 AND NOT a.attisdropped""",
        (e.schema, e.name))
    if len(rows) > 1:
        return Skip(f"{e.name!r} names more than one column")
    if not rows:
        return ""  # no default: nothing to undo (the table goes anyway)
    sch, rel, col = rows[0]
    return f"ALTER TABLE ONLY {quote_ident(sch)}.{quote_ident(rel)} ALTER COLUMN {quote_ident(col)} DROP DEFAULT;"


def _drop_check(conn: psycopg.Connection, *, e: TocEntry, ie: str) -> str | Skip | None:
    """A CHECK constraint: "table constraint", or a domain's NOT VALID checks."""
    rows = _one(conn, """
        SELECT n.nspname, c.relname, k.conname
          FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE k.contype = 'c' AND n.nspname = %s AND c.relname || ' ' || k.conname = %s""",
        (e.schema, e.name))
    if len(rows) > 1:
        return Skip(f"{e.name!r} names more than one constraint")
    if not rows:
        return ""  # a domain's checks go with the domain
    sch, rel, con = rows[0]
    return f"ALTER TABLE{ie} {quote_ident(sch)}.{quote_ident(rel)} DROP CONSTRAINT{ie} {quote_ident(con)};"


def _drop_rule_or_policy(conn: psycopg.Connection, *, e: TocEntry, ie: str) -> str | Skip | None:
    """A rule or policy ("table name"), dropped explicitly: it may read another table of the
    backup, which is then no longer pinned by it. A view's _RETURN rule written after the data
    (a view in a loop with a function, split as pg_dump does) becomes a placeholder query again."""
    if e.kind == Kind.RULE:
        q = """SELECT c.oid, c.relkind, r.rulename FROM pg_catalog.pg_rewrite r
                 JOIN pg_catalog.pg_class c ON c.oid = r.ev_class"""
        cond = "c.relname || ' ' || r.rulename = %s"
    else:
        q = """SELECT c.oid, c.relkind, r.polname FROM pg_catalog.pg_policy r
                 JOIN pg_catalog.pg_class c ON c.oid = r.polrelid"""
        cond = "c.relname || ' ' || r.polname = %s"
    rows = _one(conn, q + " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                          " WHERE n.nspname = %s AND " + cond, (e.schema, e.name))
    if len(rows) > 1:
        return Skip(f"{e.name!r} names more than one {e.kind.lower()}")
    if not rows:
        return None
    oid, relkind, name = rows[0]
    (rel,), = _one(conn, "SELECT %s::oid::pg_catalog.regclass::text", (oid,))
    if e.kind == Kind.POLICY:
        return f"DROP POLICY{ie} {quote_ident(name)} ON {rel};"
    if name != "_RETURN":
        return f"DROP RULE{ie} {quote_ident(name)} ON {rel};"
    if relkind != "v":
        return ""  # goes with its relation
    return _placeholder_view(conn, oid, rel)


def _placeholder_view(conn: psycopg.Connection, oid: int, rel: str) -> str:
    """``CREATE OR REPLACE VIEW`` with the view's columns as typed NULLs (collations kept)."""
    cols = _one(conn, """
        SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
               CASE WHEN a.attcollation <> t.typcollation THEN
                    (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
                       FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                      WHERE co.oid = a.attcollation) END
          FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""", (oid,))
    select = ", ".join(f"NULL::{typ}{f' COLLATE {coll}' if coll else ''} AS {quote_ident(col)}" for col, typ, coll in cols)
    return f"CREATE OR REPLACE VIEW {rel} AS SELECT {select};"


def _drop_user_mapping(conn: psycopg.Connection, *, e: TocEntry, ie: str) -> str | Skip | None:
    """A user mapping: "user SERVER server" (user "public" is PUBLIC)."""
    rows = _one(conn, """
        SELECT umuser = 0, usename, srvname
          FROM pg_catalog.pg_user_mappings WHERE usename || ' SERVER ' || srvname = %s""", (e.name,))
    if len(rows) > 1:
        return Skip(f"{e.name!r} names more than one user mapping")
    if not rows:
        return None
    public, user, server = rows[0]
    return f"DROP USER MAPPING{ie} FOR {'PUBLIC' if public else quote_ident(user)} SERVER {quote_ident(server)};"


def _drop_subscription(conn: psycopg.Connection, *, e: TocEntry, ie: str) -> str | Skip | None:
    """A subscription of this database, unless it has a slot (that DROP cannot run here)."""
    rows = _one(conn, """
        SELECT subslotname IS NOT NULL FROM pg_catalog.pg_subscription
         WHERE subname = %s AND subdbid = (SELECT oid FROM pg_catalog.pg_database
                                            WHERE datname = pg_catalog.current_database())""", (e.name,))
    if not rows:
        return None
    if rows[0][0]:
        return Skip("it has a replication slot: DROP SUBSCRIPTION cannot run inside the clean's transaction "
                    "and would drop the slot on the publisher; run ALTER SUBSCRIPTION ... DISABLE, "
                    "ALTER SUBSCRIPTION ... SET (slot_name = NONE) and DROP SUBSCRIPTION yourself")
    return f"DROP SUBSCRIPTION{ie} {quote_ident(e.name)};"


def _drop_large_objects(conn: psycopg.Connection, *, oids: list[int]) -> str | Skip | None:
    """The large objects of a BLOB METADATA entry that the target has."""
    there = [r[0] for r in _one(conn, "SELECT oid::bigint FROM pg_catalog.pg_largeobject_metadata"
                                      " WHERE oid = ANY(%s::oid[]) ORDER BY 1", (oids,))]
    if not there:
        return None
    return ("SELECT pg_catalog.lo_unlink(o) FROM pg_catalog.unnest('{"
            + ",".join(str(o) for o in there) + "}'::pg_catalog.oid[]) AS o;")


#: The kinds :func:`drop_resolver` looks up in the catalog, and how.
_RESOLVERS: dict[str, Callable[..., "str | Skip | None"]] = {
    Kind.DEFAULT: _drop_default, Kind.CHECK_CONSTRAINT: _drop_check, Kind.RULE: _drop_rule_or_policy,
    Kind.POLICY: _drop_rule_or_policy, Kind.USER_MAPPING: _drop_user_mapping, Kind.SUBSCRIPTION: _drop_subscription,
}
#: Of those, the kinds whose entry must name a schema to be looked up.
_SCHEMA_QUALIFIED = frozenset({Kind.DEFAULT, Kind.CHECK_CONSTRAINT, Kind.RULE, Kind.POLICY})


def _blob_oids(backup: Backup, ids: set[int]) -> dict[int, list[int]]:
    """The OIDs each BLOB METADATA entry creates (its ``lo_create`` calls in the script)."""
    out: dict[int, list[int]] = {}
    if not ids:
        return out
    seen = False
    for item in iter_script(backup.script):
        if item.entry_id in ids:
            seen = True
            if isinstance(item, Statement):
                out.setdefault(item.entry_id, []).extend(int(m) for m in _LO_CREATE.findall(item.text))
        elif seen and len(out) == len(ids):
            break  # past the last metadata entry (the script follows the TOC)
    return out


def drop_plan(backup: Backup, selection: Selection, if_exists: bool) -> list[Drop]:
    """DROPs for the selected entries, in reverse TOC order (skipping what the script will not create).

    The one ``CASCADE``: a base type (a TYPE with a SHELL TYPE entry) and its I/O functions
    depend on each other, so neither can go first; as with pg_dump, the type's drop takes its
    functions with it (both are the backup's own)."""
    wanted = [e for e in reversed(backup.entries) if selection.wants_entry(e) and e.section != "data"]
    blobs = _blob_oids(backup, {e.id for e in wanted if e.kind == Kind.BLOB_METADATA})
    base_types = {(e.schema, e.name) for e in backup.entries if e.kind == Kind.SHELL_TYPE}
    out: list[Drop] = []
    for e in wanted:
        if e.kind == Kind.SHELL_TYPE:
            continue  # the TYPE entry of the same name drops it
        stmt = drop_statement(e, if_exists)
        if stmt is not None and e.kind == Kind.TYPE and (e.schema, e.name) in base_types:
            stmt = stmt[:-1] + " CASCADE;"
        if stmt is not None:
            out.append(Drop(e, stmt))
            continue
        resolve = drop_resolver(e, if_exists, blobs)
        if resolve is not None:
            out.append(Drop(e, f"({e.kind} {e.name}: read from the target's catalog)", resolve))
    return out


@dataclass(slots=True)
class CleanResult:
    dropped: int = 0
    missing: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # not ours to drop (owned_only)


def run_clean(conn: psycopg.Connection, drops: list[Drop], info: Callable[[str], None], *,
              owned_only: bool = False) -> CleanResult:
    """Execute the drops in one transaction (savepoint per drop); any refusal rolls back everything.

    ``owned_only`` (a restoring role that is not a superuser): a drop the server refuses for
    lack of privilege ("must be owner") leaves that object in place and is reported, instead of
    stopping the clean. On a managed platform the backup holds the platform's own schemas,
    tables and event triggers, which the project's ``postgres`` neither owns nor may drop; the
    replay that follows skips them (``--skip-existing``)."""
    res = CleanResult()
    was_autocommit = conn.autocommit
    with conn.transaction():
        for d in drops:
            sql = d.sql
            try:
                with conn.transaction():
                    if d.resolve is not None:
                        got = d.resolve(conn)
                        if got is None:
                            res.missing.append(d.entry.describe())
                            continue
                        if isinstance(got, Skip):
                            res.skipped.append(f"{d.entry.describe()}: {got.reason}")
                            continue
                        if not got:
                            continue
                        sql = got
                    conn.execute(sql)
                res.dropped += 1
            except psycopg.Error as exc:
                state = exc.diag.sqlstate or ""
                if state in _MISSING:
                    res.missing.append(d.entry.describe())
                    continue
                if owned_only and state == "42501":
                    res.left.append(f"{d.entry.describe()}: {exc.diag.message_primary or exc}")
                    continue
                msg = exc.diag.message_primary or str(exc).strip()
                detail = f" ({exc.diag.message_detail})" if exc.diag.message_detail else ""
                hint = (" (an object outside the backup depends on it; drop it yourself or restore into an "
                        "empty database)") if state == "2BP01" else ""
                raise StatementFailed(f"--clean: {sql} failed: {msg}{detail}{hint}; "
                                      + ("nothing was dropped" if was_autocommit else "the transaction is rolled back"))
    if res.missing:
        info(f"--clean: {len(res.missing)} object(s) of the backup were not in the target (nothing to drop)")
    for s in res.skipped:
        info(f"--clean: not dropped: {s}")
    if res.left:
        info(f"--clean: {len(res.left)} object(s) of the backup belong to other roles and were left in place "
             f"(first: {res.left[0]})")
    info(f"--clean: dropped {res.dropped} object(s) of the backup from the target")
    return res
