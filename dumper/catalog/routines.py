"""Functions and procedures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumper.catalog.base import CatalogObject, acl_columns, identity_sql, make_acl, not_extension_member, user_schema

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class Routine(CatalogObject):
    oid: int = 0
    kind: str = "f"  # f function, p procedure, w window, a aggregate
    definition: str = ""  # CREATE OR REPLACE ... as the server deparses it
    signature: str = ""  # name(identity args), for sorting and comments


def read_routines(s: Session) -> list[Routine]:
    """Every user function and procedure, deparsed by ``pg_get_functiondef``.

    ``pg_get_functiondef`` returns the complete CREATE statement (arguments with defaults and
    modes, RETURNS, LANGUAGE, TRANSFORM, WINDOW, volatility, STRICT, SECURITY DEFINER,
    LEAKPROOF, PARALLEL, COST, ROWS, SUPPORT, SET clauses, and SQL-standard bodies), with
    every name qualified because our search_path is empty. One query deparses them all.
    Aggregates are assembled by :mod:`dumper.catalog.aggregates`.
    """
    rows = s.query(
        f"""
        SELECT p.oid, n.nspname AS schema, p.proname AS name, p.prokind AS kind,
               pg_catalog.pg_get_userbyid(p.proowner) AS owner,
               {identity_sql('pg_proc', 'p.oid')} AS identity,
               p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')' AS signature,
               pg_catalog.pg_get_functiondef(p.oid) AS definition,
               {acl_columns('p.proacl', "'f'", 'p.proowner')}
          FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
         WHERE {user_schema('n')} AND p.prokind <> 'a'
           AND {not_extension_member('pg_proc', 'p.oid')}
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_proc'::pg_catalog.regclass
                            AND d.objid = p.oid AND d.deptype = 'i')
         ORDER BY n.nspname, p.proname, 7
        """,
        deparsed=("definition",), what="function",
    )
    return [
        Routine(
            ref=("pg_proc", r["oid"]), schema=r["schema"], name=r["name"], owner=r["owner"],
            identity=r["identity"], acl=make_acl(r, "f"), oid=r["oid"], kind=r["kind"],
            definition=r["definition"], signature=r["signature"],
        )
        for r in rows
    ]
