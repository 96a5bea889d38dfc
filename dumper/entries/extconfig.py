"""Extension configuration tables (``pg_extension_config_dump``): the rows users added.

``CREATE EXTENSION`` creates the table and its own rows; the dump holds only the rows the
extension's condition selects (its ``filter``), loaded after the extension, parents before
children. A configuration sequence gets its ``setval``.
"""

from __future__ import annotations

from dumper.catalog.extconfig import ConfigTable
from dumper.catalog.relations import Relation
from dumper.entries.context import BuildContext
from dumper.format.names import csv_name, quote_literal, table_key
from dumper.format.toc import Kind
from dumper.toc import DATA, Entry, TableSource


def build_config_tables(ctx: BuildContext) -> None:
    plan = ctx.plan
    for t in ctx.cat.config_tables:
        ext = ctx.carriers.get(("pg_extension", t.extension_oid))
        if ext is None and not plan.data_only:
            continue  # the extension itself is not in this dump
        if not plan.data_included(t.schema, t.name):
            continue
        e = _sequence_set(t) if t.kind == "S" else _table_data(ctx, t)
        if ext is not None:
            e.entry_deps.append(ext)
        ctx.append(e)
    for t in ctx.cat.config_tables:  # parents' rows first: their FKs exist already
        child = ctx.data_entry.get(t.oid)
        if child is not None:
            child.entry_deps.extend(ctx.data_entry[p] for p in t.fk_parents if p in ctx.data_entry)


def _sequence_set(t: ConfigTable) -> Entry:
    value = "true" if t.is_called else "false"
    return Entry(Kind.SEQUENCE_SET, t.schema, t.name, t.owner, DATA,
                 f"SELECT pg_catalog.setval({quote_literal(t.identity)}, {t.last_value}, {value});\n")


def _table_data(ctx: BuildContext, t: ConfigTable) -> Entry:
    plan = ctx.plan
    rel = Relation(ref=("pg_class", t.oid), schema=t.schema, name=t.name, owner=t.owner, identity=t.identity,
                   oid=t.oid, kind="r")
    e = Entry(Kind.TABLE_DATA, t.schema, t.name, t.owner, DATA, "")
    e.extra.update(
        table=table_key(t.schema, t.name), columns=list(t.columns), category=plan.category_of(t.schema, t.name),
        csv=csv_name(t.schema, t.name) if plan.csv_wanted(t.schema, t.name) else None, pages=0,
        filter=t.condition,
    )
    e.source = TableSource(rel, condition=f"({t.condition})" if t.condition else None)
    ctx.data_entry[t.oid] = e
    return e
