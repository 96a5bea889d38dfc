"""Which servers the catalog readers were written for, and what to do with catalog values
pydump does not know.

Every catalog query branches on ``server_version_num`` for PostgreSQL 12 to 18 (README,
"Supported versions", lists what changed per major and how each change is read).

A value pydump does not know is never passed over in silence, on any server version (an
extension or a newer server can create one): :func:`check_catalog` reads, in one query, every
value outside :data:`KNOWN` in the user objects of the database.

- On a column that decides what a table is or what its rows hold (``critical`` in :data:`COLUMNS`: relkind,
  relpersistence, attgenerated, attidentity, contype, amtype) an unknown value stops the dump
  (exit 9, one line naming the objects): a backup that exits 0 with rows or columns missing
  is worse than none. ``--allow-unknown-catalog`` dumps anyway and records the values in
  ``metadata.json``.
- Elsewhere (routine kinds, type kinds, default-privilege kinds, ...) the dump warns once per
  value and records it in ``metadata.json``.

A server newer than :data:`NEWEST_KNOWN` is not refused (pg_dump refuses servers newer than
itself): it gets one warning, and the check above stops it wherever it matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from dumper.errors import UnknownCatalogValue

if TYPE_CHECKING:
    from dumper.session import Session

OLDEST_KNOWN = 120000
NEWEST_KNOWN = 189999


@dataclass(frozen=True)
class Column:
    """One catalog column pydump branches on.

    ``rows`` is a query over the user objects (oid >= 16384, i.e. not made by
    initdb) with the value in ``v`` and the object's name in ``name``; ``since`` is the first
    major that has the column.
    """

    key: str
    known: tuple[str, ...]
    rows: str
    critical: bool = False
    since: int = 120000

    def sql(self, min_oid: int = 16384) -> str:
        """The rows to check; ``min_oid=0`` includes the system's own objects (for the tests)."""
        return self.rows.format(min_oid=min_oid)


_ATT = ("pg_catalog.pg_attribute a", "a.attrelid >= {min_oid} AND a.attnum > 0 AND NOT a.attisdropped",
        "a.attrelid::pg_catalog.regclass::text || '.' || pg_catalog.quote_ident(a.attname)")


def _att(col: str) -> str:
    return f"SELECT a.{col}::text AS v, {_ATT[2]} AS name FROM {_ATT[0]} WHERE {_ATT[1]}"


#: Every value each column can hold on PostgreSQL 12-18 (the catalog chapter of the docs),
#: all handled by the readers. '' (no value) is always allowed.
COLUMNS: tuple[Column, ...] = (
    Column("pg_class.relkind", tuple("rivmScftpI"),
           "SELECT c.relkind::text AS v, c.oid::pg_catalog.regclass::text AS name FROM pg_catalog.pg_class c WHERE c.oid >= {min_oid}",
           critical=True),
    Column("pg_class.relpersistence", tuple("put"),
           "SELECT c.relpersistence::text AS v, c.oid::pg_catalog.regclass::text AS name FROM pg_catalog.pg_class c WHERE c.oid >= {min_oid}",
           critical=True),
    Column("pg_attribute.attgenerated", ("s", "v"), _att("attgenerated"), critical=True),
    Column("pg_attribute.attidentity", ("a", "d"), _att("attidentity"), critical=True),
    Column("pg_constraint.contype", tuple("cfnptux"),
           "SELECT k.contype::text AS v, pg_catalog.quote_ident(k.conname) || ' on ' || "
           "COALESCE(NULLIF(k.conrelid, 0)::pg_catalog.regclass::text, k.contypid::pg_catalog.regtype::text) AS name "
           "FROM pg_catalog.pg_constraint k WHERE k.oid >= {min_oid}",
           critical=True),
    Column("pg_am.amtype", ("i", "t"),
           "SELECT m.amtype::text AS v, m.amname::text AS name FROM pg_catalog.pg_am m WHERE m.oid >= {min_oid}",
           critical=True),
    Column("pg_proc.prokind", tuple("fpaw"),
           "SELECT p.prokind::text AS v, p.oid::pg_catalog.regprocedure::text AS name FROM pg_catalog.pg_proc p WHERE p.oid >= {min_oid}"),
    Column("pg_type.typtype", tuple("bcdemrp"),
           "SELECT t.typtype::text AS v, t.oid::pg_catalog.regtype::text AS name FROM pg_catalog.pg_type t WHERE t.oid >= {min_oid}"),
    Column("pg_default_acl.defaclobjtype", tuple("rSfTnL"),
           "SELECT d.defaclobjtype::text AS v, 'default privileges of ' || pg_catalog.pg_get_userbyid(d.defaclrole) AS name "
           "FROM pg_catalog.pg_default_acl d"),
    Column("pg_collation.collprovider", tuple("dcib"),
           "SELECT o.collprovider::text AS v, pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(o.collname) AS name "
           "FROM pg_catalog.pg_collation o JOIN pg_catalog.pg_namespace cn ON cn.oid = o.collnamespace WHERE o.oid >= {min_oid}"),
    Column("pg_trigger.tgenabled", tuple("OADR"),
           "SELECT g.tgenabled::text AS v, pg_catalog.quote_ident(g.tgname) || ' on ' || g.tgrelid::pg_catalog.regclass::text AS name "
           "FROM pg_catalog.pg_trigger g WHERE g.oid >= {min_oid}"),
    Column("pg_policy.polcmd", tuple("*rawd"),
           "SELECT y.polcmd::text AS v, pg_catalog.quote_ident(y.polname) || ' on ' || y.polrelid::pg_catalog.regclass::text AS name "
           "FROM pg_catalog.pg_policy y WHERE y.oid >= {min_oid}"),
    Column("pg_class.relreplident", tuple("dnfi"),
           "SELECT c.relreplident::text AS v, c.oid::pg_catalog.regclass::text AS name FROM pg_catalog.pg_class c WHERE c.oid >= {min_oid}"),
    Column("pg_attribute.attstorage", tuple("pemx"), _att("attstorage")),
    Column("pg_attribute.attcompression", ("p", "l"), _att("attcompression"), since=140000),
    Column("pg_event_trigger.evtevent", ("ddl_command_start", "ddl_command_end", "sql_drop", "table_rewrite", "login"),
           "SELECT e.evtevent::text AS v, e.evtname::text AS name FROM pg_catalog.pg_event_trigger e"),
)

KNOWN: dict[str, tuple[str, ...]] = {c.key: c.known for c in COLUMNS}


@dataclass(frozen=True)
class Unknown:
    key: str
    value: str
    count: int
    names: list[str]
    critical: bool

    def __str__(self) -> str:
        more = f" and {self.count - len(self.names)} more" if self.count > len(self.names) else ""
        return f"{self.key} = '{self.value}' ({', '.join(self.names)}{more})"


def columns_for(version_num: int) -> list[Column]:
    """The checked columns that exist on this server."""
    return [c for c in COLUMNS if version_num >= c.since]


def check_sql(version_num: int) -> str:
    """One query: every value outside KNOWN, with a count and the first five object names."""
    parts = []
    for c in columns_for(version_num):
        known = ",".join(c.known)
        parts.append(
            f"SELECT '{c.key}' AS k, x.v, count(*) AS n, (pg_catalog.array_agg(x.name ORDER BY x.name))[1:5] AS names "
            f"FROM ({c.sql()}) x WHERE x.v <> '' AND x.v <> ALL (pg_catalog.string_to_array('{known}', ',')) GROUP BY x.v"
        )
    return " UNION ALL ".join(parts) + " ORDER BY 1, 2"


def check_catalog(s: Session) -> list[Unknown]:
    crit = {c.key: c.critical for c in COLUMNS}
    return [Unknown(r["k"], r["v"], r["n"], list(r["names"]), crit[r["k"]]) for r in s.query(check_sql(s.info.version_num))]


def enforce_known_catalog(s: Session, *, allow: bool, warn: Callable[[str], None]) -> list[str]:
    """Stop on an unknown value in a critical column (unless ``allow``); warn once for each
    other one. Returns every unknown value, for ``metadata.json``."""
    found = check_catalog(s)
    critical = [u for u in found if u.critical]
    if critical and not allow:
        raise UnknownCatalogValue(
            "catalog values pydump does not know, so it cannot dump these objects faithfully: "
            + "; ".join(map(str, critical))
            + " (--allow-unknown-catalog dumps anyway and lists them in metadata.json)"
        )
    for u in found:
        warn(f"catalog value pydump does not know, the object may not be dumped faithfully: {u}")
    return [str(u) for u in found]


def newer_than_known(version_num: int) -> bool:
    return version_num > NEWEST_KNOWN


def version_warning(version: str, version_num: int) -> str | None:
    """The one warning for a server newer than pydump knows, or None."""
    if not newer_than_known(version_num):
        return None
    return (f"server version {version} is newer than pydump knows (up to 18); values its catalog holds that "
            "pydump does not know stop the dump where they decide what a table holds")
