"""Triggers, rules, row security policies and event triggers (post-data).

A partition's clone of a trigger is created by its parent's trigger; only an enable state
that differs from the parent's is written, as an ``ALTER TABLE ... ENABLE/DISABLE TRIGGER``.
"""

from __future__ import annotations

from dumper.ddl import objects as ddo
from dumper.entries.context import BuildContext
from dumper.format.toc import Kind
from dumper.toc import POST, Entry


def build_triggers(ctx: BuildContext) -> None:
    trigger_entry: dict[int, Entry] = {}
    for t in sorted(ctx.cat.triggers, key=lambda t: t.parent_oid != 0):  # parents first
        table = ctx.table_entry.get(t.table_oid)
        if table is None:
            continue
        name = f"{ctx.rels[t.table_oid].name} {t.name}"
        if t.parent_oid:
            parent = trigger_entry.get(t.parent_oid)
            if parent is not None:
                e = ctx.append(Entry(Kind.TRIGGER, t.schema, name, None, POST, ddo.trigger_enable_state(t)))
                e.entry_deps += [parent, table]
            continue
        e = ctx.add(Entry(Kind.TRIGGER, t.schema, name, None, POST, ddo.create_trigger(t)), t)
        e.entry_deps.append(table)
        trigger_entry[t.oid] = e


def build_rules_and_policies(ctx: BuildContext) -> None:
    for r in ctx.cat.rules:
        if r.table_oid in ctx.table_entry:
            e = ctx.add(Entry(Kind.RULE, r.schema, f"{ctx.rels[r.table_oid].name} {r.name}", None, POST,
                              ddo.create_rule(r)), r)
            e.entry_deps.append(ctx.table_entry[r.table_oid])
    for p in ctx.cat.policies:
        if p.table_oid in ctx.table_entry:
            e = ctx.add(Entry(Kind.POLICY, p.schema, f"{ctx.rels[p.table_oid].name} {p.name}", None, POST,
                              ddo.create_policy(p)), p)
            e.entry_deps.append(ctx.table_entry[p.table_oid])


def build_event_triggers(ctx: BuildContext) -> None:
    """Database-wide: only in a dump of the whole database (pg_dump leaves them out with -n/-t)."""
    if not ctx.whole_db:
        return
    for et in ctx.cat.event_triggers:
        sql = ddo.create_event_trigger(et) + ctx.owner("EVENT TRIGGER", et.identity, et.owner)
        ctx.add(Entry(Kind.EVENT_TRIGGER, None, et.name, et.owner, POST, sql), et)
