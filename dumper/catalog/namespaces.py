"""Schemas and extensions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumper.catalog.base import FIRST_NORMAL_OID, Acl, AclRow, CatalogObject, acl_columns, make_acl, rows, user_schema

if TYPE_CHECKING:
    from dumper.session import Session


#: The comment initdb gives ``public`` (every major 12-18); pg_dump writes only a different one.
PUBLIC_COMMENT = "standard public schema"


@dataclass
class Schema(CatalogObject):
    oid: int = 0
    builtin: bool = False  # public: exists in every new database, so never CREATEd
    owner_is_default: bool = False  # public owned by pg_database_owner, as a new 15+ database has it
    comment: str | None = None  # public only: its comment (others go through the comment pass)
    ext_member: bool = False  # created by an extension: never dumped, but what else it holds is


@dataclass
class Extension(CatalogObject):
    oid: int = 0
    version: str = ""
    config_tables: list[int] | None = None


def public_schema_base(owner: str) -> list[AclRow]:
    """The ACL ``public`` has on a new 15+ database once ``ALTER SCHEMA public OWNER TO owner``
    ran: ``{owner=UC/owner, =U/owner}``.

    A restore's target is a new database of the target's major, not of the source's: compared
    with this (as pg_dump does, ignoring pg_init_privs), a source made on 14 or older, whose
    ``public`` lets PUBLIC CREATE, gets ``GRANT ALL ... TO PUBLIC`` and keeps behaving the same
    after an upgrade; a 15+ source that nobody changed gets nothing.
    """
    return [(owner, owner, "USAGE", False), (owner, owner, "CREATE", False), ("", owner, "USAGE", False)]


def read_schemas(s: Session) -> list[Schema]:
    found = s.query(
        f"""
        SELECT n.oid, n.nspname AS name, pg_catalog.pg_get_userbyid(n.nspowner) AS owner,
               {acl_columns('n.nspacl', "'n'", 'n.nspowner')},
               n.nspacl IS NULL AS acl_is_null,
               pg_catalog.pg_get_userbyid(n.nspowner) = 'pg_database_owner' AS owner_is_default,
               CASE WHEN n.nspname = 'public' THEN pg_catalog.obj_description(n.oid, 'pg_namespace') END AS comment,
               EXISTS (SELECT 1 FROM pg_catalog.pg_depend xd WHERE xd.classid = 'pg_namespace'::pg_catalog.regclass
                        AND xd.objid = n.oid AND xd.deptype = 'e') AS ext_member
          FROM pg_catalog.pg_namespace n
         WHERE {user_schema('n')}
         ORDER BY n.nspname
        """
    )
    return [_schema(r) for r in found]


def _schema(r: dict) -> Schema:
    """One schema; ``public`` (by name, as pg_dump: a re-created one exists on the target too)
    is never created and its ACL is compared with :func:`public_schema_base`."""
    builtin = r["name"] == "public"
    acl = make_acl(r, "n")
    if builtin:
        base = public_schema_base(r["owner"])
        items = rows(r["acl"])
        acl = None if r["acl_is_null"] or items == base else Acl(items, False, "n", base)
    return Schema(
        ref=("pg_namespace", r["oid"]), schema=None, name=r["name"], owner=r["owner"],
        identity=_q(r["name"]), acl=acl, oid=r["oid"], builtin=builtin,
        owner_is_default=r["owner_is_default"], comment=r["comment"], ext_member=r["ext_member"],
    )


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
    from dumper.format.names import quote_ident

    return quote_ident(name)
