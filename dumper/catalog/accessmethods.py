"""Access methods users created (``CREATE ACCESS METHOD``), and the constraint indexes a table
is clustered on.

Built-in methods (oid below 16384) and extension members are recreated by the server or by
``CREATE EXTENSION``; the rest are written so that tables ``USING`` a table method, indexes of
an index method and operator classes for it can be restored. pg_dump does the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumper.catalog.base import FIRST_NORMAL_OID, CatalogObject, identity_sql, not_extension_member

if TYPE_CHECKING:
    from dumper.session import Session

AM_TYPES = {"i": "INDEX", "t": "TABLE"}


@dataclass
class AccessMethod(CatalogObject):
    oid: int = 0
    kind: str = "i"  # pg_am.amtype: i index, t table
    handler: str = ""  # regproc text


def read_access_methods(s: Session) -> list[AccessMethod]:
    rows = s.query(
        f"""
        SELECT a.oid, a.amname AS name, a.amtype AS kind, a.amhandler::pg_catalog.regproc::text AS handler,
               {identity_sql('pg_am', 'a.oid')} AS identity
          FROM pg_catalog.pg_am a
         WHERE a.oid >= {FIRST_NORMAL_OID} AND {not_extension_member('pg_am', 'a.oid')}
         ORDER BY a.amname
        """
    )
    return [
        AccessMethod(ref=("pg_am", r["oid"]), schema=None, name=r["name"], owner=None, identity=r["identity"],
                     oid=r["oid"], kind=r["kind"], handler=r["handler"])
        for r in rows
    ]


def read_clustered_constraint_indexes(s: Session, table_oids: list[int]) -> dict[int, str]:
    """Constraint oid -> its index name, for the primary key / unique / exclusion constraints
    whose index the table is clustered on (``ALTER TABLE ... CLUSTER ON``). Plain indexes carry
    their own flag (:class:`dumper.catalog.constraints.Index`)."""
    if not table_oids:
        return {}
    rows = s.query(
        """
        SELECT c.oid, ic.relname AS index_name
          FROM pg_catalog.pg_constraint c
          JOIN pg_catalog.pg_index i ON i.indexrelid = c.conindid AND i.indrelid = c.conrelid
          JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
         WHERE c.conrelid = ANY(%s) AND c.contype IN ('p', 'u', 'x') AND i.indisclustered
        """,
        (table_oids,),
    )
    return {r["oid"]: r["index_name"] for r in rows}
