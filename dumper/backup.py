"""One backup, start to finish.

The directory is built under a hidden temporary name (``.NAME.partial``) and renamed into
place only after every file is written, fsynced and listed with its sha256 in
``metadata.json``: a directory with a backup's name is always a complete backup. Any
failure removes the temporary directory and surfaces as a :class:`DumpError`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import psycopg
from psycopg.conninfo import make_conninfo

from dumper import __version__
from dumper.catalog import read_catalog, versions
from dumper.catalog.base import user_schema
from dumper.data import copy_statement, stream_copy
from dumper.entries import build_entries
from dumper.errors import ConnectError, EncodingError, Interrupted, LockTimeout, OutputError, PermissionDenied, ServerError
from dumper import locks
from dumper.order import Ordered, order_entries
from dumper.plan import Plan
from dumper.progress import Progress, peak_rss_mb
from dumper.events import BACKUP_ARTIFACT, Reporter
from dumper.shell_scripts import restore_full_sh, restore_sh
from dumper.redact import row_filter
from dumper.connect import connect, first_line, redact_dsn
from dumper.format import layout
from dumper.format.manifest import file_entry, file_sha256, listed_files, metadata_bytes, row_counts_bytes
from dumper.format.toc import Kind, toc_bytes
from dumper.session import CONVERSION_ERRORS, Session
from dumper.parallel import RelSize, Task, WorkerPool, relation_sizes, split_entries
from dumper.sinks import CompressedFile, CsvSink, append_file, default_level, gzip_engine, output_error, write_private
from dumper.summary import Summary, human_size
from dumper.format.names import quote_ident, quote_literal
from dumper.toc import Entry

HEADER = """--
-- PostgreSQL database dump written by pydump {version}
-- Source: PostgreSQL {server}, database {database}
-- Dumped at {when}
--

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = '{encoding}';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET default_table_access_method = heap;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

"""
FOOTER = "--\n-- pydump: dump complete\n--\n"


@dataclass
class Result:
    directory: Path
    summary: Summary
    metadata: dict[str, Any] = field(default_factory=dict)


def comment_safe(text: str) -> str:
    """Text for a ``--`` comment line: psql and the server end such a comment at a newline
    *or* a carriage return, so a name carrying either would smuggle SQL out of the comment."""
    return text.replace("\r", " ").replace("\n", " ")


def _entry_comment(e: Entry) -> str:
    return (
        f"{layout.ENTRY_MARKER}{e.id}\n-- Name: {comment_safe(e.name)}; Type: {e.kind}; "
        f"Schema: {comment_safe(e.schema or '-')}; Owner: {comment_safe(e.owner or '-')}\n"
    )


class _Signals:
    """SIGTERM (and SIGINT) become :class:`Interrupted` in the main thread, so cleanup runs."""

    def __enter__(self) -> "_Signals":
        self.old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.old[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread
                pass
        return self

    @staticmethod
    def _handler(signum: int, _frame: Any) -> None:
        raise Interrupted(f"interrupted by {signal.Signals(signum).name}; the partial backup was removed")

    def __exit__(self, *exc: Any) -> None:
        for sig, h in self.old.items():
            signal.signal(sig, h)


def run_backup(plan: Plan, *, progress: Progress, warn: Callable[[str], None]) -> Result:
    """Check the output directory, write the backup under ``.NAME.partial`` and rename it into
    place (:func:`_write_and_publish`); on any failure undo what was done (:func:`_abort`) and
    report it; on success apply ``--keep`` and return the summary (:func:`_succeeded`)."""
    started = dt.datetime.now().astimezone()
    t0 = time.monotonic()
    warnings: list[str] = []

    def warning(msg: str) -> None:
        warnings.append(msg)
        warn(msg)

    out_parent = plan.out_dir
    _check_out_dir(out_parent)
    name = layout.new_backup_name(out_parent, started)
    final = out_parent / name
    att = _Attempt(out_parent / layout.partial_name(name))
    reporter = Reporter(plan.dsn, BACKUP_ARTIFACT, __version__, enabled=plan.report, warn=warning,
                        application_name="pydump-report", retry_failed=True)
    old_umask = os.umask(0o077)
    try:
        with _Signals():
            meta = _write_and_publish(plan, att, final, reporter, progress, warning, warnings, started, t0)
    except BaseException as e:
        err = att.abort(e)
        os.umask(old_umask)
        if not isinstance(err, ConnectError):  # the report would use the DSN that just failed: one line, not two
            reporter.completed(False, {"error": str(err)[:500], "mode": plan.mode})
        if err is not e:
            raise err from None
        raise
    assert att.partial_lock is not None
    os.close(att.partial_lock)
    os.umask(old_umask)
    return _succeeded(plan, reporter, final, meta, started, warnings, warning)


def _check_out_dir(out_parent: Path) -> None:
    """The parent of the backups: created (0700) if missing, and writable."""
    try:
        if out_parent.exists() and not out_parent.is_dir():
            raise OutputError(f"--out {out_parent} exists and is not a directory")
        if not out_parent.exists():
            # Directories we create to hold backups are private too, whatever the umask.
            out_parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    except OSError as e:
        raise output_error(e, out_parent) from None
    if not os.access(out_parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into {out_parent}: permission denied")


@dataclass
class _Attempt:
    """What a run that fails has to undo: open files, the session, its ``.partial`` and its lock."""

    tmp: Path
    open_files: list[Any] = field(default_factory=list)
    session: Session | None = None
    partial_lock: int | None = None

    def abort(self, e: BaseException) -> BaseException:
        """Undo the attempt; the error to raise (``e``, or the one-line error it stands for)."""
        for f in self.open_files:
            f.abort()
        if self.session is not None:
            self.session.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.partial_lock is not None:
            os.close(self.partial_lock)
        if isinstance(e, KeyboardInterrupt):
            return Interrupted("interrupted; the partial backup was removed")
        if isinstance(e, OSError):
            return output_error(e, self.tmp)
        return e


def _write_and_publish(plan: Plan, att: _Attempt, final: Path, reporter: Reporter, progress: Progress,
                       warning: Callable[[str], None], warnings: list[str], started: dt.datetime,
                       t0: float) -> dict[str, Any]:
    """Claim the ``.partial`` directory, dump into it, list and fsync its files, rename it to
    ``final``; metadata.json's content."""
    tmp, out_parent = att.tmp, final.parent
    try:
        # removes the .partial directories of killed runs; ours stays locked until done
        att.partial_lock, stale = layout.claim_partial(out_parent, tmp)
        (tmp / layout.DATA_DIR).mkdir(mode=0o700)
    except OSError as e:
        raise output_error(e, tmp) from None
    # housekeeping, recorded in metadata.json, not printed: a failed run keeps its one line
    warnings.extend(f"removed {_display_path(p)}, left by a pydump run that was killed" for p in stale)
    att.session = Session(plan.dsn, encoding=plan.options.get("encoding"))
    reporter.invoked({"mode": plan.mode, "options": plan.options})
    meta = _dump(plan, att.session, tmp, progress, warning, att.open_files)
    att.session.close()
    att.session = None
    finished = dt.datetime.now().astimezone()
    meta.update(started_at=started.isoformat(), finished_at=finished.isoformat(),
                duration_s=round(time.monotonic() - t0, 3))
    meta["warnings"] = warnings
    _finish_directory(tmp, meta)
    os.rename(tmp, final)
    try:
        _fsync_dir(out_parent)
    except OSError:
        os.rename(final, tmp)  # the rename may not survive a crash: not a complete backup
        raise
    return meta


def _succeeded(plan: Plan, reporter: Reporter, final: Path, meta: dict[str, Any], started: dt.datetime,
               warnings: list[str], warning: Callable[[str], None]) -> Result:
    """After the rename: ``--keep``, the summary and the self-report row."""
    if plan.keep:
        for p in prune_backups(final.parent, plan.keep, final):
            warning(f"--keep {plan.keep}: removed old backup {_display_path(p)}")
    dump_file = meta["dump_file"]
    summary = Summary(
        backup_dir=_display_path(final), dump_file=dump_file, dump_bytes=meta["files"][dump_file]["bytes"],
        size_bytes=meta["size_bytes"], duration_s=meta["duration_s"], mode=plan.mode,
        created=started.strftime("%Y-%m-%d %H:%M:%S"), tables=meta["tables"], rows=meta["rows"],
        csv_files=len(meta["csv_files"]), warnings=warnings,
    )
    reporter.completed(True, {"backup_dir": summary.backup_dir, "backup_size": human_size(summary.dump_bytes),
                              "size_bytes": summary.size_bytes, "mode": plan.mode, "rows": summary.rows})
    return Result(final, summary, meta)


def prune_backups(parent: Path, keep: int, current: Path) -> list[Path]:
    """Remove the oldest complete backups beyond ``keep``; never the current or an incomplete one.

    Only directories named like a backup and holding a ``metadata.json`` count: a hidden
    ``.partial`` directory of a running backup, or anything else in the folder, is left alone.
    """
    complete = [p for p in layout.list_backups(parent, named_only=True) if p != current]
    removed = []
    excess = len(complete) + 1 - keep
    for p in complete[: max(excess, 0)]:
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def _display_path(p: Path) -> str:
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


@dataclass
class _LockState:
    """What the lock phase decided (:mod:`dumper.locks`), for the error paths and metadata."""

    budget: locks.LockBudget | None = None
    needed: int = 0
    batches: locks.SnapshotBatches | None = None
    prints: locks.Fingerprints | None = None
    #: every relation the snapshot listed in the dumped schemas, oid -> "table s.t": a server
    #: error that gives only an OID is turned into a line that names it (:func:`_name_what_vanished`)
    names: dict[int, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"needed": self.needed, "batched": self.batches is not None}
        if self.budget is not None:
            out.update(self.budget.as_json())
        if self.batches is not None:
            out.update(per_batch=self.batches.per_batch, batches=self.batches.batches)
        return out


def _dump(plan: Plan, s: Session, tmp: Path, progress: Progress, warn: Callable[[str], None], open_files: list[Any]) -> dict[str, Any]:
    """:class:`_Dump`, with the lock table's failures turned into one clear line.

    ``out of shared memory`` is the server's whole message when its lock table is full; it
    becomes the lock-budget message (exit 6). Under ``--lock-batches`` any server error (a
    ``COPY`` of a table dropped since the snapshot, a deparser that lost its object) is first
    checked against the snapshot's fingerprints, so the line names what changed (exit 7). An
    error giving the OID of a relation dropped since the snapshot names it instead; a psycopg
    error no phase turned into a :class:`ServerError` (a lost connection) becomes one.
    """
    st = _LockState()
    try:
        meta = _Dump(plan, s, tmp, progress, warn, open_files, st).run()
    except locks.ChangedDuringDump:
        raise
    except ServerError as e:
        if st.prints is not None:
            try:
                locks.verify(st.prints, plan.dsn)
            except locks.ChangedDuringDump as changed:
                raise changed from None
            except ServerError:
                pass
        text = str(e)
        if "out of shared memory" in text and st.budget is not None:
            raise locks.LockTableTooSmall(locks.too_many(st.needed, st.budget, full=True)) from None
        if "due to lock timeout" in text:
            raise LockTimeout(f"could not lock a table within --lock-wait-timeout: {text}") from None
        named = _name_what_vanished(text, st.names)
        if named is not None:
            raise named from None
        raise
    except psycopg.Error as e:
        # a server call no phase wraps (a SET on the snapshot connection) met a lost server:
        # the server's failure, in one line, not a bug
        lost = "lost the server: " if isinstance(e, psycopg.OperationalError) else ""
        raise ServerError(lost + first_line(e)) from None
    finally:
        if st.batches is not None:
            st.batches.close()
    meta["locks"] = st.as_json()
    return meta


#: The server's errors for a relation that is gone from the live catalog although the dump's
#: snapshot still lists it (another session dropped it before the dump could lock or read it):
#: they give its OID, which tells a user nothing.
_OID_GONE = re.compile(r"(?:cache lookup failed for relation|could not open relation with OID) (\d+)")
#: The lock of a table whose schema was dropped since the snapshot (``LOCK TABLE s.t``): the
#: server's whole line, which reads like a wrong connection string rather than a race.
_SCHEMA_GONE = re.compile(r'schema "(.+)" does not exist')
_REL_KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view", "S": "sequence",
              "f": "foreign table", "i": "index", "I": "index"}


def _relation_label(r: Any) -> str:
    """``table public.t``: the kind and name of a relation as the snapshot listed it."""
    return f"{_REL_KINDS.get(r.kind, 'relation')} {quote_ident(r.schema or '')}.{quote_ident(r.name)}"


def _relation_names(s: Session) -> dict[int, str]:
    """oid -> "table s.t" for every relation and index in user schemas, as the snapshot sees
    them (plain columns: nothing here reads the live catalog, so nothing here can fail)."""
    rows = s.query(f"""
        SELECT c.oid, c.relkind AS kind, n.nspname AS schema, c.relname AS name
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'i', 'I') AND {user_schema('n')}""")
    return {r["oid"]: _relation_label(SimpleNamespace(**r)) for r in rows}


def _vanished(label: str) -> ServerError:
    return ServerError(f"{label} was dropped or changed by another session while the dump ran; run the backup again")


def _name_what_vanished(text: str, names: dict[int, str]) -> ServerError | None:
    """The one line for a server error about an object dropped since the snapshot: a relation
    by the kind and name the snapshot listed for its OID, or a schema (None: not such an
    error). An OID the dump never listed (outside the dumped schemas) stays in the line."""
    gone = _SCHEMA_GONE.fullmatch(text)
    if gone is not None:
        return _vanished(f"schema {quote_ident(gone.group(1))}")
    m = _OID_GONE.search(text)
    if m is None:
        return None
    label = names.get(int(m.group(1)))
    if label is None:
        return ServerError(f"a relation was dropped by another session while the dump ran ({m.group(0)}); "
                           "run the backup again")
    return _vanished(label)


@dataclass
class _Written:
    """What writing the script produced: for toc.json, row_counts.json and metadata.json."""

    dump_name: str
    row_counts: dict[str, int] = field(default_factory=dict)
    csv_files: dict[str, str] = field(default_factory=dict)  # CSV file -> table key
    known: dict[str, tuple[int, str] | None] = field(default_factory=dict)  # files hashed while written
    data_s: float = 0.0
    write_s: float = 0.0
    wait_s: float = 0.0


@dataclass
class _ServerChecks:
    """What the checks before the first lock found (metadata.json ``server``)."""

    newer: str | None  # the warning for a major newer than pydump knows, or None
    unknown: Any  # unknown catalog values, when --allow-unknown-catalog let the dump go on
    # the role that created the source cluster (oid 10): never dumped, mapped by pyrestore when
    # the target lacks it (a Supabase project's supabase_admin restored into plain PostgreSQL)
    bootstrap: str = ""


class _Dump:
    """One dump inside the snapshot, phase by phase (:meth:`run` reads top to bottom).

    The phases: check the server, read the catalog (locking the tables half-way, or planning
    lock batches), build and order the entries, decide how the data is read (one connection or
    the workers, tables split into ranges), write the script with the data, write toc.json,
    row_counts.json and the shell scripts, assemble metadata.json. Failures of the lock table
    are turned into clear lines by :func:`_dump`, which owns the lock state ``st``.
    """

    def __init__(self, plan: Plan, s: Session, tmp: Path, progress: Progress, warn: Callable[[str], None],
                 open_files: list[Any], st: _LockState) -> None:
        self.plan, self.s, self.tmp, self.progress, self.warn = plan, s, tmp, progress, warn
        self.open_files, self.st = open_files, st
        self.method = plan.compress
        self.level = plan.level if plan.level is not None else default_level(self.method)
        self.pool: WorkerPool | None = None
        self.kept: list[Any] = []  # the relations the dump reads (for the unreadable check)

    def run(self) -> dict[str, Any]:
        t0 = time.monotonic()
        self.pool = _start_pool(self.plan, self.s, self.method, self.level, self.progress, self.warn, self.open_files)
        checks = self.check_server()
        if self.s.info.version_num < 140000:
            # before 14 the relation listing itself fails on a relation dropped since the snapshot
            # (pg_identify_object: "cache lookup failed"): its name is read first, to be given
            self.st.names.update(_relation_names(self.s))
        cat = read_catalog(self.s, self.plan.schema_included, self.keep_relation, self.lock, helper=self.plan.jobs > 1)
        ordered = self.build_and_order(cat)
        catalog_s = time.monotonic() - t0
        checks.bootstrap = self.s.query("SELECT rolname FROM pg_catalog.pg_roles WHERE oid = 10")[0]["rolname"]
        entries, sizes = self.plan_data(ordered.entries)
        written = self.write_script(entries, sizes)
        self.write_side_files(entries, written)
        return self.metadata(cat, ordered, entries, written, checks, catalog_s)

    # -- before the catalog ----------------------------------------------------------------------
    def check_server(self) -> _ServerChecks:
        """Before any lock or deparsing read: a value that decides what a table holds stops here."""
        newer = versions.version_warning(self.s.info.version, self.s.info.version_num)
        if newer:
            self.warn(newer)
        unknown = versions.enforce_known_catalog(self.s, allow=bool(self.plan.options.get("allow_unknown_catalog")),
                                                 warn=self.warn)
        return _ServerChecks(newer, unknown)

    def keep_relation(self, r: Any) -> bool:
        self.st.names[r.oid] = _relation_label(r)
        keep = self.plan.relation_wanted(r)
        if keep:
            if r.identity is None:
                # the snapshot lists it, the live catalog no longer has it: dropped since the
                # snapshot (pg_identify_object gives NULL), so it can be neither locked nor read
                raise _vanished(self.st.names[r.oid])
            self.kept.append(r)
        return keep

    # -- the locks (called by read_catalog between its two halves) ------------------------------
    def lock(self, rels: list[Any]) -> locks.SnapshotBatches | None:
        """Lock the tables, after checking that every lock the dump holds fits the lock table;
        under ``--lock-batches`` and when they do not fit, lock nothing and return the batches."""
        plan, s, st = self.plan, self.s, self.st
        unreadable = self.check_unreadable()
        tables = [r for r in rels if r.kind in ("r", "p") and r.oid not in unreadable]
        wanted = [r.identity for r in tables]
        st.budget, st.needed = locks.read_budget(s), locks.locks_needed(s, rels)
        if plan.jobs > 1 and not plan.schema_only:
            # each worker holds its own lock (a PROCLOCK entry, sized 2 per lock-table entry) on
            # every table it copies, beside the leader's: count the shared memory they take
            st.needed = (st.needed * (1 + plan.jobs) + 1) // 2
        if st.needed <= st.budget.budget:
            s.lock_tables(wanted, plan.lock_wait_timeout_ms)
            self.check_locked(tables)
            return None
        return self.lock_batches(rels)

    def check_locked(self, tables: list[Any]) -> None:
        """Each name locked must still be the table the snapshot listed. ``LOCK TABLE`` takes
        names: a table another session dropped and created again under the same name between
        the snapshot and the lock would be locked, then copied, as the new one, whose rows are
        all newer than the snapshot: dumped empty, and the backup would say it succeeded."""
        if not tables:
            return
        for row in self.s.query(
                "SELECT t.oid, pg_catalog.to_regclass(t.name)::pg_catalog.oid AS now"
                " FROM ROWS FROM (pg_catalog.unnest(%s::pg_catalog.oid[]), pg_catalog.unnest(%s::pg_catalog.text[])) AS t(oid, name)",
                ([r.oid for r in tables], [r.identity for r in tables])):
            if row["now"] != row["oid"]:
                raise _vanished(self.st.names[row["oid"]])

    def check_unreadable(self) -> dict[int, str]:
        """Tables the role cannot read: an error, or with --skip-unreadable dumped without data."""
        unreadable = _unreadable(self.s, self.kept)
        if unreadable:
            names = ", ".join(sorted(unreadable.values()))
            if not self.plan.skip_unreadable:
                raise PermissionDenied(
                    f"role {self.s.info.user} cannot read {names}: grant SELECT, or use --skip-unreadable to back up without their data"
                )
            self.plan.unreadable.update(unreadable)
            self.s.unreadable = set(unreadable)
            self.warn(f"skipped the data of tables the role cannot read: {names}")
        return unreadable

    def lock_batches(self, rels: list[Any]) -> locks.SnapshotBatches:
        """The locks do not fit: with --lock-batches, batches in the same snapshot; else exit 6."""
        plan, s, st = self.plan, self.s, self.st
        assert st.budget is not None
        if not plan.options.get("lock_batches"):
            raise locks.LockTableTooSmall(locks.too_many(st.needed, st.budget))
        per = st.budget.per_batch(1 if plan.schema_only else max(1, plan.jobs))
        if per < 16:
            raise locks.LockTableTooSmall(
                f"--lock-batches: the server's lock table (max_locks_per_transaction {st.budget.max_locks} × "
                f"{st.budget.slots}, {st.budget.held_by_others:,} held by other sessions) leaves no room for batches of "
                f"locks; raise max_locks_per_transaction to at least {st.budget.max_locks_for(st.needed)} (server restart)")
        st.prints = locks.fingerprints(s, rels)
        st.batches = locks.SnapshotBatches(s, s.export_snapshot(), per, encoding=plan.options.get("encoding"),
                                           lock_timeout_ms=plan.lock_wait_timeout_ms)
        self.warn(f"--lock-batches: the dump needs {st.needed:,} locks and the server's lock table leaves "
                  f"{st.budget.budget:,} to it; locking at most {per:,} relations at a time and checking at the end "
                  "that none changed since the snapshot")
        return st.batches

    # -- entries and their order -----------------------------------------------------------------
    def build_and_order(self, cat: Any) -> Ordered:
        plan = self.plan
        built = build_entries(cat, plan)
        for w in built.warnings:
            self.warn(w)
        ordered = order_entries(built.entries, cat.depends)
        if ordered.broken_loops:
            self.warn("dependency loop broken arbitrarily at: " + ", ".join(ordered.broken_loops))
        for label, pats in (("--schema", plan.schemas), ("--table", plan.tables), ("--exclude-schema", plan.exclude_schemas),
                            ("--exclude-table", plan.exclude_tables), ("--exclude-table-data", plan.exclude_table_data)):
            for p in pats.unmatched():
                self.warn(f"{label} pattern {p!r} matched nothing")
        return ordered

    # -- how the data is read --------------------------------------------------------------------
    def plan_data(self, entries: list[Entry]) -> tuple[list[Entry], dict[int, RelSize]]:
        """Workers or not (they may have failed to connect, or there is no data); with workers,
        the tables' sizes and the large ones split into ctid ranges."""
        pool = self.pool
        if pool is not None:
            errors = pool.wait_ready()
            if errors or not _data_entries(entries):
                if errors:
                    self.warn(f"parallel workers unavailable ({errors[0]}); dumping the data with one connection")
                pool.abort()
                self.open_files.remove(pool)
                self.pool = pool = None
        if pool is None:
            return entries, {}
        sizes = relation_sizes(self.s.query, [_rel(e).oid for e in _data_entries(entries)])
        return split_entries(entries, sizes, self.plan.jobs, self.s.info.version_num), sizes

    # -- the script ------------------------------------------------------------------------------
    def write_script(self, entries: list[Entry], sizes: dict[int, RelSize]) -> _Written:
        s, info = self.s, self.s.info
        w = _Written(layout.script_name(self.method))
        script = CompressedFile(self.tmp / w.dump_name, self.method, self.level)
        self.open_files.append(script)
        # Everything written to the script is in the dump's encoding (s.encode): pydump's own text
        # is ASCII, names and definitions go back to the bytes the server sent, COPY data is bytes.
        script.write(s.encode(HEADER.format(
            version=__version__, server=info.version, database=comment_safe(info.database), encoding=s.encoding,
            when=dt.datetime.now().astimezone().isoformat(timespec="seconds"))))
        data = _data_entries(entries)
        est = sum(sizes[_rel(e).oid].total_bytes if _rel(e).oid in sizes else int(e.extra.get("pages", 0)) * 8192
                  for e in data if "part" not in e.extra or e.extra["part"][0] == 1)
        self.progress.start_tables(len({e.extra["table"] for e in data}), est)
        tasks = self.submit_tasks(data, sizes)
        t_data0 = time.monotonic()
        for e in entries:
            self.write_entry(script, e, tasks, w)
        w.data_s = time.monotonic() - t_data0
        if self.st.prints is not None:
            locks.verify(self.st.prints, self.plan.dsn)  # every COPY and deparse is done: did anything change?
        script.write(s.encode(FOOTER))
        tw = time.monotonic()
        script.close()
        w.known[w.dump_name] = script.digest()
        w.wait_s = time.monotonic() - tw
        if self.pool is not None:
            self.pool.close()
            self.open_files.remove(self.pool)
            (self.tmp / ".spool").rmdir()
        self.progress.close()
        return w

    def submit_tasks(self, data: list[Entry], sizes: dict[int, RelSize]) -> dict[int, Task]:
        """With workers, every COPY starts now; the script takes their blocks in TOC order."""
        if self.pool is None:
            return {}
        tasks = _make_tasks(data, self.tmp, sizes, self.progress, self.s.encode)
        if self.st.batches is not None:
            for t in tasks.values():
                t.recycle = self.st.batches.per_batch
        self.pool.submit(list(tasks.values()))
        return tasks

    def write_entry(self, script: CompressedFile, e: Entry, tasks: dict[int, Task], w: _Written) -> None:
        head = _entry_comment(e)
        enc = self.s.encode
        if e.kind == Kind.TABLE_DATA:
            key = e.extra["table"]
            rows = self.copy_from_worker(script, e, tasks, w) if self.pool is not None else self.copy_here(script, e, w)
            if e.extra.get("csv"):
                w.csv_files[e.extra["csv"]] = key
            e.extra["rows"] = rows
            w.row_counts[key] = w.row_counts.get(key, 0) + rows
            return
        tw = time.monotonic()
        if e.stream is not None:  # large object contents, read chunk by chunk (dumper.entries.largeobjects)
            script.write(enc(head + "\n"))
            for chunk in e.stream(self.s.conn):
                script.write(chunk)
            script.write(b"\n")
        else:
            script.write(enc(head + "\n" + e.sql + "\n"))
        w.write_s += time.monotonic() - tw

    def copy_from_worker(self, script: CompressedFile, e: Entry, tasks: dict[int, Task], w: _Written) -> int:
        """A worker's COPY block (and CSV range), appended once it is done; its row count."""
        assert self.pool is not None
        task = tasks[e.id]
        try:
            self.pool.wait(task)
        except EncodingError as err:
            bad = next((t for t in tasks.values() if isinstance(t.error, EncodingError)), task)
            raise EncodingError(_unconvertible(self.plan.dsn, self.s, bad.entry, str(err))) from None
        tw = time.monotonic()
        script.append_file(task.spool)
        if task.csv_path is not None and not task.csv_header:  # a later range of a split table
            _append_csv_part(self.tmp / e.extra["csv"], task.csv_path, last=e.extra["part"][0] == e.extra["part"][1])
        w.write_s += time.monotonic() - tw
        assert task.result is not None
        return task.result.rows

    def copy_here(self, script: CompressedFile, e: Entry, w: _Written) -> int:
        """COPY on the dump's own connection, straight into the script (and the CSV file)."""
        s, st = self.s, self.st
        cols: list[str] = e.extra["columns"]
        sinks = [script.write]
        csv = None
        if e.extra.get("csv"):
            csv = CsvSink(self.tmp / e.extra["csv"], cols, encoding=s.codec)
            self.open_files.append(csv)
            sinks.append(csv.write)
        script.write(s.encode(_entry_comment(e) + "\n" + copy_statement(_load_target(e), cols, "FROM stdin") + ";\n"))
        try:
            rows = stream_copy(st.batches.conn if st.batches is not None else s.conn, _copy_source(e), sinks,
                               on_chunk=self.progress.bytes_done, transform=row_filter(_redact_spec(e), s.codec),
                               label=_rel(e).identity).rows
        except EncodingError as err:
            raise EncodingError(_unconvertible(self.plan.dsn, s, e, str(err))) from None
        if st.batches is not None:
            st.batches.copied()  # a full batch commits (releasing its locks) and starts the next
        script.write(b"\\.\n\n")
        if csv is not None:
            csv.close()
            w.known[e.extra["csv"]] = csv.file.digest()
        self.progress.table_done(e.extra["table"], rows)
        return rows

    # -- the other files -------------------------------------------------------------------------
    def write_side_files(self, entries: list[Entry], w: _Written) -> None:
        """toc.json, row_counts.json, restore.sh and restore-full.sh."""
        tmp = self.tmp
        write_private(tmp / layout.TOC_FILE, toc_bytes(e.toc_entry() for e in entries))
        write_private(tmp / layout.ROW_COUNTS_FILE, row_counts_bytes(w.row_counts))
        for fname, text in ((layout.RESTORE_SH, restore_sh(w.dump_name)),
                            (layout.RESTORE_FULL_SH, restore_full_sh(w.dump_name, w.row_counts, self.s.encoding))):
            write_private(tmp / fname, self.s.encode(text))  # restore-full.sh holds table names: the script's encoding
            os.chmod(tmp / fname, 0o700)

    def metadata(self, cat: Any, ordered: Ordered, entries: list[Entry], w: _Written, checks: _ServerChecks,
                 catalog_s: float) -> dict[str, Any]:
        """metadata.json without what :func:`run_backup` adds (times, warnings, files)."""
        plan, s, info = self.plan, self.s, self.s.info
        data = _data_entries(entries)
        return {
            "format": layout.FORMAT_VERSION,
            "tool": {"name": "pydump", "version": __version__},
            "server": {"version": info.version, "version_num": info.version_num, "encoding": info.encoding,
                       "collate": info.collate, "ctype": info.ctype,
                       "known_version": checks.newer is None, "unknown_catalog_values": checks.unknown,
                       "bootstrap_superuser": checks.bootstrap},
            # the encoding of backup.sql and of every CSV file (the database's unless --encoding)
            "encoding": s.encoding,
            "database": info.database, "host": info.host, "port": info.port, "user": info.user,
            "client_host": socket.gethostname(),
            "connection": redact_dsn(plan.dsn),
            "mode": plan.mode,
            "options": plan.options,
            "categories": _categories(plan, cat, data),
            "category_file": plan.categories.source,
            "unmatched_category_patterns": plan.categories.unmatched_patterns(
                [(r.schema or "", r.name) for r in cat.relations if r.has_data]),
            "compression": {"method": self.method, "level": self.level,
                            "engine": gzip_engine(self.level) if self.method == "gzip" else self.method},
            "dump_file": w.dump_name,
            "_known": w.known,
            "csv_files": w.csv_files,
            "tables": len(w.row_counts),
            "rows": sum(w.row_counts.values()),
            "entries": len(entries),
            "parallel": {"jobs": plan.jobs if self.pool is not None else 1,
                         "split_tables": sorted({e.extra["table"] for e in data if "part" in e.extra})},
            "resources": {"peak_rss_mb": peak_rss_mb(), "cpu_s": round(time.process_time(), 3)},
            "skipped_unreadable": sorted(plan.unreadable.values()),
            "redacted": {e.extra["table"]: e.extra["redacted"] for e in data if e.extra.get("redacted")},
            # --redact-auth: auth tables ("auth.t") and columns ("auth.t.c") redacted because unknown
            "redact_unknown": sorted({u for e in data for u in e.extra.get("redact_unknown", ())}),
            # dependency loops repaired as pg_dump repairs them (a view split into placeholder and query)
            "repaired_loops": ordered.repaired_loops,
            "timings": self.timings(cat, w, catalog_s),
        }

    def timings(self, cat: Any, w: _Written, catalog_s: float) -> dict[str, Any]:
        timings = {**cat.timings, "ordering_s": round(catalog_s - sum(cat.timings.values()), 4),
                   "data_s": round(w.data_s, 4), "write_s": round(w.write_s, 4),
                   "compression_wait_s": round(w.wait_s, 4), "catalog_queries": self.s.queries}
        if self.pool is not None:
            timings.update(worker_wait_s=round(self.pool.wait_s, 4), workers_busy_s=round(self.pool.busy_s, 4))
        return timings


def _data_entries(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.kind == Kind.TABLE_DATA]


def _categories(plan: Plan, cat: Any, data: list[Entry]) -> list[dict[str, Any]]:
    """metadata.json ``categories``: per category, the tables dumped and those left out."""
    dumped: dict[str, set[str]] = {c: set() for c in plan.categories.categories}
    left_out: dict[str, list[str]] = {c: [] for c in plan.categories.categories}
    for e in data:
        dumped[e.extra["category"]].add(e.extra["table"])
    for r in cat.relations:
        if r.has_data and not plan.data_included(r.schema or "", r.name):
            left_out[plan.category_of(r.schema or "", r.name)].append(r.identity)
    return [
        {"name": c.name, "label": c.label, "included": c.name not in plan.excluded_categories, "csv": c.csv,
         "tables": sorted(dumped[c.name]), "excluded_tables": sorted(left_out[c.name])}
        for c in plan.categories.categories.values()
    ]


def _unreadable(s: Session, rels: list[Any]) -> dict[int, str]:
    """Relations whose data this role cannot read: no SELECT, or row security it does not bypass.

    Checked before LOCK TABLE (which would fail on the first such table with a less helpful
    message) and before COPY (which would fail half-way through the backup).
    """
    oids = [r.oid for r in rels if r.kind in ("r", "p", "S")]
    if not oids or s.info.superuser:
        return {}
    rows = s.query(
        """
        SELECT c.oid, c.oid::pg_catalog.regclass::text AS name
          FROM pg_catalog.pg_class c
         WHERE c.oid = ANY(%s)
           AND (CASE WHEN c.relkind = 'S' THEN NOT pg_catalog.has_sequence_privilege(c.oid, 'SELECT')
                     ELSE NOT pg_catalog.has_table_privilege(c.oid, 'SELECT') END
                OR (c.relrowsecurity AND NOT pg_catalog.pg_has_role(c.relowner, 'USAGE')
                    AND NOT (SELECT r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)))
        """,
        (oids,),
    )
    return {r["oid"]: r["name"] for r in rows}


def _start_pool(plan: Plan, s: Session, method: str, level: int, progress: Progress,
                warn: Callable[[str], None], open_files: list[Any]) -> WorkerPool | None:
    """With ``--jobs N``, export the snapshot now and let the workers connect while the
    catalog is read (a TLS handshake to a managed server costs 100+ ms each)."""
    if plan.jobs < 2 or plan.schema_only:
        return None
    try:
        snapshot = s.export_snapshot()
    except Exception as e:  # e.g. a pooler that does not keep one backend per client
        warn(f"cannot export the snapshot for parallel workers ({str(e).strip().splitlines()[0] if str(e).strip() else e}); "
             "dumping the data with one connection")
        return None
    # Workers ask for the leader's client_encoding at connect time (their setup has none).
    worker_dsn = make_conninfo(plan.dsn, client_encoding=s.wire_encoding)
    pool = WorkerPool(worker_dsn, snapshot, plan.jobs, method=method, level=level, on_bytes=progress.bytes_done)
    open_files.append(pool)
    pool.start()
    return pool


def _make_tasks(data_entries: list[Entry], tmp: Path, sizes: dict[int, RelSize], progress: Progress,
                encode: Callable[[str], bytes]) -> dict[int, Task]:
    """One task per TABLE DATA entry (range parts included), weighted by bytes to read."""
    spool_dir = tmp / ".spool"
    spool_dir.mkdir(mode=0o700)
    parts_left: dict[str, int] = {}
    for e in data_entries:
        parts_left[e.extra["table"]] = parts_left.get(e.extra["table"], 0) + 1
    tasks: dict[int, Task] = {}
    for e in data_entries:
        rel = _rel(e)
        cols: list[str] = e.extra["columns"]
        part = e.extra.get("part")
        size = sizes.get(rel.oid)
        weight = size.total_bytes if size is not None else int(e.extra.get("pages", 0)) * 8192
        if part:
            weight = weight * int(e.extra["pages"]) // max(size.heap_pages if size else 1, 1)
        head = _entry_comment(e) + "\n" + copy_statement(_load_target(e), cols, "FROM stdin") + ";\n"
        csv_path: Path | None = None
        first = not part or part[0] == 1
        if e.extra.get("csv"):
            csv_path = tmp / e.extra["csv"] if first else spool_dir / f"{e.id}.csv"
        tasks[e.id] = Task(entry=e, statement=_copy_source(e),
                           head=encode(head), spool=spool_dir / f"{e.id}.block", weight=weight,
                           csv_path=csv_path, csv_columns=cols, csv_header=first, redact=_redact_spec(e))
    lock = threading.Lock()

    def finished(task: Task) -> None:
        key = task.entry.extra["table"]
        with lock:
            parts_left[key] -= 1
            last = parts_left[key] == 0
        if last and task.error is None:
            progress.table_done(key, 0)

    for t in tasks.values():
        t.on_done = finished
    return tasks


def _rel(e: Entry) -> Any:
    """The relation a TABLE DATA entry copies (:class:`~dumper.toc.TableSource`)."""
    assert e.source is not None, f"TABLE DATA entry {e.name} has no source"
    return e.source.rel


def _load_target(e: Entry) -> str:
    """The table the script's COPY names: a partition root for hash-on-enum trees (``TableSource``)."""
    assert e.source is not None, f"TABLE DATA entry {e.name} has no source"
    return e.source.load_target


def _copy_source(e: Entry) -> str:
    """The COPY ... TO STDOUT for a TABLE DATA entry (or one range of it): its columns, with
    the extension's filter and the range's ctid bounds as the WHERE clause."""
    return copy_statement(_rel(e).identity, e.extra["columns"], where=e.source.where if e.source else None)


def _redact_spec(e: Entry) -> dict[str, Any] | None:
    """The row filter a redacted TABLE DATA entry's COPY goes through (None: not redacted)."""
    red = e.source.redaction if e.source is not None else None
    return red.filter_spec() if red is not None else None


def _unconvertible(dsn: str, s: Session, e: Entry, message: str) -> str:
    """The one-line error for a value ``--encoding`` cannot hold: its table and column.

    The server's conversion error names neither. The failed COPY has aborted the snapshot's
    transaction, so a separate connection (same client_encoding) converts the table's columns
    one at a time, in COPY order, and the first that fails is named; the data may have moved
    since the snapshot, in which case only the table is named.
    """
    rel = e.source.rel if e.source is not None else None
    table = rel.identity if rel is not None else e.extra.get("table", e.name)
    column: str | None = None
    try:
        conn = connect(make_conninfo(dsn, client_encoding=s.wire_encoding), autocommit=True, application_name="pydump")
    except ConnectError:
        conn = None
    if conn is not None:
        try:
            for col in e.extra.get("columns") or []:
                q = (f"SELECT 1 FROM ONLY {table} WHERE pg_catalog.length(pg_catalog.convert_to("
                     f"{quote_ident(col)}::pg_catalog.text, {quote_literal(s.encoding)})) < 0 LIMIT 1")
                try:
                    conn.execute(q)
                except CONVERSION_ERRORS:
                    column = col
                    break
        except psycopg.Error:
            pass
        finally:
            conn.close()
    where = f"table {table}" + (f", column {quote_ident(column)}" if column is not None else "")
    return f"{where}: a value cannot be converted to {s.encoding} (--encoding): {message}"


def _append_csv_part(final: Path, part: Path, *, last: bool) -> None:
    """Append a later range's CSV (no header) to the table's CSV file, then drop the part.

    Ranges arrive here in TOC order, which is range order, so the file's records are in the
    table's physical order as a single COPY would give them; it is fsynced once, when whole.
    """
    fd = os.open(final, os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
    try:
        append_file(fd, part)
        if last:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.unlink(part)


def _finish_directory(tmp: Path, meta: dict[str, Any]) -> None:
    """List every file with size and sha256, then write metadata.json and fsync the directories.

    Files hashed while they were written are not read back (the dump can be gigabytes),
    unless their size shows that something was appended since.
    """
    known: dict[str, tuple[int, str] | None] = meta.pop("_known", {})
    files: dict[str, dict[str, Any]] = {}
    for rel, p in listed_files(tmp):
        size = p.stat().st_size
        hit = known.get(rel)
        files[rel] = file_entry(*(hit if hit and hit[0] == size else file_sha256(p)))
    meta["files"] = files
    meta["size_bytes"] = sum(f["bytes"] for f in files.values())
    write_private(tmp / layout.METADATA_FILE, metadata_bytes(meta))
    _fsync_dir(tmp / layout.DATA_DIR)
    _fsync_dir(tmp)


def _fsync_dir(path: Path) -> None:
    """fsync a directory, so the names in it (the files, the final rename) survive a crash.

    A failure raises (``OSError``, an output error, exit 5): a backup whose directory cannot
    be made durable is not a complete backup, whatever its files hold.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
