"""User-defined types: enums, domains, composites, ranges (and their multiranges)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dumper.catalog.base import CatalogObject, acl_columns, identity_sql, make_acl, not_extension_member, user_schema

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class DomainCheck:
    oid: int
    name: str
    definition: str
    validated: bool


@dataclass
class TypeDef(CatalogObject):
    oid: int = 0
    kind: str = "e"  # e enum, d domain, c composite, r range, b base
    labels: list[str] = field(default_factory=list)
    base_type: str | None = None
    notnull: bool = False
    notnull_name: str | None = None  # 17+: a domain's NOT NULL is a named pg_constraint row
    notnull_oid: int = 0  # that row's oid (its comment is COMMENT ON CONSTRAINT ... ON DOMAIN)
    default: str | None = None
    collation: str | None = None
    checks: list[DomainCheck] = field(default_factory=list)
    attributes: list[tuple[str, str, str | None]] = field(default_factory=list)  # name, type, collation
    range_subtype: str | None = None
    range_opclass: str | None = None
    range_collation: str | None = None
    range_canonical: str | None = None
    range_subdiff: str | None = None
    multirange_name: str | None = None
    relid: int = 0
    array_oid: int = 0
    multirange_oid: int = 0


def read_types(s: Session) -> list[TypeDef]:
    """User-defined enum, domain, range and composite types, with their domain CHECKs and
    composite attributes (one query each, the last two only when there is such a type)."""
    types = _read_type_rows(s)
    if not types:
        return []
    _read_domain_checks(s, types)
    _read_composite_attributes(s, types)
    return list(types.values())


def _read_type_rows(s: Session) -> dict[int, TypeDef]:
    v = s.info.version_num
    multirange = "rg.rngmultitypid" if v >= 140000 else "0::oid"
    nn_name = ("(SELECT k.conname FROM pg_catalog.pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'n' LIMIT 1)"
               if v >= 170000 else "NULL::name")
    nn_oid = nn_name.replace("k.conname", "k.oid") if v >= 170000 else "0::oid"
    rows = s.query(
        f"""
        SELECT t.oid, n.nspname AS schema, t.typname AS name, t.typtype AS kind,
               pg_catalog.pg_get_userbyid(t.typowner) AS owner, t.typrelid AS relid, t.typarray AS array_oid,
               {identity_sql('pg_type', 't.oid')} AS identity,
               {acl_columns('t.typacl', "'T'", 't.typowner')},
               CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel FROM pg_catalog.pg_enum e
                                                     WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END AS labels,
               CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END AS base_type,
               t.typnotnull AS notnull, {nn_name}::text AS notnull_name, {nn_oid} AS notnull_oid, pg_catalog.pg_get_expr(t.typdefaultbin, 0) AS default,
               CASE WHEN t.typcollation <> 0 AND t.typcollation <> bt.typcollation THEN
                    pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) END AS collation,
               pg_catalog.format_type(rg.rngsubtype, NULL) AS range_subtype,
               CASE WHEN rg.rngsubopc IS NOT NULL AND NOT opc.opcdefault THEN
                    pg_catalog.quote_ident(opcn.nspname) || '.' || pg_catalog.quote_ident(opc.opcname) END AS range_opclass,
               CASE WHEN rg.rngcollation <> 0 AND rg.rngcollation <> st.typcollation THEN
                    pg_catalog.quote_ident(rcn.nspname) || '.' || pg_catalog.quote_ident(rco.collname) END AS range_collation,
               NULLIF(rg.rngcanonical, 0)::pg_catalog.regproc::text AS range_canonical,
               NULLIF(rg.rngsubdiff, 0)::pg_catalog.regproc::text AS range_subdiff,
               {multirange} AS multirange_oid,
               CASE WHEN {multirange} <> 0 THEN (SELECT mt.typname FROM pg_catalog.pg_type mt WHERE mt.oid = {multirange}) END AS multirange_name
          FROM pg_catalog.pg_type t
          JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
          LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
          LEFT JOIN pg_catalog.pg_collation co ON co.oid = t.typcollation
          LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
          LEFT JOIN pg_catalog.pg_range rg ON rg.rngtypid = t.oid
          LEFT JOIN pg_catalog.pg_type st ON st.oid = rg.rngsubtype
          LEFT JOIN pg_catalog.pg_opclass opc ON opc.oid = rg.rngsubopc
          LEFT JOIN pg_catalog.pg_namespace opcn ON opcn.oid = opc.opcnamespace
          LEFT JOIN pg_catalog.pg_collation rco ON rco.oid = rg.rngcollation
          LEFT JOIN pg_catalog.pg_namespace rcn ON rcn.oid = rco.collnamespace
         WHERE {user_schema('n')}
           AND (t.typtype IN ('e', 'd', 'r')
                OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c'))
           AND {not_extension_member('pg_type', 't.oid')}
         ORDER BY n.nspname, t.typname
        """
    )
    return {
        r["oid"]: TypeDef(
            ref=("pg_type", r["oid"]), schema=r["schema"], name=r["name"], owner=r["owner"],
            identity=r["identity"], acl=make_acl(r, "T"), oid=r["oid"], kind=r["kind"],
            labels=r["labels"] or [], base_type=r["base_type"], notnull=r["notnull"], default=r["default"],
            notnull_name=r["notnull_name"], notnull_oid=r["notnull_oid"] or 0,
            collation=r["collation"], range_subtype=r["range_subtype"], range_opclass=r["range_opclass"],
            range_collation=r["range_collation"], range_canonical=r["range_canonical"],
            range_subdiff=r["range_subdiff"], multirange_name=r["multirange_name"], relid=r["relid"],
            array_oid=r["array_oid"], multirange_oid=r["multirange_oid"],
        )
        for r in rows
    }


def _read_domain_checks(s: Session, types: dict[int, TypeDef]) -> None:
    domains = [t.oid for t in types.values() if t.kind == "d"]
    if domains:
        for r in s.query(
            """
            SELECT c.oid, c.contypid AS type, c.conname AS name, pg_catalog.pg_get_constraintdef(c.oid) AS def,
                   c.convalidated AS validated
              FROM pg_catalog.pg_constraint c WHERE c.contypid = ANY(%s) AND c.contype = 'c'
             ORDER BY c.contypid, c.conname
            """,
            (domains,),
            deparsed=("def",), what="domain constraint",
        ):
            types[r["type"]].checks.append(DomainCheck(r["oid"], r["name"], r["def"], r["validated"]))


def _read_composite_attributes(s: Session, types: dict[int, TypeDef]) -> None:
    composites = {t.relid: t for t in types.values() if t.kind == "c"}
    if composites:
        for r in s.query(
            """
            SELECT a.attrelid AS rel, a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
                   CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 THEN
                        pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) END AS collation
              FROM pg_catalog.pg_attribute a
              JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
              LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
              LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
             WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attrelid, a.attnum
            """,
            (list(composites),),
        ):
            composites[r["rel"]].attributes.append((r["name"], r["type"], r["collation"]))
