"""Triggers, rules, policies and event triggers: the objects that hang off a table's behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dumper.catalog.base import CatalogObject, identity_sql, not_extension_member

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class Trigger(CatalogObject):
    oid: int = 0
    table_oid: int = 0
    table: str = ""
    definition: str = ""
    enabled: str = "O"  # O origin (default), D disabled, R replica, A always
    parent_oid: int = 0  # partition clone of this trigger (read only when its enabled state differs)


@dataclass
class Rule(CatalogObject):
    oid: int = 0
    table_oid: int = 0
    table: str = ""
    definition: str = ""
    enabled: str = "O"


@dataclass
class Policy(CatalogObject):
    oid: int = 0
    table_oid: int = 0
    table: str = ""
    command: str = "*"
    permissive: bool = True
    roles: list[str] = field(default_factory=list)  # '' = PUBLIC
    using: str | None = None
    check: str | None = None


@dataclass
class EventTrigger(CatalogObject):
    oid: int = 0
    event: str = ""
    tags: list[str] | None = None
    function: str = ""
    enabled: str = "O"


def read_triggers(s: Session, table_oids: list[int]) -> list[Trigger]:
    if not table_oids:
        return []
    # Partition clones of a parent's trigger: tgparentid since 13; on 12 a clone has a partition
    # dependency ('P') on its parent trigger. Clones are internal triggers up to 14. A clone is
    # kept only when its enabled state differs from the parent's, so that state can be
    # restored; internal constraint (foreign key) triggers never are.
    if s.info.version_num >= 130000:
        parent_col = "t.tgparentid"
        internal = "(NOT t.tgisinternal OR (t.tgparentid <> 0 AND t.tgconstraint = 0))"
    else:
        parent_col = """COALESCE((SELECT d.refobjid FROM pg_catalog.pg_depend d
                                   WHERE d.classid = 'pg_trigger'::pg_catalog.regclass AND d.objid = t.oid
                                     AND d.refclassid = 'pg_trigger'::pg_catalog.regclass AND d.deptype = 'P'
                                   LIMIT 1), 0)"""
        internal = f"(NOT t.tgisinternal OR ({parent_col} <> 0 AND t.tgconstraint = 0))"
    parent = f"""AND {internal} AND ({parent_col} = 0 OR t.tgenabled <> (SELECT pt.tgenabled FROM pg_catalog.pg_trigger pt
                                                          WHERE pt.oid = {parent_col}))"""
    rows = s.query(
        f"""
        SELECT t.oid, t.tgrelid AS table_oid, t.tgname AS name, n.nspname AS schema, {parent_col} AS parent_oid,
               t.tgrelid::pg_catalog.regclass::text AS table,
               pg_catalog.pg_get_triggerdef(t.oid, false) AS definition, t.tgenabled AS enabled,
               {identity_sql('pg_trigger', 't.oid')} AS identity
          FROM pg_catalog.pg_trigger t
          JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE t.tgrelid = ANY(%s) {parent}
         ORDER BY n.nspname, c.relname, t.tgname
        """,
        (table_oids,),
        deparsed=("definition",), what="trigger",
    )
    return [
        Trigger(
            ref=("pg_trigger", r["oid"]), schema=r["schema"], name=r["name"], owner=None, identity=r["identity"],
            oid=r["oid"], table_oid=r["table_oid"], table=r["table"], definition=r["definition"], enabled=r["enabled"],
            parent_oid=r["parent_oid"],
        )
        for r in rows
    ]


def read_rules(s: Session, table_oids: list[int]) -> list[Rule]:
    """Rules other than the ``_RETURN`` rule that implements a view."""
    if not table_oids:
        return []
    rows = s.query(
        f"""
        SELECT r.oid, r.ev_class AS table_oid, r.rulename AS name, n.nspname AS schema,
               r.ev_class::pg_catalog.regclass::text AS table,
               pg_catalog.pg_get_ruledef(r.oid) AS definition, r.ev_enabled AS enabled,
               {identity_sql('pg_rewrite', 'r.oid')} AS identity
          FROM pg_catalog.pg_rewrite r
          JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE r.ev_class = ANY(%s) AND r.rulename <> '_RETURN'
         ORDER BY n.nspname, c.relname, r.rulename
        """,
        (table_oids,),
        deparsed=("definition",), what="rule",
    )
    return [
        Rule(
            ref=("pg_rewrite", r["oid"]), schema=r["schema"], name=r["name"], owner=None, identity=r["identity"],
            oid=r["oid"], table_oid=r["table_oid"], table=r["table"], definition=r["definition"], enabled=r["enabled"],
        )
        for r in rows
    ]


def read_policies(s: Session, table_oids: list[int]) -> list[Policy]:
    if not table_oids:
        return []
    rows = s.query(
        f"""
        SELECT p.oid, p.polrelid AS table_oid, p.polname AS name, n.nspname AS schema,
               p.polrelid::pg_catalog.regclass::text AS table, p.polcmd AS command,
               p.polpermissive AS permissive,
               ARRAY(SELECT CASE WHEN r = 0 THEN '' ELSE pg_catalog.pg_get_userbyid(r) END
                       FROM pg_catalog.unnest(p.polroles) WITH ORDINALITY AS u(r, o) ORDER BY o) AS roles,
               pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS using,
               pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS check,
               {identity_sql('pg_policy', 'p.oid')} AS identity
          FROM pg_catalog.pg_policy p
          JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE p.polrelid = ANY(%s)
         ORDER BY n.nspname, c.relname, p.polname
        """,
        (table_oids,),
    )
    return [
        Policy(
            ref=("pg_policy", r["oid"]), schema=r["schema"], name=r["name"], owner=None, identity=r["identity"],
            oid=r["oid"], table_oid=r["table_oid"], table=r["table"], command=r["command"],
            permissive=r["permissive"], roles=list(r["roles"]), using=r["using"], check=r["check"],
        )
        for r in rows
    ]


def read_event_triggers(s: Session) -> list[EventTrigger]:
    rows = s.query(
        f"""
        SELECT e.oid, e.evtname AS name, e.evtevent AS event, e.evttags AS tags,
               e.evtfoid::pg_catalog.regproc::text AS function, e.evtenabled AS enabled,
               pg_catalog.pg_get_userbyid(e.evtowner) AS owner
          FROM pg_catalog.pg_event_trigger e
         WHERE {not_extension_member('pg_event_trigger', 'e.oid')}
         ORDER BY e.evtname
        """
    )
    from dumper.format.names import quote_ident

    return [
        EventTrigger(
            ref=("pg_event_trigger", r["oid"]), schema=None, name=r["name"], owner=r["owner"],
            identity=quote_ident(r["name"]), oid=r["oid"], event=r["event"], tags=r["tags"],
            function=r["function"], enabled=r["enabled"],
        )
        for r in rows
    ]
