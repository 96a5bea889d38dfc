"""``--jobs N``: N connections for table data and for index/constraint builds.

The script is one sequential compressed stream, so it is still read by one thread. What runs in
parallel is the server-side work, which is where a restore spends its time:

* **data**: each ``COPY`` block is spooled (in memory up to ``SPOOL_MEMORY``, then to a temp
  file) and handed to a worker connection, while the reader moves on to the next block. At
  most ``2 * N`` blocks wait, so disk use is bounded by a few blocks, not by the backup;
* **post-data**: indexes and constraints (``INDEX``, ``CONSTRAINT``, ``FK CONSTRAINT``) are
  collected while reading and then built as a graph: an entry starts when every entry it
  depends on (toc.json ``deps``: an FK depends on the referenced table's primary key) is done,
  and never while another entry on the same table runs (two ``ALTER TABLE`` on one table
  would only wait for each other's lock, and lock order between tables is how deadlocks
  start). The remaining post-data entries (triggers, policies, rules, ...) follow in script
  order on one connection, once every index and constraint exists.

Every worker connection first replays the script's session header (``SET search_path = ''``,
``standard_conforming_strings``, ...), so a statement means the same on every connection.
"""
from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import IO

import psycopg

from restore.backup import Entry
from restore.target import connect

#: Bytes of one COPY block kept in memory before the spool moves to a temp file.
SPOOL_MEMORY = 8 << 20
#: Post-data kinds built in parallel.
PARALLEL_KINDS = frozenset({"INDEX", "CONSTRAINT", "FK CONSTRAINT"})


def spool(chunks: object) -> tuple[IO[bytes], int]:
    """Copy an iterable of byte chunks into a rewound spooled temp file; returns it and its size."""
    f: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, prefix="pyrestore-")  # type: ignore[assignment]
    n = 0
    for chunk in chunks:  # type: ignore[attr-defined]
        f.write(chunk)
        n += len(chunk)
    f.seek(0)
    return f, n


@dataclass(slots=True)
class PostTask:
    """The statements of one post-data entry, run together on one connection."""

    entry: Entry
    statements: list[bytes] = field(default_factory=list)

    @property
    def tables(self) -> set[str]:
        t = {self.entry.table} if self.entry.table else set()
        ref = self.entry.extra.get("ref_table")
        if isinstance(ref, str):
            t.add(ref)
        return t


class Workers:
    """A pool of N threads, each with its own connection prepared with the session header."""

    def __init__(self, dsn: str, jobs: int) -> None:
        self.dsn = dsn
        self.jobs = jobs
        self.setup: list[bytes] = []
        self._local = threading.local()
        self._conns: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="pyrestore")
        self._slots = threading.BoundedSemaphore(2 * jobs)
        self._data: list[Future[None]] = []

    def _conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.dsn, autocommit=True, application_name="pyrestore-worker")
            for stmt in self.setup:
                conn.execute(stmt)
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def submit_data(self, fn: Callable[[psycopg.Connection], None]) -> None:
        """Queue one data load; blocks while 2*N loads are pending (bounded spool space)."""
        self._raise_data_errors()
        self._slots.acquire()

        def run() -> None:
            try:
                fn(self._conn())
            finally:
                self._slots.release()

        self._data.append(self._pool.submit(run))

    def _raise_data_errors(self) -> None:
        for f in self._data:
            if f.done() and f.exception() is not None:
                self._wait_quietly()
                raise f.exception()  # type: ignore[misc]

    def _wait_quietly(self) -> None:
        wait(self._data)

    def wait_data(self) -> None:
        """Block until every queued data load has finished; re-raise the first failure."""
        wait(self._data)
        done, self._data = self._data, []
        for f in done:
            if f.exception() is not None:
                raise f.exception()  # type: ignore[misc]

    def run_graph(self, tasks: list[PostTask], run: Callable[[psycopg.Connection, PostTask], None]) -> None:
        """Run tasks respecting deps among them and one-task-per-table; stop at the first failure."""
        ids = {t.entry.id for t in tasks}
        pending = list(tasks)
        done: set[int] = set()
        busy: set[str] = set()
        running: dict[Future[None], PostTask] = {}
        error: BaseException | None = None
        while pending or running:
            if error is None:
                for t in list(pending):
                    if len(running) >= self.jobs:
                        break
                    if any(d in ids and d not in done for d in t.entry.deps) or t.tables & busy:
                        continue
                    pending.remove(t)
                    busy |= t.tables
                    running[self._pool.submit(lambda t=t: run(self._conn(), t))] = t
            if not running:
                if error is not None or not pending:
                    break
                # Unsatisfiable deps (a dep that never ran): run the rest one by one in order.
                t = pending.pop(0)
                busy |= t.tables
                running[self._pool.submit(lambda t=t: run(self._conn(), t))] = t
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for f in finished:
                t = running.pop(f)
                busy -= t.tables
                done.add(t.entry.id)
                if f.exception() is not None and error is None:
                    error = f.exception()
            if error is not None:
                pending.clear()
        if error is not None:
            raise error

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for c in self._conns:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
