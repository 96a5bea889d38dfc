"""Foreign-data wrappers, foreign servers and user mappings.

User mappings are read from the ``pg_user_mappings`` view, not ``pg_user_mapping``: the view
is readable by everyone and shows options only to those allowed to see them. Members of an
extension are left to CREATE EXTENSION (their changed grants: :mod:`dumper.entries.initial_state`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dumper.catalog.base import CatalogObject, acl_columns, identity_sql, make_acl, not_extension_member

if TYPE_CHECKING:
    from dumper.session import Session

_OPTIONS = (
    "(SELECT pg_catalog.array_agg(ARRAY[o.option_name, o.option_value] ORDER BY o.ord) "
    "FROM pg_catalog.pg_options_to_table({col}) WITH ORDINALITY AS o(option_name, option_value, ord))"
)


def _options(rows: list[list[str]] | None) -> list[tuple[str, str]]:
    return [(k, v) for k, v in (rows or [])]


@dataclass
class ForeignDataWrapper(CatalogObject):
    oid: int = 0
    handler: str | None = None
    validator: str | None = None
    options: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ForeignServer(CatalogObject):
    oid: int = 0
    wrapper: str = ""
    type: str | None = None
    version: str | None = None
    options: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class UserMapping(CatalogObject):
    oid: int = 0
    server: str = ""
    server_oid: int = 0
    user: str | None = None  # None = PUBLIC
    options: list[tuple[str, str]] = field(default_factory=list)


def _proc(col: str) -> str:
    return (
        f"(SELECT pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(p.proname) "
        f"FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace WHERE p.oid = {col})"
    )


def read_foreign(s: Session) -> tuple[list[ForeignDataWrapper], list[ForeignServer], list[UserMapping]]:
    fdw_rows = s.query(
            f"""
            SELECT w.oid, w.fdwname AS name, pg_catalog.pg_get_userbyid(w.fdwowner) AS owner,
                   {identity_sql('pg_foreign_data_wrapper', 'w.oid')} AS identity,
                   {_proc('w.fdwhandler')} AS handler, {_proc('w.fdwvalidator')} AS validator,
                   {_OPTIONS.format(col='w.fdwoptions')} AS options,
                   {acl_columns('w.fdwacl', "'F'", 'w.fdwowner')}
              FROM pg_catalog.pg_foreign_data_wrapper w
             WHERE {not_extension_member('pg_foreign_data_wrapper', 'w.oid')}
             ORDER BY w.fdwname
            """
        )
    fdws = [
        ForeignDataWrapper(
            ref=("pg_foreign_data_wrapper", r["oid"]), schema=None, name=r["name"], owner=r["owner"],
            identity=r["identity"], acl=make_acl(r, "F"), oid=r["oid"], handler=r["handler"],
            validator=r["validator"], options=_options(r["options"]),
        )
        for r in fdw_rows
    ]
    servers = [
        ForeignServer(
            ref=("pg_foreign_server", r["oid"]), schema=None, name=r["name"], owner=r["owner"],
            identity=r["identity"], acl=make_acl(r, "S"), oid=r["oid"], wrapper=r["wrapper"], type=r["type"],
            version=r["version"], options=_options(r["options"]),
        )
        for r in s.query(
            f"""
            SELECT f.oid, f.srvname AS name, pg_catalog.pg_get_userbyid(f.srvowner) AS owner,
                   {identity_sql('pg_foreign_server', 'f.oid')} AS identity, w.fdwname AS wrapper,
                   f.srvtype AS type, f.srvversion AS version, {_OPTIONS.format(col='f.srvoptions')} AS options,
                   {acl_columns('f.srvacl', "'S'", 'f.srvowner')}
              FROM pg_catalog.pg_foreign_server f JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = f.srvfdw
             WHERE {not_extension_member('pg_foreign_server', 'f.oid')}
             ORDER BY f.srvname
            """
        )
    ]
    mappings = [
        UserMapping(
            ref=("pg_user_mapping", r["umid"]), schema=None, name=f"{r['usename']} SERVER {r['srvname']}", owner=None,
            identity="", oid=r["umid"], server=r["srvname"], server_oid=r["srvid"],
            user=r["usename"] if r["umuser"] != 0 else None,
            options=_options(r["options"]),
        )
        for r in s.query(
            f"""
            SELECT u.umid, u.srvid, u.srvname, u.umuser, u.usename, {_OPTIONS.format(col='u.umoptions')} AS options
              FROM pg_catalog.pg_user_mappings u
             ORDER BY u.srvname, u.usename
            """
        )
    ]
    return fdws, servers, mappings
