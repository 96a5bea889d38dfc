"""What runs against the source database while pydump dumps it.

Three kinds of sessions, each a bounded thread (it stops on ``stop`` or after ``max_seconds``):

- :class:`AppWriter`, application-shaped: FK-linked parents/children, money moved between
  accounts, deletes that cascade, and now and then a long transaction (it sleeps while holding
  its row locks). After every commit ``state_log`` holds the exact totals right after that
  commit, so a restored backup can be matched to exactly one committed state: its highest
  ``state_log`` version and the totals that row recorded must both be what was restored.
- :class:`BenchWriter`, pgbench-style (TPC-B: account, teller, branch, history), our own SQL.
  Invariant: the three balance sums equal the sum of ``history.delta``.
- :class:`DdlChurner`, another session doing CREATE/DROP/ALTER of tables, functions, views,
  indexes, policies and schemas, in the ``zoo`` schema (objects the dump may already have
  listed) and on the writers' own tables (index churn, comments), with a short
  ``lock_timeout`` so it never parks an ACCESS EXCLUSIVE request in front of the writers for a
  whole dump.

Errors a concurrent session may legitimately get (a lock timeout, a deadlock, an object a
racing statement already dropped) are counted, not raised: the soak judges pydump, not them.
"""

from __future__ import annotations

import random
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import psycopg

ACCOUNTS = 200
TOTAL = ACCOUNTS * 1000
PARENTS = 200
CHILDREN_PER_PARENT = 10
BRANCHES, TELLERS, BENCH_ACCOUNTS = 2, 20, 2000
CHURN_ROWS, BASE_ROWS = 20, 50  # rows of every zoo.tN the DDL session creates, of zoo.base


def app_schema(accounts: int, parents: int, children_per_parent: int, events: int = 0) -> str:
    """The application-shaped writer's tables (also tests/test_reliability.py's): accounts
    holding 1000 each, parents with their children (FK, cascading deletes), events, and
    ``state_log`` with one row per committed writer transaction: the exact totals after it."""
    return f"""
CREATE TABLE public.accounts (id int PRIMARY KEY, balance bigint NOT NULL);
INSERT INTO public.accounts SELECT g, 1000 FROM generate_series(1, {accounts}) g;
CREATE TABLE public.parents (id bigserial PRIMARY KEY, n_children int NOT NULL, note text);
CREATE TABLE public.children (
    id bigserial PRIMARY KEY,
    parent_id bigint NOT NULL REFERENCES public.parents (id) ON DELETE CASCADE,
    payload text NOT NULL);
CREATE INDEX children_parent_idx ON public.children (parent_id);
CREATE TABLE public.events (id bigserial PRIMARY KEY, kind text NOT NULL, at timestamptz DEFAULT now());
CREATE TABLE public.state_log (version bigint PRIMARY KEY, parents bigint NOT NULL,
    children bigint NOT NULL, events bigint NOT NULL);
INSERT INTO public.parents (n_children, note)
    SELECT {children_per_parent}, 'p' || g FROM generate_series(1, {parents}) g;
INSERT INTO public.children (parent_id, payload)
    SELECT p, md5(p::text || '-' || c) FROM generate_series(1, {parents}) p,
           generate_series(1, {children_per_parent}) c;
INSERT INTO public.events (kind) SELECT 'seed' FROM generate_series(1, {events});
INSERT INTO public.state_log VALUES (0, {parents}, {parents * children_per_parent}, {events});
"""


SCHEMA = app_schema(ACCOUNTS, PARENTS, CHILDREN_PER_PARENT) + f"""
CREATE TABLE public.pgbench_branches (bid int PRIMARY KEY, bbalance bigint NOT NULL, filler char(88));
CREATE TABLE public.pgbench_tellers (tid int PRIMARY KEY, bid int NOT NULL, tbalance bigint NOT NULL, filler char(84));
CREATE TABLE public.pgbench_accounts (aid int PRIMARY KEY, bid int NOT NULL, abalance bigint NOT NULL, filler char(84));
CREATE TABLE public.pgbench_history (tid int, bid int, aid int, delta bigint, mtime timestamp, filler char(22));
INSERT INTO public.pgbench_branches SELECT g, 0 FROM generate_series(1, {BRANCHES}) g;
INSERT INTO public.pgbench_tellers SELECT g, 1 + (g - 1) % {BRANCHES}, 0 FROM generate_series(1, {TELLERS}) g;
INSERT INTO public.pgbench_accounts SELECT g, 1 + (g - 1) % {BRANCHES}, 0 FROM generate_series(1, {BENCH_ACCOUNTS}) g;

CREATE SCHEMA zoo;
CREATE TABLE zoo.base (id int PRIMARY KEY, v text);
INSERT INTO zoo.base SELECT g, 'b' || g FROM generate_series(1, {BASE_ROWS}) g;
ANALYZE;
"""


def filler_schema(n: int) -> str:
    """``n`` small tables in schema ``many``: enough that a dump of everything does not fit a
    small lock table, so ``--lock-batches`` really batches (the default runs exclude it)."""
    parts = ["CREATE SCHEMA many;"]
    for i in range(n):
        parts.append(f"CREATE TABLE many.t{i:04d} (id int PRIMARY KEY, v text);"
                     f"INSERT INTO many.t{i:04d} VALUES (1, 'x{i}'), (2, 'y{i}');")
    return "\n".join(parts)


#: Server errors a concurrent session may get for reasons that are not pydump's business.
_BENIGN = (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected, psycopg.errors.UndefinedTable,
           psycopg.errors.UndefinedObject, psycopg.errors.UndefinedFunction, psycopg.errors.DuplicateTable,
           psycopg.errors.DuplicateObject, psycopg.errors.DuplicateSchema, psycopg.errors.DuplicateFunction,
           psycopg.errors.InvalidSchemaName, psycopg.errors.DependentObjectsStillExist,
           psycopg.errors.UndefinedColumn, psycopg.errors.DuplicateColumn, psycopg.errors.ObjectInUse,
           psycopg.errors.SerializationFailure, psycopg.errors.QueryCanceled, psycopg.errors.UniqueViolation,
           psycopg.errors.InFailedSqlTransaction, psycopg.errors.ObjectNotInPrerequisiteState)


class Session(threading.Thread):
    """A bounded background session: :meth:`step` until :attr:`stop` or ``max_seconds``."""

    def __init__(self, dsn: str, seed: int, max_seconds: float) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.rnd = random.Random(seed)
        self.stop = threading.Event()
        self.max_seconds = max_seconds
        self.commits = 0
        self.benign = 0
        self.error: BaseException | None = None
        self._gate = threading.Lock()  # held by each step, and by :meth:`paused` while it lasts

    def run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        try:
            with psycopg.connect(self.dsn, autocommit=False, connect_timeout=10) as conn:
                self.setup(conn)
                while not self.stop.is_set() and time.monotonic() < deadline:
                    with self._gate:
                        try:
                            self.step(conn)
                            self.commits += 1
                        except _BENIGN:
                            conn.rollback()
                            self.benign += 1
                    self.stop.wait(self.pause_s())
        except BaseException as e:  # surfaced by the harness as a finding about the harness
            self.error = e

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No step runs inside this block (one in flight is waited for)."""
        with self._gate:
            yield

    def pause_s(self) -> float:
        """Seconds between steps (outside the gate, so :meth:`paused` gets its turn)."""
        return 0.0

    def setup(self, conn: psycopg.Connection[Any]) -> None:
        pass

    def step(self, conn: psycopg.Connection[Any]) -> None:
        raise NotImplementedError


class AppWriter(Session):
    """The application-shaped writer whose ``state_log`` names every committed state.

    Only one AppWriter may run per database: the totals it logs are its own running counts.
    They are re-read from the database when it starts, so writers of successive runs chain.
    """

    def setup(self, conn: psycopg.Connection[Any]) -> None:
        row = conn.execute("SELECT version, parents, children, events FROM public.state_log"
                           " ORDER BY version DESC LIMIT 1").fetchone()
        assert row is not None
        self.version, self.parents, self.children, self.events = row
        conn.execute("SET lock_timeout = '5s'")
        conn.commit()

    def step(self, conn: psycopg.Connection[Any]) -> None:
        rnd = self.rnd
        op = rnd.randrange(5)
        parents, children = self.parents, self.children
        with conn.transaction():
            a, b = rnd.sample(range(1, ACCOUNTS + 1), 2)
            amt = rnd.randint(1, 50)
            conn.execute("UPDATE public.accounts SET balance = balance - %s WHERE id = %s", (amt, a))
            conn.execute("UPDATE public.accounts SET balance = balance + %s WHERE id = %s", (amt, b))
            if op == 0:  # a new parent with k children
                k = rnd.randint(1, 8)
                pid = conn.execute("INSERT INTO public.parents (n_children, note) VALUES (%s, 'new')"
                                   " RETURNING id", (k,)).fetchone()[0]  # type: ignore[index]
                conn.execute("INSERT INTO public.children (parent_id, payload)"
                             " SELECT %s, 'c' || g FROM generate_series(1, %s) g", (pid, k))
                parents, children = parents + 1, children + k
            elif op == 1:  # delete a parent; its children cascade
                row = conn.execute("SELECT id, n_children FROM public.parents ORDER BY random() LIMIT 1").fetchone()
                if row:
                    conn.execute("DELETE FROM public.parents WHERE id = %s", (row[0],))
                    parents, children = parents - 1, children - row[1]
            elif op == 2:  # move a child to another parent
                rows = conn.execute("SELECT id FROM public.parents WHERE n_children > 1"
                                    " ORDER BY random() LIMIT 2").fetchall()
                if len(rows) == 2:
                    src, dst = rows[0][0], rows[1][0]
                    moved = conn.execute(
                        "UPDATE public.children SET parent_id = %s, payload = payload || '+'"
                        " WHERE id IN (SELECT id FROM public.children WHERE parent_id = %s LIMIT 1)",
                        (dst, src)).rowcount
                    conn.execute("UPDATE public.parents SET n_children = n_children - %s WHERE id = %s", (moved, src))
                    conn.execute("UPDATE public.parents SET n_children = n_children + %s WHERE id = %s", (moved, dst))
            elif op == 3:  # delete one child
                row = conn.execute("SELECT id, parent_id FROM public.children"
                                   " WHERE id = (SELECT max(id) FROM public.children)").fetchone()
                if row:
                    conn.execute("DELETE FROM public.children WHERE id = %s", (row[0],))
                    conn.execute("UPDATE public.parents SET n_children = n_children - 1 WHERE id = %s", (row[1],))
                    children -= 1
            else:  # a long transaction: holds its row locks across a pause (up to 1.5 s)
                conn.execute("UPDATE public.parents SET note = 'long' WHERE id ="
                             " (SELECT min(id) FROM public.parents)")
                self.stop.wait(rnd.uniform(0.2, 1.5))
            conn.execute("INSERT INTO public.events (kind) VALUES (%s)", (f"op{op}",))
            version = self.version + 1
            conn.execute("INSERT INTO public.state_log VALUES (%s, %s, %s, %s)",
                         (version, parents, children, self.events + 1))
        # only after the commit: a rolled-back step leaves the running totals as they were
        self.version, self.parents, self.children, self.events = version, parents, children, self.events + 1


class BenchWriter(Session):
    """pgbench's TPC-B-like transaction, written out (no pgbench binary needed)."""

    def setup(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute("SET lock_timeout = '5s'")
        conn.commit()

    def step(self, conn: psycopg.Connection[Any]) -> None:
        rnd = self.rnd
        aid, tid, bid = rnd.randint(1, BENCH_ACCOUNTS), rnd.randint(1, TELLERS), rnd.randint(1, BRANCHES)
        delta = rnd.randint(-5000, 5000)
        with conn.transaction():
            conn.execute("UPDATE public.pgbench_accounts SET abalance = abalance + %s WHERE aid = %s", (delta, aid))
            conn.execute("SELECT abalance FROM public.pgbench_accounts WHERE aid = %s", (aid,))
            conn.execute("UPDATE public.pgbench_tellers SET tbalance = tbalance + %s WHERE tid = %s", (delta, tid))
            conn.execute("UPDATE public.pgbench_branches SET bbalance = bbalance + %s WHERE bid = %s", (delta, bid))
            conn.execute("INSERT INTO public.pgbench_history (tid, bid, aid, delta, mtime)"
                         " VALUES (%s, %s, %s, %s, now())", (tid, bid, aid, delta))
        time.sleep(0.002)  # two cores shared with the dump: leave it some


class DdlChurner(Session):
    """Concurrent DDL from another session, including on objects the dump has already listed."""

    def setup(self, conn: psycopg.Connection[Any]) -> None:
        conn.autocommit = True
        conn.execute("SET lock_timeout = '300ms'")  # never queue in front of the writers for long

    def step(self, conn: psycopg.Connection[Any]) -> None:
        rnd = self.rnd
        k = rnd.randrange(4)
        t = f"zoo.t{k}"
        stmts = [
            f"CREATE TABLE {t} (id int PRIMARY KEY, v text);"
            f" INSERT INTO {t} SELECT g, 'v' || g FROM generate_series(1, {CHURN_ROWS}) g",
            f"DROP TABLE {t} CASCADE",
            f"ALTER TABLE {t} ADD COLUMN c{rnd.randrange(3)} int DEFAULT 7",
            f"ALTER TABLE {t} RENAME COLUMN v TO w",
            f"ALTER TABLE {t} RENAME COLUMN w TO v",
            f"CREATE OR REPLACE FUNCTION zoo.f{k}(x int) RETURNS int LANGUAGE sql AS 'SELECT x + {rnd.randrange(100)}'",
            f"DROP FUNCTION zoo.f{k}(int)",
            f"CREATE VIEW zoo.v{k} AS SELECT id, v FROM {t}",
            f"CREATE OR REPLACE VIEW zoo.vb{k} AS SELECT id, v FROM zoo.base WHERE id > {k}",
            f"DROP VIEW zoo.v{k}",
            f"DROP VIEW zoo.vb{k}",
            f"CREATE INDEX t{k}_v_idx ON {t} (v)",
            f"DROP INDEX zoo.t{k}_v_idx",
            f"CREATE INDEX base_v{k}_idx ON zoo.base (v)",
            f"DROP INDEX zoo.base_v{k}_idx",
            f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY; CREATE POLICY p{k} ON {t} USING (id > 0)",
            f"DROP POLICY p{k} ON {t}",
            f"CREATE SCHEMA zs{k}; CREATE TABLE zs{k}.x (id int); CREATE VIEW zs{k}.vx AS SELECT id FROM zs{k}.x",
            f"DROP SCHEMA zs{k} CASCADE",
            f"ALTER TABLE zoo.base ALTER COLUMN v SET DEFAULT 'd{k}'",
            f"COMMENT ON TABLE public.events IS 'c{rnd.randrange(1000)}'",
            f"CREATE INDEX events_kind{k}_idx ON public.events (kind)",
            f"DROP INDEX public.events_kind{k}_idx",
        ]
        stmt = rnd.choice(stmts)
        with conn.transaction():
            conn.execute(stmt)

    def pause_s(self) -> float:
        return self.rnd.uniform(0.01, 0.15)


def check_restored(dsn: str) -> tuple[bool, str]:
    """Is the database at ``dsn`` (a restored backup) exactly one committed state of the writers?

    The highest ``state_log`` version is the last AppWriter commit the snapshot saw; the row
    counts must be the totals that commit logged, every parent's counter its children, no
    orphan, the money unchanged, and the pgbench tables' balances must equal their history; every
    table of the DDL session holds the rows it was created with.
    """
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        def one(q: str) -> Any:
            return conn.execute(q).fetchone()

        version, parents, children, events = one("SELECT * FROM public.state_log ORDER BY version DESC LIMIT 1")
        got = one("SELECT (SELECT count(*) FROM public.parents), (SELECT count(*) FROM public.children),"
                  " (SELECT count(*) FROM public.events), (SELECT count(*) FROM public.state_log)")
        if got != (parents, children, events, version + 1):
            return False, f"state_log v{version} says {(parents, children, events, version + 1)}, restored {got}"
        if one("SELECT sum(balance) FROM public.accounts")[0] != TOTAL:
            return False, "accounts do not sum to the constant total"
        if one("SELECT count(*) FROM public.children c LEFT JOIN public.parents p ON p.id = c.parent_id"
               " WHERE p.id IS NULL")[0]:
            return False, "orphan children"
        if one("SELECT count(*) FROM (SELECT p.id FROM public.parents p LEFT JOIN public.children c"
               " ON c.parent_id = p.id GROUP BY p.id HAVING p.n_children <> count(c.id)) x")[0]:
            return False, "a parent's n_children differs from its children"
        sums = one("SELECT (SELECT coalesce(sum(abalance), 0) FROM public.pgbench_accounts),"
                   " (SELECT coalesce(sum(tbalance), 0) FROM public.pgbench_tellers),"
                   " (SELECT coalesce(sum(bbalance), 0) FROM public.pgbench_branches),"
                   " (SELECT coalesce(sum(delta), 0) FROM public.pgbench_history)")
        if len(set(sums)) != 1:
            return False, f"pgbench balances/history disagree: {sums}"
        for seq, table in (("public.events_id_seq", "public.events"), ("public.children_id_seq", "public.children")):
            if one(f"SELECT last_value FROM {seq}")[0] < one(f"SELECT coalesce(max(id), 0) FROM {table}")[0]:
                return False, f"{seq} restored below max(id) of {table}"
        # the DDL session's tables never change rows once created: a table dropped and created
        # again under the dump would show as one with fewer rows (or none)
        zoo = [r[0] for r in conn.execute("SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n"
                                          " ON n.oid = c.relnamespace WHERE n.nspname = 'zoo' AND c.relkind = 'r'")]
        for table in zoo:
            want = BASE_ROWS if table == "zoo.base" else CHURN_ROWS
            if one(f"SELECT count(*) FROM {table}")[0] != want:
                return False, f"{table} restored with {one(f'SELECT count(*) FROM {table}')[0]} rows, not {want}"
        return True, f"v{version}"
