"""Large objects: metadata in pre-data, contents in data, up to :data:`LO_GROUP` objects per entry.

Like pg_dump, large objects are part of a dump of the whole database only (not with
``-n``/``-t``/``--schema-only``) and ``-B/--no-large-objects`` leaves them out. The contents
are not read now: the ``BLOBS`` entry carries a ``stream`` that reads them chunk by chunk
while the script is written (:func:`dumper.ddl.largeobjects.lo_data`).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from dumper.catalog.largeobjects import LargeObject
from dumper.ddl import largeobjects as ddlo
from dumper.ddl.common import acl_stmts
from dumper.entries.context import BuildContext
from dumper.format.toc import Kind
from dumper.toc import DATA, PRE, Entry

LO_GROUP = 1000  # large objects per metadata/data entry, as pg_dump 17 groups them


def build_large_objects(ctx: BuildContext) -> None:
    los = ctx.cat.large_objects
    plan = ctx.plan
    if not los or plan.no_large_objects or not ctx.whole_db or plan.schema_only:
        return
    for i in range(0, len(los), LO_GROUP):
        group = los[i : i + LO_GROUP]
        label = f"{group[0].oid}..{group[-1].oid}" if len(group) > 1 else str(group[0].oid)
        meta = _metadata(ctx, group, label) if ctx.ddl else None
        data = Entry(Kind.BLOBS, None, label, None, DATA, "")
        data.extra["blobs"] = len(group)
        data.stream = _contents([lo.oid for lo in group], create=not ctx.ddl)
        if meta is not None:
            data.entry_deps.append(meta)
        ctx.append(data)


def _metadata(ctx: BuildContext, group: list[LargeObject], label: str) -> Entry:
    sql = []
    for lo in group:
        sql.append(ddlo.lo_create(lo.oid))
        sql.append(ctx.owner("LARGE OBJECT", str(lo.oid), lo.owner))
        if lo.acl is not None and not ctx.plan.no_acl:
            sql.append(acl_stmts(lo.acl, f"LARGE OBJECT {lo.oid}", lo.owner))
    meta = ctx.append(Entry(Kind.BLOB_METADATA, None, label, group[0].owner, PRE, "".join(sql)))
    for lo in group:
        ctx.carry(lo.ref, meta)
    return meta


def _contents(oids: list[int], *, create: bool) -> Callable[[Any], Iterator[bytes]]:
    """The ``stream(conn)`` of a BLOBS entry (``create``: a data-only dump creates them too)."""
    return lambda conn: ddlo.lo_data(conn, oids, create=create)
