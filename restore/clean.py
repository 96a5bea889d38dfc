"""``--clean`` for a full restore: drop what the backup will create, newest first.

The DROP statements are built from toc.json (kind, schema, name), in reverse TOC order, which
is a reverse dependency order: a view goes before its tables, a table before its types and
schema, and every foreign key (post-data, at the end of the TOC) before any table.

What is dropped, and why not more:

* foreign keys explicitly (``ALTER TABLE ... DROP CONSTRAINT``): they are the only edges
  between tables, so once they are gone each table can go without ``CASCADE``;
* tables, views, materialized views, sequences, functions/procedures, types/domains, event
  triggers, publications, and schemas the backup creates (never ``public``, which the
  backup does not create either);
* not indexes, constraints, triggers, policies, rules, defaults, comments, grants: they go
  with their table or object;
* not extensions: the backup says ``CREATE EXTENSION IF NOT EXISTS``, and dropping one would
  take objects outside the backup with it.

No ``CASCADE`` anywhere: if the target holds an object that is not in the backup but depends
on one that is (a view of the user's own on a backed-up table, an extra table in a backed-up
schema), the server refuses the drop and the clean stops, rather than silently destroying
something the backup cannot give back. The whole clean runs in one transaction, so a refusal
leaves the target exactly as it was. A drop of an object that does not exist is skipped
(inside a savepoint; ``--if-exists`` adds ``IF EXISTS`` so the server does not even complain).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from restore.apply import Selection
from restore.backup import Backup, Entry, split_qualified
from restore.errors import StatementFailed

#: "does not exist" SQLSTATEs: undefined_table, undefined_object, invalid_schema_name, undefined_function.
_MISSING = {"42P01", "42704", "3F000", "42883"}

_DROP_KEYWORD = {"TABLE": "TABLE", "FOREIGN TABLE": "FOREIGN TABLE", "VIEW": "VIEW",
                 "MATERIALIZED VIEW": "MATERIALIZED VIEW", "SEQUENCE": "SEQUENCE", "TYPE": "TYPE",
                 "DOMAIN": "DOMAIN", "FUNCTION": "FUNCTION", "PROCEDURE": "PROCEDURE", "AGGREGATE": "AGGREGATE"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _routine(schema: str, signature: str) -> str:
    """``schema."name"(args)`` from a toc name ``name(identity args)`` (args are already SQL)."""
    name, paren, args = signature.partition("(")
    return f"{_q(schema)}.{_q(name)}({args}" if paren else f"{_q(schema)}.{_q(name)}"


@dataclass(frozen=True, slots=True)
class Drop:
    """One DROP statement and the entry it undoes."""

    entry: Entry
    sql: str


def drop_statement(e: Entry, if_exists: bool) -> str | None:
    """The statement that removes what entry ``e`` creates, or None when nothing needs dropping."""
    ie = " IF EXISTS" if if_exists else ""
    if e.kind == "FK CONSTRAINT":
        if not e.table:
            return None
        schema, tname = split_qualified(e.table)
        if not e.name.startswith(tname + " "):
            return None
        cname = e.name[len(tname) + 1:]
        tab = f"{_q(schema)}.{_q(tname)}" if schema else _q(tname)
        return f"ALTER TABLE{ie} ONLY {tab} DROP CONSTRAINT{ie} {_q(cname)};"
    if e.kind == "SCHEMA":
        return None if e.name == "public" else f"DROP SCHEMA{ie} {_q(e.name)};"
    if e.kind == "EVENT TRIGGER":
        return f"DROP EVENT TRIGGER{ie} {_q(e.name)};"
    if e.kind == "PUBLICATION":
        return f"DROP PUBLICATION{ie} {_q(e.name)};"
    kw = _DROP_KEYWORD.get(e.kind)
    if kw is None or e.schema is None:
        return None
    if kw in ("FUNCTION", "PROCEDURE", "AGGREGATE"):
        return f"DROP {kw}{ie} {_routine(e.schema, e.name)};"
    return f"DROP {kw}{ie} {_q(e.schema)}.{_q(e.name)};"


def drop_plan(backup: Backup, selection: Selection, if_exists: bool) -> list[Drop]:
    """DROPs for the selected entries, in reverse TOC order (skipping what the script will not create)."""
    out: list[Drop] = []
    for e in reversed(backup.entries):
        if not selection.wants_entry(e) or e.section == "data":
            continue
        stmt = drop_statement(e, if_exists)
        if stmt is not None:
            out.append(Drop(e, stmt))
    return out


@dataclass(slots=True)
class CleanResult:
    dropped: int = 0
    missing: list[str] = field(default_factory=list)


def run_clean(conn: psycopg.Connection, drops: list[Drop], info: Callable[[str], None]) -> CleanResult:
    """Execute the drops in one transaction (savepoint per drop); any refusal rolls back everything."""
    res = CleanResult()
    was_autocommit = conn.autocommit
    with conn.transaction():
        for d in drops:
            try:
                with conn.transaction():
                    conn.execute(d.sql)
                res.dropped += 1
            except psycopg.Error as exc:
                state = exc.diag.sqlstate or ""
                if state in _MISSING:
                    res.missing.append(d.entry.describe())
                    continue
                msg = exc.diag.message_primary or str(exc).strip()
                detail = f" ({exc.diag.message_detail})" if exc.diag.message_detail else ""
                hint = (" (an object outside the backup depends on it; drop it yourself or restore into an "
                        "empty database)") if state == "2BP01" else ""
                raise StatementFailed(f"--clean: {d.sql} failed: {msg}{detail}{hint}; "
                                      + ("nothing was dropped" if was_autocommit else "the transaction is rolled back"))
    if res.missing:
        info(f"--clean: {len(res.missing)} object(s) of the backup were not in the target (nothing to drop)")
    info(f"--clean: dropped {res.dropped} object(s) of the backup from the target")
    return res
