"""Post-restore verification: every table's row count against ``row_counts.json``.

``count(*) FROM ONLY``: row_counts.json counts what each table's own COPY carried, so rows of
inheritance children or partitions must not be added to their parent's count.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from dumper.format.names import split_qualified
from dumper.format.toc import Kind, TocEntry


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A table whose row count differs (``actual`` None: the table is missing)."""

    table: str
    expected: int
    actual: int | None

    def describe(self) -> str:
        if self.actual is None:
            return f"{self.table}: missing (expected {self.expected} rows)"
        return f"{self.table}: {self.actual} rows, expected {self.expected}"


def count_rows(conn: psycopg.Connection, key: str) -> int | None:
    """``SELECT count(*) FROM ONLY`` the table named by a row_counts key; None if it does not exist."""
    schema, name = split_qualified(key)
    ident = sql.Identifier(schema, name) if schema is not None else sql.Identifier(name)
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [ident.as_string(conn)]).fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute(sql.SQL("SELECT count(*) FROM ONLY {}").format(ident)).fetchone()
    return int(row[0]) if row else None


def extension_config_tables(entries: Iterable[TocEntry]) -> set[str]:
    """Keys of the extension configuration tables whose rows the backup carries.

    ``CREATE EXTENSION`` fills such a table with rows of its own (PostGIS: 8,500 in
    ``spatial_ref_sys``) and the backup holds only the rows users added (the extension's
    filter), so the table's count after a restore is legitimately larger than the backup's."""
    return {e.table for e in entries
            if e.kind == Kind.TABLE_DATA and e.table and e.extension_config}


def verify_row_counts(conn: psycopg.Connection, expected: dict[str, int],
                      tables: Iterable[str] | None = None, extra: dict[str, int] | None = None, *,
                      loaded: dict[str, int] | None = None, loaded_only: set[str] | None = None,
                      via_root: dict[str, str] | None = None) -> list[Mismatch]:
    """Compare the target with ``expected`` (all tables, or only ``tables``); returns the differences.

    Runs in autocommit on the caller's connection; each count is its own statement, so a table
    dropped concurrently shows up as missing instead of aborting the whole check. ``extra``:
    rows known to be in a table besides the backup's (pyrestore's own event rows). For the
    tables in ``loaded_only`` (extension configuration tables) the check compares what the
    restore loaded (``loaded``: rows per table from the COPYs), not the whole table. The
    partitions in ``via_root`` (partition key -> root key, toc.json's ``load_via``) were loaded
    through their root, which may route a row to another partition than in the source: they
    are compared as one sum per root.
    """
    keys = list(expected) if tables is None else [t for t in tables if t in expected]
    out: list[Mismatch] = []
    routed = [k for k in keys if via_root and k in via_root]
    if routed:
        out.extend(_verify_routed(conn, expected, routed, via_root or {}))
        keys = [k for k in keys if k not in via_root]  # type: ignore[operator]
    for key in keys:
        if loaded_only and key in loaded_only and loaded is not None:
            if loaded.get(key, 0) != expected[key]:
                out.append(Mismatch(key, expected[key], loaded.get(key, 0)))
            continue
        actual = count_rows(conn, key)
        if actual is not None and extra:
            actual -= extra.get(key, 0)
        if actual != expected[key]:
            out.append(Mismatch(key, expected[key], actual))
    return out


def _verify_routed(conn: psycopg.Connection, expected: dict[str, int], keys: list[str],
                   via_root: dict[str, str]) -> list[Mismatch]:
    """The sum of the partitions loaded through one root against the sum the backup carried."""
    groups: dict[str, list[str]] = {}
    for k in keys:
        groups.setdefault(via_root[k], []).append(k)
    out: list[Mismatch] = []
    for root, parts in groups.items():
        counts = [count_rows(conn, k) for k in parts]
        missing = [k for k, n in zip(parts, counts) if n is None]
        out.extend(Mismatch(k, expected[k], None) for k in missing)
        if missing:
            continue
        want, got = sum(expected[k] for k in parts), sum(n or 0 for n in counts)
        if want != got:
            out.append(Mismatch(f"{root} ({len(parts)} partition(s) loaded through it)", want, got))
    return out
