"""Extended statistics objects (``CREATE STATISTICS``), deparsed by the server.

``pg_get_statisticsobjdef`` reads the live catalog, so this runs after the locks, and only
the objects on relations in the dump are kept by the caller. The statistics target does not
exist on 12, is ``-1`` for "default" on 13-16 and NULL from 17.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumper.catalog.base import CatalogObject, identity_sql, not_extension_member

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class StatisticsObject(CatalogObject):
    oid: int = 0
    table_oid: int = 0
    definition: str = ""
    target: int | None = None  # only when not the default


def read_statistics(s: Session, table_oids: list[int]) -> list[StatisticsObject]:
    if not table_oids:
        return []
    v = s.info.version_num
    # stxstattarget: none before 13 (always the default), -1 for "default" 13-16, NULL from 17.
    target = "s.stxstattarget" if v >= 170000 else "NULLIF(s.stxstattarget, -1)" if v >= 130000 else "NULL::integer"
    rows = s.query(
        f"""
        SELECT s.oid, n.nspname AS schema, s.stxname AS name, pg_catalog.pg_get_userbyid(s.stxowner) AS owner,
               {identity_sql('pg_statistic_ext', 's.oid')} AS identity, s.stxrelid,
               pg_catalog.pg_get_statisticsobjdef(s.oid) AS definition, {target} AS target
          FROM pg_catalog.pg_statistic_ext s JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace
         WHERE s.stxrelid = ANY(%s) AND {not_extension_member('pg_statistic_ext', 's.oid')}
         ORDER BY n.nspname, s.stxname
        """,
        (table_oids,),
        deparsed=("definition",), what="statistics object",
    )
    return [
        StatisticsObject(
            ref=("pg_statistic_ext", r["oid"]), schema=r["schema"], name=r["name"], owner=r["owner"],
            identity=r["identity"], oid=r["oid"], table_oid=r["stxrelid"], definition=r["definition"],
            target=r["target"],
        )
        for r in rows
    ]
