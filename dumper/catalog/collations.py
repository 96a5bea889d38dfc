"""Collations and encoding conversions created by users.

The locale columns moved between versions: ICU locales were kept in ``collcollate`` up to
14, in ``colliculocale`` in 15 and 16, and every provider's locale is ``colllocale`` from 17
(which also added the ``builtin`` provider); ``collicurules`` exists from 16. Each query is
chosen by ``server_version_num``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumper.catalog.base import FIRST_NORMAL_OID, CatalogObject, identity_sql, not_extension_member

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class Collation(CatalogObject):
    oid: int = 0
    provider: str = "c"  # c libc, i icu, b builtin (17+), d default
    deterministic: bool = True
    collate: str | None = None
    ctype: str | None = None
    locale: str | None = None  # ICU / builtin locale
    icu_rules: str | None = None


@dataclass
class Conversion(CatalogObject):
    oid: int = 0
    source_encoding: str = ""
    target_encoding: str = ""
    function: str = ""
    is_default: bool = False


def read_collations(s: Session) -> list[Collation]:
    v = s.info.version_num
    if v >= 170000:
        locale = "c.colllocale"
    elif v >= 150000:
        locale = "c.colliculocale"
    else:
        locale = "CASE WHEN c.collprovider = 'i' THEN c.collcollate END"
    rules = "c.collicurules" if v >= 160000 else "NULL::text"
    rows = s.query(
        f"""
        SELECT c.oid, n.nspname AS schema, c.collname AS name, pg_catalog.pg_get_userbyid(c.collowner) AS owner,
               {identity_sql('pg_collation', 'c.oid')} AS identity, c.collprovider AS provider,
               c.collisdeterministic AS deterministic, c.collcollate AS collate, c.collctype AS ctype,
               {locale} AS locale, {rules} AS icu_rules
          FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace
         WHERE c.oid >= {FIRST_NORMAL_OID} AND {not_extension_member('pg_collation', 'c.oid')}
         ORDER BY n.nspname, c.collname, c.collencoding
        """
    )
    out = []
    for r in rows:
        collate, ctype = r["collate"], r["ctype"]
        if r["provider"] == "i" and v < 150000:
            collate = ctype = None
        out.append(
            Collation(
                ref=("pg_collation", r["oid"]), schema=r["schema"], name=r["name"], owner=r["owner"],
                identity=r["identity"], oid=r["oid"], provider=r["provider"], deterministic=r["deterministic"],
                collate=collate, ctype=ctype, locale=r["locale"], icu_rules=r["icu_rules"],
            )
        )
    return out


def read_conversions(s: Session) -> list[Conversion]:
    rows = s.query(
        f"""
        SELECT c.oid, n.nspname AS schema, c.conname AS name, pg_catalog.pg_get_userbyid(c.conowner) AS owner,
               {identity_sql('pg_conversion', 'c.oid')} AS identity,
               pg_catalog.pg_encoding_to_char(c.conforencoding) AS source_encoding,
               pg_catalog.pg_encoding_to_char(c.contoencoding) AS target_encoding,
               pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(p.proname) AS function,
               c.condefault AS is_default
          FROM pg_catalog.pg_conversion c
          JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace
          JOIN pg_catalog.pg_proc p ON p.oid = c.conproc
          JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
         WHERE c.oid >= {FIRST_NORMAL_OID} AND {not_extension_member('pg_conversion', 'c.oid')}
         ORDER BY n.nspname, c.conname
        """
    )
    return [
        Conversion(
            ref=("pg_conversion", r["oid"]), schema=r["schema"], name=r["name"], owner=r["owner"],
            identity=r["identity"], oid=r["oid"], source_encoding=r["source_encoding"],
            target_encoding=r["target_encoding"], function=r["function"], is_default=r["is_default"],
        )
        for r in rows
    ]
