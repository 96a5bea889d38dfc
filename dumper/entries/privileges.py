"""Default privileges (``ALTER DEFAULT PRIVILEGES``): at the very end of post-data, so that no
object the restore creates earlier is affected by them.

Grants on the objects themselves are written by each family's builder (``ctx.grant``);
grants on extension members and system objects by :mod:`dumper.entries.initial_state`.
"""

from __future__ import annotations

from dumper.catalog.privileges import DEFACL_TYPES
from dumper.ddl.common import acl_stmts
from dumper.entries.context import BuildContext
from dumper.format.toc import Kind
from dumper.toc import POST, Entry


def build_default_acls(ctx: BuildContext) -> None:
    if ctx.plan.no_acl:
        return
    schema_entry = {s.name: ctx.carriers[s.ref] for s in ctx.cat.schemas if s.ref in ctx.carriers}
    for d in ctx.cat.default_acls:
        _code, word = DEFACL_TYPES[d.objtype]
        if d.schema is not None and d.schema not in schema_entry:
            continue
        sql = acl_stmts(d.acl, word, d.role, default_privileges=(d.role, d.schema))
        e = Entry(Kind.DEFAULT_ACL, d.schema, f"DEFAULT PRIVILEGES FOR {word}", d.role, POST, sql)
        e.refs.append(d.ref)
        if d.schema is not None:
            e.entry_deps.append(schema_entry[d.schema])
        ctx.append(e)
