"""Catalog objects → TOC entries (kind, identity, owner, section, SQL, dependencies).

This is where pg_dump's rules of *what* goes *where* live: which statements share an entry,
which objects move to post-data, which loops are avoided by splitting a statement off.
Ordering is :mod:`dumper.order`'s job; the SQL text comes from :mod:`dumper.ddl`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dumper.catalog import Catalog
from dumper.catalog.base import CatalogObject, Ref
from dumper.catalog.constraints import Constraint
from dumper.catalog.relations import Relation, column_names
from dumper.ddl import objects as ddo
from dumper.ddl import tables as ddt
from dumper.ddl.common import acl_stmts, comment_stmt, owner_stmt
from dumper.format.names import csv_name, quote_ident, table_key
from dumper.initial_state import apply_script_acls, initial_acl_entries, order_script_acls, public_schema_entries
from dumper.kinds_extra import build_kind_entries
from dumper.order import add_restore_dependencies
from dumper.plan import Plan
from dumper.redact import table_redaction, unknown_warning
from dumper.toc import DATA, POST, PRE, Entry


@dataclass
class Built:
    entries: list[Entry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    data_tables: list[Relation] = field(default_factory=list)
    extra_roles: set[str] = field(default_factory=set)  # roles named by entries without a catalog object


def build_entries(cat: Catalog, plan: Plan) -> Built:
    b = Built()
    out = b.entries
    ddl = not plan.data_only
    apply_script_acls(cat)  # objects an extension script granted on start from pg_init_privs
    rels = {r.oid: r for r in cat.relations}
    # Every object that can carry a comment or grant, by catalog identity.
    carriers: dict[Ref, Entry] = {}

    def add(e: Entry, obj: CatalogObject | None = None) -> Entry:
        out.append(e)
        if obj is not None:
            e.refs.append(obj.ref)
            carriers[obj.ref] = e
        return e

    def acl(e: Entry, obj: CatalogObject, keyword: str) -> None:
        if obj.acl is not None and not plan.no_acl and ddl:
            out.append(e.follow("ACL", acl_stmts(obj.acl, f"{keyword} {obj.identity}", obj.owner)))

    owner = (lambda kw, obj: "" if plan.no_owner else owner_stmt(kw, obj.identity, obj.owner))

    # With -t only relations (and what hangs off them); with -n or -t no extensions (pg_dump).
    if ddl and plan.dumps_non_tables:
        for s in cat.schemas:
            if s.builtin:
                public_schema_entries(cat, s, plan, add, out)
            else:
                e = add(Entry("SCHEMA", None, s.name, s.owner, PRE, ddo.create_schema(s) + owner("SCHEMA", s)), s)
                acl(e, s, "SCHEMA")
        schemas = {s.name for s in cat.schemas}
        for x in cat.extensions:
            if not plan.dumps_everything or (x.schema not in schemas and x.schema != "public"):
                continue
            e = add(Entry("EXTENSION", None, x.name, None, PRE, ddo.create_extension(x)), x)
            e.extra["version"] = x.version
            e.extra["extension_schema"] = x.schema
        for t in cat.types:
            kind = "DOMAIN" if t.kind == "d" else "TYPE"
            e = add(Entry(kind, t.schema, t.name, t.owner, PRE, ddo.create_type(t) + owner(kind, t)), t)
            acl(e, t, "TYPE")
            late = ddo.domain_not_valid_checks(t)
            late_entry = e
            if late:
                late_entry = c = Entry("CHECK CONSTRAINT", t.schema, t.name, t.owner, POST, late)
                c.entry_deps.append(e)
                out.append(c)
            for chk in t.checks:  # so that COMMENT ON CONSTRAINT ... ON DOMAIN follows its constraint
                carriers[("pg_constraint", chk.oid)] = e if chk.validated else late_entry
        for r in cat.routines:
            kind = "PROCEDURE" if r.kind == "p" else "FUNCTION"
            e = add(Entry(kind, r.schema, r.signature, r.owner, PRE, ddo.create_routine(r) + owner(kind, r)), r)
            acl(e, r, "FUNCTION" if kind == "FUNCTION" else "PROCEDURE")

    checks_by_table: dict[int, list] = {}
    for c in cat.constraints:
        checks_by_table.setdefault(c.table_oid, []).append(c)
    table_entry: dict[int, Entry] = {}
    for rel in cat.relations:
        if rel.kind == "S":
            continue
        if not ddl:
            continue
        kw = ddt.keyword(rel)
        if rel.kind in ("v", "m"):
            e = add(Entry(kw, rel.schema, rel.name, rel.owner, PRE, ddt.create_view(rel) + owner(kw, rel)), rel)
            if rel.kind == "v":
                e.view_split = (ddt.view_placeholder(rel) + owner(kw, rel), ddt.view_replace(rel))
        else:
            inline = []
            for c in checks_by_table.get(rel.oid, []):
                if c.type == "c" and c.validated and not c.deps_on_function and (c.is_local or rel.is_partition):
                    inline.append(c)
            parents = [rels[p].identity for p in rel.parents if p in rels]
            if parents and not rel.is_partition and _inherited_order_changes(rel, [rels[p] for p in rel.parents if p in rels]):
                b.warnings.append(
                    f"the columns of {rel.identity} come back in a different order (inherited columns first, as with pg_dump): "
                    "a column was added to a parent after the child was created"
                )
            sql = ddt.create_table(rel, [(c.name, c.definition) for c in inline], parents,
                                   [rels[p] for p in rel.parents if p in rels])
            e = add(Entry(kw, rel.schema, rel.name, rel.owner, PRE, sql + owner(kw, rel)), rel)
            for c in inline:
                e.refs.append(c.ref)
                carriers[c.ref] = e
            _notnull_entries(rel, e, out, carriers)
            printed = {c.num for c in (rel.columns if rel.of_type else ddt.printed_columns(rel))}
            parent_rels = [rels[p] for p in rel.parents if p in rels]
            for col in rel.columns:
                if col.generated or col.identity:
                    continue
                if col.num in printed:
                    if col.default is None or ddt.inline_default(col):
                        continue
                    sql = ddt.column_default(rel, col)
                else:
                    # An inherited-only column gets its parent's inline default from INHERITS;
                    # a default of its own (or none) is set afterwards, as pg_dump does.
                    given = next((pc.default for p in parent_rels for pc in p.columns
                                  if pc.name == col.name and ddt.inline_default(pc)), None)
                    if col.default == given:
                        continue
                    sql = ddt.column_default(rel, col) if col.default is not None else ddt.column_drop_default(rel, col)
                d = Entry("DEFAULT", rel.schema, f"{rel.name} {col.name}", rel.owner, PRE, sql)
                if col.default is not None:
                    d.refs.append(("pg_attrdef", col.default_oid or 0))
                d.entry_deps.append(e)
                out.append(d)
        table_entry[rel.oid] = e
        acl(e, rel, "TABLE")
        if not plan.no_acl:
            for col in rel.columns:
                if col.acl is not None:
                    out.append(e.follow("ACL", acl_stmts(col.acl, f"TABLE {rel.identity}", rel.owner, columns=quote_ident(col.name)), name=f"{rel.name} {col.name}"))
        if rel.is_partition and rel.partbound:
            for p in rel.parents:
                if p in rels:
                    a = Entry("TABLE ATTACH", rel.schema, rel.name, rel.owner, PRE, ddt.attach_partition(rels[p], rel))
                    a.entry_deps.append(e)
                    a.deps.add(rels[p].ref)
                    out.append(a)
        if rel.kind == "m" and rel.populated:
            m = Entry("MATERIALIZED VIEW DATA", rel.schema, rel.name, rel.owner, POST, f"REFRESH MATERIALIZED VIEW {rel.identity};\n")
            m.entry_deps.append(e)
            m.extra["matview_oid"] = rel.oid
            out.append(m)
        if rel.rls or rel.force_rls:
            rs = Entry("ROW SECURITY", rel.schema, rel.name, rel.owner, POST, ddt.row_security(rel))
            rs.entry_deps.append(e)
            out.append(rs)
        if rel.replident == "i" and rel.replident_index:
            pass  # emitted with the index (it must exist first)

    # Sequences: standalone ones get CREATE SEQUENCE; identity ones live in their table's entry.
    for rel in cat.relations:
        if rel.kind != "S" or rel.sequence is None:
            continue
        seq = rel.sequence
        if seq.identity_of is not None:
            tab = table_entry.get(seq.identity_of[0])
            if tab is None and ddl:
                continue
            if ddl and tab is not None:
                trel = rels[seq.identity_of[0]]
                col = next(c for c in trel.columns if c.num == seq.identity_of[1])
                tab.sql += ddt.identity_column(trel, col, rel.identity, seq)
                tab.refs.append(rel.ref)
                carriers[rel.ref] = tab
                acl(tab, rel, "SEQUENCE")
        elif ddl:
            e = add(Entry("SEQUENCE", rel.schema, rel.name, rel.owner, PRE, ddt.create_sequence(rel) + owner("SEQUENCE", rel)), rel)
            acl(e, rel, "SEQUENCE")
            if seq.owned_by is not None and seq.owned_by[0] in table_entry:
                trel = rels[seq.owned_by[0]]
                col = next(c for c in trel.columns if c.num == seq.owned_by[1])
                o = Entry("SEQUENCE OWNED BY", rel.schema, rel.name, rel.owner, PRE, ddt.sequence_owned_by(rel, trel, col.name))
                o.entry_deps += [e, table_entry[seq.owned_by[0]]]
                out.append(o)
        if not plan.schema_only and rel.oid not in plan.unreadable:
            sv = Entry("SEQUENCE SET", rel.schema, rel.name, rel.owner, DATA, ddt.setval(rel))
            sv.extra.update(value=seq.last_value if seq.last_value is not None else seq.start, is_called=seq.is_called)
            if rel.ref in carriers:
                sv.entry_deps.append(carriers[rel.ref])
            out.append(sv)

    # Table data.
    data_entry: dict[int, Entry] = {}
    for rel in cat.relations:
        if not rel.has_data or not plan.data_included(rel.schema or "", rel.name, rel.oid):
            continue
        key = table_key(rel.schema or "", rel.name)
        e = Entry("TABLE DATA", rel.schema, rel.name, rel.owner, DATA, "")
        e.extra.update(
            table=key, columns=column_names(rel), category=plan.category_of(rel.schema or "", rel.name),
            csv=csv_name(rel.schema or "", rel.name) if plan.csv_wanted(rel.schema or "", rel.name) else None,
            pages=rel.pages,
        )
        e.extra["_rel"] = rel
        red = table_redaction(plan, cat, rel, e.extra["columns"])
        if red is not None:  # rewritten by the COPY reader (dumper.redact.RowRedactor)
            e.extra["_redact"] = red
            e.extra["redacted"] = red.columns
            if red.unknown:
                e.extra["redact_unknown"] = red.unknown
                b.warnings.append(unknown_warning(red.unknown))
        if rel.oid in table_entry:
            e.entry_deps.append(table_entry[rel.oid])
        out.append(e)
        data_entry[rel.oid] = e
        b.data_tables.append(rel)

    if ddl:
        _post_data(cat, plan, b, rels, table_entry, data_entry, carriers, add)
        _matview_refresh_order(cat, rels, out)
        add_restore_dependencies(rels, table_entry, data_entry, cat.depends, out)
    elif data_entry:
        _data_only_fk_order(cat, data_entry, b)

    _tag_tables(out)
    # Grants on extension members and system objects (before the roles are collected).
    initial_acl_entries(cat, plan, b, carriers)
    # Aggregates, operators, FDWs, publications, default ACLs, large objects, roles, ...
    build_kind_entries(cat, plan, b, carriers, add, table_entry, data_entry, csv_name)
    order_script_acls(cat, out, carriers)

    # Comments: one generic pass, since pg_identify_object already named every object.
    if ddl and not plan.no_comments:
        for (cls, oid, _sub), c in sorted(cat.comments.items(), key=lambda kv: (kv[1].objtype, kv[1].identity)):
            target = carriers.get((cls, oid))
            alias = cat.depends.aliases.get((cls, oid))
            if target is None and cls == "pg_class" and alias is not None and alias[0] == "pg_type":
                target = carriers.get(alias)  # a column of a composite type: its type's entry
            if target is None:
                continue
            out.append(target.follow("COMMENT", comment_stmt(c.objtype, c.identity, c.text), name=f"{c.objtype} {c.identity}"))
    return b


def _post_data(cat, plan, b, rels, table_entry, data_entry, carriers, add) -> None:  # type: ignore[no-untyped-def]
    out = b.entries
    idx_ref_parent: dict[int, int] = {}
    for c in cat.constraints:
        rel = rels.get(c.table_oid)
        if rel is None or c.oid in () or rel.oid not in table_entry:
            continue
        if c.type == "c":
            if c.validated and not c.deps_on_function and (c.is_local or rel.is_partition):
                continue  # written inline
            if not c.is_local:
                continue  # inherited: the parent's ALTER TABLE reaches this table too
            # Not ONLY (as pg_dump): an inheritance parent refuses a CHECK its children lack.
            e = Entry("CHECK CONSTRAINT", rel.schema, f"{rel.name} {c.name}", rel.owner, POST,
                      ddo.add_constraint(c, rel.identity, only=False))
        elif c.type == "f":
            if c.parent_oid:
                continue  # clone on a partition: created by the parent's constraint
            definition = c.definition
            referenced = _fk_target(cat, c)
            if referenced is not None and rel.oid in data_entry and referenced not in data_entry and rels.get(referenced) and rels[referenced].has_data:
                if "NOT VALID" not in definition and "NOT ENFORCED" not in definition:  # 18: never checked anyway
                    c.definition = definition + " NOT VALID"
                    b.warnings.append(
                        f"foreign key {c.name} on {rel.identity} is restored NOT VALID: the data of the table it references is not in this backup"
                    )
            e = Entry("FK CONSTRAINT", rel.schema, f"{rel.name} {c.name}", rel.owner, POST,
                      ddo.add_constraint(c, rel.identity, only=rel.kind != "p"))
            if referenced is not None and referenced in rels:
                e.extra["ref_table"] = table_key(rels[referenced].schema or "", rels[referenced].name)
        else:
            e = Entry("CONSTRAINT", rel.schema, f"{rel.name} {c.name}", rel.owner, POST,
                      ddo.add_constraint(c, rel.identity, only=True))
        add(e, c)
        e.entry_deps.append(table_entry[rel.oid])
    for i in cat.indexes:
        rel = rels.get(i.table_oid)
        if rel is None or rel.oid not in table_entry:
            continue
        sql = ddo.create_index(i, rel.identity)
        if rel.replident == "i" and rel.replident_index == i.name:
            sql += f"ALTER TABLE ONLY {rel.identity} REPLICA IDENTITY USING INDEX {quote_ident(i.name)};\n"
        e = add(Entry("INDEX", i.schema, i.name, rel.owner, POST, sql), i)
        e.entry_deps.append(table_entry[rel.oid])
    for c in cat.constraints:
        rel = rels.get(c.table_oid)
        if rel is not None and c.type in ("p", "u", "x") and rel.replident == "i" and rel.replident_index and (c.ref in carriers):
            e = carriers[c.ref]
            if e.kind == "CONSTRAINT" and _constraint_index_name(cat, c) == rel.replident_index:
                e.sql += f"ALTER TABLE ONLY {rel.identity} REPLICA IDENTITY USING INDEX {quote_ident(rel.replident_index)};\n"
    attaches: dict[int, list[tuple[int, Entry]]] = {}  # parent index oid -> (child index oid, INDEX ATTACH)
    for child, parent in cat.index_parents:
        ce = carriers.get(("pg_class", child)) or _by_alias(cat, carriers, ("pg_class", child))
        pe = carriers.get(("pg_class", parent)) or _by_alias(cat, carriers, ("pg_class", parent))
        if ce is None or pe is None:
            continue
        a = Entry("INDEX ATTACH", ce.schema, ce.name, None, POST,
                  f"ALTER INDEX {_index_identity(cat, parent)} ATTACH PARTITION {_index_identity(cat, child)};\n")
        a.entry_deps += [ce, pe]
        out.append(a)
        attaches.setdefault(parent, []).append((child, a))
    # An FK to a partitioned table needs the referenced index valid, i.e. attached in every
    # partition (pg_dump's addConstrChildIdxDeps).
    for c in cat.constraints:
        fk = carriers.get(c.ref)
        if c.type != "f" or fk is None or fk.kind != "FK CONSTRAINT" or not c.index_oid:
            continue
        todo = [c.index_oid]
        while todo:
            for child, a in attaches.get(todo.pop(), ()):
                fk.entry_deps.append(a)
                todo.append(child)
    trigger_entry: dict[int, Entry] = {}
    for t in sorted(cat.triggers, key=lambda t: t.parent_oid != 0):
        if t.table_oid not in table_entry:
            continue
        name = f"{_relname(rels, t.table_oid)} {t.name}"
        if t.parent_oid:
            # a partition's clone whose enabled state differs from its parent trigger's
            parent = trigger_entry.get(t.parent_oid)
            if parent is None:
                continue
            e = Entry("TRIGGER", t.schema, name, None, POST, ddo.trigger_enable_state(t))
            e.entry_deps += [parent, table_entry[t.table_oid]]
            out.append(e)
            continue
        e = add(Entry("TRIGGER", t.schema, name, None, POST, ddo.create_trigger(t)), t)
        e.entry_deps.append(table_entry[t.table_oid])
        trigger_entry[t.oid] = e
    for r in cat.rules:
        if r.table_oid in table_entry:
            e = add(Entry("RULE", r.schema, f"{_relname(rels, r.table_oid)} {r.name}", None, POST, ddo.create_rule(r)), r)
            e.entry_deps.append(table_entry[r.table_oid])
    for p in cat.policies:
        if p.table_oid in table_entry:
            e = add(Entry("POLICY", p.schema, f"{_relname(rels, p.table_oid)} {p.name}", None, POST, ddo.create_policy(p)), p)
            e.entry_deps.append(table_entry[p.table_oid])
    if not plan.tables and not plan.schemas:
        for et in cat.event_triggers:
            sql = ddo.create_event_trigger(et) + ("" if plan.no_owner else owner_stmt("EVENT TRIGGER", et.identity, et.owner))
            add(Entry("EVENT TRIGGER", None, et.name, et.owner, POST, sql), et)


def _notnull_entries(rel: Relation, table: Entry, out: list[Entry], carriers: dict[Ref, Entry]) -> None:
    """PostgreSQL 18's NOT NULL constraints are pg_constraint rows: a valid one is written in
    its table's CREATE TABLE (so its comment follows the table); a NOT VALID one is added
    after the data, as pg_dump does, since the column holds NULLs. An inherited NOT VALID
    one comes with its parent's ALTER TABLE."""
    for col in rel.columns:
        nn = col.nn_constraint
        if nn is None:
            continue
        ref: Ref = ("pg_constraint", nn.oid)
        if nn.valid:
            table.refs.append(ref)
            carriers[ref] = table
        elif nn.is_local:
            c = Entry("CHECK CONSTRAINT", rel.schema, f"{rel.name} {nn.name}", rel.owner, POST, ddt.add_invalid_notnull(rel, col))
            c.refs.append(ref)
            carriers[ref] = c
            c.entry_deps.append(table)
            out.append(c)


def _inherited_order_changes(rel: Relation, parents: list[Relation]) -> bool:
    """CREATE TABLE ... INHERITS puts the parents' columns first, then the child's own."""
    order: list[str] = []
    for p in parents:
        order += [c.name for c in p.columns if c.name not in order]
    order += [c.name for c in rel.columns if c.name not in order]
    return order != [c.name for c in rel.columns]


def _matview_refresh_order(cat: Catalog, rels: dict[int, Relation], out: list[Entry]) -> None:
    """A REFRESH waits for the REFRESH of every materialized view its query reads.

    pg_dump's buildMatViewRefreshDependencies: the matview's ``_RETURN`` rule depends on the
    relations it reads; plain views in between are looked through, so a matview reading a view
    over another matview still refreshes after it.
    """
    refresh = {e.extra["matview_oid"]: e for e in out if e.kind == "MATERIALIZED VIEW DATA"}
    if not refresh:
        return
    reads: dict[int, set[int]] = {}
    for dep, ref, _t in cat.depends.edges:
        if dep[0] == "pg_rewrite" and ref[0] == "pg_class":
            owner = cat.depends.aliases.get(dep)
            if owner is not None and owner[0] == "pg_class" and owner[1] != ref[1]:
                reads.setdefault(owner[1], set()).add(ref[1])
    for oid, e in refresh.items():
        seen: set[int] = set()
        todo = list(reads.get(oid, ()))
        while todo:
            x = todo.pop()
            if x in seen:
                continue
            seen.add(x)
            if x in refresh:
                e.entry_deps.append(refresh[x])
            elif x in rels and rels[x].kind == "v":
                todo.extend(reads.get(x, ()))


_RELATION_KINDS = ("TABLE", "VIEW", "MATERIALIZED VIEW", "FOREIGN TABLE", "SEQUENCE")


def _tag_tables(entries: list[Entry]) -> None:
    """Give every entry that belongs to a relation that relation's key (``extra["table"]``),
    so a restore can select "this table with its indexes, constraints and triggers" by name."""
    keys = {id(e): table_key(e.schema or "", e.name) for e in entries if e.kind in _RELATION_KINDS}
    for e in entries:
        if "table" in e.extra:
            continue
        key = keys.get(id(e)) or next((keys[id(d)] for d in e.entry_deps if id(d) in keys), None)
        if key is not None:
            e.extra["table"] = key


def _relname(rels: dict[int, Relation], oid: int) -> str:
    return rels[oid].name


def _fk_target(cat: Catalog, c: Constraint) -> int | None:
    return c.ref_table_oid or None


def _by_alias(cat: Catalog, carriers: dict[Ref, Entry], ref: Ref) -> Entry | None:
    seen = 0
    while ref in cat.depends.aliases and seen < 5:
        ref = cat.depends.aliases[ref]
        if ref in carriers:
            return carriers[ref]
        seen += 1
    return None


def _index_identity(cat: Catalog, oid: int) -> str:
    return cat.index_names.get(oid, str(oid))


def _constraint_index_name(cat: Catalog, c: Constraint) -> str | None:
    return next((i.name for i in cat.indexes if i.oid == c.index_oid), None) or c.name


def _data_only_fk_order(cat: Catalog, data_entry: dict[int, Entry], b: Built) -> None:
    """Data-only dumps load into an existing schema, so referenced tables must load first."""
    for c in cat.constraints:
        if c.type != "f" or c.parent_oid:
            continue
        target = _fk_target(cat, c)
        if target is not None and target != c.table_oid and c.table_oid in data_entry and target in data_entry:
            data_entry[c.table_oid].entry_deps.append(data_entry[target])
