"""The server's lock table: know before failing, and dump beyond it with ``--lock-batches``.

Why this module exists
----------------------
Every relation a transaction locks takes one entry of the server's *shared* lock table until
the transaction ends. PostgreSQL sizes that table for ``max_locks_per_transaction ×
(max_connections + max_prepared_transactions)`` entries (plus a share for its background
processes and some spare shared memory, which is why a lone session can, in practice, take
roughly twice that: measured 2,543 on PostgreSQL 15 and 2,719 on 18 with ``64 × 20`` and the
background slots turned down). A dump that locks more than the table holds stops with
``out of shared memory`` — after its catalog reads, and while it holds the table, every other
session that needs a lock fails too.

What a default dump locks, measured per function on PostgreSQL 12, 15 and 18
(``tests/test_many_tables.py`` re-measures it):

* ``LOCK TABLE`` on every dumped table and partitioned table (it recurses into inheritance
  children and partitions);
* ``pg_get_viewdef`` / ``pg_get_ruledef`` lock the relations their query reads
  (``AcquireRewriteLocks``), and before 18 the view itself; so do SQL-standard function bodies
  through ``pg_get_functiondef``;
* reading a sequence's ``last_value`` locks the sequence; ``COPY`` locks its table;
* the catalog reads themselves lock the system catalogs and their indexes they touch: about
  140 on PostgreSQL 15 for a database using every kind of object; counted here as the number
  of system catalog tables and indexes (about 230), an upper bound;
* ``pg_get_indexdef``, ``pg_get_constraintdef``, ``pg_get_triggerdef``, ``pg_get_expr``,
  ``pg_get_partkeydef``, ``pg_get_statisticsobjdef``, ``pg_relation_size`` and regclass output
  hold no lock on user relations.

:func:`read_budget` and :func:`locks_needed` compare the two before the first ``LOCK TABLE``;
when the dump does not fit, :func:`too_many` is the one-line error (exit 6, as a lock failure).

``--lock-batches``: consistency without the lock table
------------------------------------------------------
The snapshot stays one (the leader's ``REPEATABLE READ`` transaction, exported), but the
relations are not locked in it. Every read that would hold a lock on a user relation — view
and rule definitions, sequence values, and ``COPY`` — runs on a second connection that
imports the same snapshot and *commits after each batch*, so its locks are released; a batch
holds at most what the budget allows. All other catalog reads stay in the leader; they are
MVCC reads of the snapshot, and the deparsers among them (``pg_get_indexdef``, ...) hold no
lock on user relations.

What the locks protected in a default dump, a check now proves: :func:`fingerprints` records,
inside the snapshot, the ``xmin`` of every catalog row that defines each dumped relation
(``pg_class`` — which also carries ``relfilenode``, so ``TRUNCATE`` and rewrites show —,
``pg_attribute``, ``pg_attrdef``, ``pg_constraint``, ``pg_index`` and the index's ``pg_class``
row, ``pg_trigger``, ``pg_rewrite``, ``pg_policy``, ``pg_statistic_ext``, ``pg_inherits``,
``pg_partitioned_table``, ``pg_sequence``, ``pg_foreign_table``) and of every dumped schema's
``pg_namespace`` row. After the last ``COPY``, the same rows are read again in a fresh
transaction (:func:`verify`). Every committed change to a row leaves a row version with a new
``xmin`` (or no row), so if every snapshot row is still there with its ``xmin``, no ``ALTER``,
``DROP``, ``TRUNCATE``, rename, ``GRANT`` or rewrite of a dumped relation committed between
the snapshot and the check, hence none before its definition was deparsed or its data copied:
what the backup holds is the snapshot. Rows added since (a new index, trigger or constraint)
are ignored: the dump lists objects from the snapshot, and adding a column or a CHECK
constraint also rewrites the ``pg_class`` row. Otherwise the backup fails (exit 7) with one
line naming the relations that changed, and its directory is removed.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, TypeVar

import psycopg

from dumper.format.names import quote_ident, quote_literal
from dumper.errors import LockTimeout, ServerError

if TYPE_CHECKING:
    from dumper.catalog.relations import Relation
    from dumper.session import Session

T = TypeVar("T")

#: Environment variable (tests only): a directory; a ``--lock-batches`` dump writes
#: ``paused`` there after its first data batch and waits (up to 120 s) for ``resume``, so a
#: test can run DDL at a known moment between two batches.
PAUSE_ENV = "PYDUMP_TEST_BATCH_PAUSE"


class LockTableTooSmall(LockTimeout):
    """The dump's locks do not fit the server's lock table (exit 6, as a lock failure)."""


class ChangedDuringDump(ServerError):
    """A relation dumped under ``--lock-batches`` changed after the snapshot (exit 7)."""


@dataclass
class LockBudget:
    """The server's lock table and the part of it pydump may use.

    ``capacity`` is the documented guarantee, ``max_locks_per_transaction × (max_connections +
    max_prepared_transactions)``; what the server really holds is larger (background slots,
    spare shared memory) but not promised, and what is taken beyond the guarantee is taken from
    other sessions. ``budget`` is the capacity minus the locks other sessions hold right now
    and minus ``overhead``, the system catalog tables and indexes a catalog read may lock.
    """

    max_locks: int
    slots: int  # max_connections + max_prepared_transactions
    held_by_others: int
    overhead: int

    @property
    def capacity(self) -> int:
        return self.max_locks * self.slots

    @property
    def budget(self) -> int:
        return self.capacity - self.held_by_others - self.overhead

    def max_locks_for(self, needed: int) -> int:
        """The smallest ``max_locks_per_transaction`` (a multiple of 64) that fits ``needed``."""
        want = math.ceil((needed + self.held_by_others + self.overhead) / max(self.slots, 1))
        return max(64, math.ceil(want / 64) * 64)

    def per_batch(self, connections: int) -> int:
        """Relations one batch transaction may lock when ``connections`` batch transactions run
        at once beside the leader, each also locking the catalogs it reads."""
        return (self.budget - self.overhead * connections) // max(connections, 1)

    def as_json(self) -> dict[str, int]:
        return {"max_locks_per_transaction": self.max_locks, "slots": self.slots, "capacity": self.capacity,
                "held_by_others": self.held_by_others, "catalog_overhead": self.overhead, "budget": self.budget}


def read_budget(s: Session) -> LockBudget:
    """Settings and current use of the lock table, in one query (no lock on user relations)."""
    row = s.query(
        """
        SELECT pg_catalog.current_setting('max_locks_per_transaction')::int AS max_locks,
               pg_catalog.current_setting('max_connections')::int
                 + pg_catalog.current_setting('max_prepared_transactions')::int AS slots,
               (SELECT count(*) FROM pg_catalog.pg_locks l
                 WHERE l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid() AND NOT l.fastpath)::int AS others,
               (SELECT count(*) FROM pg_catalog.pg_class c
                 WHERE c.relnamespace = 'pg_catalog'::pg_catalog.regnamespace AND c.relkind IN ('r', 'i'))::int AS overhead
        """
    )[0]
    return LockBudget(row["max_locks"], row["slots"], row["others"], row["overhead"])


def locks_needed(s: Session, relations: Sequence[Relation]) -> int:
    """Relations a default dump of ``relations`` holds a lock on by its end.

    Tables and partitioned tables with every inheritance child and partition (``LOCK TABLE``
    recurses), views and materialized views (their definitions lock them before 18),
    sequences (their values are read), and user relations outside the dump that a view, rule
    or SQL function body reads (their definitions lock them).
    """
    tables = [r.oid for r in relations if r.kind in ("r", "p")]
    others = [r.oid for r in relations if r.kind in ("v", "m", "S")]
    row = s.query(
        """
        WITH RECURSIVE t(oid) AS (
            SELECT pg_catalog.unnest(%(tables)s::pg_catalog.oid[])
            UNION
            SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN t ON i.inhparent = t.oid),
        dumped AS (SELECT oid FROM t UNION SELECT pg_catalog.unnest(%(others)s::pg_catalog.oid[])),
        refs AS (
            SELECT DISTINCT d.refobjid AS oid FROM pg_catalog.pg_depend d
             WHERE d.classid IN ('pg_catalog.pg_rewrite'::pg_catalog.regclass, 'pg_catalog.pg_proc'::pg_catalog.regclass)
               AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid >= 16384)
        SELECT (SELECT count(*) FROM dumped)::int
             + (SELECT count(*) FROM refs WHERE oid NOT IN (SELECT oid FROM dumped))::int AS n
        """,
        {"tables": tables, "others": others},
    )[0]
    return int(row["n"])


def too_many(needed: int, b: LockBudget, *, full: bool = False) -> str:
    """The one-line error: both numbers, the setting to raise and by how much, the alternative."""
    what = ("the server's lock table is full (out of shared memory): " if full else "")
    return (
        f"{what}this dump must lock {needed:,} relations, but the server's lock table is sized for "
        f"{b.capacity:,} locks for all sessions (max_locks_per_transaction {b.max_locks} × "
        f"{b.slots} max_connections + max_prepared_transactions), {b.held_by_others:,} of them held by other "
        f"sessions now and up to {b.overhead} needed for the system catalogs: raise max_locks_per_transaction to "
        f"at least {b.max_locks_for(needed)} (server restart), or run pydump with --lock-batches, which needs "
        f"no setting change (see README, 'Many tables')"
    )


# -- batches on a second, snapshot-importing connection -----------------------------------------
class SnapshotBatches:
    """A connection inside the leader's snapshot whose transaction is renewed between batches.

    ``COMMIT`` releases every lock a batch took; ``BEGIN ... REPEATABLE READ`` + ``SET
    TRANSACTION SNAPSHOT`` puts the next batch back into the same instant (possible while the
    leader's transaction, which exported it, is open). It is a :class:`~dumper.session.Session`,
    so the catalog readers run on it unchanged.
    """

    def __init__(self, s: Session, snapshot: str, per_batch: int, *, encoding: str | None,
                 lock_timeout_ms: int | None) -> None:
        from dumper.session import Session

        self.snapshot = snapshot
        self.per_batch = max(per_batch, 1)
        self.session = Session(s.dsn, snapshot=snapshot, encoding=encoding)
        self.session.unreadable = s.unreadable
        self.lock_timeout_ms = lock_timeout_ms
        self.batches = 0
        self._in_batch = 0
        self._paused = False
        if lock_timeout_ms:
            self.session.conn.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")

    @property
    def conn(self) -> psycopg.Connection[Any]:
        return self.session.conn

    def renew(self) -> None:
        """End the batch (releasing its locks) and start the next one in the same snapshot."""
        try:
            self.conn.commit()
            self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            self.conn.execute("SET TRANSACTION SNAPSHOT " + quote_literal(self.snapshot))
        except psycopg.Error as e:
            raise ServerError(f"cannot start the next lock batch in the snapshot: {str(e).strip().splitlines()[0]}") from None
        self.batches += 1
        self._in_batch = 0

    def chunks(self, items: Sequence[T], cost: Callable[[T], int]) -> Iterable[list[T]]:
        """``items`` in groups whose locks fit one batch, each read in its own transaction
        (``cost``: the locks reading an item holds; 0 for one that takes none)."""
        group: list[T] = []
        used = 0
        for item in items:
            c = max(cost(item), 0)
            if group and used + c > self.per_batch:
                yield group
                self.renew()
                group, used = [], 0
            group.append(item)
            used += c
        if group:
            yield group
            self.renew()

    def copied(self) -> None:
        """One more relation locked by a ``COPY`` in this batch; renew when the batch is full."""
        self._in_batch += 1
        if self._in_batch >= self.per_batch:
            self.renew()
            self._pause_for_tests()

    def _pause_for_tests(self) -> None:
        """``PYDUMP_TEST_BATCH_PAUSE`` (tests only): stop once, after the first data batch."""
        where = os.environ.get(PAUSE_ENV)
        if not where or self._paused:
            return
        self._paused = True
        d = Path(where)
        (d / "paused").write_text(str(os.getpid()))
        deadline = time.monotonic() + 120
        while not (d / "resume").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.session.close()


def rewrite_costs(s: Session, oids: list[int]) -> dict[int, int]:
    """Locks reading each relation's view/rule definitions takes: 1 + the relations they read."""
    if not oids:
        return {}
    rows = s.query(
        """
        SELECT r.ev_class AS oid, pg_catalog.count(DISTINCT d.refobjid)::int AS n
          FROM pg_catalog.pg_rewrite r
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
                                     AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
         WHERE r.ev_class = ANY(%s)
         GROUP BY r.ev_class
        """,
        (oids,),
    )
    return {int(r["oid"]): 1 + int(r["n"]) for r in rows}


# -- the end-of-dump check ----------------------------------------------------------------------
_ROWS = """
    SELECT c.oid, 'pg_class' AS cat, c.oid::text AS key, c.xmin::text AS x FROM pg_catalog.pg_class c WHERE c.oid = ANY(%(o)s)
    UNION ALL SELECT a.attrelid, 'pg_attribute', a.attnum::text, a.xmin::text FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = ANY(%(o)s) AND a.attnum > 0
    UNION ALL SELECT d.adrelid, 'pg_attrdef', d.oid::text, d.xmin::text FROM pg_catalog.pg_attrdef d WHERE d.adrelid = ANY(%(o)s)
    UNION ALL SELECT k.conrelid, 'pg_constraint', k.oid::text, k.xmin::text FROM pg_catalog.pg_constraint k
     WHERE k.conrelid = ANY(%(o)s)
    UNION ALL SELECT i.indrelid, 'pg_index', i.indexrelid::text, i.xmin::text || '/' || ic.xmin::text
      FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = ANY(%(o)s)
    UNION ALL SELECT t.tgrelid, 'pg_trigger', t.oid::text, t.xmin::text FROM pg_catalog.pg_trigger t WHERE t.tgrelid = ANY(%(o)s)
    UNION ALL SELECT r.ev_class, 'pg_rewrite', r.oid::text, r.xmin::text FROM pg_catalog.pg_rewrite r WHERE r.ev_class = ANY(%(o)s)
    UNION ALL SELECT p.polrelid, 'pg_policy', p.oid::text, p.xmin::text FROM pg_catalog.pg_policy p WHERE p.polrelid = ANY(%(o)s)
    UNION ALL SELECT e.stxrelid, 'pg_statistic_ext', e.oid::text, e.xmin::text FROM pg_catalog.pg_statistic_ext e
     WHERE e.stxrelid = ANY(%(o)s)
    UNION ALL SELECT h.inhrelid, 'pg_inherits', h.inhparent::text, h.xmin::text FROM pg_catalog.pg_inherits h
     WHERE h.inhrelid = ANY(%(o)s)
    UNION ALL SELECT pt.partrelid, 'pg_partitioned_table', '', pt.xmin::text FROM pg_catalog.pg_partitioned_table pt
     WHERE pt.partrelid = ANY(%(o)s)
    UNION ALL SELECT q.seqrelid, 'pg_sequence', '', q.xmin::text FROM pg_catalog.pg_sequence q WHERE q.seqrelid = ANY(%(o)s)
    UNION ALL SELECT f.ftrelid, 'pg_foreign_table', '', f.xmin::text FROM pg_catalog.pg_foreign_table f WHERE f.ftrelid = ANY(%(o)s)
    UNION ALL SELECT n.oid, 'pg_namespace', n.oid::text, n.xmin::text FROM pg_catalog.pg_namespace n WHERE n.oid = ANY(%(n)s)
"""


@dataclass
class Fingerprints:
    """Per relation (and schema) oid: ``{(catalog, key): xmin}`` of its defining catalog rows."""

    rows: dict[int, dict[tuple[str, str], str]] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    schema_oids: list[int] = field(default_factory=list)


def _read_rows(query: Callable[..., list[dict[str, Any]]], oids: list[int], schema_oids: list[int]) -> dict[int, dict[tuple[str, str], str]]:
    out: dict[int, dict[tuple[str, str], str]] = {}
    for r in query(_ROWS, {"o": oids, "n": schema_oids}):
        out.setdefault(int(r["oid"]), {})[(r["cat"], r["key"])] = r["x"]
    return out


def fingerprints(s: Session, relations: Sequence[Relation]) -> Fingerprints:
    """The defining catalog rows of ``relations`` as the snapshot sees them (MVCC, no locks)."""
    names = {r.oid: r.identity for r in relations}
    schemas = s.query("SELECT n.oid, n.nspname FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY(%s)",
                      (sorted({r.schema for r in relations if r.schema}),))
    for n in schemas:
        names[int(n["oid"])] = "schema " + quote_ident(n["nspname"])
    schema_oids = [int(n["oid"]) for n in schemas]
    return Fingerprints(_read_rows(s.query, [r.oid for r in relations], schema_oids), names, schema_oids)


def changed(before: Fingerprints, dsn: str) -> list[str]:
    """Objects whose defining rows are gone or have a new ``xmin`` now, read in a fresh transaction."""
    from dumper.connect import connect

    conn = connect(dsn, autocommit=True, application_name="pydump check")
    try:
        def query(sql: str, params: Any) -> list[dict[str, Any]]:
            with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
                cur.execute(sql, params)
                return cur.fetchall()

        skip = set(before.schema_oids)
        now = _read_rows(query, [o for o in before.names if o not in skip], before.schema_oids)
    except psycopg.Error as e:
        raise ServerError(f"cannot check the relations for changes since the snapshot: {str(e).strip().splitlines()[0]}") from None
    finally:
        conn.close()
    out = []
    for oid, rows in before.rows.items():
        live = now.get(oid, {})
        if ("pg_class", str(oid)) in rows and ("pg_class", str(oid)) not in live:
            out.append(f"{before.names.get(oid, oid)} (dropped)")
            continue
        cats = sorted({cat for key, x in rows.items() if live.get(key) != x for cat in [key[0]]})
        if cats:
            out.append(f"{before.names.get(oid, oid)} ({', '.join(cats)})")
    return sorted(out)


def verify(before: Fingerprints, dsn: str) -> None:
    """Raise :class:`ChangedDuringDump` naming every dumped relation changed since the snapshot."""
    bad = changed(before, dsn)
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise ChangedDuringDump(
            f"changed during the --lock-batches dump, after its snapshot: {shown}; the backup would not be one "
            "instant and was removed (run it again, or without --lock-batches after raising max_locks_per_transaction)"
        )
