"""TOC entries for the object kinds read by :mod:`dumper.catalog.kinds`.

Called once from :func:`dumper.entries.build_entries`, after the relation entries exist (so
statistics, publication members and config-table data can hang off them) and before the
generic comment pass (so every entry registered in ``carriers`` gets its comments). The
section of each kind follows pg_dump: definitions in pre-data; publications, subscriptions,
statistics and default privileges in post-data, default privileges at its very end so that
no object restored earlier is affected by them; large object contents in data. Role entries
come first of all.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any, Callable

from dumper.catalog.base import Acl, CatalogObject, Ref
from dumper.catalog.kinds import Kinds
from dumper.catalog.privileges import DEFACL_TYPES
from dumper.catalog.relations import Relation
from dumper.ddl import aggregates as dda
from dumper.ddl import basetypes as ddb
from dumper.ddl import foreign as ddf
from dumper.ddl import largeobjects as ddlo
from dumper.ddl import operators as ddop
from dumper.ddl import replication as ddr
from dumper.ddl import roles as ddro
from dumper.ddl import textsearch as ddts
from dumper.ddl.common import acl_stmts, owner_stmt
from dumper.format.names import quote_ident, quote_literal, table_key
from dumper.redact import user_mapping_warning
from dumper.toc import DATA, POST, PRE, Entry

if TYPE_CHECKING:
    from dumper.catalog import Catalog
    from dumper.entries import Built
    from dumper.plan import Plan

LO_GROUP = 1000  # large objects per metadata/data entry, as pg_dump 17 groups them


def build_kind_entries(
    cat: Catalog,
    plan: Plan,
    b: Built,
    carriers: dict[Ref, Entry],
    add: Callable[[Entry, CatalogObject | None], Entry],
    table_entry: dict[int, Entry],
    data_entry: dict[int, Entry],
    csv_name: Callable[[str, str], str],
) -> None:
    k: Kinds = cat.kinds
    out = b.entries
    ddl = not plan.data_only
    whole_db = not plan.tables and not plan.schemas

    def owner(kw: str, identity: str, role: str | None) -> str:
        return "" if plan.no_owner or not role else owner_stmt(kw, identity, role)

    def grant(e: Entry, acl: Acl | None, target: str, role: str | None) -> None:
        if acl is not None and not plan.no_acl:
            out.append(e.follow("ACL", acl_stmts(acl, target, role)))

    def entry(kind: str, obj: CatalogObject, name: str, section: str, sql: str) -> Entry:
        return add(Entry(kind, obj.schema, name, obj.owner, section, sql), obj)

    # pg_dump: -t dumps relations only; -n (or -t) leaves out database-wide objects
    # (languages, casts, transforms, FDWs, servers, user mappings).
    non_tables = ddl and getattr(plan, "dumps_non_tables", not plan.tables)
    if not whole_db:
        k = Kinds(**{**vars(k), "languages": [], "casts": [], "transforms": [], "fdws": [], "servers": [],
                     "user_mappings": []})
    if non_tables:
        _base_types(cat, b, carriers, add, owner, grant)
        if whole_db:
            for am in k.access_methods:
                entry("ACCESS METHOD", am, am.name, PRE, ddb.create_access_method(am))
        for lang in k.languages:
            e = entry("PROCEDURAL LANGUAGE", lang, lang.name, PRE,
                      ddop.create_language(lang) + owner("LANGUAGE", lang.identity, lang.owner))
            grant(e, lang.acl, f"LANGUAGE {lang.identity}", lang.owner)
        for c in k.collations:
            entry("COLLATION", c, c.name, PRE, ddop.create_collation(c) + owner("COLLATION", c.identity, c.owner))
        for t in k.transforms:
            entry("TRANSFORM", t, t.name, PRE, ddop.create_transform(t))
        for cast in k.casts:
            entry("CAST", cast, cast.name, PRE, ddop.create_cast(cast))
        for a in k.aggregates:
            sig = a.identity if a.identity_args else dda.signature(a)
            e = entry("AGGREGATE", a, a.signature, PRE, dda.create_aggregate(a) + owner("AGGREGATE", sig, a.owner))
            grant(e, a.acl, f"FUNCTION {a.identity}", a.owner)
        for o in k.operators:
            entry("OPERATOR", o, f"{o.name}({o.left or 'NONE'}, {o.right})", PRE,
                  ddop.create_operator(o) + owner("OPERATOR", ddop.operator_signature(o), o.owner))
        for f in k.opfamilies:
            entry("OPERATOR FAMILY", f, f"{f.name} USING {f.method}", PRE,
                  ddop.create_opfamily(f) + owner("OPERATOR FAMILY", ddop.opfamily_signature(f), f.owner))
        for oc in k.opclasses:
            entry("OPERATOR CLASS", oc, f"{oc.name} USING {oc.method}", PRE,
                  ddop.create_opclass(oc) + owner("OPERATOR CLASS", ddop.opclass_signature(oc), oc.owner))
        for cv in k.conversions:
            entry("CONVERSION", cv, cv.name, PRE, ddop.create_conversion(cv) + owner("CONVERSION", cv.identity, cv.owner))
        for p in k.ts_parsers:
            entry("TEXT SEARCH PARSER", p, p.name, PRE, ddts.create_parser(p))
        for tt in k.ts_templates:
            entry("TEXT SEARCH TEMPLATE", tt, tt.name, PRE, ddts.create_template(tt))
        for d in k.ts_dicts:
            entry("TEXT SEARCH DICTIONARY", d, d.name, PRE,
                  ddts.create_dictionary(d) + owner("TEXT SEARCH DICTIONARY", d.identity, d.owner))
        for cfg in k.ts_configs:
            entry("TEXT SEARCH CONFIGURATION", cfg, cfg.name, PRE,
                  ddts.create_config(cfg) + owner("TEXT SEARCH CONFIGURATION", cfg.identity, cfg.owner))
        for w in k.fdws:
            e = entry("FOREIGN DATA WRAPPER", w, w.name, PRE,
                      ddf.create_fdw(w) + owner("FOREIGN DATA WRAPPER", w.identity, w.owner))
            grant(e, w.acl, f"FOREIGN DATA WRAPPER {w.identity}", w.owner)
        for srv in k.servers:
            e = entry("SERVER", srv, srv.name, PRE, ddf.create_server(srv) + owner("SERVER", srv.identity, srv.owner))
            grant(e, srv.acl, f"FOREIGN SERVER {srv.identity}", srv.owner)
        for um in k.user_mappings:
            sql, dropped = ddf.create_user_mapping(um, redact=plan.redact_auth)
            if dropped:
                b.warnings.append(user_mapping_warning(ddf.user_mapping_target(um), um.server, dropped))
            e = entry("USER MAPPING", um, um.name, PRE, sql)
            e.deps.add(("pg_foreign_server", um.server_oid))
    if ddl:
        _post_data_kinds(cat, plan, b, carriers, add, table_entry, owner, whole_db)
    _large_objects(cat, plan, b, carriers, add, owner)
    _config_tables(cat, plan, b, carriers, data_entry, csv_name)
    if ddl and not plan.no_security_labels:
        for lbl in k.security_labels:
            target = carriers.get((lbl.classid, lbl.objoid))
            if target is not None:
                out.append(target.follow("SECURITY LABEL", ddlo.security_label(lbl), name=f"{lbl.objtype} {lbl.identity}"))
    if ddl:
        _roles(cat, plan, b, carriers)


def _base_types(cat: Catalog, b: Built, carriers: dict[Ref, Entry], add: Any,
                owner: Callable[[str, str, str | None], str], grant: Callable[[Entry, Acl | None, str, str | None], None]) -> None:
    """Shell type, then I/O functions, then the full ``CREATE TYPE`` (pg_dump's answer to the
    type <-> function loop): the functions' pg_depend edges to the type are routed to the shell.

    Runs after the function entries exist (they are in ``carriers``). A type that nothing
    completed is only its shell, with owner, grants and comments.
    """
    loop: set[tuple[Ref, Ref]] = set()
    schema_entry = {s.name: carriers[s.ref] for s in cat.schemas if s.ref in carriers}
    for t in cat.kinds.base_types:
        shell = Entry("SHELL TYPE" if t.defined else "TYPE", t.schema, t.name, t.owner, PRE, ddb.create_shell_type(t))
        if t.schema in schema_entry:
            shell.entry_deps.append(schema_entry[t.schema])
        if not t.defined:
            add(shell, t)
            shell.sql += owner("TYPE", t.identity, t.owner)
            grant(shell, t.acl, f"TYPE {t.identity}", t.owner)
            continue
        b.entries.append(shell)
        full = add(Entry("TYPE", t.schema, t.name, t.owner, PRE, ddb.create_base_type(t) + owner("TYPE", t.identity, t.owner)), t)
        full.entry_deps.append(shell)
        grant(full, t.acl, f"TYPE {t.identity}", t.owner)
        for f in t.io_functions:
            loop.add((("pg_proc", f), t.ref))
            full.deps.add(("pg_proc", f))
            fe = carriers.get(("pg_proc", f))
            if fe is not None:
                fe.entry_deps.append(shell)
    if loop:
        cat.depends.edges = [e for e in cat.depends.edges if (e[0], e[1]) not in loop]


def _cluster_on_constraints(cat: Catalog, carriers: dict[Ref, Entry]) -> None:
    """``ALTER TABLE ... CLUSTER ON`` for a constraint's index, after the constraint that makes it."""
    tables = {r.oid: r for r in cat.relations}
    for c in cat.constraints:
        index = cat.kinds.clustered_constraints.get(c.oid)
        e = carriers.get(c.ref)
        if index is not None and e is not None and e.kind == "CONSTRAINT" and c.table_oid in tables:
            e.sql += f"ALTER TABLE {tables[c.table_oid].identity} CLUSTER ON {quote_ident(index)};\n"


def _post_data_kinds(cat: Catalog, plan: Plan, b: Built, carriers: dict[Ref, Entry], add: Any,
                     table_entry: dict[int, Entry], owner: Callable[[str, str, str | None], str], whole_db: bool) -> None:
    k: Kinds = cat.kinds
    out = b.entries
    for st in k.statistics:
        tab = table_entry.get(st.table_oid)
        if tab is None:
            continue
        e = add(Entry("STATISTICS", st.schema, st.name, st.owner, POST,
                      ddr.create_statistics(st) + owner("STATISTICS", st.identity, st.owner)), st)
        e.entry_deps.append(tab)
    schema_entry = {s.name: carriers[s.ref] for s in cat.schemas if s.ref in carriers}
    _cluster_on_constraints(cat, carriers)
    if whole_db and not plan.no_publications:
        for p in k.publications:
            e = add(Entry("PUBLICATION", None, p.name, p.owner, POST,
                          ddr.create_publication(p) + owner("PUBLICATION", p.identity, p.owner)), p)
            for t in p.tables:
                tab = table_entry.get(t.table_oid)
                if tab is None:
                    continue
                rel_identity = next(r.identity for r in cat.relations if r.oid == t.table_oid)
                pt = Entry("PUBLICATION TABLE", tab.schema, f"{p.name} {tab.name}", None, POST,
                           ddr.publication_table(p, t, rel_identity))
                pt.refs.append(("pg_publication_rel", t.oid))
                pt.entry_deps += [e, tab]
                out.append(pt)
            for ns_oid, schema in p.schemas:
                se = schema_entry.get(schema)
                if se is None:
                    continue
                ps = Entry("PUBLICATION TABLES IN SCHEMA", schema, f"{p.name} {schema}", None, POST,
                           ddr.publication_schema(p, schema))
                ps.refs.append(("pg_publication_namespace", ns_oid))
                ps.entry_deps += [e, se]
                out.append(ps)
    if whole_db and not plan.no_subscriptions:
        if k.subscriptions_skipped:
            b.warnings.append("subscriptions not dumped because current user is not a superuser")
        for sub in k.subscriptions:
            conninfo, stripped = ddr.strip_password(sub.conninfo)
            if stripped:
                b.warnings.append(
                    f"subscription {quote_ident(sub.name)}: the password in its connection string is not dumped; "
                    "set it with ALTER SUBSCRIPTION ... CONNECTION after restoring"
                )
            add(Entry("SUBSCRIPTION", None, sub.name, sub.owner, POST,
                      ddr.create_subscription(sub, conninfo) + owner("SUBSCRIPTION", sub.identity, sub.owner)), sub)
    if not plan.no_acl:
        for d in k.default_acls:
            code, word = DEFACL_TYPES[d.objtype]
            sql = acl_stmts(d.acl, word, d.role, default_privileges=(d.role, d.schema))
            e = Entry("DEFAULT ACL", d.schema, f"DEFAULT PRIVILEGES FOR {word}", d.role, POST, sql)
            e.refs.append(d.ref)
            if d.schema is not None:
                if d.schema not in schema_entry:
                    continue
                e.entry_deps.append(schema_entry[d.schema])
            out.append(e)


def _large_objects(cat: Catalog, plan: Plan, b: Built, carriers: dict[Ref, Entry], add: Any,
                   owner: Callable[[str, str, str | None], str]) -> None:
    """Metadata in pre-data, contents in data, up to :data:`LO_GROUP` objects per entry.

    Like pg_dump, large objects are part of a dump of the whole database only (not with
    ``-n``/``-t``/``--schema-only``) and ``-B/--no-large-objects`` leaves them out.
    """
    los = cat.kinds.large_objects
    if not los or plan.no_large_objects or plan.tables or plan.schemas or plan.schema_only:
        return
    ddl = not plan.data_only
    for i in range(0, len(los), LO_GROUP):
        group = los[i : i + LO_GROUP]
        label = f"{group[0].oid}..{group[-1].oid}" if len(group) > 1 else str(group[0].oid)
        meta: Entry | None = None
        if ddl:
            sql = []
            for lo in group:
                sql.append(ddlo.lo_create(lo.oid))
                sql.append(owner("LARGE OBJECT", str(lo.oid), lo.owner))
                if lo.acl is not None and not plan.no_acl:
                    sql.append(acl_stmts(lo.acl, f"LARGE OBJECT {lo.oid}", lo.owner))
            meta = Entry("BLOB METADATA", None, label, group[0].owner, PRE, "".join(sql))
            b.entries.append(meta)
            for lo in group:
                meta.refs.append(lo.ref)
                carriers[lo.ref] = meta
        oids = [lo.oid for lo in group]
        data = Entry("BLOBS", None, label, None, DATA, "")
        data.extra["blobs"] = len(oids)
        data.extra["_stream"] = (lambda conn, oids=oids, create=not ddl: ddlo.lo_data(conn, oids, create=create))
        if meta is not None:
            data.entry_deps.append(meta)
        b.entries.append(data)


def _config_tables(cat: Catalog, plan: Plan, b: Built, carriers: dict[Ref, Entry], data_entry: dict[int, Entry],
                   csv_name: Callable[[str, str], str]) -> None:
    """Rows users added to extension configuration tables, filtered by the extension's condition."""
    for t in cat.kinds.config_tables:
        ext = carriers.get(("pg_extension", t.extension_oid))
        if ext is None and not plan.data_only:
            continue  # the extension itself is not in this dump
        if not plan.data_included(t.schema, t.name):
            continue
        if t.kind == "S":
            value = "true" if t.is_called else "false"
            e = Entry("SEQUENCE SET", t.schema, t.name, t.owner, DATA,
                      f"SELECT pg_catalog.setval({quote_literal(t.identity)}, {t.last_value}, {value});\n")
        else:
            rel = Relation(ref=("pg_class", t.oid), schema=t.schema, name=t.name, owner=t.owner, identity=t.identity,
                           oid=t.oid, kind="r")
            key = table_key(t.schema, t.name)
            e = Entry("TABLE DATA", t.schema, t.name, t.owner, DATA, "")
            e.extra.update(
                table=key, columns=list(t.columns), category=plan.category_of(t.schema, t.name),
                csv=csv_name(t.schema, t.name) if plan.csv_wanted(t.schema, t.name) else None, pages=0,
                filter=t.condition,
            )
            e.extra["_rel"] = rel
            if t.condition:
                e.extra["_where"] = f"({t.condition})"
            data_entry[t.oid] = e
            b.data_tables.append(rel)
        if ext is not None:
            e.entry_deps.append(ext)
        b.entries.append(e)
    for t in cat.kinds.config_tables:  # parents' rows first: their FKs exist already
        child = data_entry.get(t.oid)
        if child is not None:
            child.entry_deps.extend(data_entry[p] for p in t.fk_parents if p in data_entry)


def _roles(cat: Catalog, plan: Plan, b: Built, carriers: dict[Ref, Entry]) -> None:
    """A guarded ``CREATE ROLE`` for every role the script names, and their memberships."""
    k: Kinds = cat.kinds
    objs: dict[Ref, Any] = {}
    for holder in (cat, k):
        for f in fields(holder):  # type: ignore[arg-type]
            value = getattr(holder, f.name)
            if isinstance(value, list):
                for o in value:
                    if isinstance(o, CatalogObject):
                        objs[o.ref] = o
    names: set[str] = set()

    def acl_roles(acl: Acl | None) -> None:
        if acl is not None and not plan.no_acl:
            for grantee, grantor, _priv, _g in acl.items or []:
                names.update((grantee, grantor))

    for e in b.entries:
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
    for um in k.user_mappings:
        if um.user:
            names.add(um.user)
    if not plan.no_acl:
        for d in k.default_acls:
            names.add(d.role)
            acl_roles(d.acl)
    names.update(b.extra_roles)
    role_entry: dict[str, Entry] = {}
    for name in sorted(n for n in names if n in k.roles):
        e = Entry("ROLE", None, name, None, PRE, ddro.create_role(k.roles[name]))
        role_entry[name] = e
        b.entries.append(e)
    for m in k.memberships:
        if m.member in role_entry and (m.role in role_entry or m.role.startswith("pg_")):
            e = Entry("ROLE MEMBERSHIP", None, f"{m.role} TO {m.member}", None, PRE, ddro.grant_membership(m))
            e.entry_deps.append(role_entry[m.member])
            if m.role in role_entry:
                e.entry_deps.append(role_entry[m.role])
            b.entries.append(e)
