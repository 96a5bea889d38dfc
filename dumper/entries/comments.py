"""Comments and security labels: one generic pass each, after every other entry exists.

``pg_identify_object`` already named every object exactly as ``COMMENT ON``/``SECURITY
LABEL ON`` expect, so one pass serves every kind: each goes right after the entry that
creates its object (``ctx.carriers``), and an object the dump does not create gets none.
"""

from __future__ import annotations

from dumper.ddl import largeobjects as ddlo
from dumper.ddl.common import comment_stmt
from dumper.entries.context import BuildContext
from dumper.format.toc import Kind


def build_security_labels(ctx: BuildContext) -> None:
    if not ctx.ddl or ctx.plan.no_security_labels:
        return
    for lbl in ctx.cat.security_labels:
        target = ctx.carriers.get((lbl.classid, lbl.objoid))
        if target is not None:
            ctx.append(target.follow(Kind.SECURITY_LABEL, ddlo.security_label(lbl), name=f"{lbl.objtype} {lbl.identity}"))


def build_comments(ctx: BuildContext) -> None:
    if not ctx.ddl or ctx.plan.no_comments:
        return
    cat = ctx.cat
    for (cls, oid, _sub), c in sorted(cat.comments.items(), key=lambda kv: (kv[1].objtype, kv[1].identity)):
        target = ctx.carriers.get((cls, oid))
        alias = cat.depends.aliases.get((cls, oid))
        if target is None and cls == "pg_class" and alias is not None and alias[0] == "pg_type":
            target = ctx.carriers.get(alias)  # a column of a composite type: its type's entry
        if target is None:
            continue
        ctx.append(target.follow(Kind.COMMENT, comment_stmt(c.objtype, c.identity, c.text), name=f"{c.objtype} {c.identity}"))
