"""Self-reporting into ``code_ops.artifact_events``, as the spec's command does.

Rows are written on a separate autocommit connection, outside the snapshot (which is read
only). Reporting is a courtesy: an absent table, a permission problem or a dead server
gives one warning and never fails the backup.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any, Callable

import orjson
import psycopg

from dumper import __version__
from dumper.session import mask_secrets

EVENTS_TABLE = "code_ops.artifact_events"


class Reporter:
    def __init__(self, dsn: str, artifact: str, *, enabled: bool, warn: Callable[[str], None]) -> None:
        self.dsn = dsn
        self.artifact = artifact
        self.enabled = enabled
        self.warn = warn
        self.run_id = str(uuid.uuid4())
        self._available: bool | None = None

    def _insert(self, event: str, success: bool | None, details: dict[str, Any], *, retry_s: float = 0.0) -> None:
        if not self.enabled or self._available is False:
            return
        deadline = time.monotonic() + retry_s
        while True:
            try:
                self._insert_once(event, success, details)
                return
            except psycopg.OperationalError as e:
                if time.monotonic() >= deadline:
                    self._warn_failed(event, e)
                    return
                time.sleep(1.0)
            except psycopg.Error as e:
                self._warn_failed(event, e)
                return

    def _warn_failed(self, event: str, e: BaseException) -> None:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        msg = mask_secrets(msg, self.dsn)  # libpq quotes parts of a malformed DSN
        self.warn(f"could not record the '{event}' event in {EVENTS_TABLE}: {msg}")

    def _insert_once(self, event: str, success: bool | None, details: dict[str, Any]) -> None:
        with psycopg.connect(self.dsn, autocommit=True, application_name="pydump-report", connect_timeout=10) as conn:
            if self._available is None:
                row = conn.execute("SELECT pg_catalog.to_regclass(%s) IS NOT NULL", (EVENTS_TABLE,)).fetchone()
                self._available = bool(row and row[0])
                if not self._available:
                    self.warn(f"{EVENTS_TABLE} does not exist: this run is not recorded (--no-report silences this)")
                    return
            conn.execute(
                "INSERT INTO code_ops.artifact_events"
                " (run_id, artifact_type, artifact_name, artifact_version, event_type, success, details)"
                " VALUES (%s, 'command', %s, %s, %s, %s, %s::jsonb)",
                (self.run_id, self.artifact, __version__, event, success, orjson.dumps(details).decode()),
            )

    def invoked(self, details: dict[str, Any]) -> None:
        self._insert("invoked", None, {"triggered_by": "user", **details})

    def completed(self, success: bool, details: dict[str, Any]) -> None:
        """The closing row. After a failure that took the server away (it was restarted, or a
        failover is under way) the row is retried for a while (``PYDUMP_REPORT_RETRY_S``,
        default 15 s) — but only when the ``invoked`` row got in, i.e. the table exists and the
        server was reachable at the start, so an unreachable server never delays the exit."""
        retry = 0.0
        if not success and self._available:
            try:
                retry = float(os.environ.get("PYDUMP_REPORT_RETRY_S", "15"))
            except ValueError:
                retry = 15.0
        self._insert("completed", success, details, retry_s=retry)
