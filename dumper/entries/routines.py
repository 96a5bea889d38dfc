"""Functions, procedures and aggregates.

Functions come whole from ``pg_get_functiondef`` (every attribute, ``BEGIN ATOMIC`` bodies);
aggregates are assembled from ``pg_aggregate`` (:mod:`dumper.ddl.aggregates`).
"""

from __future__ import annotations

from dumper.ddl import aggregates as dda
from dumper.ddl import objects as ddo
from dumper.entries.context import BuildContext
from dumper.format.toc import Kind
from dumper.toc import PRE, Entry


def build_routines(ctx: BuildContext) -> None:
    for r in ctx.cat.routines:
        kind = Kind.PROCEDURE if r.kind == "p" else Kind.FUNCTION
        e = ctx.add(Entry(kind, r.schema, r.signature, r.owner, PRE, ddo.create_routine(r) + ctx.owner_of(kind, r)), r)
        ctx.grant_on(e, r, str(kind))


def build_aggregates(ctx: BuildContext) -> None:
    for a in ctx.cat.aggregates:
        sig = a.identity if a.identity_args else dda.signature(a)
        e = ctx.add(Entry(Kind.AGGREGATE, a.schema, a.signature, a.owner, PRE,
                          dda.create_aggregate(a) + ctx.owner("AGGREGATE", sig, a.owner)), a)
        ctx.grant(e, a.acl, f"FUNCTION {a.identity}", a.owner)
