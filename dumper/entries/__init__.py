"""Catalog objects → TOC entries (kind, identity, owner, section, SQL, dependencies).

This is where pg_dump's rules of *what* goes *where* live: which statements share an entry,
which objects move to post-data, which loops are avoided by splitting a statement off.
Ordering is :mod:`dumper.order`'s job; the SQL text comes from :mod:`dumper.ddl`.

One module per object family builds that family's entries from a shared
:class:`~dumper.entries.context.BuildContext`. :func:`build_entries` calls them in a fixed
order, and the order matters: an entry can only hang off entries that exist (a column
default off its table, a comment off whatever creates its object), and the role entries
collect the names every earlier entry uses.
"""

from __future__ import annotations

from dumper.catalog import Catalog
from dumper.catalog.base import gc_paused
from dumper.entries import (
    comments, constraints, data, extconfig, foreign, largeobjects, operators, privileges, relations, replication,
    roles, routines, schemas, sequences, textsearch, triggers, types,
)
from dumper.entries.context import BuildContext, Built
from dumper.entries.initial_state import apply_script_acls, initial_acl_entries, order_script_acls
from dumper.order import add_restore_dependencies
from dumper.plan import Plan

__all__ = ["Built", "build_entries"]


@gc_paused
def build_entries(cat: Catalog, plan: Plan) -> Built:
    apply_script_acls(cat)  # objects an extension script granted on start from pg_init_privs
    ctx = BuildContext(cat, plan)
    # With -t only relations (and what hangs off them); with -n or -t no extensions (pg_dump).
    non_tables = ctx.ddl and plan.dumps_non_tables
    if non_tables:
        schemas.build_schemas(ctx)
        schemas.build_extensions(ctx)
        types.build_types(ctx)
        routines.build_routines(ctx)
    _relations_and_data(ctx)
    # Grants on extension members and system objects (before the roles are collected).
    initial_acl_entries(ctx)
    if non_tables:
        types.build_base_types(ctx)  # after the functions: their I/O functions wait for the shell
        operators.build_languages_casts(ctx)
        routines.build_aggregates(ctx)
        operators.build_operators(ctx)
        textsearch.build_text_search(ctx)
        foreign.build_foreign(ctx)
    if ctx.ddl:
        constraints.build_statistics(ctx)
        constraints.cluster_on_constraints(ctx)
        replication.build_publications(ctx)
        replication.build_subscriptions(ctx)
        privileges.build_default_acls(ctx)
    largeobjects.build_large_objects(ctx)
    extconfig.build_config_tables(ctx)
    comments.build_security_labels(ctx)
    if ctx.ddl:
        roles.build_roles(ctx)
    order_script_acls(ctx)
    comments.build_comments(ctx)
    return ctx.built


def _relations_and_data(ctx: BuildContext) -> None:
    """Relations, sequences, their data and everything post-data on them; then every entry
    that belongs to a relation is tagged with its key (before the other families exist)."""
    if ctx.ddl:
        relations.build_relations(ctx)
    sequences.build_sequences(ctx)
    data.build_table_data(ctx)
    if ctx.ddl:
        constraints.build_constraints(ctx)
        constraints.build_indexes(ctx)
        triggers.build_triggers(ctx)
        triggers.build_rules_and_policies(ctx)
        triggers.build_event_triggers(ctx)
        relations.matview_refresh_order(ctx)
        add_restore_dependencies(ctx.rels, ctx.table_entry, ctx.data_entry, ctx.cat.depends, ctx.entries)
    elif ctx.data_entry:
        data.data_only_fk_order(ctx)
    data.tag_tables(ctx)
