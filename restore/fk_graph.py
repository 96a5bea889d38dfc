"""The target's foreign-key graph: which loaded table must come after which, and in what order.

Read from the *target's* catalog (its schema may come from the application's migrations, not
from the backup). Used by ``--data-only`` (:mod:`restore.dataload`) to order and protect the
load, and by the full restore's CSV path (:mod:`restore.apply`) to order CSV loads; kept apart
from both so neither imports the other for it.
"""
from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from dumper.format.names import split_qualified, table_key


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """One FK edge between two loaded tables, as the target defines it.

    ``child`` and ``parent`` are the tables whose rows the edge orders; ``table`` is where the
    constraint is defined, which differs for partitions: a foreign key declared on a
    partitioned table (or referencing one) orders every partition of one side after every
    partition of the other, but is dropped and re-created on the partitioned table.
    """

    name: str
    child: str
    parent: str
    definition: str
    comment: str | None = None
    table: str | None = None

    @property
    def definer(self) -> str:
        """The table the constraint belongs to (``ALTER TABLE`` target)."""
        return self.table or self.child

    @property
    def label(self) -> str:
        return f"{self.definer}.{self.name}"

    def drop_sql(self) -> sql.Composable:
        return sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table_identifier(self.definer), sql.Identifier(self.name))

    def add_sql(self) -> sql.Composable:
        add = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            table_identifier(self.definer), sql.Identifier(self.name), sql.SQL(self.definition))  # type: ignore[arg-type]
        if self.comment is None:
            return add
        return add + sql.SQL("; COMMENT ON CONSTRAINT {} ON {} IS {}").format(
            sql.Identifier(self.name), table_identifier(self.definer), sql.Literal(self.comment))


def distinct_constraints(fks: Iterable[ForeignKey]) -> list[ForeignKey]:
    """One edge per constraint: what to drop and re-create (several partition edges share one)."""
    seen: dict[tuple[str, str], ForeignKey] = {}
    for f in fks:
        seen.setdefault((f.definer, f.name), f)
    return list(seen.values())


def table_identifier(key: str) -> sql.Identifier:
    schema, name = split_qualified(key)
    return sql.Identifier(schema, name) if schema is not None else sql.Identifier(name)


@contextmanager
def qualified_names(conn: psycopg.Connection) -> Iterator[None]:
    """Deparse under an empty ``search_path``: every name in a definition comes out qualified.

    The definitions are replayed after the script's header has emptied ``search_path``; one
    fetched under the default path (``st_envelope(rast)`` from PostGIS in ``public``) would
    no longer resolve then.
    """
    row = conn.execute("SELECT pg_catalog.current_setting('search_path')").fetchone()
    conn.execute("SELECT pg_catalog.set_config('search_path', '', false)")
    try:
        yield
    finally:
        conn.execute("SELECT pg_catalog.set_config('search_path', %s, false)", [row[0] if row else ""])


def foreign_keys(conn: psycopg.Connection, keys: Iterable[str]) -> list[ForeignKey]:
    """FK edges of the target between tables among ``keys`` (row_counts-style keys).

    Partitions are resolved: rows live in the leaf partitions, while a foreign key declared on
    a partitioned table (conparentid = 0) is defined there and cloned onto every partition
    (referencing side) and every referenced partition. So each defining constraint gives one
    edge per (referencing partition or table, referenced partition or table) pair that is
    loaded. Inheritance children inherit no foreign keys: their own ones are their own edges.
    """
    names = {table_identifier(key).as_string(conn): key for key in keys}
    if not names:
        return []
    oid_of = {int(oid): names[name] for name, oid in conn.execute(  # one round trip, however many tables
        "SELECT n, pg_catalog.to_regclass(n)::oid FROM pg_catalog.unnest(%s::text[]) AS n", [list(names)])
        if oid is not None}
    if not oid_of:
        return []
    with qualified_names(conn):
        rows = _fk_rows(conn, list(oid_of))
    return [ForeignKey(r[0], oid_of[int(r[4])], oid_of[int(r[5])], r[3], r[6], table_key(r[1], r[2])) for r in rows]


def _fk_rows(conn: psycopg.Connection, oids: list[int]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT k.conname, n.nspname, c.relname, pg_get_constraintdef(k.oid), a.relid, b.relid,"
        "       obj_description(k.oid, 'pg_constraint')"
        "  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " CROSS JOIN LATERAL (SELECT k.conrelid AS relid UNION SELECT t.relid FROM pg_partition_tree(k.conrelid) t) a"
        " CROSS JOIN LATERAL (SELECT k.confrelid AS relid UNION SELECT t.relid FROM pg_partition_tree(k.confrelid) t) b"
        " WHERE k.contype = 'f' AND k.conparentid = 0"
        "   AND a.relid = ANY(%(o)s::oid[]) AND b.relid = ANY(%(o)s::oid[])"
        " ORDER BY n.nspname, c.relname, k.conname, a.relid, b.relid",
        {"o": oids}).fetchall()


def extension_config_tables(conn: psycopg.Connection, keys: Iterable[str]) -> set[str]:
    """Tables among ``keys`` that an extension of the target declares as configuration tables.

    ``CREATE EXTENSION`` fills them (PostGIS's ``spatial_ref_sys``), and a backup holds only the
    rows beyond those (the extension's filter condition, as pg_dump), so their existing rows
    are the extension's, not a previous load's: never a reason to refuse, never truncated.
    """
    keys = list(keys)
    if not keys:
        return set()
    rows = conn.execute(
        "SELECT k FROM unnest(%s::text[]) k WHERE to_regclass(k) = ANY("
        " SELECT unnest(extconfig) FROM pg_catalog.pg_extension WHERE extconfig IS NOT NULL)",
        [[table_identifier(k).as_string(conn) for k in keys]]).fetchall()
    wanted = {r[0] for r in rows}
    return {k for k in keys if table_identifier(k).as_string(conn) in wanted}


def not_valid_constraints(conn: psycopg.Connection, keys: Iterable[str]) -> list[ForeignKey]:
    """CHECK, FK and (PostgreSQL 18) NOT NULL constraints marked NOT VALID on the tables to load.

    NOT VALID means the source holds rows that break them, yet every new row is checked: the
    backup's own rows could not be loaded while they exist. They are dropped for the load and
    added back NOT VALID afterwards, as pg_dump's ordering does in a full restore.
    """
    oids: dict[int, str] = {}
    for key in keys:
        row = conn.execute("SELECT to_regclass(%s)::oid", [table_identifier(key).as_string(conn)]).fetchone()
        if row and row[0] is not None:
            oids[int(row[0])] = key
    if not oids:
        return []
    # An inherited constraint can only be dropped where it is defined: on an ancestor
    # (inheritance parent or partitioned table), whose DROP/ADD reaches every child.
    with qualified_names(conn):
        rows = _not_valid_rows(conn, list(oids))
    out = []
    for name, schema, rel, definition, comment in rows:
        key = table_key(schema, rel)
        out.append(ForeignKey(name, key, key, definition, comment))
    return out


def _not_valid_rows(conn: psycopg.Connection, oids: list[int]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "WITH RECURSIVE up(oid) AS (SELECT unnest(%s::oid[]) UNION"
        "  SELECT i.inhparent FROM pg_inherits i JOIN up ON i.inhrelid = up.oid)"
        " SELECT k.conname, n.nspname, c.relname, pg_get_constraintdef(k.oid),"
        "        obj_description(k.oid, 'pg_constraint')"
        "   FROM pg_constraint k JOIN up ON k.conrelid = up.oid"
        "   JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        "  WHERE k.contype IN ('c', 'f', 'n') AND NOT k.convalidated AND k.coninhcount = 0 AND k.conparentid = 0"
        "  ORDER BY n.nspname, c.relname, k.conname", [oids]).fetchall()


def strongly_connected(nodes: list[str], edges: list[tuple[str, str]]) -> list[set[str]]:
    """Tarjan's SCCs (iterative: FK graphs of thousands of tables must not hit the recursion limit)."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
        succ.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[set[str]] = []
    counter = 0
    for root in succ:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            recurse = False
            for j in range(i, len(succ[v])):
                w = succ[v][j]
                if w not in index:
                    work.append((v, j + 1))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp: set[str] = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                out.append(comp)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return out


def fk_order(tables: list[str], fks: list[ForeignKey]) -> tuple[list[str], list[ForeignKey]]:
    """Parents-first order of ``tables`` and the FKs inside cycles (which no order satisfies)."""
    cyclic = _cyclic_constraints(tables, fks)
    deps: dict[str, set[str]] = {t: set() for t in tables}
    for f in fks:
        if f.child != f.parent and f not in cyclic:
            deps[f.child].add(f.parent)
    return _parents_first(tables, deps), cyclic


def _cyclic_constraints(tables: list[str], fks: list[ForeignKey]) -> list[ForeignKey]:
    """Every edge of the constraints that close a cycle between tables (a self-reference is none)."""
    comp_of: dict[str, int] = {}
    for i, comp in enumerate(strongly_connected(tables, [(f.child, f.parent) for f in fks])):
        for t in comp:
            comp_of[t] = i
    cyclic = [f for f in fks if f.child != f.parent and comp_of[f.child] == comp_of[f.parent]]
    # A constraint is dropped as a whole, so every edge of a cyclic constraint stops counting.
    cyclic_names = {(f.definer, f.name) for f in cyclic}
    return [f for f in fks if (f.definer, f.name) in cyclic_names]


def _parents_first(tables: list[str], deps: dict[str, set[str]]) -> list[str]:
    """Kahn's algorithm over ``deps`` (table -> the tables it needs first, consumed), ties broken
    by the original order (stable output)."""
    pos = {t: i for i, t in enumerate(tables)}
    order: list[str] = []
    ready = sorted((t for t in tables if not deps[t]), key=pos.__getitem__)
    dependants: dict[str, list[str]] = {t: [] for t in tables}
    for child, parents in deps.items():
        for p in parents:
            dependants[p].append(child)
    while ready:
        t = ready.pop(0)
        order.append(t)
        for c in dependants[t]:
            deps[c].discard(t)
            if not deps[c]:
                ready.append(c)
        ready.sort(key=pos.__getitem__)
    return order


def script_problem_edges(blocks: list[str], fks: list[ForeignKey]) -> list[ForeignKey]:
    """FKs the script's fixed COPY order violates: child data (first block) before parent data (last block)."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, t in enumerate(blocks):
        first.setdefault(t, i)
        last[t] = i
    bad: list[ForeignKey] = []
    for f in fks:
        if f.child not in first or f.parent not in first:
            continue
        if f.child == f.parent:
            if first[f.child] != last[f.child]:
                bad.append(f)  # self-reference across several COPY statements
        elif first[f.child] <= last[f.parent]:
            bad.append(f)
    return bad
