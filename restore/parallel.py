"""``--jobs N``: N connections for table data and for the post-data entries.

The script is one sequential compressed stream, so it is still read by one thread. What runs in
parallel is the server-side work, which is where a restore spends its time. One scheduler
(:class:`Workers`) runs both, with one rule: **a task starts only when every task it depends
on has finished**, and never while another task on one of its tables runs (two ``ALTER
TABLE`` on one table would only wait for each other's lock, and lock order between tables is
how deadlocks start).

* **data**: each ``COPY`` block (or CSV file) is spooled (in memory up to ``SPOOL_MEMORY``,
  then to a temp file) and handed to the scheduler while the reader moves on. At most
  ``2 * N`` blocks wait, so disk use is bounded by a few blocks, not by the backup. In a full
  restore data tasks have no dependencies (constraints come after the data); a data-only load
  into a schema that has its foreign keys gives each block the blocks of the tables it
  references (:attr:`Workers.data_after`);
* **post-data**: every entry, with toc.json ``deps`` (written by the dumper: an FK needs the
  referenced key and every partition index attached to it, a REFRESH the tables it reads,
  ...). They run in pg_restore's passes (:func:`post_data_passes`): first everything but
  grants, event triggers and materialized view refreshes, as a graph on N connections; then
  grants and event triggers, in script order on one connection (an event trigger created
  earlier would fire on the restore's own DDL); then the refreshes, as a graph.

Every worker connection first replays the script's session header (``SET search_path = ''``,
``standard_conforming_strings``, ...), so a statement means the same on every connection.

``PYRESTORE_SHUFFLE_SEED=N`` (a test aid) makes the scheduler pick among the tasks that are
ready in a seeded random order instead of script order. The script order is always a valid
order, so a dependency missing from toc.json mostly goes unnoticed; shuffled, the dependent
entry is regularly picked first, and the same seed makes the same picks, so a missing
dependency fails reproducibly.
"""
from __future__ import annotations

import itertools
import os
import random
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO

import psycopg

from dumper.format.toc import Kind, TocEntry
from restore.backup import Backup
from restore.target import connect

#: Bytes of one COPY block kept in memory before the spool moves to a temp file.
SPOOL_MEMORY = 8 << 20
#: Environment variable: seed of the shuffled scheduler (test aid, see the module docstring).
SHUFFLE_ENV = "PYRESTORE_SHUFFLE_SEED"
#: Post-data kinds restored after everything else, in script order on one connection
#: (pg_restore's ACL pass; event triggers last so they cannot fire on the restore's own DDL).
SERIAL_TAIL_KINDS = frozenset({Kind.ACL, Kind.DEFAULT_ACL, Kind.EVENT_TRIGGER})
#: Post-data kinds restored last, as a graph (pg_restore's post-ACL pass).
REFRESH_KINDS = frozenset({Kind.MATERIALIZED_VIEW_DATA})
#: A pseudo-table every ``INDEX ATTACH`` holds, so no two run at once. Attaching the last
#: partition's index marks the partitioned index valid, and then its parent, by counting the
#: valid children under the attaching transaction's snapshot: two attaches in one partition
#: tree committing concurrently each miss the other's child, and the root index stays invalid
#: for good (a foreign key to it then fails: "there is no unique constraint matching given
#: keys"). Attaches are catalog updates only, so running them one at a time costs nothing.
ATTACH_LOCK = "\x00index attach"
#: Dependencies whose table an entry locks while it runs (besides its own table).
_LOCKING_DEP_KINDS = frozenset({Kind.TABLE_DATA, Kind.TABLE, Kind.FOREIGN_TABLE, Kind.MATERIALIZED_VIEW, Kind.VIEW})


def spool(chunks: object) -> tuple[IO[bytes], int]:
    """Copy an iterable of byte chunks into a rewound spooled temp file; returns it and its size."""
    f: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, prefix="pyrestore-")  # type: ignore[assignment]
    n = 0
    for chunk in chunks:  # type: ignore[attr-defined]
        f.write(chunk)
        n += len(chunk)
    f.seek(0)
    return f, n


def shuffle_seed() -> int | None:
    """The seed from ``PYRESTORE_SHUFFLE_SEED``, or None (script order)."""
    raw = os.environ.get(SHUFFLE_ENV, "").strip()
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


@dataclass(slots=True)
class PostTask:
    """The statements of one post-data entry, run together on one connection."""

    entry: TocEntry
    statements: list[bytes] = field(default_factory=list)

    def tables(self, backup: Backup | None = None) -> frozenset[str]:
        """The tables this entry locks: its own, an FK's referenced one, and those of its data deps.

        An index attach locks both indexes' tables, a foreign key on a partitioned table every
        partition; a refresh only its own matview (the tables it reads it only reads).
        """
        e = self.entry
        t = {e.table} if e.table else set()
        if e.ref_table:
            t.add(e.ref_table)
        if e.kind == Kind.INDEX_ATTACH:
            t.add(ATTACH_LOCK)
        if backup is not None and e.kind not in REFRESH_KINDS:
            for d in e.deps:
                dep = backup.entry(d)
                if dep is not None and dep.table and (dep.kind in _LOCKING_DEP_KINDS or e.kind == Kind.INDEX_ATTACH):
                    t.add(dep.table)
        return frozenset(t)


def post_data_passes(tasks: list[PostTask]) -> tuple[list[PostTask], list[PostTask], list[PostTask]]:
    """Split post-data tasks (in script order) into the main graph, the serial tail and the refreshes.

    An entry that depends on one of a later pass (a comment on an event trigger) moves to that
    pass, so no entry ever waits for one that has not run yet.
    """
    rank: dict[int, int] = {}
    passes: tuple[list[PostTask], list[PostTask], list[PostTask]] = ([], [], [])
    for t in tasks:
        base = 1 if t.entry.kind in SERIAL_TAIL_KINDS else 2 if t.entry.kind in REFRESH_KINDS else 0
        r = max([base, *(rank[d] for d in t.entry.deps if d in rank)])
        rank[t.entry.id] = r
        passes[r].append(t)
    return passes


@dataclass(eq=False, slots=True)
class _Task:
    """One unit of work for the scheduler."""

    key: int
    deps: frozenset[int]
    tables: frozenset[str]
    run: Callable[[psycopg.Connection], None]


class Workers:
    """N threads, each with its own connection prepared with the session header, and the scheduler."""

    def __init__(self, dsn: str, jobs: int, *, seed: int | None = None) -> None:
        self.dsn = dsn
        self.jobs = jobs
        self.setup: list[bytes] = []
        #: Data-only loads into a schema with foreign keys: table → the tables it references
        #: whose blocks must be in first (set by :class:`restore.dataload.DataLoader`).
        self.data_after: dict[str, set[str]] = {}
        self.seed = shuffle_seed() if seed is None else seed
        self._rng = random.Random(self.seed) if self.seed is not None else None
        self._local = threading.local()
        self._conns: list[psycopg.Connection] = []
        self._pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="pyrestore")
        self._cond = threading.Condition(threading.RLock())
        self._keys = itertools.count(-1, -1)  # data tasks: negative keys, entry ids stay positive
        self._pending: list[_Task] = []
        self._running: set[int] = set()
        self._known: set[int] = set()
        self._done: set[int] = set()
        self._busy: dict[str, int] = {}
        self._error: BaseException | None = None
        self._data_keys: dict[str, list[int]] = {}

    # -- connections -----------------------------------------------------------------------------
    def _conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.dsn, autocommit=True, application_name="pyrestore-worker")
            for stmt in self.setup:
                conn.execute(stmt)
            self._local.conn = conn
            with self._cond:
                self._conns.append(conn)
        return conn

    # -- scheduling ------------------------------------------------------------------------------
    def _ready(self, t: _Task) -> bool:
        return all(d in self._done or d not in self._known for d in t.deps) and not any(x in self._busy for x in t.tables)

    def _pump(self) -> None:
        """Start ready tasks while connections are free (caller holds the lock)."""
        if self._error is not None:
            return
        ready = [t for t in self._pending if self._ready(t)]
        if self._rng is not None:
            self._rng.shuffle(ready)
        for t in ready:
            if len(self._running) >= self.jobs:
                break
            if t not in self._pending or any(x in self._busy for x in t.tables):
                continue  # started by a nested pump, or a task started in this round took the table
            self._start(t)
        if not self._running and self._pending:
            # Nothing can start though nothing runs: a dependency that can never finish (a
            # cycle in a hand-edited toc.json). Run the rest one by one in script order.
            self._start(self._pending[0])

    def _start(self, t: _Task) -> None:
        self._pending.remove(t)
        self._running.add(t.key)
        for x in t.tables:
            self._busy[x] = self._busy.get(x, 0) + 1
        fut = self._pool.submit(lambda: t.run(self._conn()))
        fut.add_done_callback(lambda f, t=t: self._finished(t, f))

    def _finished(self, t: _Task, f: Future[None]) -> None:
        with self._cond:
            self._running.discard(t.key)
            self._done.add(t.key)
            for x in t.tables:
                self._busy[x] -= 1
                if not self._busy[x]:
                    del self._busy[x]
            exc = f.exception()
            if exc is not None and self._error is None:
                self._error = exc
                self._pending.clear()
            self._pump()
            self._cond.notify_all()

    def _add(self, t: _Task, *, start: bool = True) -> None:
        with self._cond:
            self._raise_error()
            self._known.add(t.key)
            self._pending.append(t)
            if start:
                self._pump()

    def _raise_error(self) -> None:
        """Re-raise a task's failure once nothing runs any more (caller holds the lock)."""
        if self._error is not None:
            while self._running:
                self._cond.wait()
            err, self._error = self._error, None
            self._pending.clear()
            raise err

    def drain(self) -> None:
        """Block until every task added so far has finished; re-raise the first failure."""
        with self._cond:
            self._pump()
            while self._pending or self._running:
                if self._error is not None:
                    break
                self._cond.wait()
            self._raise_error()

    # -- data ------------------------------------------------------------------------------------
    def submit_data(self, fn: Callable[[psycopg.Connection], None], table: str | None = None,
                    entry_id: int | None = None) -> None:
        """Queue one data load; it starts after the loads of the tables ``data_after[table]`` names.

        ``entry_id`` (its TABLE DATA entry) is the task's key, so a post-data entry whose
        toc.json deps name it waits for exactly this load. Blocks while 2*N loads are pending
        or running (bounded spool space).
        """
        deps: set[int] = set()
        for parent in self.data_after.get(table or "", ()):
            deps.update(self._data_keys.get(parent, ()))
        key = entry_id if entry_id is not None and entry_id not in self._known else next(self._keys)
        self._data_keys.setdefault(table or "", []).append(key)
        self._add(_Task(key, frozenset(deps), frozenset(), fn))
        with self._cond:
            while len(self._pending) + len(self._running) >= 2 * self.jobs and self._error is None:
                self._cond.wait()
            self._raise_error()

    def wait_data(self) -> None:
        """Block until every queued data load has finished; re-raise the first failure."""
        self.drain()

    # -- post-data -------------------------------------------------------------------------------
    def run_graph(self, tasks: list[PostTask], run: Callable[[psycopg.Connection, PostTask], None],
                  backup: Backup | None = None) -> None:
        """Run post-data tasks by their toc.json deps, one per table at a time; stop at the first failure.

        Data loads may still run: a task starts once the loads of every table it locks are in
        (pg_restore's rule: post-data items wait for their tables' data, not for all data),
        and a task that names no table waits for every load. So the index of a table loaded
        early is built while later tables load, whatever toc.json's deps say."""
        every_load = frozenset(k for keys in self._data_keys.values() for k in keys)
        for t in tasks:
            tables = t.tables(backup)
            loads = (frozenset(k for x in tables for k in self._data_keys.get(x, ())) if t.entry.table
                     else every_load)
            self._add(_Task(t.entry.id, frozenset(t.entry.deps) | loads, tables,
                            lambda conn, t=t: run(conn, t)), start=False)
        self.drain()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for c in self._conns:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
