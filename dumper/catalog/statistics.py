"""Extended statistics objects (``CREATE STATISTICS``), deparsed by the server.

``pg_get_statisticsobjdef`` reads the live catalog, so this runs after the locks, and only
the objects on relations in the dump are kept by the caller. The statistics target is
``-1`` for "default" up to 16 and NULL from 17.
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
    target = "s.stxstattarget" if s.info.version_num >= 170000 else "NULLIF(s.stxstattarget, -1)"
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
    )
    return [
        StatisticsObject(
            ref=("pg_statistic_ext", r["oid"]), schema=r["schema"], name=r["name"], owner=r["owner"],
            identity=r["identity"], oid=r["oid"], table_oid=r["stxrelid"], definition=r["definition"],
            target=r["target"],
        )
        for r in rows
    ]
