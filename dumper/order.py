"""Dependency order: one graph, one topological sort, a deterministic tie-break.

Edges come from pg_depend (resolved through aliases onto the entries that carry each
object) and from the entries themselves (a comment needs its object, data needs its table).
Sections are part of the sort key, not hard walls: the heap always takes the smallest
available key, so pre-data precedes data precedes post-data wherever the dependencies
allow it, and an object that really needs something from a later section still gets it.
Post-data entries that need a table also wait for its data, so a parallel restore may
build an index only after its rows are loaded.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from dumper.catalog.base import Ref
from dumper.catalog.depend import Dependencies
from dumper.toc import POST, Entry


@dataclass
class Ordered:
    entries: list[Entry]
    broken_loops: list[str] = field(default_factory=list)


def order_entries(entries: list[Entry], depends: Dependencies) -> Ordered:
    owner: dict[Ref, Entry] = {}
    for e in entries:
        for r in e.refs:
            owner.setdefault(r, e)

    def find(ref: Ref) -> Entry | None:
        for _ in range(6):
            hit = owner.get(ref)
            if hit is not None:
                return hit
            nxt = depends.aliases.get(ref)
            if nxt is None:
                return None
            ref = nxt
        return None

    needs: dict[int, set[int]] = {id(e): set() for e in entries}
    by_id = {id(e): e for e in entries}
    for dep, ref, deptype in depends.edges:
        a = find(dep)
        if a is None:
            continue
        b = find(ref)
        if b is None or a is b:
            continue
        # A serial sequence is "owned" by its column (deptype 'a'), but must exist before the
        # table whose default calls it; the separate OWNED BY entry carries that link.
        if deptype == "a" and a.kind == "SEQUENCE":
            continue
        needs[id(a)].add(id(b))
    for e in entries:
        for r in e.deps:
            b = find(r)
            if b is not None and b is not e:
                needs[id(e)].add(id(b))
        for b in e.entry_deps:
            if b is not e:
                needs[id(e)].add(id(b))
    # Post-data work on a table waits for the table's rows.
    data_of: dict[int, Entry] = {}
    for e in entries:
        if e.kind == "TABLE DATA":
            for b in e.entry_deps:
                data_of.setdefault(id(b), e)
    for e in entries:
        if e.section == POST:
            for b in list(needs[id(e)]):
                d = data_of.get(b)
                if d is not None:
                    needs[id(e)].add(id(d))

    presorted = sorted(entries, key=lambda e: (e.sort_key, e.sql))
    rank = {id(e): i for i, e in enumerate(presorted)}
    waiting = {k: len(v) for k, v in needs.items()}
    users: dict[int, list[int]] = {id(e): [] for e in entries}
    for k, vs in needs.items():
        for v in vs:
            users[v].append(k)
    heap = [rank[k] for k, n in waiting.items() if n == 0]
    heapq.heapify(heap)
    done: set[int] = set()
    result: list[Entry] = []
    broken: list[str] = []
    while len(result) < len(entries):
        if not heap:
            # A loop pg_dump would repair with a special rule we do not have: take the first
            # remaining entry by sort order and say so.
            k = min((k for k in waiting if k not in done), key=lambda k: rank[k])
            e = by_id[k]
            broken.append(f"{e.kind} {e.schema + '.' if e.schema else ''}{e.name}")
            waiting[k] = 0
            heapq.heappush(heap, rank[k])
        r = heapq.heappop(heap)
        e = presorted[r]
        k = id(e)
        if k in done:
            continue
        done.add(k)
        result.append(e)
        for u in users[k]:
            waiting[u] -= 1
            if waiting[u] == 0 and u not in done:
                heapq.heappush(heap, rank[u])
    for i, e in enumerate(result):
        e.id = i
    for e in result:
        e.dep_ids = sorted(by_id[d].id for d in needs[id(e)])
    return Ordered(result, broken)
