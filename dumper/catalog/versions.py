"""Which servers the catalog readers were written for, and what to say about newer ones.

Every catalog query branches on ``server_version_num`` for PostgreSQL 12 to 17 (the columns
that changed: ``attcompression`` 14, multiranges 14, ``tgparentid`` 13, NULLS NOT DISTINCT
15, nullable ``attstattarget`` 17). A newer server is not refused: pg_dump refuses servers
newer than itself because it cannot know their catalog, but a backup that runs and says
what it may have missed is more useful than none. So the dump runs, warns once, and
``metadata.json`` lists the catalog values it met that it does not know (new relkinds,
constraint types, routine kinds, type kinds, generated-column kinds), found by one query
that only runs on such a server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dumper.session import Session

OLDEST_KNOWN = 120000
NEWEST_KNOWN = 179999

# Catalog values the readers know, per column (as of PostgreSQL 17).
_KNOWN = {
    "pg_class.relkind": "rivmScftpI",
    "pg_constraint.contype": "cfpuxt",
    "pg_proc.prokind": "fpaw",
    "pg_type.typtype": "bcdemrp",
    "pg_attribute.attgenerated": "s",
    "pg_attribute.attidentity": "ad",
}


def newer_than_known(version_num: int) -> bool:
    return version_num > NEWEST_KNOWN


def version_warning(version: str, version_num: int) -> str | None:
    """The one warning for a server newer than pydump knows, or None."""
    if not newer_than_known(version_num):
        return None
    return f"server version {version} is newer than pydump knows (up to 17); objects it does not know may be missing"


def unknown_catalog_values(s: Session) -> list[str]:
    """``table.column = 'x' (n rows)`` for every catalog value outside :data:`_KNOWN`, in user
    objects. One query; call it only when :func:`newer_than_known` is true."""
    parts = []
    for key, known in _KNOWN.items():
        table, col = key.split(".")
        parts.append(
            f"SELECT '{key}' AS k, {col}::text AS v, count(*) AS n FROM pg_catalog.{table} "
            f"WHERE {col} <> '' AND {col}::text <> ALL (pg_catalog.string_to_array('{','.join(known)}', ',')) "
            + ("AND oid >= 16384 " if table != "pg_attribute" else "AND attrelid >= 16384 ")
            + f"GROUP BY {col}"
        )
    rows = s.query(" UNION ALL ".join(parts) + " ORDER BY 1, 2")
    return [f"{r['k']} = '{r['v']}' ({r['n']} rows)" for r in rows]
