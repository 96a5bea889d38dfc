"""The object kinds beyond schemas, types, routines and relations, read together.

Every reader here runs after the table locks (some deparse: statistics, row filters), one
query per family, so the number of queries does not grow with the number of objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class Kinds:
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


def read_kinds(s: Session, schemas: set[str], table_oids: list[int], extension_oids: list[int]) -> Kinds:
    """Read every family; objects in schemas outside the dump are dropped here."""

    def keep(objs: list) -> list:  # type: ignore[type-arg]
        return [o for o in objs if o.schema is None or o.schema in schemas]

    k = Kinds()
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
    k.config_tables = read_config_tables(s, extension_oids)
    k.base_types = keep(read_base_types(s))
    k.access_methods = read_access_methods(s)
    k.clustered_constraints = read_clustered_constraint_indexes(s, table_oids)
    return k
