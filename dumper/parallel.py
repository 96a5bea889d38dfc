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

Up to :data:`THREAD_WORKERS` workers are threads of the leader; more are processes, each
driven by a thread of the leader. The per-row step of a COPY (``dumper.data``: one
``get_copy_data`` and one ``bytearray +=``, ~0.3 µs a row) holds the GIL, while compressing,
hashing and writing release it; a spawned process costs an interpreter, psycopg's import and
a pipe (~0.3-0.4 s of CPU). Measured on 2 cores (issue 11, 145 MB, default gzip): two worker
threads used 1.4 s of client CPU against 2.3 s for two processes, and finished sooner, since
the server's two backends need those cores too. With more workers the GIL-held share grows
with N, so each gets its own interpreter and the per-row work of N workers runs on N cores
(the leader's thread only sends the task and relays progress). ``PYDUMP_WORKERS=threads`` or
``=processes`` forces either (for debugging, or where processes cannot be spawned).
Each worker compresses its block (entry header, ``COPY ... FROM
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
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import psycopg

from dumper.format.names import quote_literal
from dumper.data import CopyResult, stream_copy
from dumper.redact import row_filter
from dumper import errors as _errors
from dumper.errors import ServerError, ToolError
from dumper.connect import connect
from dumper.session import _SETUP
from dumper.sinks import CompressedFile, CsvSink
from dumper.toc import Entry

THREAD_WORKERS = 2  # up to this many workers are threads (see the module docstring)
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
    rel = e.source.rel if e.source is not None else None
    return (
        rel is not None and rel.kind == "r" and (rel.access_method in (None, "heap")) and bool(e.extra.get("columns"))
    )


def _ranges(e: Entry, heap: int, n: int) -> list[Entry]:
    """``e`` as ``n`` entries over consecutive ctid ranges; the last one is open-ended, so rows
    on pages past a stale size estimate are still read."""
    assert e.source is not None
    bounds = [heap * i // n for i in range(n + 1)]
    parts = []
    for i in range(n):
        lo = f"ctid >= '({bounds[i]},0)'::pg_catalog.tid" if i > 0 else None
        hi = f"ctid < '({bounds[i + 1]},0)'::pg_catalog.tid" if i < n - 1 else None
        part = replace(e, extra=dict(e.extra), dep_ids=list(e.dep_ids),
                       source=replace(e.source, ctid_range=" AND ".join(x for x in (lo, hi) if x)))
        part.extra["part"] = [i + 1, n]
        part.extra["pages"] = bounds[i + 1] - bounds[i]
        parts.append(part)
    return parts


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
    total_pages = sum(sizes[e.source.rel.oid].heap_pages for e in data if e.source is not None and e.source.rel.oid in sizes)
    share = max(min_pages, math.ceil(total_pages / (4 * jobs)))
    out: list[Entry] = []
    new_ids: dict[int, list[int]] = {}
    for e in entries:
        src = e.source if e.kind == "TABLE DATA" and _splittable(e) else None
        heap = sizes[src.rel.oid].heap_pages if src is not None and src.rel.oid in sizes else 0
        n = min(math.ceil(heap / share), 4 * jobs) if heap > share and heap >= min_pages else 1
        parts = _ranges(e, heap, n) if n >= 2 else [e]
        new_ids[e.id] = list(range(len(out), len(out) + len(parts)))
        out += parts
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
    redact: dict[str, Any] | None = None  # dumper.redact filter spec of a redacted table
    result: CopyResult | None = None
    error: BaseException | None = None
    seconds: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)
    on_done: Callable[["Task"], None] | None = None  # called on the worker thread
    # --lock-batches: after this many COPYs the worker commits (releasing their locks) and
    # re-imports the snapshot (dumper.locks); 0: one transaction for the whole dump
    recycle: int = 0

    @property
    def label(self) -> str | None:
        """The table's qualified name, for a failure's one line."""
        return self.entry.source.rel.identity if self.entry.source is not None else None


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
        self._children: list[_Child] = []
        mode = os.environ.get("PYDUMP_WORKERS", "")
        self.processes = mode == "processes" or (mode != "threads" and jobs > THREAD_WORKERS)
        self._lock = threading.Lock()
        self._ready = threading.Semaphore(0)
        self.connect_errors: list[str] = []
        self.stopped = False
        self.first_error: BaseException | None = None
        self.busy_s = 0.0
        self.wait_s = 0.0
        self._copies: dict[int, int] = {}  # COPYs per thread connection in its current transaction

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
        for ch in self._children:
            ch.stop()

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
            children = list(self._children)
        for ch in children:  # their threads then see the pipe close and end
            ch.kill()
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
    def _connect(self) -> "psycopg.Connection[Any] | _Child | None":
        if self.processes:
            child = _Child(self.dsn, self.snapshot, self.method, self.level)
            err = child.ready()
            if err is not None:
                self.connect_errors.append(err)
                child.kill()
                return None
            with self._lock:
                self._children.append(child)
            return child
        try:
            conn = open_worker_connection(self.dsn, self.snapshot)
        except ToolError as e:
            self.connect_errors.append(str(e))
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

    def _do(self, conn: "psycopg.Connection[Any] | _Child", task: Task) -> None:
        spec = task_spec(task)
        if isinstance(conn, _Child):
            task.result = conn.run(spec, self.on_bytes)
        else:
            task.result = copy_to_spool(conn, spec, self.method, self.level, self.on_bytes)
            with self._lock:
                n = self._copies[id(conn)] = self._copies.get(id(conn), 0) + 1
            if task.recycle and n >= task.recycle:
                renew_snapshot(conn, self.snapshot)
                self._copies[id(conn)] = 0


def open_worker_connection(dsn: str, snapshot: str) -> psycopg.Connection[Any]:
    """A connection with the dump's session settings, inside the leader's snapshot."""
    conn = connect(dsn, application_name="pydump worker")
    try:
        with conn.cursor() as cur:
            for stmt in _SETUP:
                cur.execute(stmt)
        conn.commit()
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute("SET TRANSACTION SNAPSHOT " + quote_literal(snapshot))
    except psycopg.Error as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        conn.close()
        raise ServerError(f"cannot import the snapshot: {msg}") from None
    return conn


def renew_snapshot(conn: psycopg.Connection[Any], snapshot: str) -> None:
    """Commit (releasing every lock the transaction took) and start again in ``snapshot``."""
    try:
        conn.commit()
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute("SET TRANSACTION SNAPSHOT " + quote_literal(snapshot))
    except psycopg.Error as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise ServerError(f"cannot start the next lock batch in the snapshot: {msg}") from None


def task_spec(task: Task) -> dict[str, Any]:
    """What a worker needs of a task: plain values, so it can cross a process boundary."""
    return {"statement": task.statement, "head": task.head, "spool": str(task.spool),
            "csv_path": str(task.csv_path) if task.csv_path is not None else None,
            "csv_columns": task.csv_columns, "csv_header": task.csv_header, "redact": task.redact,
            "recycle": task.recycle, "label": task.label}


def copy_to_spool(conn: psycopg.Connection[Any], spec: dict[str, Any], method: str, level: int,
                  on_bytes: Callable[[int], None] | None) -> CopyResult:
    """One COPY block into its spool: one complete gzip member / zstd frame (and CSV)."""
    out = CompressedFile(Path(spec["spool"]), method, level, fsync=False)
    csv: CsvSink | None = None
    try:
        out.write(spec["head"])
        sinks = [out.write]
        if spec["csv_path"] is not None:
            csv = CsvSink(Path(spec["csv_path"]), spec["csv_columns"], header=spec["csv_header"],
                          encoding=conn.info.encoding)
            sinks.append(csv.write)
        result = stream_copy(conn, spec["statement"], sinks, on_chunk=on_bytes,
                             transform=row_filter(spec.get("redact"), conn.info.encoding), label=spec.get("label"))
        out.write(b"\\.\n\n")
        out.close()
        if csv is not None:
            csv.close()
        return result
    except BaseException:
        out.abort()
        if csv is not None:
            csv.abort()
        raise


class _Child:
    """A spawned worker process and the pipe to it (one task at a time).

    Messages from the child: ``("ready",)``, ``("error", message)`` (could not connect or
    import the snapshot), ``("bytes", n)`` (progress), ``("done", rows, bytes)``,
    ``("fail", error class name, message)``. Errors keep their class, so the exit code is
    the same as without workers.
    """

    def __init__(self, dsn: str, snapshot: str, method: str, level: int) -> None:
        import multiprocessing  # only when workers are processes (more than THREAD_WORKERS)

        ctx = multiprocessing.get_context("spawn")
        self.pipe, child_end = ctx.Pipe()
        self.proc = ctx.Process(target=_child_main, args=(child_end, dsn, snapshot, method, level),
                                name="pydump-worker", daemon=True)
        self.proc.start()
        child_end.close()

    def _recv(self) -> tuple[Any, ...]:
        try:
            return self.pipe.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError):
            raise ServerError("a parallel worker process ended unexpectedly") from None

    def ready(self) -> str | None:
        try:
            msg = self._recv()
        except ServerError as e:
            return str(e)
        return None if msg[0] == "ready" else str(msg[1])

    def run(self, spec: dict[str, Any], on_bytes: Callable[[int], None] | None) -> CopyResult:
        self.pipe.send(spec)
        while True:
            msg = self._recv()
            if msg[0] == "bytes":
                if on_bytes is not None:
                    on_bytes(msg[1])
            elif msg[0] == "done":
                return CopyResult(msg[1], msg[2])
            else:
                cls = getattr(_errors, msg[1], None)
                if not (isinstance(cls, type) and issubclass(cls, ToolError)):
                    cls = ServerError
                raise cls(msg[2])

    def stop(self) -> None:
        try:
            self.pipe.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.kill()

    def kill(self) -> None:
        """SIGTERM: the child dies at once and the server ends its backend with the connection."""
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(5)
        self.pipe.close()


def _child_main(pipe: Any, dsn: str, snapshot: str, method: str, level: int) -> None:
    # Ctrl-C reaches the whole process group: the leader decides, and stops us itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn = open_worker_connection(dsn, snapshot)
    except ToolError as e:
        pipe.send(("error", str(e)))
        return
    pipe.send(("ready",))
    copies = 0
    while True:
        try:
            spec = pipe.recv()
        except (EOFError, OSError):
            break
        if spec is None:
            break
        try:
            r = copy_to_spool(conn, spec, method, level, lambda n: pipe.send(("bytes", n)))
            copies += 1
            if spec.get("recycle") and copies >= spec["recycle"]:
                renew_snapshot(conn, snapshot)
                copies = 0
            pipe.send(("done", r.rows, r.bytes))
        except ToolError as e:
            pipe.send(("fail", type(e).__name__, str(e)))
        except BaseException as e:  # noqa: BLE001 - reported to the leader, which decides
            pipe.send(("fail", "ServerError", f"{type(e).__name__}: {e}"))
    conn.close()
