"""Aggregates: pg_aggregate joined to pg_proc, read in one query.

``pg_get_functiondef`` refuses aggregates, so ``CREATE AGGREGATE`` is assembled from the
catalog as pg_dump's dumpAgg does. Support functions are read as ``regproc`` text (qualified
only when the name would not resolve under the dump's empty search_path, and resolved by the
server through the aggregate's argument types at restore) and the sort operator as
``OPERATOR(schema.op)``, so every name survives ``search_path = ''``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumper.catalog.base import CatalogObject, acl_columns, identity_sql, make_acl, not_extension_member, user_schema

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class Aggregate(CatalogObject):
    oid: int = 0
    arguments: str = ""  # pg_get_function_arguments: names, VARIADIC, ORDER BY for ordered-set
    identity_args: str = ""  # pg_get_function_identity_arguments, for ALTER/GRANT
    kind: str = "n"  # n normal, o ordered-set, h hypothetical-set
    transfn: str = ""
    transtype: str = ""
    transspace: int = 0
    initval: str | None = None
    finalfn: str | None = None
    finalextra: bool = False
    finalmodify: str = "r"
    combinefn: str | None = None
    serialfn: str | None = None
    deserialfn: str | None = None
    mtransfn: str | None = None
    minvtransfn: str | None = None
    mtranstype: str | None = None
    mtransspace: int = 0
    mfinalfn: str | None = None
    mfinalextra: bool = False
    mfinalmodify: str = "r"
    minitval: str | None = None
    sortop: str | None = None
    parallel: str = "u"
    signature: str = ""


def _fn(col: str) -> str:
    return f"CASE WHEN a.{col} <> 0 THEN a.{col}::pg_catalog.regproc::text END AS {col}"


def read_aggregates(s: Session) -> list[Aggregate]:
    rows = s.query(
        f"""
        SELECT p.oid, n.nspname AS schema, p.proname AS name, pg_catalog.pg_get_userbyid(p.proowner) AS owner,
               {identity_sql('pg_proc', 'p.oid')} AS identity,
               pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
               pg_catalog.pg_get_function_identity_arguments(p.oid) AS identity_args,
               a.aggkind, a.aggtransfn::pg_catalog.regproc::text AS transfn,
               pg_catalog.format_type(a.aggtranstype, NULL) AS transtype, a.aggtransspace,
               a.agginitval, {_fn('aggfinalfn')}, a.aggfinalextra, a.aggfinalmodify,
               {_fn('aggcombinefn')}, {_fn('aggserialfn')}, {_fn('aggdeserialfn')},
               {_fn('aggmtransfn')}, {_fn('aggminvtransfn')},
               CASE WHEN a.aggmtranstype <> 0 THEN pg_catalog.format_type(a.aggmtranstype, NULL) END AS mtranstype,
               a.aggmtransspace, {_fn('aggmfinalfn')}, a.aggmfinalextra, a.aggmfinalmodify, a.aggminitval,
               CASE WHEN a.aggsortop <> 0 THEN
                    (SELECT 'OPERATOR(' || pg_catalog.quote_ident(on_.nspname) || '.' || o.oprname || ')'
                       FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace on_ ON on_.oid = o.oprnamespace
                      WHERE o.oid = a.aggsortop) END AS sortop,
               p.proparallel,
               {acl_columns('p.proacl', "'f'", 'p.proowner')}
          FROM pg_catalog.pg_aggregate a
          JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
          JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
         WHERE {user_schema('n')} AND {not_extension_member('pg_proc', 'p.oid')}
         ORDER BY n.nspname, p.proname, 7
        """
    )
    return [
        Aggregate(
            ref=("pg_proc", r["oid"]), schema=r["schema"], name=r["name"], owner=r["owner"], identity=r["identity"],
            acl=make_acl(r, "f"), oid=r["oid"], arguments=r["arguments"], identity_args=r["identity_args"],
            kind=r["aggkind"], transfn=r["transfn"], transtype=r["transtype"], transspace=r["aggtransspace"],
            initval=r["agginitval"], finalfn=r["aggfinalfn"], finalextra=r["aggfinalextra"],
            finalmodify=r["aggfinalmodify"], combinefn=r["aggcombinefn"], serialfn=r["aggserialfn"],
            deserialfn=r["aggdeserialfn"], mtransfn=r["aggmtransfn"], minvtransfn=r["aggminvtransfn"],
            mtranstype=r["mtranstype"], mtransspace=r["aggmtransspace"], mfinalfn=r["aggmfinalfn"],
            mfinalextra=r["aggmfinalextra"], mfinalmodify=r["aggmfinalmodify"], minitval=r["aggminitval"],
            sortop=r["sortop"], parallel=r["proparallel"], signature=f"{r['name']}({r['identity_args']})",
        )
        for r in rows
    ]
