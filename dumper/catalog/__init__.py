"""Everything the dump needs from the system catalog, read inside the snapshot.

:func:`read_catalog` decides the order of the reads: first what needs no deparsing
(schemas, the relation list), then the locks, then everything that calls ``pg_get_*``.
With ``--lock-batches`` (:mod:`dumper.locks`) nothing is locked in the snapshot's transaction:
the reads that hold locks on user relations (view and rule definitions, sequence values) run
in batches on a second connection in the same snapshot, the rest as before.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Callable, Iterator, Optional

from dumper.catalog.base import CatalogObject, gc_paused, gc_thaw
from dumper.catalog.comments import Comment, read_comments
from dumper.catalog.accessmethods import AccessMethod, read_access_methods, read_clustered_constraint_indexes
from dumper.catalog.aggregates import Aggregate, read_aggregates
from dumper.catalog.basetypes import BaseType, read_base_types
from dumper.catalog.collations import Collation, Conversion, read_collations, read_conversions
from dumper.catalog.extconfig import ConfigTable, read_config_tables
from dumper.catalog.foreign import ForeignDataWrapper, ForeignServer, UserMapping, read_foreign
from dumper.catalog.languages import Language, read_languages
from dumper.catalog.largeobjects import LargeObject, SecurityLabel, read_large_objects, read_security_labels
from dumper.catalog.operators import (
    Cast, OpClass, OpFamily, Operator, Transform, read_casts, read_opfamilies_and_classes, read_operators, read_transforms,
)
from dumper.catalog.privileges import DefaultAcl, Membership, RoleDef, read_default_acls, read_roles
from dumper.catalog.replication import Publication, Subscription, read_publications, read_subscriptions
from dumper.catalog.statistics import StatisticsObject, read_statistics
from dumper.catalog.textsearch import TSConfig, TSDictionary, TSParser, TSTemplate, read_text_search

from dumper.catalog.constraints import Constraint, Index, read_constraints, read_index_links, read_indexes
from dumper.catalog.depend import Dependencies, read_dependencies
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
    comments: dict[tuple[str, int, int], Comment] = field(default_factory=dict)
    depends: Dependencies = field(default_factory=Dependencies)
    index_names: dict[int, str] = field(default_factory=dict)
    index_parents: list[tuple[int, int]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # changed privileges on extension members and system objects (dumper.entries.initial_state)
    initial_acls: list[InitialAcl] = field(default_factory=list)
    # -- the families read after the locks by read_families(), one query each -------------------
    aggregates: list[Aggregate] = field(default_factory=list)
    operators: list[Operator] = field(default_factory=list)
    opfamilies: list[OpFamily] = field(default_factory=list)
    opclasses: list[OpClass] = field(default_factory=list)
    casts: list[Cast] = field(default_factory=list)
    transforms: list[Transform] = field(default_factory=list)
    collations: list[Collation] = field(default_factory=list)
    conversions: list[Conversion] = field(default_factory=list)
    languages: list[Language] = field(default_factory=list)
    ts_parsers: list[TSParser] = field(default_factory=list)
    ts_templates: list[TSTemplate] = field(default_factory=list)
    ts_dicts: list[TSDictionary] = field(default_factory=list)
    ts_configs: list[TSConfig] = field(default_factory=list)
    fdws: list[ForeignDataWrapper] = field(default_factory=list)
    servers: list[ForeignServer] = field(default_factory=list)
    user_mappings: list[UserMapping] = field(default_factory=list)
    publications: list[Publication] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    subscriptions_skipped: bool = False  # not superuser: pg_subscription.subconninfo is unreadable
    statistics: list[StatisticsObject] = field(default_factory=list)
    default_acls: list[DefaultAcl] = field(default_factory=list)
    roles: dict[str, RoleDef] = field(default_factory=dict)
    memberships: list[Membership] = field(default_factory=list)
    large_objects: list[LargeObject] = field(default_factory=list)
    security_labels: list[SecurityLabel] = field(default_factory=list)
    config_tables: list[ConfigTable] = field(default_factory=list)
    base_types: list[BaseType] = field(default_factory=list)  # and shell types
    access_methods: list[AccessMethod] = field(default_factory=list)
    clustered_constraints: dict[int, str] = field(default_factory=dict)  # constraint oid -> index name


    def objects(self) -> Iterator[CatalogObject]:
        """Every catalog object of every family, field by field (what grants and owners name)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                yield from (o for o in value if isinstance(o, CatalogObject))


@gc_paused
def read_catalog(
    s: Session,
    keep_schema: Callable[[str], bool],
    keep_relation: Callable[[Relation], bool],
    lock: Callable[[list[Relation]], Optional["SnapshotBatches"]],
    *,
    helper: bool = False,
) -> Catalog:
    """Read the catalog: ``keep_*`` select what is dumped, ``lock`` locks the chosen relations
    (it gets them all and locks the tables) or, under ``--lock-batches``, locks nothing and
    returns the batches the lock-holding reads go through. ``helper``: more than one connection
    is allowed (``-j 2`` or more), so a large catalog may be read on two (:class:`_Helper`)."""
    gc_thaw()  # an earlier dump's objects, in a process that runs several
    t0 = time.monotonic()
    cat = Catalog()
    kept = [x for x in read_schemas(s) if keep_schema(x.name)]
    cat.schemas = [x for x in kept if not x.ext_member]
    schemas = {x.name for x in kept}  # an extension's schema: its members are not dumped, the rest is (pg_dump)
    cat.extensions = read_extensions(s)
    cat.relations = [r for r in list_relations(s) if r.schema in schemas and keep_relation(r)]
    t1 = time.monotonic()
    batches = lock(cat.relations)
    t2 = time.monotonic()
    oids = [r.oid for r in cat.relations]
    table_oids = [r.oid for r in cat.relations if r.kind in ("r", "p", "m", "f", "v")]
    # A large catalog is read on two connections at once (second_half: constraints, indexes,
    # comments, dependencies); the rest here, in the same order as ever.
    second = None
    if batches is None and (helper or _HELPER_ENV in os.environ) and len(oids) >= _helper_min():
        second = _Helper.start(s, cat, oids, table_oids)
    try:
        _first_half(s, cat, schemas, table_oids, batches, second is None, oids)
    except BaseException:
        if second is not None:
            second.abandon()
        raise
    if second is not None:
        second.join(s)
    cat.timings = {"catalog_s": round((t1 - t0) + (time.monotonic() - t2), 4), "locks_s": round(t2 - t1, 4)}
    return cat


def _first_half(s: Session, cat: Catalog, schemas: set[str], table_oids: list[int],
                batches: Optional["SnapshotBatches"], with_second: bool, oids: list[int]) -> None:
    """The leader's reads after the locks (and :func:`_second_half` too when ``with_second``)."""
    if batches is None:
        read_details(s, cat.relations)
        cat.rules = read_rules(s, table_oids)
    else:
        _read_batched(s, batches, cat, table_oids)
    cat.types = [t for t in read_types(s) if t.schema in schemas]
    cat.routines = [r for r in read_routines(s) if r.schema in schemas]
    if with_second:
        _second_half(s, cat, oids, table_oids)
    cat.triggers = read_triggers(s, table_oids)
    cat.policies = read_policies(s, table_oids)
    cat.event_triggers = read_event_triggers(s)
    read_families(s, cat, schemas, table_oids)
    cat.initial_acls = read_initial_acls(s)


def _second_half(s: Session, cat: Catalog, oids: list[int], table_oids: list[int]) -> None:
    """The reads that do not depend on the others' results and cost the most server time at
    10,000 tables (pg_get_constraintdef, pg_get_indexdef, all of pg_depend)."""
    cat.constraints = read_constraints(s, oids)
    cat.indexes = read_indexes(s, table_oids)
    cat.index_names, cat.index_parents = read_index_links(s, table_oids)
    cat.comments = read_comments(s)
    cat.depends = read_dependencies(s)


_HELPER_ENV = "PYDUMP_CATALOG_HELPER_MIN"


def _helper_min() -> int:
    """Relations from which the catalog is read on two connections when ``-j`` allows it.
    ``PYDUMP_CATALOG_HELPER_MIN`` sets it and allows the second connection whatever ``-j`` says
    (the tests use 0 to compare the output of both ways; the benchmark to measure it)."""
    try:
        return int(os.environ.get(_HELPER_ENV, "2000"))
    except ValueError:
        return 2000


class _Helper:
    """:func:`_second_half` on a second connection in the same snapshot, in a thread.

    The server's deparsers and catalog scans then run on two backends at once (psycopg lets
    go of the GIL while it waits). The snapshot is the leader's, exported; the leader already
    holds the ``ACCESS SHARE`` locks, so the definitions the helper deparses cannot change
    under it, as with pg_dump's parallel workers. Only with ``-j 2`` or more: one connection
    is the default because it is what every server and pooler allows. It is only a speed-up:
    if the snapshot cannot be exported or the second connection opened, the leader reads
    everything itself.
    """

    def __init__(self, session: Session, cat: Catalog, oids: list[int], table_oids: list[int]) -> None:
        self.session = session
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(cat, oids, table_oids), name="pydump-catalog", daemon=True)

    @classmethod
    def start(cls, s: Session, cat: Catalog, oids: list[int], table_oids: list[int]) -> "_Helper | None":
        import psycopg

        from dumper.errors import ToolError
        from dumper.session import Session

        try:
            helper = Session(s.dsn, snapshot=s.export_snapshot(),
                             encoding=None if s.encoding == s.db_encoding else s.encoding)
        except (ToolError, psycopg.Error):  # e.g. a pooler that keeps no backend per client
            return None
        helper.unreadable = s.unreadable
        h = cls(helper, cat, oids, table_oids)
        h.thread.start()
        return h

    def _run(self, cat: Catalog, oids: list[int], table_oids: list[int]) -> None:
        try:
            _second_half(self.session, cat, oids, table_oids)
        except BaseException as e:  # raised again in the leader's thread by join()
            self.error = e

    def join(self, s: Session) -> None:
        self.thread.join()
        s.queries += self.session.queries
        self.session.close()
        if self.error is not None:
            raise self.error

    def abandon(self) -> None:
        """The leader failed: stop the helper's query and let go of its connection."""
        try:
            self.session.conn.cancel_safe()
        except Exception:  # noqa: BLE001 - the leader's error is the one to report
            pass
        self.thread.join(timeout=10)
        self.session.close()


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


def read_families(s: Session, k: Catalog, schemas: set[str], table_oids: list[int]) -> None:
    """The object families beyond schemas, types, routines and relations, read into ``k`` after
    the table locks (some deparse: statistics, row filters), one query per family so the number
    of queries does not grow with the number of objects. Objects in schemas outside the dump
    are dropped here."""

    def keep(objs: list) -> list:  # type: ignore[type-arg]
        return [o for o in objs if o.schema is None or o.schema in schemas]

    k.aggregates = keep(read_aggregates(s))
    k.operators = keep(read_operators(s))
    fams, classes = read_opfamilies_and_classes(s)
    k.opfamilies, k.opclasses = keep(fams), keep(classes)
    k.casts = read_casts(s)
    k.transforms = read_transforms(s)
    k.collations = keep(read_collations(s))
    k.conversions = keep(read_conversions(s))
    k.languages = read_languages(s)
    parsers, templates, dicts, configs = read_text_search(s)
    k.ts_parsers, k.ts_templates, k.ts_dicts, k.ts_configs = keep(parsers), keep(templates), keep(dicts), keep(configs)
    k.fdws, k.servers, k.user_mappings = read_foreign(s)
    k.publications = read_publications(s)
    if s.info.superuser:
        k.subscriptions = read_subscriptions(s)
    else:
        k.subscriptions_skipped = True
    k.statistics = keep(read_statistics(s, table_oids))
    k.default_acls = [d for d in read_default_acls(s) if d.schema is None or d.schema in schemas]
    k.roles, k.memberships = read_roles(s)
    k.large_objects = read_large_objects(s)
    k.security_labels = read_security_labels(s)
    k.config_tables = read_config_tables(s, [x.oid for x in k.extensions])
    k.base_types = keep(read_base_types(s))
    k.access_methods = read_access_methods(s)
    k.clustered_constraints = read_clustered_constraint_indexes(s, table_oids)
