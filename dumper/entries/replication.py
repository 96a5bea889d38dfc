"""Publications (with their tables and schemas) and subscriptions: post-data, database-wide.

A subscription is created ``connect = false`` and without the password of its connection
string, which pg_subscription only shows a superuser.
"""

from __future__ import annotations

from dumper.ddl import replication as ddr
from dumper.entries.context import BuildContext
from dumper.format.names import quote_ident
from dumper.format.toc import Kind
from dumper.toc import POST, Entry


def build_publications(ctx: BuildContext) -> None:
    if not ctx.whole_db or ctx.plan.no_publications:
        return
    cat = ctx.cat
    schema_entry = {s.name: ctx.carriers[s.ref] for s in cat.schemas if s.ref in ctx.carriers}
    for p in cat.publications:
        e = ctx.add(Entry(Kind.PUBLICATION, None, p.name, p.owner, POST,
                          ddr.create_publication(p) + ctx.owner_of("PUBLICATION", p)), p)
        for t in p.tables:
            tab = ctx.table_entry.get(t.table_oid)
            if tab is None:
                continue
            pt = ctx.append(Entry(Kind.PUBLICATION_TABLE, tab.schema, f"{p.name} {tab.name}", None, POST,
                                  ddr.publication_table(p, t, ctx.rels[t.table_oid].identity)))
            pt.refs.append(("pg_publication_rel", t.oid))
            pt.entry_deps += [e, tab]
        for ns_oid, schema in p.schemas:
            se = schema_entry.get(schema)
            if se is None:
                continue
            ps = ctx.append(Entry(Kind.PUBLICATION_TABLES_IN_SCHEMA, schema, f"{p.name} {schema}", None, POST,
                                  ddr.publication_schema(p, schema)))
            ps.refs.append(("pg_publication_namespace", ns_oid))
            ps.entry_deps += [e, se]


def build_subscriptions(ctx: BuildContext) -> None:
    if not ctx.whole_db or ctx.plan.no_subscriptions:
        return
    if ctx.cat.subscriptions_skipped:
        ctx.warn("subscriptions not dumped because current user is not a superuser")
    for sub in ctx.cat.subscriptions:
        conninfo, stripped = ddr.strip_password(sub.conninfo)
        if stripped:
            ctx.warn(f"subscription {quote_ident(sub.name)}: the password in its connection string is not dumped; "
                     "set it with ALTER SUBSCRIPTION ... CONNECTION after restoring")
        ctx.add(Entry(Kind.SUBSCRIPTION, None, sub.name, sub.owner, POST,
                      ddr.create_subscription(sub, conninfo) + ctx.owner_of("SUBSCRIPTION", sub)), sub)
