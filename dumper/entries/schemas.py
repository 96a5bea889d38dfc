"""Schemas and extensions: the first entries of a dump.

``public`` is never created (a new database has it): :mod:`dumper.entries.initial_state`
writes only how it differs from a new database's. An extension is created with ``IF NOT
EXISTS ... WITH SCHEMA``; its member objects are never entries of their own (CREATE
EXTENSION makes them), except for grants that changed since (``initial_state``).
"""

from __future__ import annotations

from dumper.ddl import objects as ddo
from dumper.entries.context import BuildContext
from dumper.entries.initial_state import public_schema_entries
from dumper.format.toc import Kind
from dumper.toc import PRE, Entry


def build_schemas(ctx: BuildContext) -> None:
    for s in ctx.cat.schemas:
        if s.builtin:
            public_schema_entries(ctx, s)
            continue
        e = ctx.add(Entry(Kind.SCHEMA, None, s.name, s.owner, PRE, ddo.create_schema(s) + ctx.owner_of("SCHEMA", s)), s)
        ctx.grant_on(e, s, "SCHEMA")


def build_extensions(ctx: BuildContext) -> None:
    """Only in a dump of the whole database (pg_dump: ``-n``/``-t`` leave extensions out), and
    only those whose schema is dumped (or ``public``, which every target has)."""
    if not ctx.plan.dumps_everything:
        return
    schemas = {s.name for s in ctx.cat.schemas}
    for x in ctx.cat.extensions:
        if x.schema not in schemas and x.schema != "public":
            continue
        e = ctx.add(Entry(Kind.EXTENSION, None, x.name, None, PRE, ddo.create_extension(x)), x)
        e.extra["version"] = x.version
        e.extra["extension_schema"] = x.schema
