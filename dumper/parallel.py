"""Parallel data dump: worker connections that share the leader's snapshot.

Protocol
--------
The leader runs the whole dump in one ``REPEATABLE READ, READ ONLY`` transaction and
exports its snapshot with ``pg_export_snapshot()``. Each worker opens its own connection,
applies the same session settings, and starts ``BEGIN ISOLATION LEVEL REPEATABLE READ, READ
ONLY; SET TRANSACTION SNAPSHOT '<id>'`` as the first statement of its transaction: from then
on it sees exactly the leader's instant, so every COPY of the backup describes one moment
(pg_dump ``-j`` and pgcopydb do the same). The import only works while the exporting
transaction is open, which the leader guarantees by holding its transaction until the end.
The leader's ``ACCESS SHARE`` locks keep DDL away from every table the workers read.

Workers are threads, not processes: psycopg releases the GIL while it waits on the socket,
and zlib, isal and zstandard release it while they compress, so N threads keep N cores busy
without pickling anything. Each worker compresses its block (entry header, ``COPY ... FROM
stdin;``, data, ``\\.``) into one complete gzip member (zstd frame) spooled to a file in the
backup's temporary directory, so memory stays flat however large a table is. The leader
appends the finished spools to the script in TOC order with an in-kernel byte copy: the
order in toc.json is the order in the script, which data-only dumps need (their TABLE DATA
entries are in foreign-key order), and restoring needs nothing else.

Range split
-----------
A table much larger than the rest would bound the wall time by itself, so it is cut into
``ctid`` page ranges (``WHERE ctid >= '(a,0)' AND ctid < '(b,0)'``). PostgreSQL 14+ answers
those with a TID range scan that reads only the range's pages; older servers would scan the
whole table once per range, so they never split. Each range is its own TOC entry (kind
``TABLE DATA``, same ``table``, ``"part": [i, n]``) and its own ``COPY ... FROM stdin``
block, so psql replays the script as before. The first range has no lower bound and the last
none above: rows on pages past the size measured at planning time cannot be lost.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import psycopg

from dumper import ident
from dumper.data import CopyResult, stream_copy
from dumper.errors import DumpError, ServerError
from dumper.session import _SETUP, connect
from dumper.sinks import CompressedFile, CsvSink
from dumper.toc import Entry

SPLIT_MIN_PAGES = 2048  # 16 MiB of heap: below that a range split costs more than it saves
TID_RANGE_VERSION = 140000  # TID range scans (PostgreSQL 14)


def split_min_pages() -> int:
    """Smallest heap (in pages) worth splitting; ``PYDUMP_SPLIT_MIN_PAGES`` overrides (tests)."""
    try:
        return max(1, int(os.environ.get("PYDUMP_SPLIT_MIN_PAGES", SPLIT_MIN_PAGES)))
    except ValueError:
        return SPLIT_MIN_PAGES


@dataclass
class RelSize:
    heap_pages: int  # main fork only: what a ctid range covers
    total_bytes: int  # heap + TOAST: what a COPY has to read


def relation_sizes(query: Callable[..., list[dict[str, Any]]], oids: list[int]) -> dict[int, RelSize]:
    """Current physical sizes of the tables, one query.

    ``pg_class.relpages`` is only refreshed by VACUUM/ANALYZE (a freshly loaded table says
    0), so sizing work for the scheduler and the split uses the file sizes instead. They are
    estimates either way: the ranges never depend on them for correctness.
    """
    if not oids:
        return {}
    rows = query(
        "SELECT c.oid, pg_catalog.pg_relation_size(c.oid) / pg_catalog.current_setting('block_size')::int AS heap,"
        " pg_catalog.pg_table_size(c.oid) AS total FROM pg_catalog.pg_class c WHERE c.oid = ANY(%s)",
        [oids],
    )
    return {int(r["oid"]): RelSize(int(r["heap"] or 0), int(r["total"] or 0)) for r in rows}


def _splittable(e: Entry) -> bool:
    rel = e.extra.get("_rel")
    return (
        rel is not None and rel.kind == "r" and (rel.access_method in (None, "heap")) and bool(e.extra.get("columns"))
    )


def split_entries(entries: list[Entry], sizes: dict[int, RelSize], jobs: int, server_version: int,
                  min_pages: int | None = None) -> list[Entry]:
    """Cut much-larger-than-the-rest tables into ctid ranges; renumber ids and deps.

    A table is split when its heap exceeds a quarter of a worker's fair share of all data
    (``total / (4 × jobs)``) and ``min_pages``; it gets as many ranges as that share fits,
    at most ``4 × jobs``. Largest-first scheduling then balances the ranges with the other
    tables. Parts keep the entry's place in the TOC, one after another in range order, and
    every entry that depended on the table's data depends on all of its parts.
    """
    min_pages = split_min_pages() if min_pages is None else min_pages
    if jobs < 2 or server_version < TID_RANGE_VERSION:
        return entries
    data = [e for e in entries if e.kind == "TABLE DATA"]
    total_pages = sum(sizes[e.extra["_rel"].oid].heap_pages for e in data if "_rel" in e.extra and e.extra["_rel"].oid in sizes)
    share = max(min_pages, math.ceil(total_pages / (4 * jobs)))
    out: list[Entry] = []
    new_ids: dict[int, list[int]] = {}
    for e in entries:
        old = e.id
        heap = sizes[e.extra["_rel"].oid].heap_pages if e.kind == "TABLE DATA" and _splittable(e) and e.extra["_rel"].oid in sizes else 0
        n = min(math.ceil(heap / share), 4 * jobs) if heap > share and heap >= min_pages else 1
        if n < 2:
            new_ids[old] = [len(out)]
            out.append(e)
            continue
        bounds = [heap * i // n for i in range(n + 1)]
        ids = []
        for i in range(n):
            lo = f"ctid >= '({bounds[i]},0)'::pg_catalog.tid" if i > 0 else None
            hi = f"ctid < '({bounds[i + 1]},0)'::pg_catalog.tid" if i < n - 1 else None
            part = replace(e, extra=dict(e.extra), dep_ids=list(e.dep_ids))
            part.extra["part"] = [i + 1, n]
            part.extra["pages"] = bounds[i + 1] - bounds[i]
            part.extra["_where"] = " AND ".join(x for x in (lo, hi) if x)
            ids.append(len(out))
            out.append(part)
        new_ids[old] = ids
    if len(out) == len(entries):
        return entries
    for i, e in enumerate(out):
        e.id = i
        e.dep_ids = sorted({n for d in e.dep_ids for n in new_ids.get(d, [d])})
    return out


@dataclass
class Task:
    """One COPY block for a worker: which table (range) and where its outputs go."""

    entry: Entry
    statement: str  # COPY ... TO STDOUT
    head: bytes  # entry comment and the COPY ... FROM stdin; line
    spool: Path
    weight: int
    csv_path: Path | None = None
    csv_columns: list[str] = field(default_factory=list)
    csv_header: bool = True
    result: CopyResult | None = None
    error: BaseException | None = None
    seconds: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)
    on_done: Callable[["Task"], None] | None = None  # called on the worker thread


class WorkerPool:
    """N worker threads, each with its own snapshot-importing connection and a shared task queue.

    Tasks are taken largest first; each ends in a finished spool file (and CSV file) or an
    error. The first error stops the pool: remaining tasks are skipped and the leader, which
    waits for tasks in TOC order, raises it.
    """

    def __init__(self, dsn: str, snapshot: str, jobs: int, *, method: str, level: int,
                 on_bytes: Callable[[int], None] | None = None) -> None:
        self.dsn = dsn
        self.snapshot = snapshot
        self.jobs = jobs
        self.method = method
        self.level = level
        self.on_bytes = on_bytes
        self._q: queue.Queue[Task | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._conns: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._ready = threading.Semaphore(0)
        self.connect_errors: list[str] = []
        self.stopped = False
        self.first_error: BaseException | None = None
        self.busy_s = 0.0
        self.wait_s = 0.0

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers; they connect and import the snapshot while the catalog is read."""
        for i in range(self.jobs):
            t = threading.Thread(target=self._run, name=f"pydump-worker-{i + 1}", daemon=True)
            t.start()
            self._threads.append(t)

    def wait_ready(self) -> list[str]:
        """Block until every worker has connected (or failed to); the failures' messages."""
        for _ in self._threads:
            self._ready.acquire()
        return list(self.connect_errors)

    def submit(self, tasks: list[Task]) -> None:
        for t in sorted(tasks, key=lambda t: -t.weight):
            self._q.put(t)
        for _ in self._threads:
            self._q.put(None)

    def wait(self, task: Task) -> None:
        """Wait for one task (interruptibly); re-raise its error in the leader."""
        t0 = time.monotonic()
        while not task.done.wait(0.5):
            if not any(t.is_alive() for t in self._threads) and not task.done.is_set():
                raise ServerError("parallel workers stopped before finishing their work")
        self.wait_s += time.monotonic() - t0
        if task.error is not None:
            raise self.first_error or task.error

    def close(self) -> None:
        """Normal end: all tasks were waited for; let the threads exit and close connections."""
        for t in self._threads:
            t.join()
        for c in self._conns:
            try:
                c.close()
            except Exception:
                pass

    def abort(self) -> None:
        """Failure or interrupt: stop workers mid-COPY (cancel request) and release them."""
        self.stopped = True
        try:
            while True:
                task = self._q.get_nowait()
                if task is not None:
                    task.done.set()
        except queue.Empty:
            pass
        for _ in self._threads:
            self._q.put(None)
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.cancel_safe(timeout=2) if hasattr(c, "cancel_safe") else c.cancel()
            except Exception:
                pass
        for t in self._threads:
            t.join(timeout=5)
        for c in conns:
            try:
                c.close()
            except Exception:
                pass

    # -- worker side --------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any] | None:
        try:
            conn = connect(self.dsn, application_name="pydump worker")
        except DumpError as e:
            self.connect_errors.append(str(e))
            return None
        try:
            with conn.cursor() as cur:
                for stmt in _SETUP:
                    cur.execute(stmt)
            conn.commit()
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            conn.execute("SET TRANSACTION SNAPSHOT " + ident.quote_literal(self.snapshot))
        except psycopg.Error as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
            self.connect_errors.append(f"cannot import the snapshot: {msg}")
            conn.close()
            return None
        with self._lock:
            self._conns.append(conn)
        return conn

    def _run(self) -> None:
        try:
            conn = self._connect()
        finally:
            self._ready.release()
        while True:
            task = self._q.get()
            if task is None:
                return
            if conn is None or self.stopped:
                task.error = task.error or ServerError("a parallel worker could not run")
                task.done.set()
                continue
            t0 = time.monotonic()
            try:
                self._do(conn, task)
            except BaseException as e:
                task.error = e
                with self._lock:
                    self.first_error = self.first_error or e
                self.stopped = True
            finally:
                task.seconds = time.monotonic() - t0
                with self._lock:
                    self.busy_s += task.seconds
                if task.on_done is not None:
                    try:
                        task.on_done(task)
                    except Exception:  # progress display must never fail the dump
                        pass
                task.done.set()

    def _do(self, conn: psycopg.Connection[Any], task: Task) -> None:
        # The spool is one complete gzip member / zstd frame; its own writer thread
        # compresses while this thread waits for the next COPY message.
        out = CompressedFile(task.spool, self.method, self.level, fsync=False)
        csv: CsvSink | None = None
        try:
            out.write(task.head)
            sinks = [out.write]
            if task.csv_path is not None:
                csv = CsvSink(task.csv_path, task.csv_columns, header=task.csv_header)
                sinks.append(csv.write)
            task.result = stream_copy(conn, task.statement, sinks, on_chunk=self.on_bytes)
            out.write(b"\\.\n\n")
            out.close()
            if csv is not None:
                csv.close()
        except BaseException:
            out.abort()
            if csv is not None:
                csv.abort()
            raise
