"""Everything the dump needs from the system catalog, read inside the snapshot.

:func:`read_catalog` decides the order of the reads: first what needs no deparsing
(schemas, the relation list), then the locks, then everything that calls ``pg_get_*``.
With ``--lock-batches`` (:mod:`dumper.locks`) nothing is locked in the snapshot's transaction:
the reads that hold locks on user relations (view and rule definitions, sequence values) run
in batches on a second connection in the same snapshot, the rest as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

from dumper.catalog.comments import Comment, read_comments
from dumper.catalog.constraints import Constraint, Index, read_constraints, read_index_links, read_indexes
from dumper.catalog.depend import Dependencies, read_dependencies
from dumper.catalog.kinds import Kinds, read_kinds
from dumper.catalog.namespaces import Extension, Schema, read_extensions, read_schemas
from dumper.catalog.privileges import InitialAcl, read_initial_acls
from dumper.catalog.relations import Relation, list_relations, read_details
from dumper.catalog.routines import Routine, read_routines
from dumper.catalog.triggers import EventTrigger, Policy, Rule, Trigger, read_event_triggers, read_policies, read_rules, read_triggers
from dumper.catalog.types import TypeDef, read_types

if TYPE_CHECKING:
    from dumper.locks import SnapshotBatches
    from dumper.session import Session


@dataclass
class Catalog:
    schemas: list[Schema] = field(default_factory=list)
    extensions: list[Extension] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    types: list[TypeDef] = field(default_factory=list)
    routines: list[Routine] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    triggers: list[Trigger] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    event_triggers: list[EventTrigger] = field(default_factory=list)
    kinds: Kinds = field(default_factory=Kinds)  # aggregates, operators, FDWs, publications, roles, ...
    comments: dict[tuple[str, int, int], Comment] = field(default_factory=dict)
    depends: Dependencies = field(default_factory=Dependencies)
    index_names: dict[int, str] = field(default_factory=dict)
    index_parents: list[tuple[int, int]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # changed privileges on extension members and system objects (dumper.initial_state)
    initial_acls: list[InitialAcl] = field(default_factory=list)


def read_catalog(
    s: Session,
    keep_schema: Callable[[str], bool],
    keep_relation: Callable[[Relation], bool],
    lock: Callable[[list[Relation]], Optional["SnapshotBatches"]],
) -> Catalog:
    """Read the catalog: ``keep_*`` select what is dumped, ``lock`` locks the chosen relations
    (it gets them all and locks the tables) or, under ``--lock-batches``, locks nothing and
    returns the batches the lock-holding reads go through."""
    t0 = time.monotonic()
    cat = Catalog()
    cat.schemas = [x for x in read_schemas(s) if keep_schema(x.name)]
    schemas = {x.name for x in cat.schemas}
    cat.extensions = read_extensions(s)
    cat.relations = [r for r in list_relations(s) if r.schema in schemas and keep_relation(r)]
    t1 = time.monotonic()
    batches = lock(cat.relations)
    t2 = time.monotonic()
    oids = [r.oid for r in cat.relations]
    table_oids = [r.oid for r in cat.relations if r.kind in ("r", "p", "m", "f", "v")]
    if batches is None:
        read_details(s, cat.relations)
        cat.rules = read_rules(s, table_oids)
    else:
        _read_batched(s, batches, cat, table_oids)
    cat.types = [t for t in read_types(s) if t.schema in schemas]
    cat.routines = [r for r in read_routines(s) if r.schema in schemas]
    cat.constraints = read_constraints(s, oids)
    cat.indexes = read_indexes(s, table_oids)
    cat.index_names, cat.index_parents = read_index_links(s, table_oids)
    cat.triggers = read_triggers(s, table_oids)
    cat.policies = read_policies(s, table_oids)
    cat.event_triggers = read_event_triggers(s)
    cat.kinds = read_kinds(s, schemas, table_oids, [x.oid for x in cat.extensions])
    cat.comments = read_comments(s)
    cat.initial_acls = read_initial_acls(s)
    cat.depends = read_dependencies(s)
    cat.timings = {"catalog_s": round((t1 - t0) + (time.monotonic() - t2), 4), "locks_s": round(t2 - t1, 4)}
    return cat


def _read_batched(s: Session, batches: SnapshotBatches, cat: Catalog, table_oids: list[int]) -> None:
    """Relation details and rules under ``--lock-batches``: what locks goes through ``batches``.

    Views and materialized views (their definitions lock what they read), sequences (reading
    the value locks one) and rules are read in groups whose locks fit one batch; everything
    else about relations holds no lock on them and is read in the leader in one go.
    """
    from dumper.locks import rewrite_costs

    costs = rewrite_costs(s, [r.oid for r in cat.relations if r.kind in ("v", "m", "r", "p")])
    heavy = [r for r in cat.relations if r.kind in ("v", "m", "S")]
    read_details(s, [r for r in cat.relations if r.kind not in ("v", "m", "S")])
    for group in batches.chunks(heavy, lambda r: costs.get(r.oid, 1) if r.kind != "S" else 1):
        read_details(batches.session, group)
    with_rules = [o for o in table_oids if costs.get(o, 0) > 0]
    for oids in batches.chunks(with_rules, lambda o: costs.get(o, 1)):
        cat.rules.extend(read_rules(batches.session, oids))
    cat.rules.sort(key=lambda r: (r.schema or "", r.table, r.name))
