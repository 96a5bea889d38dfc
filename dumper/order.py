"""Dependency order: one graph, one topological sort, a deterministic tie-break.

Edges come from pg_depend (resolved through aliases onto the entries that carry each
object) and from the entries themselves (a comment needs its object, data needs its table).
Sections are part of the sort key, not hard walls: the heap always takes the smallest
available key, so pre-data precedes data precedes post-data wherever the dependencies
allow it, and an object that really needs something from a later section still gets it.
Post-data entries that need a table also wait for its data, so a parallel restore may
build an index only after its rows are loaded.

Loops are repaired the way pg_dump's ``repairDependencyLoop`` does it (anchors.md §1.b).
Most of pg_dump's loops never form here because :mod:`dumper.entries` already writes the
breakable pieces separately (column defaults and CHECK constraints that call user
functions, partition attachment, constraints and FKs after the data). What remains is the
loop through a view's query (``repairViewRuleMultiLoop``): the view is created first as a
placeholder with the right columns and the real query follows in post-data as ``CREATE OR
REPLACE VIEW``. Anything else is broken at the first entry by sort order, with a warning.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from dumper.catalog.base import Ref, gc_paused
from dumper.catalog.depend import Dependencies
from dumper.catalog.relations import Relation
from dumper.toc import POST, Entry

# pg_depend edges of a view's query that its placeholder still needs: the column types.
_PLACEHOLDER_CLASSES = {"pg_type", "pg_collation", "pg_namespace"}


@dataclass
class Ordered:
    entries: list[Entry]
    broken_loops: list[str] = field(default_factory=list)
    repaired_loops: list[str] = field(default_factory=list)


class _Graph:
    """``needs[id(e)]`` = ids of the entries ``e`` must follow."""

    def __init__(self, entries: list[Entry], depends: Dependencies) -> None:
        self.entries = list(entries)
        self.by_id = {id(e): e for e in self.entries}
        self.needs: dict[int, set[int]] = {id(e): set() for e in self.entries}
        # needs of a view that come from its query (its _RETURN rule), by referenced class
        self.query_needs: dict[int, dict[int, str]] = {}
        self.depends = depends
        self.owner: dict[Ref, Entry] = {}  # catalog object -> the (first) entry that creates it
        for e in self.entries:
            for r in e.refs:
                self.owner.setdefault(r, e)
        self._catalog_edges()
        self._entry_edges()
        self._data_edges()

    def find(self, ref: Ref) -> Entry | None:
        """The entry that creates ``ref``, looking through pg_depend aliases (a rule is its
        view, a row type its table, ...)."""
        for _ in range(6):
            hit = self.owner.get(ref)
            if hit is not None:
                return hit
            nxt = self.depends.aliases.get(ref)
            if nxt is None:
                return None
            ref = nxt
        return None

    def _catalog_edges(self) -> None:
        """pg_depend's edges, between the entries that carry each end."""
        # find() inlined for the common cases (an owner, or nothing at all): ~200,000 edges at
        # 10,000 tables, most of them naming an entry's own object or an object without one
        owner, aliases, find = self.owner.get, self.depends.aliases, self.find
        for dep, ref, deptype in self.depends.edges:
            a = owner(dep)
            if a is None:
                if dep not in aliases:
                    continue
                a = find(dep)
                if a is None:
                    continue
            b = owner(ref)
            if b is None:
                if ref not in aliases:
                    continue
                b = find(ref)
                if b is None:
                    continue
            if a is b:
                continue
            # A serial sequence is "owned" by its column (deptype 'a'), but must exist before the
            # table whose default calls it; the separate OWNED BY entry carries that link.
            if deptype == "a" and a.kind == "SEQUENCE":
                continue
            self.needs[id(a)].add(id(b))
            if dep[0] == "pg_rewrite" and a.view_split is not None:
                self.query_needs.setdefault(id(a), {})[id(b)] = ref[0]

    def _entry_edges(self) -> None:
        """What the entries state themselves: catalog objects (``deps``) and entries (``entry_deps``)."""
        for e in self.entries:
            for r in e.deps:
                b = self.find(r)
                if b is not None and b is not e:
                    self.needs[id(e)].add(id(b))
            for b in e.entry_deps:
                if b is not e:
                    self.needs[id(e)].add(id(b))

    def _data_edges(self) -> None:
        """Post-data work on a table waits for the table's rows, and for a partitioned table or an
        inheritance parent for its partitions' and children's rows (``Entry.rows_in``)."""
        data_of: dict[int, list[Entry]] = {}
        for e in self.entries:
            if e.kind == "TABLE DATA":
                for b in e.entry_deps:
                    data_of.setdefault(id(b), []).append(e)
        for e in self.entries:
            if e.rows_in:
                data_of[id(e)] = list(e.rows_in)
        for e in self.entries:
            if e.section == POST:
                for b in list(self.needs[id(e)]):
                    for d in data_of.get(b, ()):
                        if d is not e:
                            self.needs[id(e)].add(id(d))

    # -- sorting ------------------------------------------------------------------------------
    def sort(self) -> tuple[list[Entry], set[int]]:
        """Kahn's algorithm with a heap on the sort key; returns (sorted, ids left in loops)."""
        presorted = sorted(self.entries, key=lambda e: (e.sort_key, e.sql))
        rank = {id(e): i for i, e in enumerate(presorted)}
        waiting = {k: len(v) for k, v in self.needs.items()}
        users: dict[int, list[int]] = {k: [] for k in self.needs}
        for k, vs in self.needs.items():
            for v in vs:
                users[v].append(k)
        heap = [rank[k] for k, n in waiting.items() if n == 0]
        heapq.heapify(heap)
        result: list[Entry] = []
        while heap:
            e = presorted[heapq.heappop(heap)]
            result.append(e)
            for u in users[id(e)]:
                waiting[u] -= 1
                if waiting[u] == 0:
                    heapq.heappush(heap, rank[u])
        left = {k for k, n in waiting.items() if n > 0}
        return result, left

    def find_cycle(self, left: set[int]) -> list[int]:
        """One dependency cycle among the entries that could not be placed (deterministic)."""
        order = sorted(left, key=lambda k: (self.by_id[k].sort_key, self.by_id[k].sql))
        color: dict[int, int] = {}
        for start in order:
            if start in color:
                continue
            stack: list[tuple[int, list[int]]] = [(start, sorted(n for n in self.needs[start] if n in left))]
            path = [start]
            color[start] = 1
            while stack:
                node, nxt = stack[-1]
                if not nxt:
                    color[node] = 2
                    stack.pop()
                    path.pop()
                    continue
                n = nxt.pop()
                if color.get(n) == 1:
                    return path[path.index(n):]
                if n not in color:
                    color[n] = 1
                    path.append(n)
                    stack.append((n, sorted(m for m in self.needs[n] if m in left)))
        return order[:1]

    # -- repairs ------------------------------------------------------------------------------
    def split_view(self, k: int) -> Entry:
        """repairViewRuleMultiLoop: placeholder view now, ``CREATE OR REPLACE VIEW`` in post-data."""
        view = self.by_id[k]
        assert view.view_split is not None
        placeholder, real = view.view_split
        view.view_split = None
        rule = Entry("RULE", view.schema, f"{view.name} _RETURN", view.owner, POST, real)
        query = self.query_needs.pop(k, {})
        keep = {b for b, cls in query.items() if cls in _PLACEHOLDER_CLASSES}
        self.needs[k] -= set(query) - keep
        view.sql = placeholder
        self.entries.append(rule)
        self.by_id[id(rule)] = rule
        self.needs[id(rule)] = set(query) | {k}
        # whatever runs after the data and reads the view needs its real query
        for u, ns in self.needs.items():
            if k in ns and u != id(rule) and self.by_id[u].section == POST:
                ns.add(id(rule))
        return rule


def _label(e: Entry) -> str:
    return f"{e.kind} {e.schema + '.' if e.schema else ''}{e.name}"


@gc_paused
def order_entries(entries: list[Entry], depends: Dependencies) -> Ordered:
    g = _Graph(entries, depends)
    broken: list[str] = []
    repaired: list[str] = []
    while True:
        result, left = g.sort()
        if not left:
            break
        cycle = g.find_cycle(left)
        view = next((k for k in cycle if g.by_id[k].view_split is not None), None)
        if view is not None:
            g.split_view(view)
            repaired.append("view " + _label(g.by_id[view]) + " (placeholder first, query in post-data)")
            continue
        # A loop pg_dump would warn about too: break it at the first entry by sort order.
        k = min(cycle, key=lambda k: (g.by_id[k].sort_key, g.by_id[k].sql))
        broken.append(_label(g.by_id[k]))
        g.needs[k] -= set(cycle)
    for i, e in enumerate(result):
        e.id = i
    for e in result:
        e.dep_ids = sorted(g.by_id[d].id for d in g.needs[id(e)])
    return Ordered(result, broken, repaired)


# -- what a restore must wait for -------------------------------------------------------------
def add_restore_dependencies(rels: dict[int, Relation], table_entry: dict[int, Entry],
                             data_entry: dict[int, Entry], depends: Dependencies, entries: list[Entry]) -> None:
    """Dependencies a parallel restore needs that pg_depend does not state (issue 22).

    ``pyrestore -j`` starts a post-data entry as soon as every entry in its ``deps`` finished,
    so ``deps`` must name everything the statement needs *at restore time*, not only what the
    catalog records. pg_depend already gives a foreign key its referenced unique constraint or
    index (``conindid``), a trigger or policy its functions, an index attach both indexes; the
    attaches under a partitioned key are added in :mod:`dumper.entries`. What is added here:

    * the rows of a partitioned table or inheritance parent are its partitions' and children's
      (``Entry.rows_in``): a constraint or foreign key on the parent (or referencing it) checks
      them, so it waits for every one of their ``TABLE DATA`` entries;
    * a ``REFRESH MATERIALIZED VIEW`` waits for every relation its query reads, looked through
      plain views (the view itself too, since a split view gets its real query in post-data),
      and so for those relations' rows.
    """
    _rows_in(rels, table_entry, data_entry)
    _refresh_reads(rels, table_entry, depends, entries)


def _descendants(rels: dict[int, Relation]) -> dict[int, list[int]]:
    """Relation oid → the oids of its partitions and inheritance children, at any depth."""
    children: dict[int, list[int]] = {}
    for r in rels.values():
        for p in r.parents:
            children.setdefault(p, []).append(r.oid)
    out: dict[int, list[int]] = {}
    for oid in children:
        seen: list[int] = []
        todo = list(children[oid])
        while todo:
            x = todo.pop()
            if x not in seen:
                seen.append(x)
                todo.extend(children.get(x, ()))
        out[oid] = seen
    return out


def _rows_in(rels: dict[int, Relation], table_entry: dict[int, Entry], data_entry: dict[int, Entry]) -> None:
    below = _descendants(rels)
    for oid, e in table_entry.items():
        holders = [data_entry[x] for x in [oid, *below.get(oid, ())] if x in data_entry]
        if holders:
            e.rows_in = holders


def _refresh_reads(rels: dict[int, Relation], table_entry: dict[int, Entry], depends: Dependencies,
                   entries: list[Entry]) -> None:
    refresh = [e for e in entries if e.kind == "MATERIALIZED VIEW DATA" and "matview_oid" in e.extra]
    if not refresh:
        return
    reads: dict[int, set[int]] = {}
    for dep, ref, _t in depends.edges:
        if dep[0] == "pg_rewrite" and ref[0] == "pg_class":
            owner = depends.aliases.get(dep)
            if owner is not None and owner[0] == "pg_class" and owner[1] != ref[1]:
                reads.setdefault(owner[1], set()).add(ref[1])
    for e in refresh:
        seen: set[int] = set()
        todo = list(reads.get(e.extra["matview_oid"], ()))
        while todo:
            x = todo.pop()
            if x in seen:
                continue
            seen.add(x)
            if x in table_entry and table_entry[x] not in e.entry_deps:
                e.entry_deps.append(table_entry[x])
            if x in rels and rels[x].kind == "v":
                todo.extend(reads.get(x, ()))
