"""Procedural languages created with ``CREATE LANGUAGE`` (not by an extension)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumper.catalog.base import FIRST_NORMAL_OID, CatalogObject, acl_columns, identity_sql, make_acl, not_extension_member

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class Language(CatalogObject):
    oid: int = 0
    trusted: bool = False
    handler: str | None = None  # qualified function names
    inline: str | None = None
    validator: str | None = None


def _qualified_proc(col: str) -> str:
    return (
        f"(SELECT pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(p.proname) "
        f"FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace WHERE p.oid = {col})"
    )


def read_languages(s: Session) -> list[Language]:
    rows = s.query(
        f"""
        SELECT l.oid, l.lanname AS name, pg_catalog.pg_get_userbyid(l.lanowner) AS owner,
               {identity_sql('pg_language', 'l.oid')} AS identity, l.lanpltrusted AS trusted,
               {_qualified_proc('l.lanplcallfoid')} AS handler, {_qualified_proc('l.laninline')} AS inline,
               {_qualified_proc('l.lanvalidator')} AS validator,
               {acl_columns('l.lanacl', "'l'", 'l.lanowner')}
          FROM pg_catalog.pg_language l
         WHERE l.lanispl AND l.oid >= {FIRST_NORMAL_OID} AND {not_extension_member('pg_language', 'l.oid')}
         ORDER BY l.lanname
        """
    )
    return [
        Language(
            ref=("pg_language", r["oid"]), schema=None, name=r["name"], owner=r["owner"], identity=r["identity"],
            acl=make_acl(r, "l"), oid=r["oid"], trusted=r["trusted"], handler=r["handler"], inline=r["inline"],
            validator=r["validator"],
        )
        for r in rows
    ]
