"""Self-reporting into ``code_ops.artifact_events`` of the target (the spec's ``restore-db`` command).

The rows go through a separate autocommit connection so they are written even when the restore
itself runs in one transaction that is rolled back, and never join that transaction's fate. A
missing table or any failure is a warning: reporting must never fail a restore.

A restore must not write what the backup does not hold: the rows go only into an events table
that existed in the target *before* the restore began (a live project that tracks its runs),
and only if it is still that same table afterwards (same oid: not dropped by ``--clean`` and
re-created from the backup). A fresh copy of a database therefore holds exactly the source's
rows, and its sequences and triggers on that table do not move.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from restore import __version__

ARTIFACT_TYPE = "command"
ARTIFACT_NAME = "restore-db"


class Reporter:
    """Writes ``invoked`` and ``completed`` events for one run (one ``run_id``)."""

    def __init__(self, dsn: str, *, enabled: bool = True, warn: Callable[[str], None] | None = None) -> None:
        self.dsn = dsn
        self.enabled = enabled
        self.run_id = uuid.uuid4()
        self._warn = warn or (lambda msg: None)
        self.written: list[str] = []
        self._table_oid: int | None = None

    def probe(self) -> None:
        """Remember the events table the target has before the restore (call it first)."""
        if not self.enabled:
            return
        self._table_oid = self._events_oid()
        if self._table_oid is None:
            self.enabled = False  # no table of the target's own: the restore never reports

    def _events_oid(self) -> int | None:
        try:
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10,
                                 application_name="pyrestore-report") as conn:
                row = conn.execute("SELECT to_regclass('code_ops.artifact_events')::oid").fetchone()
                return int(row[0]) if row and row[0] is not None else None
        except Exception:  # noqa: BLE001 - reporting must never break the restore
            return None

    def invoked(self, details: dict[str, Any]) -> None:
        self._event("invoked", None, {"triggered_by": "user", **details})

    def completed(self, success: bool, details: dict[str, Any]) -> None:
        self._event("completed", success, details)

    def _event(self, event_type: str, success: bool | None, details: dict[str, Any]) -> None:
        if not self.enabled:
            return
        try:
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10,
                                 application_name="pyrestore-report") as conn:
                row = conn.execute("SELECT to_regclass('code_ops.artifact_events')::oid").fetchone()
                if not row or row[0] is None or (self._table_oid is not None and int(row[0]) != self._table_oid):
                    return  # gone, or re-created by this restore: not the target's own table
                conn.execute(
                    "INSERT INTO code_ops.artifact_events"
                    " (run_id, artifact_type, artifact_name, artifact_version, event_type, success, details)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    [self.run_id, ARTIFACT_TYPE, ARTIFACT_NAME, __version__, event_type, success, Jsonb(details)])
                self.written.append(event_type)
        except Exception as exc:  # noqa: BLE001 - reporting must never break the restore
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            self._warn(f"could not write the {event_type} event to code_ops.artifact_events: {first}")
