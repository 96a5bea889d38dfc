"""Entries for what the target database already has before the restore starts.

A restore runs into a new database: the ``public`` schema, the system objects and every
extension member (made by CREATE EXTENSION) exist there already, with the privileges a new
database gives them. What the dump writes for them is the difference between that start and
the source, as pg_dump does:

- ``public``: its owner unless ``pg_database_owner`` (the owner of a new 15+ database's
  ``public``), its ACL against ``{owner=UC/owner, =U/owner}``, its comment unless initdb's.
  This is a comparison with what a *new* database has, not with the source major's defaults,
  so a database made on 14 or older keeps letting PUBLIC create in ``public`` after an upgrade.
- extension members and system objects (``pg_catalog``, the built-in languages): their ACL
  against ``pg_init_privs`` (:func:`dumper.catalog.privileges.read_initial_acls`).
- an object the dump creates but an extension's script granted on (PostGIS's ``topology``
  schema): its ACL against that ``pg_init_privs`` row too, as pg_dump compares every object
  that has one, and written after the CREATE EXTENSION statements, so that the script's GRANT
  records on the copy what it recorded on the source and not the user's own grants.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dumper.catalog.namespaces import PUBLIC_COMMENT, Schema
from dumper.ddl.common import acl_stmts
from dumper.format.names import quote_literal
from dumper.format.toc import Kind
from dumper.toc import PRE, Entry

if TYPE_CHECKING:
    from dumper.catalog import Catalog
    from dumper.entries.context import BuildContext


def public_schema_entries(ctx: BuildContext, s: Schema) -> None:
    """The ``public`` schema: never created; owner, ACL and comment only where they differ from
    a new database's."""
    sql = "" if s.owner_is_default else ctx.owner_of("SCHEMA", s)
    e = ctx.add(Entry(Kind.SCHEMA, None, s.name, s.owner, PRE, sql), s)
    ctx.grant_on(e, s, "SCHEMA")
    # A re-created public (oid >= 16384) also has its comment in the generic pass: decided here.
    ctx.cat.comments.pop(("pg_namespace", s.oid, 0), None)
    if ctx.plan.no_comments or s.comment == PUBLIC_COMMENT:
        return
    # No comment at all is written as '' (which removes initdb's), as pg_dump does.
    text = quote_literal(s.comment or "")
    ctx.append(e.follow(Kind.COMMENT, f"COMMENT ON SCHEMA {s.identity} IS {text};\n", name=f"schema {s.identity}"))


def apply_script_acls(cat: Catalog) -> None:
    """Give every object whose start an extension script recorded
    (:attr:`~dumper.catalog.privileges.InitialAcl.by_script`) that ``pg_init_privs`` row as
    its base, in place of the acldefault() its reader compared with (None when the ACL equals
    the row: nothing to write). Runs before the entries are built, so the object's ordinary
    ACL entry writes the right difference and names the right roles;
    :func:`order_script_acls` then moves it after the CREATE EXTENSION statements."""
    recorded = {(a.classid, a.oid, a.subid): a for a in cat.initial_acls if a.by_script}
    if not recorded:
        return
    for o in cat.objects():
        a = recorded.get((o.ref[0], o.ref[1], 0))
        if a is not None:
            o.acl = None if a.acl.items == a.acl.base else a.acl
        for col in getattr(o, "columns", None) or []:
            a = recorded.get((o.ref[0], o.ref[1], getattr(col, "num", 0)))
            if a is not None and hasattr(col, "acl"):
                col.acl = None if a.acl.items == a.acl.base else a.acl


def order_script_acls(ctx: BuildContext) -> None:
    """The ACL entries of objects an extension script granted on run after every CREATE
    EXTENSION of the dump. ``pg_init_privs`` does not say which extension's script recorded
    the row, and pg_dump restores every ACL in a pass after all other entries, so after all of
    them is both safe and what pg_dump does. Before them, the script's GRANT would record the
    user's grants as the copy's initial privileges, and a backup of the copy would lose them."""
    found = (ctx.carriers.get((a.classid, a.oid)) for a in ctx.cat.initial_acls if a.by_script)
    owners = {id(o) for o in found if o is not None}  # entries are not hashable
    if not owners:
        return
    extensions = [e for e in ctx.entries if e.kind == Kind.EXTENSION]
    for e in ctx.entries:
        if e.kind == Kind.ACL and any(id(d) in owners for d in e.entry_deps):
            e.entry_deps.extend(x for x in extensions if all(x is not d for d in e.entry_deps))


def initial_acl_entries(ctx: BuildContext) -> None:
    """GRANT/REVOKE for extension members (after their CREATE EXTENSION, only when that is in
    the dump) and for system objects (only in a dump of the whole database, as pg_dump).
    Objects the dump creates itself are written by their own ACL entries
    (:func:`apply_script_acls`)."""
    if ctx.plan.no_acl or ctx.plan.data_only:
        return
    for a in ctx.cat.initial_acls:
        if a.by_script:
            continue
        sql = acl_stmts(a.acl, f"{a.keyword} {a.target}", a.owner, columns=a.column)
        if not sql:
            continue
        name = f"{a.keyword} {a.target}" + (f" ({a.column})" if a.column else "")
        if a.extension_oid is not None:
            ext = ctx.carriers.get(("pg_extension", a.extension_oid))
            if ext is None:
                continue
            e = ext.follow(Kind.ACL, sql, name=name)
        elif ctx.plan.dumps_everything:
            e = Entry(Kind.ACL, "pg_catalog", name, a.owner, PRE, sql)
        else:
            continue
        ctx.append(e)
        for grantee, grantor, _p, _g in a.acl.items or []:
            ctx.built.extra_roles.update((grantee, grantor))
