"""Operators, operator families and classes, casts and transforms created by users.

Built-in rows (oid below 16384) and extension members are left out, as pg_dump does: the
server or ``CREATE EXTENSION`` recreates them. Family and class members (pg_amop, pg_amproc)
are read in one query each and split by their pg_depend link: members an opclass owns
(deptype 'i') are written inside ``CREATE OPERATOR CLASS``, "loose" members of a family
(deptype 'a') in ``ALTER OPERATOR FAMILY ... ADD``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dumper.catalog.base import FIRST_NORMAL_OID, CatalogObject, identity_sql, not_extension_member

if TYPE_CHECKING:
    from dumper.session import Session

_OPREF = "'OPERATOR(' || pg_catalog.quote_ident(xn.nspname) || '.' || x.oprname || ')'"


@dataclass
class Operator(CatalogObject):
    oid: int = 0
    left: str | None = None  # format_type, None for prefix operators
    right: str = ""
    function: str = ""
    commutator: str | None = None  # OPERATOR(schema.op)
    negator: str | None = None
    restrict: str | None = None
    join: str | None = None
    merges: bool = False
    hashes: bool = False


@dataclass
class OpMember:
    """One ``OPERATOR n ...`` or ``FUNCTION n ...`` item of a family or class."""

    kind: str  # 'operator' | 'function'
    number: int
    lefttype: str
    righttype: str
    target: str  # regoperator / regprocedure text
    sort_family: str | None = None  # FOR ORDER BY (operators of purpose 'o')


@dataclass
class OpFamily(CatalogObject):
    oid: int = 0
    method: str = ""
    members: list[OpMember] = field(default_factory=list)  # loose members only


@dataclass
class OpClass(CatalogObject):
    oid: int = 0
    method: str = ""
    input_type: str = ""
    is_default: bool = False
    family: str = ""  # qualified
    family_oid: int = 0
    storage: str | None = None
    members: list[OpMember] = field(default_factory=list)


@dataclass
class Cast(CatalogObject):
    oid: int = 0
    source: str = ""
    target: str = ""
    function: str | None = None  # regprocedure
    context: str = "e"  # e explicit, a assignment, i implicit
    method: str = "f"  # f function, i inout, b binary


@dataclass
class Transform(CatalogObject):
    oid: int = 0
    type_name: str = ""
    language: str = ""
    from_sql: str | None = None
    to_sql: str | None = None


def read_operators(s: Session) -> list[Operator]:
    rows = s.query(
        f"""
        SELECT o.oid, n.nspname AS schema, o.oprname AS name, pg_catalog.pg_get_userbyid(o.oprowner) AS owner,
               {identity_sql('pg_operator', 'o.oid')} AS identity,
               CASE WHEN o.oprleft <> 0 THEN pg_catalog.format_type(o.oprleft, NULL) END AS lefttype,
               pg_catalog.format_type(o.oprright, NULL) AS righttype,
               o.oprcode::pg_catalog.regprocedure::text AS function_sig,
               pg_catalog.quote_ident(fn.nspname) || '.' || pg_catalog.quote_ident(f.proname) AS function,
               (SELECT {_OPREF} FROM pg_catalog.pg_operator x JOIN pg_catalog.pg_namespace xn ON xn.oid = x.oprnamespace
                 WHERE x.oid = o.oprcom) AS commutator,
               (SELECT {_OPREF} FROM pg_catalog.pg_operator x JOIN pg_catalog.pg_namespace xn ON xn.oid = x.oprnamespace
                 WHERE x.oid = o.oprnegate) AS negator,
               CASE WHEN o.oprrest <> 0 THEN o.oprrest::pg_catalog.regproc::text END AS restrict,
               CASE WHEN o.oprjoin <> 0 THEN o.oprjoin::pg_catalog.regproc::text END AS join,
               o.oprcanmerge AS merges, o.oprcanhash AS hashes
          FROM pg_catalog.pg_operator o
          JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
          JOIN pg_catalog.pg_proc f ON f.oid = o.oprcode
          JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace
         WHERE o.oid >= {FIRST_NORMAL_OID} AND {not_extension_member('pg_operator', 'o.oid')}
         ORDER BY n.nspname, o.oprname, 6, 7
        """
    )
    return [
        Operator(
            ref=("pg_operator", r["oid"]), schema=r["schema"], name=r["name"], owner=r["owner"], identity=r["identity"],
            oid=r["oid"], left=r["lefttype"], right=r["righttype"], function=r["function"],
            commutator=r["commutator"], negator=r["negator"], restrict=r["restrict"], join=r["join"],
            merges=r["merges"], hashes=r["hashes"],
        )
        for r in rows
    ]


def _members(s: Session) -> dict[tuple[str, int], list[OpMember]]:
    """Members of user families/classes, keyed by the family or class that carries them."""
    out: dict[tuple[str, int], list[OpMember]] = {}
    for r in s.query(
        """
        SELECT d.refclassid::pg_catalog.regclass::text AS owner_cls, d.refobjid AS owner_oid, m.*
          FROM (SELECT 'pg_amop'::pg_catalog.regclass AS cls, a.oid, 'operator' AS kind, a.amopstrategy AS number,
                       pg_catalog.format_type(a.amoplefttype, NULL) AS lefttype,
                       pg_catalog.format_type(a.amoprighttype, NULL) AS righttype,
                       a.amopopr::pg_catalog.regoperator::text AS target,
                       CASE WHEN a.amoppurpose = 'o' THEN
                            (SELECT pg_catalog.quote_ident(sn.nspname) || '.' || pg_catalog.quote_ident(sf.opfname)
                               FROM pg_catalog.pg_opfamily sf JOIN pg_catalog.pg_namespace sn ON sn.oid = sf.opfnamespace
                              WHERE sf.oid = a.amopsortfamily) END AS sort_family
                  FROM pg_catalog.pg_amop a WHERE a.oid >= 16384
                UNION ALL
                SELECT 'pg_amproc'::pg_catalog.regclass, p.oid, 'function', p.amprocnum,
                       pg_catalog.format_type(p.amproclefttype, NULL), pg_catalog.format_type(p.amprocrighttype, NULL),
                       p.amproc::pg_catalog.regprocedure::text, NULL
                  FROM pg_catalog.pg_amproc p WHERE p.oid >= 16384) m
          JOIN pg_catalog.pg_depend d ON d.classid = m.cls AND d.objid = m.oid AND d.deptype IN ('i', 'a')
           AND d.refclassid IN ('pg_opclass'::pg_catalog.regclass, 'pg_opfamily'::pg_catalog.regclass)
         ORDER BY 1, 2, m.kind DESC, m.number, m.lefttype, m.righttype
        """
    ):
        out.setdefault((r["owner_cls"], r["owner_oid"]), []).append(
            OpMember(r["kind"], r["number"], r["lefttype"], r["righttype"], r["target"], r["sort_family"])
        )
    return out


def read_opfamilies_and_classes(s: Session) -> tuple[list[OpFamily], list[OpClass]]:
    members = _members(s)
    fams = [
        OpFamily(
            ref=("pg_opfamily", r["oid"]), schema=r["schema"], name=r["name"], owner=r["owner"], identity=r["identity"],
            oid=r["oid"], method=r["method"], members=members.get(("pg_opfamily", r["oid"]), []),
        )
        for r in s.query(
            f"""
            SELECT f.oid, n.nspname AS schema, f.opfname AS name, pg_catalog.pg_get_userbyid(f.opfowner) AS owner,
                   {identity_sql('pg_opfamily', 'f.oid')} AS identity, am.amname AS method
              FROM pg_catalog.pg_opfamily f
              JOIN pg_catalog.pg_namespace n ON n.oid = f.opfnamespace
              JOIN pg_catalog.pg_am am ON am.oid = f.opfmethod
             WHERE f.oid >= {FIRST_NORMAL_OID} AND {not_extension_member('pg_opfamily', 'f.oid')}
             ORDER BY n.nspname, f.opfname, am.amname
            """
        )
    ]
    classes = [
        OpClass(
            ref=("pg_opclass", r["oid"]), schema=r["schema"], name=r["name"], owner=r["owner"], identity=r["identity"],
            oid=r["oid"], method=r["method"], input_type=r["input_type"], is_default=r["opcdefault"],
            family=r["family"], family_oid=r["opcfamily"], storage=r["storage"],
            members=members.get(("pg_opclass", r["oid"]), []),
        )
        for r in s.query(
            f"""
            SELECT c.oid, n.nspname AS schema, c.opcname AS name, pg_catalog.pg_get_userbyid(c.opcowner) AS owner,
                   {identity_sql('pg_opclass', 'c.oid')} AS identity, am.amname AS method,
                   pg_catalog.format_type(c.opcintype, NULL) AS input_type, c.opcdefault, c.opcfamily,
                   pg_catalog.quote_ident(fn.nspname) || '.' || pg_catalog.quote_ident(f.opfname) AS family,
                   CASE WHEN c.opckeytype <> 0 THEN pg_catalog.format_type(c.opckeytype, NULL) END AS storage
              FROM pg_catalog.pg_opclass c
              JOIN pg_catalog.pg_namespace n ON n.oid = c.opcnamespace
              JOIN pg_catalog.pg_am am ON am.oid = c.opcmethod
              JOIN pg_catalog.pg_opfamily f ON f.oid = c.opcfamily
              JOIN pg_catalog.pg_namespace fn ON fn.oid = f.opfnamespace
             WHERE c.oid >= {FIRST_NORMAL_OID} AND {not_extension_member('pg_opclass', 'c.oid')}
             ORDER BY n.nspname, c.opcname, am.amname
            """
        )
    ]
    return fams, classes


def read_casts(s: Session) -> list[Cast]:
    rows = s.query(
        f"""
        SELECT c.oid, pg_catalog.format_type(c.castsource, NULL) AS source,
               pg_catalog.format_type(c.casttarget, NULL) AS target,
               CASE WHEN c.castfunc <> 0 THEN c.castfunc::pg_catalog.regprocedure::text END AS function,
               c.castcontext, c.castmethod, {identity_sql('pg_cast', 'c.oid')} AS identity
          FROM pg_catalog.pg_cast c
         WHERE c.oid >= {FIRST_NORMAL_OID} AND {not_extension_member('pg_cast', 'c.oid')}
           -- casts the server made itself (range <-> multirange) come back with their type
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_cast'::pg_catalog.regclass
                            AND d.objid = c.oid AND d.deptype = 'i')
         ORDER BY 2, 3
        """
    )
    return [
        Cast(
            ref=("pg_cast", r["oid"]), schema=None, name=f"{r['source']} AS {r['target']}", owner=None,
            identity=r["identity"], oid=r["oid"], source=r["source"], target=r["target"], function=r["function"],
            context=r["castcontext"], method=r["castmethod"],
        )
        for r in rows
    ]


def read_transforms(s: Session) -> list[Transform]:
    rows = s.query(
        f"""
        SELECT t.oid, pg_catalog.format_type(t.trftype, NULL) AS type_name, l.lanname AS language,
               CASE WHEN t.trffromsql <> 0 THEN t.trffromsql::pg_catalog.regprocedure::text END AS from_sql,
               CASE WHEN t.trftosql <> 0 THEN t.trftosql::pg_catalog.regprocedure::text END AS to_sql,
               {identity_sql('pg_transform', 't.oid')} AS identity
          FROM pg_catalog.pg_transform t JOIN pg_catalog.pg_language l ON l.oid = t.trflang
         WHERE t.oid >= {FIRST_NORMAL_OID} AND {not_extension_member('pg_transform', 't.oid')}
         ORDER BY 2, 3
        """
    )
    return [
        Transform(
            ref=("pg_transform", r["oid"]), schema=None, name=f"{r['type_name']} {r['language']}", owner=None,
            identity=r["identity"], oid=r["oid"], type_name=r["type_name"], language=r["language"],
            from_sql=r["from_sql"], to_sql=r["to_sql"],
        )
        for r in rows
    ]
