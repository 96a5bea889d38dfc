"""Self-reporting into ``code_ops.artifact_events`` of the target (the spec's ``restore-db`` command).

The rows go through a separate autocommit connection so they are written even when the restore
itself runs in one transaction that is rolled back, and never join that transaction's fate. A
missing table or any failure is a warning: reporting must never fail a restore.
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
                exists = conn.execute("SELECT to_regclass('code_ops.artifact_events') IS NOT NULL").fetchone()
                if not exists or not exists[0]:
                    return  # not a project that tracks events: silently nothing to do
                conn.execute(
                    "INSERT INTO code_ops.artifact_events"
                    " (run_id, artifact_type, artifact_name, artifact_version, event_type, success, details)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    [self.run_id, ARTIFACT_TYPE, ARTIFACT_NAME, __version__, event_type, success, Jsonb(details)])
                self.written.append(event_type)
        except Exception as exc:  # noqa: BLE001 - reporting must never break the restore
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            self._warn(f"could not write the {event_type} event to code_ops.artifact_events: {first}")
