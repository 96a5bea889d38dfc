"""Tables, views, materialized views and foreign tables, with what hangs off their columns.

A table's entry holds its ``CREATE TABLE`` with the CHECK constraints that can be inline
(validated, calling no user function: a function would make a table <-> function loop) and
its valid NOT NULL constraints. Column defaults that cannot be inline are separate
``DEFAULT`` entries, for the same loop reason. Partitions are attached in a ``TABLE
ATTACH`` entry, ``REFRESH MATERIALIZED VIEW`` comes after the data, in the order the views
read each other.
"""

from __future__ import annotations

from dumper.catalog.base import Ref
from dumper.catalog.relations import Column, Relation
from dumper.ddl import tables as ddt
from dumper.ddl.common import acl_stmts
from dumper.entries.context import BuildContext
from dumper.format.names import quote_ident
from dumper.format.toc import Kind
from dumper.toc import POST, PRE, Entry


def build_relations(ctx: BuildContext) -> None:
    """Every relation but sequences (:mod:`dumper.entries.sequences`), in catalog order."""
    checks_by_table: dict[int, list] = {}  # type: ignore[type-arg]
    for c in ctx.cat.constraints:
        checks_by_table.setdefault(c.table_oid, []).append(c)
    for rel in ctx.cat.relations:
        if rel.kind == "S":
            continue
        if rel.kind in ("v", "m"):
            e = _view(ctx, rel)
        else:
            e = _table(ctx, rel, checks_by_table.get(rel.oid, []))
        ctx.table_entry[rel.oid] = e
        ctx.grant_on(e, rel, "TABLE")
        _column_grants(ctx, rel, e)
        _hanging_off(ctx, rel, e)


def _view(ctx: BuildContext, rel: Relation) -> Entry:
    kw = Kind(ddt.keyword(rel))
    e = ctx.add(Entry(kw, rel.schema, rel.name, rel.owner, PRE, ddt.create_view(rel) + ctx.owner_of(kw, rel)), rel)
    if rel.kind == "v":  # dumper.order may split it to break a loop through its query
        e.view_split = (ddt.view_placeholder(rel) + ctx.owner_of(kw, rel), ddt.view_replace(rel))
    return e


def _parents(ctx: BuildContext, rel: Relation) -> list[Relation]:
    return [ctx.rels[p] for p in rel.parents if p in ctx.rels]


def _table(ctx: BuildContext, rel: Relation, checks: list) -> Entry:  # type: ignore[type-arg]
    kw = Kind(ddt.keyword(rel))
    inline = [c for c in checks
              if c.type == "c" and c.validated and not c.deps_on_function and (c.is_local or rel.is_partition)]
    parents = _parents(ctx, rel)
    if parents and not rel.is_partition and _inherited_order_changes(rel, parents):
        ctx.warn(
            f"the columns of {rel.identity} come back in a different order (inherited columns first, as with pg_dump): "
            "a column was added to a parent after the child was created"
        )
    sql = ddt.create_table(rel, [(c.name, c.definition) for c in inline], [p.identity for p in parents], parents)
    e = ctx.add(Entry(kw, rel.schema, rel.name, rel.owner, PRE, sql + ctx.owner_of(kw, rel)), rel)
    for c in inline:
        ctx.carry(c.ref, e)
    _notnull_entries(ctx, rel, e)
    _defaults(ctx, rel, e, parents)
    return e


def _defaults(ctx: BuildContext, rel: Relation, table: Entry, parents: list[Relation]) -> None:
    """``ALTER ... SET DEFAULT`` for the defaults not written inline (and DROP DEFAULT where an
    inherited-only column must not keep its parent's)."""
    printed = {c.num for c in (rel.columns if rel.of_type else ddt.printed_columns(rel))}
    for col in rel.columns:
        if col.generated or col.identity:
            continue
        sql = _default_sql(rel, col, col.num in printed, parents)
        if sql is None:
            continue
        d = ctx.append(Entry(Kind.DEFAULT, rel.schema, f"{rel.name} {col.name}", rel.owner, PRE, sql))
        if col.default is not None:
            d.refs.append(("pg_attrdef", col.default_oid or 0))
        d.entry_deps.append(table)


def _default_sql(rel: Relation, col: Column, printed: bool, parents: list[Relation]) -> str | None:
    if printed:
        if col.default is None or ddt.inline_default(col):
            return None
        return ddt.column_default(rel, col)
    # An inherited-only column gets its parent's inline default from INHERITS; a default of
    # its own (or none) is set afterwards, as pg_dump does.
    given = next((pc.default for p in parents for pc in p.columns if pc.name == col.name and ddt.inline_default(pc)), None)
    if col.default == given:
        return None
    return ddt.column_default(rel, col) if col.default is not None else ddt.column_drop_default(rel, col)


def _column_grants(ctx: BuildContext, rel: Relation, e: Entry) -> None:
    if ctx.plan.no_acl:
        return
    for col in rel.columns:
        if col.acl is not None:
            sql = acl_stmts(col.acl, f"TABLE {rel.identity}", rel.owner, columns=quote_ident(col.name))
            ctx.append(e.follow(Kind.ACL, sql, name=f"{rel.name} {col.name}"))


def _hanging_off(ctx: BuildContext, rel: Relation, e: Entry) -> None:
    """Partition attachment (pre-data), REFRESH and row security (post-data)."""
    if rel.is_partition and rel.partbound:
        for p in rel.parents:
            if p in ctx.rels:
                a = ctx.append(Entry(Kind.TABLE_ATTACH, rel.schema, rel.name, rel.owner, PRE,
                                     ddt.attach_partition(ctx.rels[p], rel)))
                a.entry_deps.append(e)
                a.deps.add(ctx.rels[p].ref)
    if rel.kind == "m" and rel.populated:
        m = ctx.append(Entry(Kind.MATERIALIZED_VIEW_DATA, rel.schema, rel.name, rel.owner, POST,
                             f"REFRESH MATERIALIZED VIEW {rel.identity};\n"))
        m.entry_deps.append(e)
        m.extra["matview_oid"] = rel.oid
    if rel.rls or rel.force_rls:
        rs = ctx.append(Entry(Kind.ROW_SECURITY, rel.schema, rel.name, rel.owner, POST, ddt.row_security(rel)))
        rs.entry_deps.append(e)
    # REPLICA IDENTITY USING INDEX is written with the index (dumper.entries.constraints).


def _notnull_entries(ctx: BuildContext, rel: Relation, table: Entry) -> None:
    """PostgreSQL 18's NOT NULL constraints are pg_constraint rows: a valid one is written in
    its table's CREATE TABLE (so its comment follows the table); a NOT VALID one is added
    after the data, as pg_dump does, since the column holds NULLs. An inherited NOT VALID
    one comes with its parent's ALTER TABLE."""
    for col in rel.columns:
        nn = col.nn_constraint
        if nn is None:
            continue
        ref: Ref = ("pg_constraint", nn.oid)
        if nn.valid:
            ctx.carry(ref, table)
        elif nn.is_local:
            c = Entry(Kind.CHECK_CONSTRAINT, rel.schema, f"{rel.name} {nn.name}", rel.owner, POST,
                      ddt.add_invalid_notnull(rel, col))
            ctx.carry(ref, c)
            c.entry_deps.append(table)
            ctx.append(c)


def _inherited_order_changes(rel: Relation, parents: list[Relation]) -> bool:
    """CREATE TABLE ... INHERITS puts the parents' columns first, then the child's own."""
    order: list[str] = []
    for p in parents:
        order += [c.name for c in p.columns if c.name not in order]
    order += [c.name for c in rel.columns if c.name not in order]
    return order != [c.name for c in rel.columns]


def matview_refresh_order(ctx: BuildContext) -> None:
    """A REFRESH waits for the REFRESH of every materialized view its query reads.

    pg_dump's buildMatViewRefreshDependencies: the matview's ``_RETURN`` rule depends on the
    relations it reads; plain views in between are looked through, so a matview reading a view
    over another matview still refreshes after it.
    """
    refresh = {e.extra["matview_oid"]: e for e in ctx.entries if e.kind == Kind.MATERIALIZED_VIEW_DATA}
    if not refresh:
        return
    reads: dict[int, set[int]] = {}
    for dep, ref, _t in ctx.cat.depends.edges:
        if dep[0] == "pg_rewrite" and ref[0] == "pg_class":
            owner = ctx.cat.depends.aliases.get(dep)
            if owner is not None and owner[0] == "pg_class" and owner[1] != ref[1]:
                reads.setdefault(owner[1], set()).add(ref[1])
    for oid, e in refresh.items():
        seen: set[int] = set()
        todo = list(reads.get(oid, ()))
        while todo:
            x = todo.pop()
            if x in seen:
                continue
            seen.add(x)
            if x in refresh:
                e.entry_deps.append(refresh[x])
            elif x in ctx.rels and ctx.rels[x].kind == "v":
                todo.extend(reads.get(x, ()))
