"""Foreign-data wrappers, servers and user mappings (database-wide: not with ``-n``/``-t``).

A user mapping keeps its ``password`` option, as pg_dump writes it (the backup is private and
a restored server must still connect); ``--redact-auth`` leaves it out with a warning.
"""

from __future__ import annotations

from dumper.ddl import foreign as ddf
from dumper.entries.context import BuildContext
from dumper.format.toc import Kind
from dumper.redact import user_mapping_warning
from dumper.toc import PRE, Entry


def build_foreign(ctx: BuildContext) -> None:
    if not ctx.whole_db:
        return
    cat = ctx.cat
    for w in cat.fdws:
        e = ctx.add(Entry(Kind.FOREIGN_DATA_WRAPPER, w.schema, w.name, w.owner, PRE,
                          ddf.create_fdw(w) + ctx.owner_of("FOREIGN DATA WRAPPER", w)), w)
        ctx.grant(e, w.acl, f"FOREIGN DATA WRAPPER {w.identity}", w.owner)
    for srv in cat.servers:
        e = ctx.add(Entry(Kind.SERVER, srv.schema, srv.name, srv.owner, PRE,
                          ddf.create_server(srv) + ctx.owner_of("SERVER", srv)), srv)
        ctx.grant(e, srv.acl, f"FOREIGN SERVER {srv.identity}", srv.owner)
    for um in cat.user_mappings:
        sql, dropped = ddf.create_user_mapping(um, redact=ctx.plan.redact_auth)
        if dropped:
            ctx.warn(user_mapping_warning(ddf.user_mapping_target(um), um.server, dropped))
        e = ctx.add(Entry(Kind.USER_MAPPING, um.schema, um.name, um.owner, PRE, sql), um)
        e.deps.add(("pg_foreign_server", um.server_oid))
