"""Schemas and extensions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumper.catalog.base import FIRST_NORMAL_OID, Acl, CatalogObject, acl_columns, make_acl, user_schema

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class Schema(CatalogObject):
    oid: int = 0
    builtin: bool = False  # public: exists in every new database, so never CREATEd
    init_acl: list[tuple[str, str, str, bool]] | None = None
    owner_is_default: bool = False


@dataclass
class Extension(CatalogObject):
    oid: int = 0
    version: str = ""
    config_tables: list[int] | None = None


def read_schemas(s: Session) -> list[Schema]:
    v = s.info.version_num
    # Since PostgreSQL 15 a new database's public schema belongs to pg_database_owner.
    default_owner = "'pg_database_owner'" if v >= 150000 else "(SELECT rolname FROM pg_catalog.pg_roles WHERE oid = 10)"
    rows = s.query(
        f"""
        SELECT n.oid, n.nspname AS name, pg_catalog.pg_get_userbyid(n.nspowner) AS owner,
               {acl_columns('n.nspacl', "'n'", 'n.nspowner')},
               (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(
                        CASE WHEN e.grantee = 0 THEN '' ELSE pg_catalog.pg_get_userbyid(e.grantee) END,
                        pg_catalog.pg_get_userbyid(e.grantor), e.privilege_type, e.is_grantable) ORDER BY e.ord)
                  FROM pg_catalog.pg_init_privs ip,
                       pg_catalog.aclexplode(ip.initprivs) WITH ORDINALITY AS e(grantor, grantee, privilege_type, is_grantable, ord)
                 WHERE ip.objoid = n.oid AND ip.classoid = 'pg_namespace'::pg_catalog.regclass AND ip.objsubid = 0) AS init_acl,
               (SELECT ip.initprivs = n.nspacl OR (ip.initprivs IS NULL AND n.nspacl IS NULL)
                  FROM pg_catalog.pg_init_privs ip
                 WHERE ip.objoid = n.oid AND ip.classoid = 'pg_namespace'::pg_catalog.regclass AND ip.objsubid = 0) AS acl_is_init,
               pg_catalog.pg_get_userbyid(n.nspowner) = {default_owner} AS owner_is_default,
               EXISTS (SELECT 1 FROM pg_catalog.pg_depend xd WHERE xd.classid = 'pg_namespace'::pg_catalog.regclass
                        AND xd.objid = n.oid AND xd.deptype = 'e') AS ext_member
          FROM pg_catalog.pg_namespace n
         WHERE {user_schema('n')}
         ORDER BY n.nspname
        """
    )
    out = []
    for r in rows:
        if r["ext_member"]:
            continue
        builtin = r["name"] == "public" and r["oid"] < FIRST_NORMAL_OID
        acl = make_acl(r, "n")
        if builtin:
            # public starts with initdb's privileges, not acldefault(): compare with those.
            acl = None if r["acl_is_init"] else Acl(
                [tuple(i) for i in (r["acl"] or [])], False, "n"  # type: ignore[misc]
            )
        out.append(
            Schema(
                ref=("pg_namespace", r["oid"]), schema=None, name=r["name"], owner=r["owner"],
                identity=_q(r["name"]), acl=acl, oid=r["oid"], builtin=builtin,
                init_acl=[tuple(i) for i in r["init_acl"]] if r["init_acl"] else None,  # type: ignore[misc]
                owner_is_default=r["owner_is_default"],
            )
        )
    return out


def read_extensions(s: Session) -> list[Extension]:
    rows = s.query(
        """
        SELECT e.oid, e.extname AS name, n.nspname AS schema, e.extversion AS version,
               pg_catalog.pg_get_userbyid(e.extowner) AS owner, e.extconfig AS config
          FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
         WHERE e.oid >= %s
         ORDER BY e.extname
        """,
        (FIRST_NORMAL_OID,),
    )
    return [
        Extension(
            ref=("pg_extension", r["oid"]), schema=r["schema"], name=r["name"], owner=r["owner"],
            identity=_q(r["name"]), oid=r["oid"], version=r["version"], config_tables=r["config"],
        )
        for r in rows
    ]


def _q(name: str) -> str:
    from dumper.ident import quote_ident

    return quote_ident(name)
