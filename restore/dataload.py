"""``--data-only``: load table data into an existing schema, in foreign-key order.

The target's schema may come from the application's migrations rather than from the backup,
so the FK graph is read from the *target's* catalog, not from the TOC.

Two sources:

* the script's COPY blocks (complete: every table's data is there). The script is a
  sequential compressed stream, so the load order is the script's order; FK edges that this
  order cannot satisfy (a child's data before its parent's, cycles, a self-referencing table
  split into several COPY blocks) are the "problem edges";
* the CSV files (``--from-csv``; only the tables that have one). Each file is read on its
  own, so tables are loaded in a topological order of the FK graph and only edges inside
  strongly connected components (cycles) are problem edges. A self-reference alone is not
  one: RI checks of a single COPY statement run at its end, after all its rows are in.

Problem edges are dealt with as the issue asks: ``SET session_replication_role = replica``
(disables FK triggers for the session) when the role may set it, otherwise the involved FK
constraints are dropped before the load and re-created after it (which validates every row
in one pass). The output says which was done.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from restore.apply import Replayer, Selection
from restore.backup import Backup, Entry, qualified_key, split_qualified
from restore.check import csv_files
from restore.errors import RestoreError, StatementFailed, TargetNotEmpty, UsageError
from restore.progress import Progress
from restore.script import Item
from restore.target import backup_encoding

COPY_CHUNK = 1 << 20
EVENTS_TABLE = "code_ops.artifact_events"
REPORT_NAME = "restore-db"
_STASH = "_pyrestore_own_events"
DATA_LOAD_KINDS = frozenset({"TABLE DATA", "SEQUENCE SET", "BLOB METADATA", "BLOBS", "MATERIALIZED VIEW DATA"})


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """One FK constraint between two loaded tables, as the target defines it."""

    name: str
    child: str
    parent: str
    definition: str
    comment: str | None = None

    def drop_sql(self) -> sql.Composable:
        return sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(_ident(self.child), sql.Identifier(self.name))

    def add_sql(self) -> sql.Composable:
        add = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            _ident(self.child), sql.Identifier(self.name), sql.SQL(self.definition))  # type: ignore[arg-type]
        if self.comment is None:
            return add
        return add + sql.SQL("; COMMENT ON CONSTRAINT {} ON {} IS {}").format(
            sql.Identifier(self.name), _ident(self.child), sql.Literal(self.comment))


@dataclass(slots=True)
class DataLoadResult:
    """Outcome of a data-only load."""

    tables: list[str] = field(default_factory=list)
    rows: int = 0
    strategy: str = "fk-order"
    dropped_fks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rows_by_table: dict[str, int] = field(default_factory=dict)
    #: Rows present in a table besides the backup's (our own set-aside events): verification subtracts them.
    extra_rows: dict[str, int] = field(default_factory=dict)


def _ident(key: str) -> sql.Identifier:
    schema, name = split_qualified(key)
    return sql.Identifier(schema, name) if schema is not None else sql.Identifier(name)


def foreign_keys(conn: psycopg.Connection, keys: Iterable[str]) -> list[ForeignKey]:
    """FK constraints of the target whose both ends are among ``keys`` (row_counts-style keys)."""
    oid_of: dict[int, str] = {}
    for key in keys:
        row = conn.execute("SELECT to_regclass(%s)::oid", [_ident(key).as_string(conn)]).fetchone()
        if row and row[0] is not None:
            oid_of[int(row[0])] = key
    if not oid_of:
        return []
    rows = conn.execute(
        "SELECT conname, conrelid::oid, confrelid::oid, pg_get_constraintdef(oid)"
        "  FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(%(o)s::oid[]) AND confrelid = ANY(%(o)s::oid[])"
        "   AND conparentid = 0 ORDER BY conrelid, conname",
        {"o": list(oid_of)}).fetchall()
    return [ForeignKey(r[0], oid_of[int(r[1])], oid_of[int(r[2])], r[3]) for r in rows]


def not_valid_constraints(conn: psycopg.Connection, keys: Iterable[str]) -> list[ForeignKey]:
    """CHECK and FK constraints marked NOT VALID on the tables to load.

    NOT VALID means the source holds rows that break them, yet every new row is checked: the
    backup's own rows could not be loaded while they exist. They are dropped for the load and
    added back NOT VALID afterwards, as pg_dump's ordering does in a full restore.
    """
    oids: dict[int, str] = {}
    for key in keys:
        row = conn.execute("SELECT to_regclass(%s)::oid", [_ident(key).as_string(conn)]).fetchone()
        if row and row[0] is not None:
            oids[int(row[0])] = key
    if not oids:
        return []
    # An inherited constraint can only be dropped where it is defined: on an ancestor
    # (inheritance parent or partitioned table), whose DROP/ADD reaches every child.
    rows = conn.execute(
        "WITH RECURSIVE up(oid) AS (SELECT unnest(%s::oid[]) UNION"
        "  SELECT i.inhparent FROM pg_inherits i JOIN up ON i.inhrelid = up.oid)"
        " SELECT k.conname, n.nspname, c.relname, pg_get_constraintdef(k.oid),"
        "        obj_description(k.oid, 'pg_constraint')"
        "   FROM pg_constraint k JOIN up ON k.conrelid = up.oid"
        "   JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        "  WHERE k.contype IN ('c', 'f') AND NOT k.convalidated AND k.coninhcount = 0 AND k.conparentid = 0"
        "  ORDER BY n.nspname, c.relname, k.conname", [list(oids)]).fetchall()
    out = []
    for name, schema, rel, definition, comment in rows:
        key = qualified_key(schema, rel)
        out.append(ForeignKey(name, key, key, definition, comment))
    return out


def strongly_connected(nodes: list[str], edges: list[tuple[str, str]]) -> list[set[str]]:
    """Tarjan's SCCs (iterative: FK graphs of thousands of tables must not hit the recursion limit)."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
        succ.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[set[str]] = []
    counter = 0
    for root in succ:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            recurse = False
            for j in range(i, len(succ[v])):
                w = succ[v][j]
                if w not in index:
                    work.append((v, j + 1))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp: set[str] = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                out.append(comp)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return out


def fk_order(tables: list[str], fks: list[ForeignKey]) -> tuple[list[str], list[ForeignKey]]:
    """Parents-first order of ``tables`` and the FKs inside cycles (which no order satisfies)."""
    comp_of: dict[str, int] = {}
    for i, comp in enumerate(strongly_connected(tables, [(f.child, f.parent) for f in fks])):
        for t in comp:
            comp_of[t] = i
    cyclic = [f for f in fks if f.child != f.parent and comp_of[f.child] == comp_of[f.parent]]
    # Kahn's algorithm over the remaining edges, ties broken by the original order (stable output).
    pos = {t: i for i, t in enumerate(tables)}
    deps: dict[str, set[str]] = {t: set() for t in tables}
    for f in fks:
        if f.child != f.parent and f not in cyclic:
            deps[f.child].add(f.parent)
    order: list[str] = []
    ready = sorted((t for t in tables if not deps[t]), key=pos.__getitem__)
    dependants: dict[str, list[str]] = {t: [] for t in tables}
    for child, parents in deps.items():
        for p in parents:
            dependants[p].append(child)
    while ready:
        t = ready.pop(0)
        order.append(t)
        for c in dependants[t]:
            deps[c].discard(t)
            if not deps[c]:
                ready.append(c)
        ready.sort(key=pos.__getitem__)
    return order, cyclic


def script_problem_edges(blocks: list[str], fks: list[ForeignKey]) -> list[ForeignKey]:
    """FKs the script's fixed COPY order violates: child data (first block) before parent data (last block)."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, t in enumerate(blocks):
        first.setdefault(t, i)
        last[t] = i
    bad: list[ForeignKey] = []
    for f in fks:
        if f.child not in first or f.parent not in first:
            continue
        if f.child == f.parent:
            if first[f.child] != last[f.child]:
                bad.append(f)  # self-reference across several COPY statements
        elif first[f.child] <= last[f.parent]:
            bad.append(f)
    return bad


class DataLoader:
    """Orchestrates a data-only load on one connection (autocommit, or one transaction)."""

    def __init__(self, conn: psycopg.Connection, backup: Backup, selection: Selection, *, from_csv: bool = False,
                 clean: bool = False, progress: Progress, info: Callable[[str], None]) -> None:
        if not backup.entries:
            raise UsageError("--data-only needs the backup's toc.json (a bare script has none)")
        self.conn = conn
        self.backup = backup
        self.selection = selection
        self.from_csv = from_csv
        self.clean = clean
        self.progress = progress
        self.info = info
        self.result = DataLoadResult()
        self._stash_events = False

    def data_entries(self) -> list[Entry]:
        return [e for e in self.backup.entries if e.kind == "TABLE DATA" and e.table and self.selection.wants_entry(e)]

    def run(self) -> DataLoadResult:
        entries = self.data_entries()
        block_order = [e.table for e in entries if e.table]
        tables = list(dict.fromkeys(block_order))
        csv_map: dict[str, Path] = {}
        if self.from_csv:
            csv_map = csv_files(self.backup)
            missing_csv = [t for t in tables if t not in csv_map]
            if missing_csv:
                self.info(f"no CSV file for {len(missing_csv)} table(s); their data is not loaded with --from-csv: "
                          + ", ".join(missing_csv[:10]) + (" ..." if len(missing_csv) > 10 else ""))
            tables = [t for t in tables if t in csv_map]
        self._check_target(tables)
        fks = foreign_keys(self.conn, tables)
        if self.from_csv:
            order, problems = fk_order(tables, fks)
        else:
            order, problems = tables, script_problem_edges(block_order, fks)
        self.result.tables = order
        dropped: list[ForeignKey] = []
        if problems:
            dropped = self._neutralise(problems)
        not_valid = [c for c in not_valid_constraints(self.conn, tables) if c not in dropped]
        for c in not_valid:
            try:
                self.conn.execute(c.drop_sql())
            except psycopg.Error as exc:
                raise StatementFailed(f"cannot drop NOT VALID constraint {c.child}.{c.name} for the load: "
                                      f"{exc.diag.message_primary or exc}") from exc
        if not_valid:
            dropped += not_valid
            self.result.notes.append("NOT VALID constraints (the source's rows break them) were dropped for the load "
                                     "and added back NOT VALID: " + ", ".join(f"{c.child}.{c.name}" for c in not_valid))
            self.info(self.result.notes[-1])
        if self._stash_events:
            self.conn.execute(f"CREATE TEMP TABLE {_STASH} AS SELECT * FROM {EVENTS_TABLE}")
            self.conn.execute(f"DELETE FROM {EVENTS_TABLE}")
        quiet = self._silence_triggers(tables)
        try:
            if self.from_csv:
                self._load_csv(order, csv_map, entries)
                # The header too: its SET client_encoding says how the setval names are encoded.
                self._replay(lambda item, e: e is None or e.kind in ("SEQUENCE SET", "MATERIALIZED VIEW DATA"),
                             "sequences")
            else:
                # Materialized view contents are data too (as in pg_restore --data-only): the
                # REFRESH entries come last in the script, after the tables they read.
                self._replay(lambda item, e: e is None or e.kind in DATA_LOAD_KINDS, "data")
        finally:
            if self.result.strategy == "replica":
                self._reset_replica()
            self._wake_triggers(quiet)
            if dropped:
                self._recreate(dropped)
        if self._stash_events:
            self._unstash_events()
        return self.result

    def _only_own_events(self) -> bool:
        try:
            with self.conn.transaction():
                row = self.conn.execute(f"SELECT bool_and(artifact_name IS NOT DISTINCT FROM %s) FROM {EVENTS_TABLE}",
                                        [REPORT_NAME]).fetchone()
        except psycopg.Error:
            return False  # not the table shape we know: treat its rows as user data
        return bool(row and row[0])

    def _unstash_events(self) -> None:
        """Append the set-aside events, letting serial/identity columns draw new values."""
        cols = [r[0] for r in self.conn.execute(
            "SELECT attname FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
            " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity = ''"
            "   AND a.attgenerated = '' AND coalesce(pg_get_expr(d.adbin, d.adrelid), '') NOT LIKE 'nextval(%%'"
            " ORDER BY a.attnum", [EVENTS_TABLE]).fetchall()]
        collist = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
        cur = self.conn.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
            sql.SQL(EVENTS_TABLE), collist, collist, sql.Identifier(_STASH)))
        self.result.extra_rows[EVENTS_TABLE] = max(cur.rowcount, 0)
        self.conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(_STASH)))

    # -- preparation ---------------------------------------------------------------------------
    def _check_target(self, tables: list[str]) -> None:
        missing = [t for t in tables if _regclass(self.conn, t) is None]
        if missing:
            raise RestoreError(f"--data-only: the target lacks {len(missing)} table(s) of the backup: "
                               + ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
                               + " (create the schema first, e.g. pyrestore --schema-only)", 2)
        non_empty = [t for t in tables
                     if self.conn.execute(sql.SQL("SELECT EXISTS (SELECT FROM ONLY {})").format(_ident(t))).fetchone()[0]]  # type: ignore[index]
        if EVENTS_TABLE in non_empty and not self.clean and self._only_own_events():
            # Rows pyrestore itself reported (e.g. by the --schema-only run before this one) are
            # not user data: set them aside and append them again after the load.
            non_empty.remove(EVENTS_TABLE)
            self._stash_events = True
        if non_empty and not self.clean:
            raise TargetNotEmpty(f"--data-only: {len(non_empty)} target table(s) already hold rows: "
                                 + ", ".join(non_empty[:10]) + (" ..." if len(non_empty) > 10 else "")
                                 + "; use --clean to empty them first; nothing was changed")
        if non_empty:
            try:
                self.conn.execute(sql.SQL("TRUNCATE ONLY {}").format(sql.SQL(", ").join(_ident(t) for t in tables)))
            except psycopg.Error as exc:
                raise StatementFailed(f"--clean: TRUNCATE of the tables to load failed: {exc.diag.message_primary or exc}") from exc
            self.info(f"--clean: emptied {len(tables)} table(s) before loading")

    def _neutralise(self, problems: list[ForeignKey]) -> list[ForeignKey]:
        """Replica mode if allowed, else drop the problem FKs; returns what was dropped."""
        names = ", ".join(sorted({f"{f.child}.{f.name}" for f in problems}))
        try:
            # A savepoint inside --single-transaction, so a refusal does not abort the whole load.
            with self.conn.transaction():
                self.conn.execute("SET session_replication_role = replica")
            self.result.strategy = "replica"
            self.result.notes.append(f"foreign keys that the load order cannot satisfy ({names}): "
                                     "loaded with session_replication_role = replica (FK triggers off for this session)")
            self.info(self.result.notes[-1])
            return []
        except psycopg.errors.InsufficientPrivilege:
            pass
        for f in problems:
            try:
                self.conn.execute(f.drop_sql())
            except psycopg.Error as exc:
                raise StatementFailed(f"cannot drop FK {f.child}.{f.name} for the load: {exc.diag.message_primary or exc}") from exc
        self.result.strategy = "drop-fk"
        self.result.dropped_fks = [f"{f.child}.{f.name}" for f in problems]
        self.result.notes.append(f"foreign keys that the load order cannot satisfy were dropped and are re-created "
                                 f"(validated) after the load: {names}")
        self.info(self.result.notes[-1])
        return problems

    _ENABLE = {"O": "ENABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}

    def _silence_triggers(self, tables: list[str]) -> list[tuple[str, str, str]]:
        """Disable the user triggers of the tables to load, as pg_dump's --disable-triggers does.

        The rows are the source's rows: a trigger that audits, stamps or copies rows into
        another table would change or duplicate them (replica mode does not stop ``ENABLE
        ALWAYS`` triggers, and a non-superuser cannot use it at all). Each trigger's own state
        (enabled, replica, always) is put back afterwards; a trigger we may not alter is left
        as it is, and the output says so.
        """
        oids = [o for o in (_regclass(self.conn, t) for t in tables) if o is not None]
        if not oids:
            return []
        rows = self.conn.execute(
            # Qualified names: the script's header empties search_path before we re-enable.
            "SELECT format('%%I.%%I', n.nspname, c.relname), t.tgname, t.tgenabled::text FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE t.tgrelid = ANY(%s::oid[]) AND NOT t.tgisinternal AND t.tgenabled <> 'D'"
            " ORDER BY 1, 2", [oids]).fetchall()
        done: list[tuple[str, str, str]] = []
        skipped: list[str] = []
        for rel, name, state in rows:
            try:
                with self.conn.transaction():
                    self.conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(
                        sql.SQL(rel), sql.Identifier(name)))
                done.append((rel, name, state))
            except psycopg.Error:
                skipped.append(f"{rel}.{name}")
        if done:
            self.result.notes.append(f"user triggers disabled during the load and re-enabled after it: {len(done)}")
            self.info(self.result.notes[-1])
        if skipped:
            self.result.notes.append("triggers left enabled (not allowed to alter them): " + ", ".join(skipped))
            self.info(self.result.notes[-1])
        return done

    def _wake_triggers(self, triggers: list[tuple[str, str, str]]) -> None:
        for rel, name, state in triggers:
            try:
                self.conn.execute(sql.SQL("ALTER TABLE {} {} TRIGGER {}").format(
                    sql.SQL(rel), sql.SQL(self._ENABLE.get(state, "ENABLE")), sql.Identifier(name)))
            except psycopg.Error:
                if not self.conn.autocommit:
                    break  # an aborted transaction rolls the DISABLE back anyway

    def _reset_replica(self) -> None:
        try:
            self.conn.execute("RESET session_replication_role")
        except psycopg.Error:
            pass  # a failed transaction: the rollback resets it anyway

    def _recreate(self, fks: list[ForeignKey]) -> None:
        failed: list[str] = []
        for f in fks:
            try:
                self.conn.execute(f.add_sql())
            except psycopg.Error as exc:
                failed.append(f"ALTER TABLE {_ident(f.child).as_string(self.conn)} ADD CONSTRAINT "
                              f"{sql.Identifier(f.name).as_string(self.conn)} {f.definition}; -- {exc.diag.message_primary}")
                if not self.conn.autocommit:
                    break  # the transaction is aborted: the rollback restores them anyway
        if failed:
            raise StatementFailed("could not re-create foreign keys after the data load; run these by hand: "
                                  + " ".join(failed))

    # -- loading ---------------------------------------------------------------------------------
    def _replay(self, keep: Callable[[Item, Entry | None], bool], name: str) -> None:
        rep = Replayer(self.conn, self.backup, self.selection, item_filter=keep)
        res = rep.run(self.progress, name)
        self.result.rows += res.rows
        for k, v in res.rows_by_table.items():
            self.result.rows_by_table[k] = self.result.rows_by_table.get(k, 0) + v

    def _load_csv(self, order: list[str], csv_map: dict[str, Path], entries: list[Entry]) -> None:
        columns: dict[str, tuple[str, ...] | None] = {}
        for e in entries:
            if e.table and e.table not in columns:
                columns[e.table] = e.columns
        total = sum(csv_map[t].stat().st_size for t in order)
        phase = self.progress.phase("csv", total, "B")
        done = 0
        try:
            for t in order:
                path = csv_map[t]
                cols = columns.get(t) or _csv_header(path)
                # The CSV files are in the backup's encoding (FORMAT.md): the server converts.
                stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true, ENCODING {})").format(
                    _ident(t), sql.SQL(", ").join(sql.Identifier(c) for c in cols),
                    sql.Literal(backup_encoding(self.backup.metadata)))
                phase.update(done, t)
                try:
                    with self.conn.cursor() as cur:
                        with cur.copy(stmt) as cp, open(path, "rb") as fh:
                            while chunk := fh.read(COPY_CHUNK):
                                cp.write(chunk)
                                done += len(chunk)
                                phase.update(done)
                        rows = max(cur.rowcount, 0)
                except psycopg.Error as exc:
                    raise StatementFailed(f"loading {t} from {path.name}: {exc.diag.message_primary or exc}") from exc
                self.result.rows += rows
                self.result.rows_by_table[t] = self.result.rows_by_table.get(t, 0) + rows
        finally:
            phase.close()


def _csv_header(path: Path) -> tuple[str, ...]:
    """Column names from a CSV file's header row (fallback when toc.json has no column list)."""
    with open(path, "rb") as fh:
        first = fh.readline(1 << 20)
    return tuple(next(csv.reader(io.StringIO(first.decode("utf-8")))))


def _regclass(conn: psycopg.Connection, key: str) -> int | None:
    row = conn.execute("SELECT to_regclass(%s)::oid", [_ident(key).as_string(conn)]).fetchone()
    return int(row[0]) if row and row[0] is not None else None
