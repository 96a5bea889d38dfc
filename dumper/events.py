"""Self-reporting into ``code_ops.artifact_events``, for both tools (the spec's commands).

Rows go through a separate autocommit connection: the dump's snapshot is read only, and a
restore may run in one transaction that is rolled back; an event row must not share either
fate. Reporting is a courtesy: an absent table, a permission problem or a dead server gives
at most one warning and never fails the run.

Two policies, chosen by the caller:

- ``pydump`` reports into whatever events table the source has; a missing one is a warning.
  After a failure that took the server away, the closing row is retried for a while
  (``retry_failed``), so a run that lost its server is still recorded once it is back.
- ``pyrestore`` must not write what the backup does not hold: it calls :meth:`Reporter.probe`
  before the restore begins, and rows go only into the events table that existed then and
  is still that same table afterwards (same oid: not dropped by ``--clean`` and re-created
  from the backup). A fresh copy of a database therefore holds exactly the source's rows.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any, Callable

import orjson
import psycopg

from dumper.connect import mask_secrets

EVENTS_TABLE = "code_ops.artifact_events"
ARTIFACT_TYPE = "command"
#: ``artifact_name`` of each tool's rows (the spec's command names).
BACKUP_ARTIFACT = "backup-db"
RESTORE_ARTIFACT = "restore-db"
#: Reporting waits at most this long for the server: it must never hold up the run's exit.
REPORT_CONNECT_TIMEOUT = 10


class Reporter:
    """Writes the ``invoked`` and ``completed`` events of one run (one ``run_id``)."""

    def __init__(self, dsn: str, artifact: str, version: str, *, enabled: bool, warn: Callable[[str], None],
                 application_name: str, retry_failed: bool = False) -> None:
        self.dsn = dsn
        self.artifact = artifact
        self.version = version
        self.enabled = enabled
        self.warn = warn
        self.application_name = application_name
        self.retry_failed = retry_failed
        self.run_id = str(uuid.uuid4())
        #: Events written, in order (pyrestore's verification subtracts its own rows).
        self.written: list[str] = []
        self._available: bool | None = None  # None: not looked yet
        self._pinned_oid: int | None = None  # set by probe(): only that table gets rows

    def probe(self) -> None:
        """Pin the events table the target has now (call before changing anything); without one,
        this run reports nothing, silently: a fresh target is no project that tracks its runs."""
        if not self.enabled:
            return
        try:
            with self._connect() as conn:
                self._pinned_oid = _events_oid(conn)
        except psycopg.Error:
            self._pinned_oid = None
        if self._pinned_oid is None:
            self.enabled = False
        else:
            self._available = True

    def invoked(self, details: dict[str, Any]) -> None:
        self._insert("invoked", None, {"triggered_by": "user", **details})

    def completed(self, success: bool, details: dict[str, Any]) -> None:
        """The closing row. With ``retry_failed``, after a failure it is retried for a while
        (``PYDUMP_REPORT_RETRY_S``, default 15 s) — but only when the table was seen at the
        start, i.e. the server was reachable then, so an unreachable server never delays the exit."""
        retry = 0.0
        if self.retry_failed and not success and self._available:
            try:
                retry = float(os.environ.get("PYDUMP_REPORT_RETRY_S", "15"))
            except ValueError:
                retry = 15.0
        self._insert("completed", success, details, retry_s=retry)

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

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn, autocommit=True, application_name=self.application_name,
                               connect_timeout=REPORT_CONNECT_TIMEOUT)

    def _insert_once(self, event: str, success: bool | None, details: dict[str, Any]) -> None:
        with self._connect() as conn:
            oid = _events_oid(conn)
            if self._pinned_oid is not None:
                if oid != self._pinned_oid:
                    return  # gone, or re-created by this restore: not the target's own table
            elif self._available is None:
                self._available = oid is not None
                if oid is None:
                    self.warn(f"{EVENTS_TABLE} does not exist: this run is not recorded (--no-report silences this)")
                    return
            conn.execute(
                f"INSERT INTO {EVENTS_TABLE}"
                " (run_id, artifact_type, artifact_name, artifact_version, event_type, success, details)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)",
                (self.run_id, ARTIFACT_TYPE, self.artifact, self.version, event, success,
                 orjson.dumps(details, default=str).decode()),
            )
            self.written.append(event)

    def _warn_failed(self, event: str, e: BaseException) -> None:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        msg = mask_secrets(msg, self.dsn)  # libpq quotes parts of a malformed DSN
        self.warn(f"could not record the '{event}' event in {EVENTS_TABLE}: {msg}")


def _events_oid(conn: psycopg.Connection[Any]) -> int | None:
    row = conn.execute("SELECT pg_catalog.to_regclass(%s)::oid", (EVENTS_TABLE,)).fetchone()
    return int(row[0]) if row and row[0] is not None else None
