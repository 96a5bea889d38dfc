"""``--data-only``: load table data into an existing schema, in foreign-key order.

The target's schema may come from the application's migrations rather than from the backup,
so the FK graph is read from the *target's* catalog, not from the TOC.

Two sources:

* the script's COPY blocks (complete: every table's data is there). The script is a
  sequential compressed stream, so the load order is the script's order; FK edges that this
  order cannot satisfy (a child's data before its parent's, cycles, a self-referencing table
  split into several COPY blocks) are the "problem edges";
* ``--from-csv``: each table from its CSV file, a table without one from its COPY blocks
  in the script (``--csv-only``: not at all), so a default ``--csv critical`` backup
  restores whole. Tables are loaded in a topological order of the FK graph (the script's
  blocks are read forward as that order needs them) and only edges inside strongly
  connected components (cycles) are problem edges. A self-reference alone is not one: RI
  checks of a single COPY statement run at its end, after all its rows are in.

Foreign keys are edges between the tables that hold rows: a key declared on a partitioned
table orders every partition of one side after every partition of the other
(:func:`foreign_keys`). With ``--jobs N`` tables load on N connections, each after the
tables it references (:class:`restore.parallel.Workers`).

The load writes the backup's rows and nothing else: where the role may set it, the whole load
runs with ``session_replication_role = replica`` (no ordinary user trigger, event trigger or FK
check fires for this session), and the triggers and event triggers that would fire anyway are
disabled for the load and put back (:meth:`DataLoader._quiet_session`). Problem edges are then
no problem at all; a role that may not use replica mode has the involved FK constraints dropped
before the load and re-created after it (which validates every row in one pass). The output
says which was done.
"""
from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psycopg
from psycopg import sql

from dumper.errors import BackupError, RestoreError, StatementFailed, TargetNotEmpty, UsageError
from dumper.events import EVENTS_TABLE, RESTORE_ARTIFACT
from dumper.format.manifest import backup_encoding
from dumper.format.toc import Kind, TocEntry
from restore.apply import Replayer, Selection, file_chunks
from restore.backup import Backup
from restore.check import csv_files
from restore.fk_graph import (ForeignKey, distinct_constraints, extension_config_tables, fk_order, foreign_keys,
                              not_valid_constraints, script_problem_edges, table_identifier)
from restore.progress import Progress
from restore.parallel import Workers, spool
from restore.script import CopyBlock, Item, ScriptReader
from restore.streams import open_source

COPY_CHUNK = 1 << 20
_STASH = "_pyrestore_own_events"
DATA_LOAD_KINDS = frozenset({Kind.TABLE_DATA, Kind.SEQUENCE_SET, Kind.BLOB_METADATA, Kind.BLOBS, Kind.MATERIALIZED_VIEW_DATA})


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
    #: Where each table's rows came from: "csv", "script", or "skipped" (--csv-only, no CSV file).
    sources: dict[str, str] = field(default_factory=dict)


class DataLoader:
    """Orchestrates a data-only load on one connection (autocommit, or one transaction)."""

    def __init__(self, conn: psycopg.Connection, backup: Backup, selection: Selection, *, from_csv: bool = False,
                 clean: bool = False, progress: Progress, info: Callable[[str], None], csv_only: bool = False,
                 jobs: int = 1, dsn: str | None = None) -> None:
        if not backup.entries:
            raise UsageError("--data-only needs the backup's toc.json (a bare script has none)")
        self.conn = conn
        self.backup = backup
        self.selection = selection
        self.from_csv = from_csv
        self.csv_only = csv_only
        self._load_via: dict[str, str] = {}  # partition key -> the root its CSV rows are loaded through
        self.clean = clean
        self.progress = progress
        self.info = info
        self.jobs = jobs if dsn is not None else 1
        self.dsn = dsn
        self.result = DataLoadResult()
        self._stash_events = False
        self._replica = False  # session_replication_role = replica for the whole load
        self._workers: Workers | None = None
        self._lock = threading.Lock()

    def data_entries(self) -> list[TocEntry]:
        return [e for e in self.backup.entries if e.kind == Kind.TABLE_DATA and e.table and self.selection.wants_entry(e)]

    def run(self) -> DataLoadResult:
        entries = self.data_entries()
        block_order = [e.table for e in entries if e.table]
        tables = list(dict.fromkeys(block_order))
        csv_map: dict[str, Path] = {}
        if self.from_csv:
            csv_map = csv_files(self.backup)
            tables = self._choose_sources(tables, csv_map)
        self._check_target(tables)
        quiet_events = self._quiet_session()
        try:
            fks = foreign_keys(self.conn, tables)
            if self.from_csv:
                order, problems = fk_order(tables, fks)
            else:
                order, problems = tables, script_problem_edges(block_order, fks)
            self.result.tables = order
            dropped: list[ForeignKey] = []
            if problems:
                dropped = self._neutralise(problems)
            self._start_workers(fks, problems)
            try:
                self._load(entries, tables, order, csv_map, dropped)
            finally:
                if self._workers is not None:
                    self._workers.close()
        finally:
            if self._replica:
                self._reset_replica()
            self._wake_event_triggers(quiet_events)
        if self._stash_events:
            self._unstash_events()
        return self.result

    # -- a load that writes only the backup's rows --------------------------------------------
    _EVT_ENABLE = {"O": "ENABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}

    def _quiet_session(self) -> list[tuple[str, str]]:
        """Make sure nothing but the backup's rows is written, before the first statement of ours.

        The load itself runs DDL (dropping and re-adding constraints, disabling triggers), and
        every such statement fires the database's event triggers, which may write rows (a DDL
        audit table): rows the backup does not hold. So the whole load runs with
        ``session_replication_role = replica`` where the role may set it (user and event
        triggers that fire on origin stay silent, foreign-key checks too, for this session
        only); the event triggers that would still fire (``ENABLE ALWAYS``, and ``ENABLE
        REPLICA`` ones under replica) are disabled for the load by their owner and put back
        afterwards. One this role may not disable is named in a note: its rows are not ours to
        prevent. Returns the event triggers to re-enable, with their states."""
        try:
            with self.conn.transaction():  # a savepoint inside --single-transaction
                self.conn.execute("SET session_replication_role = replica")
            self._replica = True
        except psycopg.errors.InsufficientPrivilege:
            self._replica = False
        firing = ("R", "A") if self._replica else ("O", "A")
        rows = self.conn.execute(
            "SELECT evtname, evtenabled::text FROM pg_catalog.pg_event_trigger WHERE evtenabled = ANY(%s) ORDER BY 1",
            [list(firing)]).fetchall()
        quiet: list[tuple[str, str]] = []
        refused: list[str] = []
        for name, state in rows:
            try:
                with self.conn.transaction():
                    self.conn.execute(sql.SQL("ALTER EVENT TRIGGER {} DISABLE").format(sql.Identifier(name)))
                quiet.append((name, state))
            except psycopg.Error:
                refused.append(name)
        if quiet:
            self._note("event triggers disabled during the load and re-enabled after it: " + ", ".join(n for n, _ in quiet))
        if refused:
            self._note("event triggers this role may not disable fire on the load's own ALTER TABLE statements (rows "
                       "they write are not the backup's; restore as a superuser to avoid that): " + ", ".join(refused))
        return quiet

    def _wake_event_triggers(self, quiet: list[tuple[str, str]]) -> None:
        for name, state in quiet:
            try:
                self.conn.execute(sql.SQL("ALTER EVENT TRIGGER {} {}").format(
                    sql.Identifier(name), sql.SQL(self._EVT_ENABLE.get(state, "ENABLE"))))
            except psycopg.Error:
                if not self.conn.autocommit:
                    break  # an aborted transaction rolls the DISABLE back anyway

    def _note(self, text: str) -> None:
        self.result.notes.append(text)
        self.info(text)

    def _choose_sources(self, tables: list[str], csv_map: dict[str, Path]) -> list[str]:
        """``--from-csv``: a table's CSV file if it has one, else its COPY blocks in the script
        (or nothing with ``--csv-only``). Says which table comes from where; returns the tables to load."""
        no_csv = [t for t in tables if t not in csv_map]
        for t in tables:
            self.result.sources[t] = "csv" if t in csv_map else "skipped" if self.csv_only else "script"
        n_csv = len(tables) - len(no_csv)
        if not no_csv:
            note = f"all {n_csv} table(s) from data/*.csv"
        elif self.csv_only:
            note = (f"{n_csv} table(s) from data/*.csv; {len(no_csv)} table(s) without a CSV file not loaded "
                    f"(--csv-only): " + _names(no_csv))
        else:
            note = (f"{n_csv} table(s) from data/*.csv; {len(no_csv)} table(s) without a CSV file from the script's "
                    f"COPY blocks: " + _names(no_csv))
        self.result.notes.append(note)
        self.info(note)
        return [t for t in tables if t in csv_map] if self.csv_only else tables

    def _start_workers(self, fks: list[ForeignKey], problems: list[ForeignKey]) -> None:
        """``--jobs N``: N connections, each loading a table only after the tables it references.

        Replica mode is a session setting, so every worker connection sets it too; a foreign key
        that was dropped (or that replica mode switched off) orders nothing.
        """
        if self.jobs < 2 or self.dsn is None:
            return
        w = Workers(self.dsn, self.jobs)
        if self._replica:
            w.setup.append(b"SET session_replication_role = replica")
        if self.result.strategy != "replica":
            off = {(f.definer, f.name) for f in problems}
            for f in fks:
                if f.child != f.parent and (f.definer, f.name) not in off:
                    w.data_after.setdefault(f.child, set()).add(f.parent)
        self._workers = w

    def _load(self, entries: list[TocEntry], tables: list[str], order: list[str], csv_map: dict[str, Path],
              dropped: list[ForeignKey]) -> None:
        """Drop NOT VALID constraints, silence triggers, load, and put everything back."""
        dropped_keys = {(d.definer, d.name) for d in dropped}
        not_valid = [c for c in not_valid_constraints(self.conn, tables) if (c.definer, c.name) not in dropped_keys]
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
                self._load_ordered(order, csv_map, entries)
                # The header too: its SET client_encoding says how the setval names are encoded.
                skip_seq = self._sequences_of_unloaded_tables(set(tables))
                self._replay(lambda item, e: e is None or (e.kind in DATA_LOAD_KINDS and e.kind != Kind.TABLE_DATA
                                                           and e.id not in skip_seq), "sequences")
            else:
                # Materialized view contents are data too (as in pg_restore --data-only): the
                # REFRESH entries come last in the script, after the tables they read.
                self._replay(lambda item, e: e is None or e.kind in DATA_LOAD_KINDS, "data", self._workers)
        finally:
            self._wake_triggers(quiet)
            if dropped:
                self._recreate(dropped)

    def _only_own_events(self) -> bool:
        try:
            with self.conn.transaction():
                row = self.conn.execute(f"SELECT bool_and(artifact_name IS NOT DISTINCT FROM %s) FROM {EVENTS_TABLE}",
                                        [RESTORE_ARTIFACT]).fetchone()
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
        ext_config = extension_config_tables(self.conn, tables)
        non_empty = [t for t in tables if t not in ext_config and
                     self.conn.execute(sql.SQL("SELECT EXISTS (SELECT FROM ONLY {})").format(table_identifier(t))).fetchone()[0]]  # type: ignore[index]
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
            own = [t for t in tables if t not in ext_config]
            try:
                self.conn.execute(sql.SQL("TRUNCATE ONLY {}").format(sql.SQL(", ").join(table_identifier(t) for t in own)))
            except psycopg.Error as exc:
                raise StatementFailed(f"--clean: TRUNCATE of the tables to load failed: {exc.diag.message_primary or exc}") from exc
            self.info(f"--clean: emptied {len(own)} table(s) before loading")

    def _neutralise(self, problems: list[ForeignKey]) -> list[ForeignKey]:
        """Replica mode if allowed, else drop the problem FKs; returns what was dropped."""
        problems = distinct_constraints(problems)
        names = ", ".join(sorted({f.label for f in problems}))
        if self._replica:  # set for the whole load by _quiet_session
            self.result.strategy = "replica"
            self._note(f"foreign keys that the load order cannot satisfy ({names}): "
                       "loaded with session_replication_role = replica (FK triggers off for this session)")
            return []
        for f in problems:
            try:
                self.conn.execute(f.drop_sql())
            except psycopg.Error as exc:
                raise StatementFailed(f"cannot drop FK {f.label} for the load: {exc.diag.message_primary or exc}") from exc
        self.result.strategy = "drop-fk"
        self.result.dropped_fks = [f.label for f in problems]
        self.result.notes.append(f"foreign keys that the load order cannot satisfy were dropped and are re-created "
                                 f"(validated) after the load: {names}")
        self.info(self.result.notes[-1])
        return problems

    _ENABLE = {"O": "ENABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}

    def _silence_triggers(self, tables: list[str]) -> list[tuple[str, str, str]]:
        """Disable the user triggers of the tables to load, as pg_dump's --disable-triggers does.

        The rows are the source's rows: a trigger that audits, stamps or copies rows into
        another table would change or duplicate them. Only the triggers that would fire are
        touched: under replica mode the ``ENABLE ALWAYS`` and ``ENABLE REPLICA`` ones, else the
        ordinary and ``ENABLE ALWAYS`` ones (a non-superuser cannot use replica mode). Each trigger's own state
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
            " WHERE t.tgrelid = ANY(%s::oid[]) AND NOT t.tgisinternal AND t.tgenabled = ANY(%s)"
            " ORDER BY 1, 2", [oids, ["R", "A"] if self._replica else ["O", "A"]]).fetchall()
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
                failed.append(f"ALTER TABLE {table_identifier(f.definer).as_string(self.conn)} ADD CONSTRAINT "
                              f"{sql.Identifier(f.name).as_string(self.conn)} {f.definition}; -- {exc.diag.message_primary}")
                if not self.conn.autocommit:
                    break  # the transaction is aborted: the rollback restores them anyway
        if failed:
            raise StatementFailed("could not re-create foreign keys after the data load; run these by hand: "
                                  + " ".join(failed))

    # -- loading ---------------------------------------------------------------------------------
    def _replay(self, keep: Callable[[Item, TocEntry | None], bool], name: str, workers: Workers | None = None) -> None:
        rep = Replayer(self.conn, self.backup, self.selection, item_filter=keep, workers=workers)
        res = rep.run(self.progress, name)
        self.result.rows += res.rows
        for k, v in res.rows_by_table.items():
            self.result.rows_by_table[k] = self.result.rows_by_table.get(k, 0) + v

    def _load_ordered(self, order: list[str], csv_map: dict[str, Path], entries: list[TocEntry]) -> None:
        """``--from-csv``: every table in foreign-key order, from its CSV file or from the script.

        The script is one sequential stream whose COPY blocks are in the dumper's order, not in
        this one: it is read forward as far as the next table needs, and the blocks of tables
        needed later are held in temp files meanwhile (the output says how much). With a FK
        order that follows the script, as in a default backup, nothing is held.
        """
        columns: dict[str, tuple[str, ...] | None] = {}
        n_blocks: dict[str, int] = {}
        for e in entries:
            if e.table:
                columns.setdefault(e.table, e.columns)
                if e.load_via:
                    self._load_via[e.table] = e.load_via
                n_blocks[e.table] = n_blocks.get(e.table, 0) + 1
        script_tables = [t for t in order if t not in csv_map]
        stream = _ScriptBlocks(self, set(script_tables)) if script_tables else None
        phase = self.progress.phase("load", len(order), "tables")
        try:
            for i, t in enumerate(order):
                phase.update(i, t)
                if t in csv_map:
                    path, cols = csv_map[t], columns.get(t)
                    self._submit(t, lambda conn, t=t, path=path, cols=cols: self._copy_csv(conn, t, path, cols))
                    continue
                assert stream is not None
                for stmt, chunks in stream.blocks(t, n_blocks.get(t, 1)):
                    self._submit_block(t, stmt, chunks)
            if self._workers is not None:
                self._workers.drain()
            phase.update(len(order))
        finally:
            if stream is not None:
                stream.close()
            phase.close()
        if stream is not None and stream.held_bytes:
            self.result.notes.append(f"{stream.held_blocks} COPY block(s) of the script ({stream.held_bytes >> 20} MiB) "
                                     "were held in temp files until the foreign-key order reached their tables")
            self.info(self.result.notes[-1])

    def _submit(self, table: str, fn: Callable[[psycopg.Connection], None]) -> None:
        """Run one load now (one connection) or hand it to the workers (after its FK parents)."""
        if self._workers is None:
            fn(self.conn)
        else:
            self._workers.submit_data(fn, table)

    def _submit_block(self, table: str, stmt: bytes, chunks: Iterable[bytes]) -> None:
        if self._workers is None:
            self._copy_script(self.conn, table, stmt, chunks)
            return
        f, _ = spool(chunks)

        def load(conn: psycopg.Connection) -> None:
            try:
                self._copy_script(conn, table, stmt, file_chunks(f))
            finally:
                f.close()

        self._workers.submit_data(load, table)

    def _count(self, table: str, rows: int) -> None:
        with self._lock:
            self.result.rows += rows
            self.result.rows_by_table[table] = self.result.rows_by_table.get(table, 0) + rows

    def _copy_csv(self, conn: psycopg.Connection, table: str, path: Path, cols: tuple[str, ...] | None) -> None:
        """COPY one CSV file, columns mapped by name (toc.json's list, else the file's header)."""
        if cols is None:
            cols = _csv_header(path)
        if not cols:
            self._fill_zero_columns(conn, table, path)
            return
        # The CSV files are in the backup's encoding (FORMAT.md): the server converts.
        stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true, ENCODING {})").format(
            # a partition under a hash-on-enum root: the root routes its rows (toc.json's load_via)
            table_identifier(self._load_via.get(table, table)), sql.SQL(", ").join(sql.Identifier(c) for c in cols),
            sql.Literal(backup_encoding(self.backup.metadata)))
        try:
            with conn.cursor() as cur:
                with cur.copy(stmt) as cp, open(path, "rb") as fh:
                    while chunk := fh.read(COPY_CHUNK):
                        cp.write(chunk)
                rows = max(cur.rowcount, 0)
        except psycopg.Error as exc:
            raise StatementFailed(f"loading {table} from {path.name}: {exc.diag.message_primary or exc}") from exc
        self._count(table, rows)

    def _fill_zero_columns(self, conn: psycopg.Connection, table: str, path: Path) -> None:
        """A table without columns: its rows are only a count, and CSV cannot carry them.

        ``COPY t () ...`` is a syntax error and the file's lines are ``""`` (one empty field,
        not zero fields), so the rows are made as what they are: N rows of nothing, one per
        line after the header.
        """
        with open(path, "rb") as fh:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(COPY_CHUNK), b""))
        n = max(lines - 1, 0)
        try:
            cur = conn.execute(sql.SQL("INSERT INTO {} SELECT FROM pg_catalog.generate_series(1, {})").format(
                table_identifier(table), sql.Literal(n)))
        except psycopg.Error as exc:
            raise StatementFailed(f"loading {table} (no columns, {n} rows): {exc.diag.message_primary or exc}") from exc
        self._count(table, max(cur.rowcount, 0))

    def _copy_script(self, conn: psycopg.Connection, table: str, stmt: bytes, chunks: Iterable[bytes]) -> None:
        """One COPY block of the script, as the script states it."""
        try:
            with conn.cursor() as cur:
                with cur.copy(stmt) as cp:
                    for chunk in chunks:
                        cp.write(chunk)
                rows = max(cur.rowcount, 0)
        except psycopg.Error as exc:
            for _ in chunks:  # leave the reader at the next item
                pass
            raise StatementFailed(f"loading {table} from the script: {exc.diag.message_primary or exc}") from exc
        self._count(table, rows)

    def _sequences_of_unloaded_tables(self, loaded: set[str]) -> set[int]:
        """SEQUENCE SET entries of tables whose data this load left out (``--csv-only``).

        A sequence is set only with its table's rows (issue 10): an identity sequence belongs to
        its table's entry, a serial one through its ``SEQUENCE OWNED BY`` entry.
        """
        unloaded = {e.table for e in self.data_entries() if e.table} - loaded
        if not unloaded:
            return set()
        by_id = {e.id: e for e in self.backup.entries}
        owner_of_seq = _serial_owners(self.backup.entries, by_id)
        skip: set[int] = set()
        for e in self.backup.entries:
            if e.kind != Kind.SEQUENCE_SET:
                continue
            for d in e.deps:
                dep = by_id.get(d)
                owner = dep.table if dep is not None and dep.kind == Kind.TABLE else owner_of_seq.get(d)
                if owner in unloaded:
                    skip.add(e.id)
        if skip:
            self.result.notes.append(f"{len(skip)} sequence value(s) not set: their tables were not loaded (--csv-only)")
            self.info(self.result.notes[-1])
        return skip


class _ScriptBlocks:
    """The script's COPY blocks, table by table in the order asked for, read forward once.

    The session header (``SET client_encoding`` ...) is replayed first on the loader's
    connection (and recorded for worker connections): it says how the COPY text is encoded.
    """

    def __init__(self, loader: DataLoader, wanted: set[str]) -> None:
        self.loader = loader
        self.wanted = set(wanted)
        self.held: dict[str, list[tuple[bytes, IO[bytes]]]] = {}
        self.held_blocks = 0
        self.held_bytes = 0
        backup = loader.backup
        self._source = open_source(backup.script)
        reader = ScriptReader(self._source, meta="skip" if backup.bare_script else "error", name=backup.script.name)
        self._items = iter(reader)
        self._header = Replayer(loader.conn, backup, loader.selection, workers=loader._workers)
        self._pending: Item | None = None
        for item in self._items:
            if item.entry_id is not None:
                self._pending = item
                break
            self._header.apply_item(item)

    def _next(self) -> Item | None:
        if self._pending is not None:
            item, self._pending = self._pending, None
            return item
        return next(self._items, None)

    def blocks(self, table: str, count: int) -> Iterator[tuple[bytes, Iterable[bytes]]]:
        """The ``count`` COPY blocks of ``table`` (statement, data chunks), held ones first."""
        self.wanted.discard(table)
        got = 0
        for stmt, f in self.held.pop(table, []):
            got += 1
            try:
                yield stmt, file_chunks(f)
            finally:
                f.close()
        while got < count:
            item = self._next()
            if item is None:
                raise BackupError(f"the script ends before the COPY blocks of {table}")
            if not isinstance(item, CopyBlock):
                continue
            entry = self.loader.backup.entry(item.entry_id)
            if entry is None or entry.kind != Kind.TABLE_DATA or not self.loader.selection.wants_entry(entry):
                continue
            if entry.table == table:
                got += 1
                yield item.raw, item.chunks
            elif entry.table in self.wanted:
                f, n = spool(item.chunks)
                self.held.setdefault(entry.table, []).append((item.raw, f))
                self.held_blocks += 1
                self.held_bytes += n

    def close(self) -> None:
        for blocks in self.held.values():
            for _, f in blocks:
                f.close()
        self._source.close()


def _serial_owners(entries: list[TocEntry], by_id: dict[int, TocEntry]) -> dict[int, str]:
    """SEQUENCE entry id -> the table that owns it, from the SEQUENCE OWNED BY entries."""
    owner_of_seq: dict[int, str] = {}
    for e in entries:
        if e.kind == Kind.SEQUENCE_OWNED_BY:
            seqs = [d for d in e.deps if d in by_id and by_id[d].kind == Kind.SEQUENCE]
            tabs = [by_id[d].table for d in e.deps if d in by_id and by_id[d].kind == Kind.TABLE]
            for sq in seqs:
                if tabs and tabs[0]:
                    owner_of_seq[sq] = tabs[0]
    return owner_of_seq


def _names(tables: list[str], limit: int = 10) -> str:
    return ", ".join(tables[:limit]) + (f" (and {len(tables) - limit} more)" if len(tables) > limit else "")


def _csv_header(path: Path) -> tuple[str, ...]:
    """Column names from a CSV file's header row (fallback when toc.json has no column list)."""
    with open(path, "rb") as fh:
        first = fh.readline(1 << 20)
    return tuple(next(csv.reader(io.StringIO(first.decode("utf-8")))))


def _regclass(conn: psycopg.Connection, key: str) -> int | None:
    row = conn.execute("SELECT to_regclass(%s)::oid", [table_identifier(key).as_string(conn)]).fetchone()
    return int(row[0]) if row and row[0] is not None else None
