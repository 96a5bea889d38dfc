"""The dependency facts the ordering needs: pg_depend edges and sub-object aliases.

pg_depend speaks of objects we never emit on their own: a view's ``_RETURN`` rule, a table's
row type and array type, a column default, an identity sequence, a constraint's index, an
extension's member objects. ``aliases`` maps each of those to the object whose entry carries
it, so every edge lands on something the sort knows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dumper.catalog.base import Ref

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class Dependencies:
    edges: list[tuple[Ref, Ref, str]] = field(default_factory=list)  # (dependent, referenced, deptype)
    aliases: dict[Ref, Ref] = field(default_factory=dict)


def read_dependencies(s: Session) -> Dependencies:
    deps = Dependencies()
    # The largest catalog read (several rows per table): plain tuples, no per-row dict. A type's
    # internal edges (array -> element, row type -> its table, multirange -> range) and a
    # trigger's (a foreign key's triggers, a constraint trigger's row) join two objects that one
    # entry carries, or none: they never order anything (a third of the rows at 10,000 tables).
    deps.edges = [
        ((cls, objid), (refcls, refobjid), deptype)
        for cls, objid, refcls, refobjid, deptype in s.query(
            """
            SELECT d.classid::pg_catalog.regclass::text AS cls, d.objid,
                   d.refclassid::pg_catalog.regclass::text AS refcls, d.refobjid, d.deptype
              FROM pg_catalog.pg_depend d
             WHERE d.deptype IN ('n', 'a', 'i') AND d.objid >= 16384 AND d.refobjid >= 16384
               AND NOT (d.deptype = 'i' AND d.classid IN ('pg_catalog.pg_type'::pg_catalog.regclass,
                                                          'pg_catalog.pg_trigger'::pg_catalog.regclass))
            """,
            tuples=True,
        )
    ]
    # Objects carried by another object's entry.
    for cls, objid, tocls, toobj in s.query(
        """
        SELECT 'pg_rewrite' AS cls, r.oid AS objid, 'pg_class' AS tocls, r.ev_class AS toobj
          FROM pg_catalog.pg_rewrite r WHERE r.rulename = '_RETURN' AND r.oid >= 16384
        UNION ALL
        SELECT 'pg_type', t.oid, 'pg_class', t.typrelid
          FROM pg_catalog.pg_type t JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
         WHERE t.typrelid <> 0 AND c.relkind <> 'c' AND t.oid >= 16384
        UNION ALL
        SELECT 'pg_type', t.typarray, 'pg_type', t.oid FROM pg_catalog.pg_type t WHERE t.typarray >= 16384
        UNION ALL
        SELECT 'pg_class', t.typrelid, 'pg_type', t.oid
          FROM pg_catalog.pg_type t JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
         WHERE c.relkind = 'c' AND t.oid >= 16384
        UNION ALL
        SELECT 'pg_attrdef', a.oid, 'pg_class', a.adrelid FROM pg_catalog.pg_attrdef a WHERE a.oid >= 16384
        UNION ALL
        SELECT 'pg_class', c.conindid, 'pg_constraint', c.oid FROM pg_catalog.pg_constraint c
         WHERE c.contype IN ('p', 'u', 'x') AND c.conindid <> 0 AND c.oid >= 16384
        UNION ALL
        SELECT 'pg_constraint', c.oid, 'pg_type', c.contypid FROM pg_catalog.pg_constraint c
         WHERE c.contypid <> 0 AND c.oid >= 16384
        UNION ALL
        SELECT d.classid::pg_catalog.regclass::text, d.objid, 'pg_extension', d.refobjid
          FROM pg_catalog.pg_depend d WHERE d.deptype = 'e'
        UNION ALL
        SELECT d.classid::pg_catalog.regclass::text, d.objid, d.refclassid::pg_catalog.regclass::text, d.refobjid
          FROM pg_catalog.pg_depend d
         WHERE d.classid IN ('pg_amop'::pg_catalog.regclass, 'pg_amproc'::pg_catalog.regclass)
           AND d.refclassid IN ('pg_opclass'::pg_catalog.regclass, 'pg_opfamily'::pg_catalog.regclass)
           AND d.deptype IN ('i', 'a') AND d.objid >= 16384
        """
        + (
            """
        UNION ALL
        SELECT 'pg_type', r.rngmultitypid, 'pg_type', r.rngtypid FROM pg_catalog.pg_range r WHERE r.rngmultitypid >= 16384
        """
            if s.info.version_num >= 140000
            else ""
        ),
        tuples=True,
    ):
        deps.aliases[(cls, objid)] = (tocls, toobj)
    return deps
