"""Roles: a guarded ``CREATE ROLE`` for every role the script names, and their memberships.

Roles are cluster-wide, so the dump creates only those it refers to (owners, grantees and
grantors, user mappings, default privileges), never with a password, and never the
bootstrap superuser or ``pg_*`` roles (not in ``cat.roles``). Built after every other entry,
since it collects the names those entries use.
"""

from __future__ import annotations

from typing import Any

from dumper.catalog.base import Acl, Ref
from dumper.ddl import roles as ddro
from dumper.entries.context import BuildContext
from dumper.format.toc import Kind
from dumper.toc import PRE, Entry


def build_roles(ctx: BuildContext) -> None:
    cat = ctx.cat
    role_entry: dict[str, Entry] = {}
    for name in sorted(n for n in _named_roles(ctx) if n in cat.roles):
        role_entry[name] = ctx.append(Entry(Kind.ROLE, None, name, None, PRE, ddro.create_role(cat.roles[name])))
    for m in cat.memberships:
        if m.member in role_entry and (m.role in role_entry or m.role.startswith("pg_")):
            e = Entry(Kind.ROLE_MEMBERSHIP, None, f"{m.role} TO {m.member}", None, PRE, ddro.grant_membership(m))
            e.entry_deps.append(role_entry[m.member])
            if m.role in role_entry:
                e.entry_deps.append(role_entry[m.role])
            ctx.append(e)


def _named_roles(ctx: BuildContext) -> set[str]:
    """Every role name the entries built so far write: owners, and grantees and grantors."""
    plan, cat = ctx.plan, ctx.cat
    objs: dict[Ref, Any] = {o.ref: o for o in cat.objects()}
    names: set[str] = set()

    def acl_roles(acl: Acl | None) -> None:
        if acl is not None and not plan.no_acl:
            for grantee, grantor, _priv, _g in acl.items or []:
                names.update((grantee, grantor))

    for e in ctx.entries:
        if e.owner and not plan.no_owner:
            names.add(e.owner)
        for ref in e.refs:
            o = objs.get(ref)
            if o is None:
                continue
            if o.owner and not plan.no_owner:
                names.add(o.owner)
            acl_roles(o.acl)
            for col in getattr(o, "columns", None) or []:
                acl_roles(getattr(col, "acl", None))
            names.update(getattr(o, "roles", None) or [])
    names.update(um.user for um in cat.user_mappings if um.user)
    if not plan.no_acl:
        for d in cat.default_acls:
            names.add(d.role)
            acl_roles(d.acl)
    names.update(ctx.built.extra_roles)
    return names
