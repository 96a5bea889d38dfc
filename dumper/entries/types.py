"""Types: enum, composite, domain and range types, and base types with their shell types.

A domain's NOT VALID CHECK constraints are added after the data (the column may hold rows
that break them), like a table's. Base types follow pg_dump's answer to the type <-> I/O
function loop: the shell type first, then the functions, then the full ``CREATE TYPE``.
"""

from __future__ import annotations

from dumper.catalog.base import Ref
from dumper.ddl import basetypes as ddb
from dumper.ddl import objects as ddo
from dumper.entries.context import BuildContext
from dumper.format.toc import Kind
from dumper.toc import POST, PRE, Entry


def build_types(ctx: BuildContext) -> None:
    for t in ctx.cat.types:
        kind = Kind.DOMAIN if t.kind == "d" else Kind.TYPE
        e = ctx.add(Entry(kind, t.schema, t.name, t.owner, PRE, ddo.create_type(t) + ctx.owner_of(kind, t)), t)
        ctx.grant_on(e, t, "TYPE")
        late = ddo.domain_not_valid_checks(t)
        late_entry = e
        if late:
            late_entry = ctx.append(Entry(Kind.CHECK_CONSTRAINT, t.schema, t.name, t.owner, POST, late))
            late_entry.entry_deps.append(e)
        for chk in t.checks:  # so that COMMENT ON CONSTRAINT ... ON DOMAIN follows its constraint
            ctx.carriers[("pg_constraint", chk.oid)] = e if chk.validated else late_entry
        if t.notnull_oid:  # 17+: the named NOT NULL row, and with it its comment
            ctx.carriers[("pg_constraint", t.notnull_oid)] = e


def build_base_types(ctx: BuildContext) -> None:
    """Shell type, then I/O functions, then the full ``CREATE TYPE``: the functions' pg_depend
    edges to the type are routed to the shell.

    Runs after the function entries exist (they are in ``carriers``). A type that nothing
    completed is only its shell, with owner, grants and comments.
    """
    cat = ctx.cat
    loop: set[tuple[Ref, Ref]] = set()
    schema_entry = {s.name: ctx.carriers[s.ref] for s in cat.schemas if s.ref in ctx.carriers}
    for t in cat.base_types:
        shell = Entry(Kind.SHELL_TYPE if t.defined else Kind.TYPE, t.schema, t.name, t.owner, PRE, ddb.create_shell_type(t))
        if t.schema in schema_entry:
            shell.entry_deps.append(schema_entry[t.schema])
        if not t.defined:
            ctx.add(shell, t)
            shell.sql += ctx.owner_of("TYPE", t)
            ctx.grant_on(shell, t, "TYPE")
            continue
        ctx.append(shell)
        full = ctx.add(Entry(Kind.TYPE, t.schema, t.name, t.owner, PRE,
                             ddb.create_base_type(t) + ctx.owner_of("TYPE", t)), t)
        full.entry_deps.append(shell)
        ctx.grant_on(full, t, "TYPE")
        for f in t.io_functions:
            loop.add((("pg_proc", f), t.ref))
            full.deps.add(("pg_proc", f))
            fe = ctx.carriers.get(("pg_proc", f))
            if fe is not None:
                fe.entry_deps.append(shell)
    if loop:
        cat.depends.edges = [e for e in cat.depends.edges if (e[0], e[1]) not in loop]
