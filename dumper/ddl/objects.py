"""CREATE statements for schemas, extensions, types, routines and post-data objects."""

from __future__ import annotations

from dumper.catalog.constraints import Constraint, Index
from dumper.catalog.namespaces import Extension, Schema
from dumper.catalog.routines import Routine
from dumper.catalog.triggers import EventTrigger, Policy, Rule, Trigger
from dumper.catalog.types import TypeDef
from dumper.format.names import quote_ident, quote_literal


def create_schema(s: Schema) -> str:
    return f"CREATE SCHEMA {s.identity};\n"


def create_extension(e: Extension) -> str:
    # No VERSION: like pg_dump, the target installs its default version (the source's is in toc.json).
    return f"CREATE EXTENSION IF NOT EXISTS {e.identity} WITH SCHEMA {quote_ident(e.schema or 'public')};\n"


def create_type(t: TypeDef) -> str:
    if t.kind == "e":
        labels = ",\n".join(f"    {quote_literal(lbl)}" for lbl in t.labels)
        return f"CREATE TYPE {t.identity} AS ENUM (\n{labels}\n);\n"
    if t.kind == "c":
        attrs = ",\n".join(
            f"    {quote_ident(n)} {ty}" + (f" COLLATE {coll}" if coll else "") for n, ty, coll in t.attributes
        )
        return f"CREATE TYPE {t.identity} AS (\n{attrs}\n);\n"
    if t.kind == "d":
        sql = f"CREATE DOMAIN {t.identity} AS {t.base_type}"
        if t.collation:
            sql += f" COLLATE {t.collation}"
        if t.default is not None:
            sql += f" DEFAULT {t.default}"
        if t.notnull:
            # 17+: the name is kept unless it is the one the server chooses
            named = t.notnull_name is not None and t.notnull_name != f"{t.name}_not_null"
            sql += f" CONSTRAINT {quote_ident(t.notnull_name)} NOT NULL" if named else " NOT NULL"  # type: ignore[arg-type]
        for c in t.checks:
            if c.validated:
                sql += f"\n\tCONSTRAINT {quote_ident(c.name)} {c.definition}"
        return sql + ";\n"
    if t.kind == "r":
        opts = [f"    subtype = {t.range_subtype}"]
        if t.multirange_name:
            opts.append(f"    multirange_type_name = {quote_ident(t.schema or '')}.{quote_ident(t.multirange_name)}")
        if t.range_opclass:
            opts.append(f"    subtype_opclass = {t.range_opclass}")
        if t.range_collation:
            opts.append(f"    collation = {t.range_collation}")
        if t.range_canonical:
            opts.append(f"    canonical = {t.range_canonical}")
        if t.range_subdiff:
            opts.append(f"    subtype_diff = {t.range_subdiff}")
        return f"CREATE TYPE {t.identity} AS RANGE (\n" + ",\n".join(opts) + "\n);\n"
    raise ValueError(f"unsupported type kind {t.kind!r} for {t.identity}")


def domain_not_valid_checks(t: TypeDef) -> str:
    return "".join(
        f"ALTER DOMAIN {t.identity} ADD CONSTRAINT {quote_ident(c.name)} {c.definition};\n"
        for c in t.checks
        if not c.validated
    )


def create_routine(r: Routine) -> str:
    body = r.definition.rstrip()
    if body.startswith("CREATE OR REPLACE "):
        body = "CREATE " + body[len("CREATE OR REPLACE ") :]
    return body + (";\n" if not body.endswith(";") else "\n")


def add_constraint(c: Constraint, table_identity: str, *, only: bool) -> str:
    return f"ALTER TABLE {'ONLY ' if only else ''}{table_identity} ADD CONSTRAINT {quote_ident(c.name)} {c.definition};\n"


def create_index(i: Index, table_identity: str) -> str:
    out = i.definition + ";\n"
    if i.clustered:
        out += f"ALTER TABLE {table_identity} CLUSTER ON {quote_ident(i.name)};\n"
    for colnum, target in i.stats or []:
        out += f"ALTER INDEX {i.identity} ALTER COLUMN {colnum} SET STATISTICS {target};\n"
    return out


_ENABLE = {"D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}


def create_trigger(t: Trigger) -> str:
    out = t.definition + ";\n"
    if t.enabled in _ENABLE:
        out += f"ALTER TABLE {t.table} {_ENABLE[t.enabled]} TRIGGER {quote_ident(t.name)};\n"
    return out


def trigger_enable_state(t: Trigger) -> str:
    """A partition's cloned trigger is created by its parent's; only a different enabled state
    is written, as pg_dump does."""
    return f"ALTER TABLE {t.table} {_ENABLE.get(t.enabled, 'ENABLE')} TRIGGER {quote_ident(t.name)};\n"


def create_rule(r: Rule) -> str:
    out = r.definition.rstrip().rstrip(";") + ";\n"
    if r.enabled in _ENABLE:
        out += f"ALTER TABLE {r.table} {_ENABLE[r.enabled]} RULE {quote_ident(r.name)};\n"
    return out


_POLCMD = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}


def create_policy(p: Policy) -> str:
    sql = f"CREATE POLICY {quote_ident(p.name)} ON {p.table}"
    if not p.permissive:
        sql += " AS RESTRICTIVE"
    if p.command != "*":
        sql += f" FOR {_POLCMD[p.command]}"
    if p.roles and p.roles != [""]:
        sql += " TO " + ", ".join("PUBLIC" if r == "" else quote_ident(r) for r in p.roles)
    if p.using is not None:
        sql += f" USING ({p.using})"
    if p.check is not None:
        sql += f" WITH CHECK ({p.check})"
    return sql + ";\n"


def create_event_trigger(e: EventTrigger) -> str:
    sql = f"CREATE EVENT TRIGGER {e.identity} ON {quote_ident(e.event)}"
    if e.tags:
        sql += "\n         WHEN TAG IN (" + ", ".join(quote_literal(t) for t in e.tags) + ")"
    sql += f"\n   EXECUTE FUNCTION {e.function}();\n"
    if e.enabled in _ENABLE:
        sql += f"ALTER EVENT TRIGGER {e.identity} {_ENABLE[e.enabled]};\n"
    return sql
