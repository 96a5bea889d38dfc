"""Sequences: ``CREATE SEQUENCE`` and ``OWNED BY`` for standalone ones, the identity clause
inside its table's entry for identity ones, and ``setval`` in the data section for both."""

from __future__ import annotations

from dumper.catalog.relations import Relation
from dumper.ddl import tables as ddt
from dumper.entries.context import BuildContext
from dumper.format.toc import Kind
from dumper.toc import DATA, PRE, Entry


def build_sequences(ctx: BuildContext) -> None:
    for rel in ctx.cat.relations:
        if rel.kind != "S" or rel.sequence is None:
            continue
        if rel.sequence.identity_of is not None:
            if ctx.ddl and ctx.table_entry.get(rel.sequence.identity_of[0]) is None:
                continue  # its table is not in the dump
            if ctx.ddl:
                _identity(ctx, rel)
        elif ctx.ddl:
            _standalone(ctx, rel)
        if not ctx.plan.schema_only and rel.oid not in ctx.plan.unreadable:
            _setval(ctx, rel)


def _identity(ctx: BuildContext, rel: Relation) -> None:
    """An identity column's sequence: its options go into the table's CREATE TABLE entry."""
    seq = rel.sequence
    assert seq is not None and seq.identity_of is not None
    tab = ctx.table_entry[seq.identity_of[0]]
    trel = ctx.rels[seq.identity_of[0]]
    col = next(c for c in trel.columns if c.num == seq.identity_of[1])
    tab.sql += ddt.identity_column(trel, col, rel.identity, seq)
    ctx.carry(rel.ref, tab)
    ctx.grant_on(tab, rel, "SEQUENCE")


def _standalone(ctx: BuildContext, rel: Relation) -> None:
    seq = rel.sequence
    assert seq is not None
    e = ctx.add(Entry(Kind.SEQUENCE, rel.schema, rel.name, rel.owner, PRE,
                      ddt.create_sequence(rel) + ctx.owner_of("SEQUENCE", rel)), rel)
    ctx.grant_on(e, rel, "SEQUENCE")
    if seq.owned_by is not None and seq.owned_by[0] in ctx.table_entry:
        trel = ctx.rels[seq.owned_by[0]]
        col = next(c for c in trel.columns if c.num == seq.owned_by[1])
        o = ctx.append(Entry(Kind.SEQUENCE_OWNED_BY, rel.schema, rel.name, rel.owner, PRE,
                             ddt.sequence_owned_by(rel, trel, col.name)))
        o.entry_deps += [e, ctx.table_entry[seq.owned_by[0]]]


def _setval(ctx: BuildContext, rel: Relation) -> None:
    seq = rel.sequence
    assert seq is not None
    sv = Entry(Kind.SEQUENCE_SET, rel.schema, rel.name, rel.owner, DATA, ddt.setval(rel))
    sv.extra.update(value=seq.last_value if seq.last_value is not None else seq.start, is_called=seq.is_called)
    if rel.ref in ctx.carriers:
        sv.entry_deps.append(ctx.carriers[rel.ref])
    ctx.append(sv)
