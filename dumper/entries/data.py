"""``TABLE DATA`` entries: one per table whose rows are dumped, and what orders them.

The entry's toc.json fields (``table``, ``columns``, ``category``, ``csv``, ``pages``,
``redacted``) go into ``extra``; how its rows are read (the relation, the redaction) into
its :class:`~dumper.toc.TableSource`, which never reaches the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dumper.catalog.relations import column_names
from dumper.entries.context import BuildContext
from dumper.format.names import csv_name, table_key
from dumper.format.toc import Kind
from dumper.redact import table_redaction, unknown_warning
from dumper.toc import DATA, Entry, TableSource

if TYPE_CHECKING:
    from dumper.catalog.relations import Relation


def build_table_data(ctx: BuildContext) -> None:
    plan = ctx.plan
    for rel in ctx.cat.relations:
        schema = rel.schema or ""
        if not rel.has_data or not plan.data_included(schema, rel.name, rel.oid):
            continue
        e = Entry(Kind.TABLE_DATA, rel.schema, rel.name, rel.owner, DATA, "")
        e.extra.update(
            table=table_key(schema, rel.name), columns=column_names(rel), category=plan.category_of(schema, rel.name),
            csv=csv_name(schema, rel.name) if plan.csv_wanted(schema, rel.name) else None,
            pages=rel.pages,
        )
        e.source = TableSource(rel)
        root = _load_root(ctx, rel)
        if root is not None:
            e.source.load_via = root.identity
            e.extra["load_via"] = table_key(root.schema or "", root.name)
        red = table_redaction(plan, ctx.cat, rel, e.extra["columns"])
        if red is not None:  # rewritten by the COPY reader (dumper.redact.RowRedactor)
            e.source.redaction = red
            e.extra["redacted"] = red.columns
            if red.unknown:
                e.extra["redact_unknown"] = red.unknown
                ctx.warn(unknown_warning(red.unknown))
        if rel.oid in ctx.table_entry:
            e.entry_deps.append(ctx.table_entry[rel.oid])
        ctx.append(e)
        ctx.data_entry[rel.oid] = e


def _load_root(ctx: BuildContext, rel: "Relation") -> "Relation | None":
    """The root of ``rel``'s partition tree when some partitioned table above it hashes an
    enum key (None otherwise).

    Such a hash is of the enum labels' OIDs, which a restore assigns anew, so a row may
    belong to another partition afterwards: COPY into the partition itself would fail with
    "violates partition constraint". pg_dump loads these rows through the root, which
    routes each row; so does the script here. row_counts.json still counts per partition
    (what each COPY carried); pyrestore compares such partitions' counts as one sum."""
    unsafe = False
    top = rel
    while top.is_partition and top.parents and top.parents[0] in ctx.rels:
        top = ctx.rels[top.parents[0]]
        unsafe = unsafe or top.hash_on_enum
    return top if unsafe else None


def data_only_fk_order(ctx: BuildContext) -> None:
    """Data-only dumps load into an existing schema, so referenced tables must load first."""
    for c in ctx.cat.constraints:
        if c.type != "f" or c.parent_oid:
            continue
        target = c.ref_table_oid or None
        if target is not None and target != c.table_oid and c.table_oid in ctx.data_entry and target in ctx.data_entry:
            ctx.data_entry[c.table_oid].entry_deps.append(ctx.data_entry[target])


_RELATION_KINDS = (Kind.TABLE, Kind.VIEW, Kind.MATERIALIZED_VIEW, Kind.FOREIGN_TABLE, Kind.SEQUENCE)


def tag_tables(ctx: BuildContext) -> None:
    """Give every entry that belongs to a relation that relation's key (``extra["table"]``),
    so a restore can select "this table with its indexes, constraints and triggers" by name.

    Runs before the other families' entries exist: statistics, publication members and the
    like are not tagged (toc.json has always been written that way)."""
    entries = ctx.entries
    keys = {id(e): table_key(e.schema or "", e.name) for e in entries if e.kind in _RELATION_KINDS}
    for e in entries:
        if "table" in e.extra:
            continue
        key = keys.get(id(e)) or next((keys[id(d)] for d in e.entry_deps if id(d) in keys), None)
        if key is not None:
            e.extra["table"] = key
