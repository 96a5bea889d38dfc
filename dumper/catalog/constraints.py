"""Table constraints and indexes (read after the tables are locked: both use deparsers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumper.catalog.base import CatalogObject

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class Constraint(CatalogObject):
    oid: int = 0
    table_oid: int = 0
    type: str = "c"  # p u f c x t
    definition: str = ""
    validated: bool = True
    is_local: bool = True
    index_oid: int = 0
    deps_on_function: bool = False
    parent_oid: int = 0
    ref_table_oid: int = 0  # foreign keys: the referenced table


@dataclass
class Index(CatalogObject):
    oid: int = 0
    table_oid: int = 0
    definition: str = ""
    clustered: bool = False
    parent_index: int = 0  # partitioned parent index this one is attached to
    is_partitioned: bool = False
    stats: list[tuple[int, int]] | None = None  # (column number, statistics target)


def read_constraints(s: Session, table_oids: list[int]) -> list[Constraint]:
    if not table_oids:
        return []
    rows = s.query(
        """
        SELECT c.oid, c.conrelid AS table_oid, c.conname AS name, c.contype AS type, n.nspname AS schema,
               pg_catalog.pg_get_constraintdef(c.oid) AS definition, c.convalidated AS validated,
               c.conislocal AS is_local, c.conindid AS index_oid, c.conparentid AS parent_oid, c.confrelid AS ref_table_oid,
               pg_catalog.quote_ident(c.conname) || ' ON ' || c.conrelid::pg_catalog.regclass::text AS identity,
               EXISTS (SELECT 1 FROM pg_catalog.pg_depend dd
                        JOIN pg_catalog.pg_proc p ON p.oid = dd.refobjid
                        JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
                       WHERE dd.classid = 'pg_constraint'::pg_catalog.regclass AND dd.objid = c.oid
                         AND dd.refclassid = 'pg_proc'::pg_catalog.regclass AND pn.nspname <> 'pg_catalog') AS deps_on_function
          FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace
         WHERE c.conrelid = ANY(%s) AND c.contype IN ('p', 'u', 'f', 'c', 'x')
         ORDER BY c.conrelid, c.conname
        """,
        (table_oids,),
        deparsed=("definition",), what="constraint",
    )
    return [
        Constraint(
            ref=("pg_constraint", r["oid"]), schema=r["schema"], name=r["name"], owner=None,
            identity=r["identity"], oid=r["oid"], table_oid=r["table_oid"], type=r["type"],
            definition=r["definition"], validated=r["validated"], is_local=r["is_local"],
            index_oid=r["index_oid"], deps_on_function=r["deps_on_function"], parent_oid=r["parent_oid"],
            ref_table_oid=r["ref_table_oid"],
        )
        for r in rows
    ]


def read_indexes(s: Session, table_oids: list[int]) -> list[Index]:
    """Indexes that are not the implementation of a constraint (those come with the constraint)."""
    if not table_oids:
        return []
    rows = s.query(
        """
        SELECT i.indexrelid AS oid, i.indrelid AS table_oid, ic.relname AS name, n.nspname AS schema,
               pg_catalog.pg_get_indexdef(i.indexrelid) AS definition, i.indisclustered AS clustered,
               ic.relkind = 'I' AS is_partitioned,
               COALESCE((SELECT inh.inhparent FROM pg_catalog.pg_inherits inh WHERE inh.inhrelid = i.indexrelid), 0) AS parent_index,
               (SELECT pg_catalog.array_agg(ARRAY[a.attnum::int, a.attstattarget::int] ORDER BY a.attnum)
                  FROM pg_catalog.pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget > 0) AS stats,
               ic.oid::pg_catalog.regclass::text AS identity
          FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace
         WHERE i.indrelid = ANY(%s) AND (i.indisvalid OR ic.relkind = 'I') AND i.indisready
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                            WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))
         ORDER BY n.nspname, ic.relname
        """,
        (table_oids,),
        deparsed=("definition",), what="index",
    )
    return [
        Index(
            ref=("pg_class", r["oid"]), schema=r["schema"], name=r["name"], owner=None, identity=r["identity"],
            oid=r["oid"], table_oid=r["table_oid"], definition=r["definition"], clustered=r["clustered"],
            parent_index=r["parent_index"], is_partitioned=r["is_partitioned"],
            stats=[tuple(x) for x in r["stats"]] if r["stats"] else None,  # type: ignore[misc]
        )
        for r in rows
    ]


def read_index_links(s: Session, table_oids: list[int]) -> tuple[dict[int, str], list[tuple[int, int]]]:
    """Qualified names of all indexes on our tables, and (child, parent) partition-index links."""
    if not table_oids:
        return {}, []
    names: dict[int, str] = {}
    links: list[tuple[int, int]] = []
    for r in s.query(
        """
        SELECT i.indexrelid AS oid, i.indexrelid::pg_catalog.regclass::text AS name,
               (SELECT inh.inhparent FROM pg_catalog.pg_inherits inh WHERE inh.inhrelid = i.indexrelid) AS parent
          FROM pg_catalog.pg_index i WHERE i.indrelid = ANY(%s)
        """,
        (table_oids,),
    ):
        names[r["oid"]] = r["name"]
        if r["parent"]:
            links.append((r["oid"], r["parent"]))
    return names, sorted(links)
