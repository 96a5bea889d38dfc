"""Extension configuration tables (``pg_extension_config_dump``).

``CREATE EXTENSION`` recreates an extension's tables but not the rows users added to the
ones it registered as configuration; pg_dump dumps those rows, filtered by the condition the
extension gave (``extcondition``, e.g. ``WHERE NOT builtin``). The tables are extension
members, so the relation reader skips them: their columns are read here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class ConfigTable:
    extension_oid: int
    oid: int
    schema: str
    name: str
    identity: str
    kind: str  # 'r' table, 'S' sequence
    condition: str | None  # without the leading WHERE
    columns: list[str] = field(default_factory=list)
    owner: str | None = None
    last_value: int | None = None
    is_called: bool = False
    #: tables this one has foreign keys to: ``CREATE EXTENSION`` creates those keys before any
    #: row is loaded (PostGIS ``topology.layer`` → ``topology.topology``), so unlike user tables
    #: the data must be loaded parents first
    fk_parents: list[int] = field(default_factory=list)


def read_config_tables(s: Session, extension_oids: list[int]) -> list[ConfigTable]:
    if not extension_oids:
        return []
    rows = s.query(
        """
        SELECT e.oid AS ext, c.oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind,
               pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS identity,
               pg_catalog.pg_get_userbyid(c.relowner) AS owner, x.cond,
               ARRAY(SELECT a.attname FROM pg_catalog.pg_attribute a
                      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                      ORDER BY a.attnum) AS columns,
               ARRAY(SELECT DISTINCT k.confrelid FROM pg_catalog.pg_constraint k
                      WHERE k.conrelid = c.oid AND k.contype = 'f' AND k.confrelid <> c.oid) AS parents
          FROM pg_catalog.pg_extension e
         CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(e.extconfig), pg_catalog.unnest(e.extcondition)) AS x(tab, cond)
          JOIN pg_catalog.pg_class c ON c.oid = x.tab
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE e.oid = ANY(%s) AND c.relkind IN ('r', 'S')
         ORDER BY n.nspname, c.relname
        """,
        (extension_oids,),
    )
    out = []
    for r in rows:
        cond = (r["cond"] or "").strip()
        if cond[:5].upper() == "WHERE":
            cond = cond[5:].strip()
        out.append(ConfigTable(r["ext"], r["oid"], r["schema"], r["name"], r["identity"], r["kind"], cond or None,
                               list(r["columns"]), r["owner"], fk_parents=[int(p) for p in r["parents"]]))
    seqs = [t for t in out if t.kind == "S"]
    if seqs:
        sql = " UNION ALL ".join(f"SELECT {t.oid}::oid AS oid, last_value, is_called FROM {t.identity}" for t in seqs)
        vals = {r["oid"]: r for r in s.query(sql)}
        for t in seqs:
            t.last_value, t.is_called = vals[t.oid]["last_value"], vals[t.oid]["is_called"]
    return out
