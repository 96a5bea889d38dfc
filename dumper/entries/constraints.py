"""Constraints, indexes and extended statistics: the post-data entries on a table.

CHECK constraints that could not be inline in ``CREATE TABLE`` (NOT VALID, or calling a user
function), primary/unique/exclusion keys, foreign keys, indexes (attached to their
partitioned parents), ``REPLICA IDENTITY USING INDEX`` with the index that makes it, and
``CLUSTER ON`` a constraint's index with that constraint.
"""

from __future__ import annotations

from dumper.catalog import Catalog
from dumper.catalog.base import Ref
from dumper.catalog.constraints import Constraint
from dumper.catalog.relations import Relation
from dumper.ddl import objects as ddo
from dumper.ddl import replication as ddr
from dumper.entries.context import BuildContext
from dumper.format.names import quote_ident, table_key
from dumper.format.toc import Kind
from dumper.toc import POST, Entry


def build_constraints(ctx: BuildContext) -> None:
    for c in ctx.cat.constraints:
        rel = ctx.rels.get(c.table_oid)
        if rel is None or rel.oid not in ctx.table_entry:
            continue
        if c.type == "c":
            e = _check(rel, c)
        elif c.type == "f":
            e = _foreign_key(ctx, rel, c)
        else:
            e = Entry(Kind.CONSTRAINT, rel.schema, f"{rel.name} {c.name}", rel.owner, POST,
                      ddo.add_constraint(c, rel.identity, only=True))
        if e is None:
            continue
        ctx.add(e, c)
        e.entry_deps.append(ctx.table_entry[rel.oid])


def _check(rel: Relation, c: Constraint) -> Entry | None:
    if c.validated and not c.deps_on_function and (c.is_local or rel.is_partition):
        return None  # written inline (dumper.entries.relations)
    if not c.is_local:
        return None  # inherited: the parent's ALTER TABLE reaches this table too
    # Not ONLY (as pg_dump): an inheritance parent refuses a CHECK its children lack.
    return Entry(Kind.CHECK_CONSTRAINT, rel.schema, f"{rel.name} {c.name}", rel.owner, POST,
                 ddo.add_constraint(c, rel.identity, only=False))


def _foreign_key(ctx: BuildContext, rel: Relation, c: Constraint) -> Entry | None:
    if c.parent_oid:
        return None  # clone on a partition: created by the parent's constraint
    referenced = c.ref_table_oid or None
    if (referenced is not None and rel.oid in ctx.data_entry and referenced not in ctx.data_entry
            and ctx.rels.get(referenced) and ctx.rels[referenced].has_data):
        if "NOT VALID" not in c.definition and "NOT ENFORCED" not in c.definition:  # 18: never checked anyway
            c.definition = c.definition + " NOT VALID"
            ctx.warn(f"foreign key {c.name} on {rel.identity} is restored NOT VALID: "
                     "the data of the table it references is not in this backup")
    e = Entry(Kind.FK_CONSTRAINT, rel.schema, f"{rel.name} {c.name}", rel.owner, POST,
              ddo.add_constraint(c, rel.identity, only=rel.kind != "p"))
    if referenced is not None and referenced in ctx.rels:
        e.extra["ref_table"] = table_key(ctx.rels[referenced].schema or "", ctx.rels[referenced].name)
    return e


def build_indexes(ctx: BuildContext) -> None:
    """Indexes, the replica identity that uses one, and the attachment of partition indexes."""
    cat = ctx.cat
    for i in cat.indexes:
        rel = ctx.rels.get(i.table_oid)
        if rel is None or rel.oid not in ctx.table_entry:
            continue
        sql = ddo.create_index(i, rel.identity)
        if rel.replident == "i" and rel.replident_index == i.name:
            sql += _replica_identity(rel, i.name)
        e = ctx.add(Entry(Kind.INDEX, i.schema, i.name, rel.owner, POST, sql), i)
        e.entry_deps.append(ctx.table_entry[rel.oid])
    for c in cat.constraints:  # or the index a key constraint made
        rel = ctx.rels.get(c.table_oid)
        if (rel is not None and c.type in ("p", "u", "x") and rel.replident == "i" and rel.replident_index
                and c.ref in ctx.carriers):
            e = ctx.carriers[c.ref]
            if e.kind == Kind.CONSTRAINT and _constraint_index_name(cat, c) == rel.replident_index:
                e.sql += _replica_identity(rel, rel.replident_index)
    _index_attaches(ctx)


def _replica_identity(rel: Relation, index: str) -> str:
    return f"ALTER TABLE ONLY {rel.identity} REPLICA IDENTITY USING INDEX {quote_ident(index)};\n"


def _index_attaches(ctx: BuildContext) -> None:
    """``ALTER INDEX ... ATTACH PARTITION``; a foreign key to a partitioned table needs the
    referenced index valid, i.e. attached in every partition (pg_dump's addConstrChildIdxDeps)."""
    cat = ctx.cat
    attaches: dict[int, list[tuple[int, Entry]]] = {}  # parent index oid -> (child index oid, INDEX ATTACH)
    for child, parent in cat.index_parents:
        ce = ctx.carriers.get(("pg_class", child)) or _by_alias(ctx, ("pg_class", child))
        pe = ctx.carriers.get(("pg_class", parent)) or _by_alias(ctx, ("pg_class", parent))
        if ce is None or pe is None:
            continue
        a = ctx.append(Entry(Kind.INDEX_ATTACH, ce.schema, ce.name, None, POST,
                             f"ALTER INDEX {_index_identity(cat, parent)} ATTACH PARTITION {_index_identity(cat, child)};\n"))
        a.entry_deps += [ce, pe]
        attaches.setdefault(parent, []).append((child, a))
    for c in cat.constraints:
        fk = ctx.carriers.get(c.ref)
        if c.type != "f" or fk is None or fk.kind != Kind.FK_CONSTRAINT or not c.index_oid:
            continue
        todo = [c.index_oid]
        while todo:
            for child, a in attaches.get(todo.pop(), ()):
                fk.entry_deps.append(a)
                todo.append(child)


def _by_alias(ctx: BuildContext, ref: Ref) -> Entry | None:
    """The entry of an index made by a constraint: pg_depend names it through the constraint."""
    seen = 0
    while ref in ctx.cat.depends.aliases and seen < 5:
        ref = ctx.cat.depends.aliases[ref]
        if ref in ctx.carriers:
            return ctx.carriers[ref]
        seen += 1
    return None


def _index_identity(cat: Catalog, oid: int) -> str:
    return cat.index_names.get(oid, str(oid))


def _constraint_index_name(cat: Catalog, c: Constraint) -> str | None:
    return next((i.name for i in cat.indexes if i.oid == c.index_oid), None) or c.name


def build_statistics(ctx: BuildContext) -> None:
    for st in ctx.cat.statistics:
        tab = ctx.table_entry.get(st.table_oid)
        if tab is None:
            continue
        e = ctx.add(Entry(Kind.STATISTICS, st.schema, st.name, st.owner, POST,
                          ddr.create_statistics(st) + ctx.owner_of("STATISTICS", st)), st)
        e.entry_deps.append(tab)


def cluster_on_constraints(ctx: BuildContext) -> None:
    """``ALTER TABLE ... CLUSTER ON`` for a constraint's index, after the constraint that makes it."""
    for c in ctx.cat.constraints:
        index = ctx.cat.clustered_constraints.get(c.oid)
        e = ctx.carriers.get(c.ref)
        if index is not None and e is not None and e.kind == Kind.CONSTRAINT and c.table_oid in ctx.rels:
            e.sql += f"ALTER TABLE {ctx.rels[c.table_oid].identity} CLUSTER ON {quote_ident(index)};\n"
