"""Replay a script into the target: statements one by one, COPY blocks streamed.

Why statement by statement rather than sending the script in big batches: a failure must be
tied to its TOC entry (the user needs "TABLE public.users: relation already exists", not "an
error somewhere in 40 MB"), ``--keep-going`` must be able to skip exactly one statement, and
selection (sections, schemas, tables, owners, ACLs) happens per entry and per statement.
The round trip per statement is small next to COPY, which carries the bulk of a backup and
is passed through as byte chunks with no per-row Python work.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

import psycopg

from dumper.format.names import split_qualified
from dumper.format.toc import Kind, TocEntry
from restore.backup import Backup
from dumper.errors import StatementFailed
from restore.progress import Phase, Progress
from restore.script import CopyBlock, Item, MetaCommand, ScriptReader, Statement, without_quoted
from restore.skip_existing import CREATING_KINDS, ExistingPolicy, copy_statement, filter_copy_columns
from restore.fk_graph import fk_order, foreign_keys
from restore.parallel import PostTask, Workers, post_data_passes, spool
from restore.streams import open_source
from restore.target import session_statement

if TYPE_CHECKING:
    from restore.roles import RoleMapper

ACL_KINDS = frozenset({Kind.ACL, Kind.DEFAULT_ACL})
#: WARNINGs of a GRANT/REVOKE that left (some of) the privileges as they were:
#: privilege_not_revoked, privilege_not_granted.
PRIVILEGE_NOT_CHANGED = frozenset({"01006", "01007"})
DATA_KINDS = frozenset({Kind.TABLE_DATA, Kind.SEQUENCE_SET, Kind.BLOBS})
#: Selected as data (``--data-only``, ``--section data``) as pg_restore does, although they sit
#: elsewhere in the script: large objects are created with their contents, and a
#: materialized view's rows are its REFRESH.
SELECTED_AS_DATA = DATA_KINDS | {Kind.BLOB_METADATA, Kind.MATERIALIZED_VIEW_DATA}
RELATION_KINDS = frozenset({Kind.TABLE, Kind.VIEW, Kind.MATERIALIZED_VIEW, Kind.SEQUENCE, Kind.FOREIGN_TABLE})
#: TocEntry kinds that belong to one table and follow it when ``-t`` selects that table.
ATTACHED_KINDS = frozenset({Kind.DEFAULT, Kind.CONSTRAINT, Kind.CHECK_CONSTRAINT, Kind.INDEX, Kind.TRIGGER, Kind.RULE, Kind.POLICY,
                            Kind.ROW_SECURITY, Kind.COMMENT, Kind.ACL, Kind.SEQUENCE_OWNED_BY, Kind.TABLE_DATA,
                            Kind.FK_CONSTRAINT, Kind.SEQUENCE_SET, Kind.MATERIALIZED_VIEW_DATA, Kind.STATISTICS})
SECTIONS = ("pre-data", "data", "post-data")

_OWNER_TO = re.compile(rb"\A\s*ALTER\b.*\bOWNER\s+TO\b", re.IGNORECASE | re.DOTALL)
_SET_STMT = re.compile(rb"\A\s*SET\s+(?:SESSION\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*(?:=|\bTO\b)", re.IGNORECASE)
_SESSION_STMT = re.compile(rb"\A\s*(?:(?:SET|RESET)\b|SELECT\s+pg_catalog\.set_config\s*\()", re.IGNORECASE)
_ACL_STMT = re.compile(rb"\A\s*(?:GRANT|REVOKE|ALTER\s+DEFAULT\s+PRIVILEGES)\b", re.IGNORECASE)


def is_owner_statement(raw: bytes) -> bool:
    """``ALTER <kind> <name> OWNER TO <role>;`` — what ``--no-owner`` drops."""
    return _OWNER_TO.match(without_quoted(raw)) is not None


def is_acl_statement(raw: bytes) -> bool:
    """GRANT/REVOKE/ALTER DEFAULT PRIVILEGES: the statement-level fallback of ``--no-acl`` for scripts without TOC."""
    return _ACL_STMT.match(raw) is not None


@dataclass(slots=True)
class Selection:
    """Which entries and statements to replay (pg_restore's selection options)."""

    sections: frozenset[str] = frozenset(SECTIONS)
    schemas: tuple[str, ...] = ()
    tables: tuple[tuple[str | None, str], ...] = ()
    no_owner: bool = False
    no_acl: bool = False
    _table_entry_ids: frozenset[int] = frozenset()
    _relation_ids: frozenset[int] = frozenset()

    @classmethod
    def build(cls, backup: Backup, *, data_only: bool = False, schema_only: bool = False,
              sections: Iterable[str] = (), schemas: Iterable[str] = (), tables: Iterable[str] = (),
              no_owner: bool = False, no_acl: bool = False) -> "Selection":
        """Resolve the options against the TOC (``-t`` matches relation entries by name or schema.name)."""
        secs = set(sections) or set(SECTIONS)
        if data_only:
            secs &= {"data"}
        if schema_only:
            secs -= {"data"}
        tbls = tuple(split_qualified(t) for t in tables)
        ids: set[int] = set()
        rel: set[int] = set()
        for e in backup.entries:
            if e.kind in RELATION_KINDS:
                rel.add(e.id)
                if any(_matches(e.schema, e.name, s, n) for s, n in tbls):
                    ids.add(e.id)
        return cls(sections=frozenset(secs), schemas=tuple(schemas), tables=tbls, no_owner=no_owner,
                   no_acl=no_acl, _table_entry_ids=frozenset(ids), _relation_ids=frozenset(rel))

    @property
    def is_filtered(self) -> bool:
        """True when some entries are left out (then only the selected tables are verified)."""
        return self.sections != frozenset(SECTIONS) or bool(self.schemas) or bool(self.tables)

    def wants_entry(self, e: TocEntry | None) -> bool:
        """Entry-level decision. Statements before the first entry (session SETs) always run."""
        if e is None:
            return True
        section = "data" if e.kind in SELECTED_AS_DATA else e.section
        if section not in self.sections:
            return False
        if self.no_acl and e.kind in ACL_KINDS:
            return False
        if self.schemas:
            in_schema = e.schema in self.schemas or (e.kind == Kind.SCHEMA and e.name in self.schemas)
            if not in_schema:
                return False
        if self.tables:
            if e.id in self._table_entry_ids:
                return True
            if e.kind == Kind.TABLE_DATA and e.table is not None:
                s, n = split_qualified(e.table)
                return any(_matches(s, n, ts, tn) for ts, tn in self.tables)
            if e.kind in ATTACHED_KINDS:
                if not any(d in self._table_entry_ids for d in e.deps):
                    return False
                # A foreign key also needs the table it references: only when both ends are selected.
                return e.kind != Kind.FK_CONSTRAINT or all(d in self._table_entry_ids for d in e.deps if d in self._relation_ids)
            return False
        return True

    def wants_statement(self, raw: bytes, e: TocEntry | None) -> bool:
        """Statement-level decision within a selected entry."""
        if self.no_owner and is_owner_statement(raw):
            return False
        if self.no_acl and e is None and is_acl_statement(raw):
            return False
        return True


def _matches(schema: str | None, name: str, want_schema: str | None, want_name: str) -> bool:
    return name == want_name and (want_schema is None or schema == want_schema)


@dataclass(slots=True)
class Failure:
    """A statement the server rejected, tied to its TOC entry."""

    entry: TocEntry | None
    line: int
    sqlstate: str | None
    message: str
    statement: str

    def describe(self) -> str:
        """One line: where (entry, script line) and what the server said."""
        where = f"entry {self.entry.id} ({self.entry.describe()})" if self.entry else "statement"
        state = f" [{self.sqlstate}]" if self.sqlstate else ""
        return f"{where} at script line {self.line}: {self.message}{state}"


@dataclass(slots=True)
class ApplyResult:
    """What a replay did, for the summary, verification and the JSON output."""

    statements: int = 0
    copy_blocks: int = 0
    rows: int = 0
    skipped_items: int = 0
    skipped_owner: int = 0
    failures: list[Failure] = field(default_factory=list)
    rows_by_table: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


_ROLE_MISSING_MSG = re.compile(r'role "((?:[^"]|"")*)" does not exist')


def role_hint(sqlstate: str | None, message: str) -> str:
    """What to do about a failure that names a role the target lacks or the user may not use.

    The bare server message (``role "x" does not exist``, ``must be member of role "x"``)
    does not say that the backup's roles can be renamed or ignored on the way in."""
    m = _ROLE_MISSING_MSG.search(message)
    if sqlstate == "42704" and m:
        r = m.group(1)
        return (f"; the target has no role {r}: create it, or restore with --role-map {r}=ROLE "
                "or --no-owner")
    if sqlstate == "42501" and "must be member of role" in message or "must be able to SET ROLE" in message:
        return "; restore as a superuser, or with --no-owner (objects then belong to you) or --role-map"
    return ""


#: A GRANT/REVOKE on an object that is not there: undefined function, table, column, type.
_OBJECT_MISSING = frozenset({"42883", "42P01", "42703"})


def _member_missing(exc: psycopg.Error) -> bool:
    """The statement named an object the target does not have (not a missing role, which
    is also ``undefined_object``)."""
    state = exc.diag.sqlstate or ""
    msg = exc.diag.message_primary or ""
    return state in _OBJECT_MISSING or (state == "42704" and msg.startswith("type "))


def _failure(exc: psycopg.Error, item: Item, entry: TocEntry | None) -> Failure:
    diag = exc.diag
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    msg = diag.message_primary or first_line
    if diag.message_detail:
        msg += f" ({diag.message_detail})"
    msg += role_hint(diag.sqlstate, diag.message_primary or "")
    text = item.raw.decode("utf-8", "replace")
    return Failure(entry=entry, line=item.line, sqlstate=diag.sqlstate, message=msg,
                   statement=text if len(text) <= 300 else text[:300] + "...")


class Replayer:
    """Executes the items of one script on one connection (plus worker connections with ``--jobs``).

    The connection's transaction mode is the caller's choice: autocommit (each statement its
    own transaction, the default) or one open transaction (``--single-transaction``), which
    the caller commits or rolls back.

    Optional collaborators, each for one option:
    ``role_map`` rewrites role names in statements (``--role-map``); ``policy`` decides what to
    skip in a target that already has part of the backup (``--skip-existing``, see
    ``restore.existing``); ``workers`` loads COPY blocks and builds indexes/constraints on N
    connections (``--jobs``, see ``restore.parallel``).
    """

    def __init__(self, conn: psycopg.Connection, backup: Backup, selection: Selection, *,
                 keep_going: bool = False, on_failure: Callable[[Failure], None] | None = None,
                 item_filter: Callable[[Item, TocEntry | None], bool] | None = None,
                 role_map: RoleMapper | None = None, policy: ExistingPolicy | None = None,
                 workers: Workers | None = None) -> None:
        self.conn = conn
        self.backup = backup
        self.selection = selection
        self.keep_going = keep_going
        self.on_failure = on_failure
        self.item_filter = item_filter
        self.role_map = role_map
        self.policy = policy
        self.workers = workers
        self.result = ApplyResult()
        self._lock = threading.Lock()
        self._in_post_data = False
        self._deferred: list[tuple[TocEntry, bytes, IO[bytes]]] = []
        self._post_tasks: list[PostTask] = []
        self._existing_fks_read = False
        self._skipped_entries: set[int] = set()
        self._settings: frozenset[str] | None = None  # parameter names of the target
        self._sql_ascii_target = conn.info.parameter_status("server_encoding") == "SQL_ASCII"

    def run(self, progress: Progress, phase_name: str = "restore") -> ApplyResult:
        """Read the backup's script from the start and replay the selected items."""
        source = open_source(self.backup.script)
        size = os.path.getsize(self.backup.script)
        phase = progress.phase(phase_name, size, "B")
        reader = ScriptReader(source, meta="skip" if self.backup.bare_script else "error", name=self.backup.script.name)
        try:
            for item in reader:
                self.apply_item(item, phase, lambda: source.compressed_pos)
            phase.update(source.compressed_pos)
        finally:
            source.close()
            phase.close()
        self.finish()
        return self.result

    # -- the end of a section ----------------------------------------------------------------
    def _leave_data_section(self) -> None:
        """Before the first post-data statement: the deferred loads (``--skip-existing``), after
        every other row. Parallel loads are not waited for here: with ``--jobs`` every post-data
        entry is a task that waits for the loads of its own tables (:meth:`Workers.run_graph`)."""
        if self._in_post_data:
            return
        self._in_post_data = True
        if self._deferred:
            if self.workers is not None:
                self.workers.wait_data()
            self._load_deferred()

    def finish(self) -> None:
        """End of the script: run the collected post-data work (``--jobs``): the graph while the
        last tables may still load, then, with every row in, the serial tail and the refreshes."""
        self._leave_data_section()
        if self.workers is None:
            return
        tasks, self._post_tasks = self._post_tasks, []
        graph, serial, refresh = post_data_passes(tasks)
        if graph:
            self.workers.run_graph(graph, self._run_task, self.backup)
        self.workers.wait_data()
        for task in serial:
            self._run_task(self.conn, task)
        if refresh:
            self.workers.run_graph(refresh, self._run_task, self.backup)

    def _run_task(self, conn: psycopg.Connection, task: PostTask) -> None:
        for raw in task.statements:
            self._execute(conn, raw, task.entry, Statement(raw, task.entry.id, 0))

    # -- items ---------------------------------------------------------------------------------
    def apply_item(self, item: Item, phase: Phase | None = None, pos: Callable[[], int] | None = None) -> None:
        """Execute one item if selected; raise ``StatementFailed`` unless keep-going absorbs it."""
        if isinstance(item, MetaCommand):
            return
        entry = self.backup.entry(item.entry_id)
        if not self.selection.wants_entry(entry) or (self.item_filter is not None and not self.item_filter(item, entry)):
            self.result.skipped_items += 1
            return
        raw: bytes | None = item.raw
        if isinstance(item, Statement):
            raw = self._statement_bytes(item.raw, entry)
            if raw is None:
                return
        if entry is not None and entry.section == "post-data" and entry.kind not in DATA_KINDS:
            self._leave_data_section()
        if phase is not None and pos is not None:
            phase.update(pos(), entry.describe() if entry else None)
        if self.policy is not None and entry is not None and self._skipped_by_policy(entry, item):
            return
        if isinstance(item, CopyBlock):
            self._copy_item(item, entry, phase, pos)
        elif self.workers is not None and entry is not None and self._in_post_data:
            self._queue_post_task(entry, raw)
        else:
            if self.workers is not None and entry is None:
                # A bare script (pg_dump -Fp) says nothing of what a statement needs: a REFRESH
                # MATERIALIZED VIEW or an FK check that ran while a worker's COPY was still
                # uncommitted would not see its rows. Loads in a row stay parallel; the next
                # statement waits for them.
                self.workers.wait_data()
            self._execute(self.conn, raw, entry, item)

    def _statement_bytes(self, raw: bytes, entry: TocEntry | None) -> bytes | None:
        """A statement as it is to run (``--role-map``, a session header's target form), or None
        when it is skipped (``--no-owner``/``--no-acl``, a setting this server does not have).
        A session header statement is also recorded for every worker connection."""
        if not self.selection.wants_statement(raw, entry):
            self.result.skipped_owner += 1
            return None
        if self.role_map is not None:
            raw = self.role_map.rewrite(raw)
        if entry is not None:
            return raw
        raw = session_statement(raw, self._sql_ascii_target)
        if self._unknown_setting(raw):
            self.result.skipped_items += 1
            return None
        if self.workers is not None and _SESSION_STMT.match(raw):
            # a session setting: replayed on every worker connection. Only settings: a bare
            # script's CREATE TABLE (no entry either) run again there failed the restore.
            self.workers.setup.append(raw)
        return raw

    def _skipped_by_policy(self, entry: TocEntry, item: Item) -> bool:
        """``--skip-existing``: True when the entry is not restored (recorded once per entry)."""
        assert self.policy is not None
        reason = self.policy.entry_skip_reason(entry)
        if reason is None:
            return False
        if entry.id not in self._skipped_entries:
            self._skipped_entries.add(entry.id)
            self.policy.entry_was_skipped(entry)
            if entry.kind == Kind.TABLE_DATA and entry.table:
                self.policy.skipped_data_tables.add(entry.table)
            self._skip(entry, item, reason)
        return True

    def _queue_post_task(self, entry: TocEntry, raw: bytes) -> None:
        """``--jobs``: every post-data entry runs when its toc.json deps have (restore.parallel)."""
        if self._post_tasks and self._post_tasks[-1].entry.id == entry.id:
            self._post_tasks[-1].statements.append(raw)
        else:
            self._post_tasks.append(PostTask(entry, [raw]))

    def _unknown_setting(self, raw: bytes) -> bool:
        """A script header's ``SET name = ...`` for a parameter this server does not have.

        pg_dump 18 writes ``SET transaction_timeout = 0`` (17+), which an older server rejects;
        psql reports the error and goes on. The setting only guards the dump's own session, so
        it is skipped here, silently, as it could not have had an effect on such a server."""
        m = _SET_STMT.match(raw)
        if m is None or b"." in m.group(1):
            return False
        if self._settings is None:  # one round trip for the whole header, not one per SET
            self._settings = frozenset(r[0] for r in self.conn.execute("SELECT name FROM pg_catalog.pg_settings"))
        return m.group(1).decode().lower() not in self._settings

    def _skip(self, entry: TocEntry | None, item: Item, reason: str) -> None:
        """Record a skip; with ``--strict`` it is a failure instead."""
        assert self.policy is not None
        if self.policy.strict:
            f = Failure(entry=entry, line=item.line, sqlstate=None, message=f"skipped (--strict): {reason}",
                        statement=item.raw.decode("utf-8", "replace")[:300])
            self._fail(f, None)
            return
        self.policy.record(entry, reason)

    def _fail(self, f: Failure, exc: BaseException | None) -> None:
        if not self.keep_going or not self.conn.autocommit:
            raise StatementFailed(f.describe()) from exc
        with self._lock:
            self.result.failures.append(f)
        if self.on_failure is not None:
            self.on_failure(f)

    def _event_trigger_owner(self, conn: psycopg.Connection, raw: bytes, entry: TocEntry) -> None:
        """``ALTER EVENT TRIGGER ... OWNER TO r`` where ``r`` may no longer be a superuser.

        An event trigger's owner must be a superuser when it is set; on a managed platform the
        owner may have lost that attribute since (Supabase's ``postgres``), so the statement
        fails on every fresh target. The trigger then stays owned by the restoring role, which
        created it: a warning, not a failed restore."""
        try:
            with conn.transaction():
                conn.execute(raw)
            with self._lock:
                self.result.statements += 1
        except psycopg.errors.InsufficientPrivilege as exc:
            with self._lock:
                self.result.warnings.append(
                    f"entry {entry.id} ({entry.describe()}): {exc.diag.message_primary or exc}; "
                    "the event trigger stays owned by the restoring role")

    def _execute(self, conn: psycopg.Connection, raw: bytes, entry: TocEntry | None, item: Item) -> None:
        """Run one statement (in a savepoint when skips are allowed); failures per the options."""
        if entry is not None and entry.kind == Kind.EVENT_TRIGGER and is_owner_statement(raw):
            self._event_trigger_owner(conn, raw, entry)
            return
        notices: list[tuple[str | None, str]] = []  # (sqlstate, message) of each notice

        def keep(d: psycopg.errors.Diagnostic) -> None:
            notices.append((d.sqlstate, d.message_primary or ""))  # only valid inside the handler

        acl = is_acl_statement(raw)
        member_of = self._member_grant_extension(entry) if acl else None
        if acl:
            conn.add_notice_handler(keep)
        try:
            if self.policy is not None or member_of is not None:
                with conn.transaction():
                    conn.execute(raw)
            else:
                conn.execute(raw)
            with self._lock:
                self.result.statements += 1
            if notices:
                self._privileges_not_changed(raw, entry, item, notices)
        except psycopg.Error as exc:
            self._statement_failed(conn, exc, raw, entry, item, member_of)
        finally:
            if acl:
                conn.remove_notice_handler(keep)

    def _statement_failed(self, conn: psycopg.Connection, exc: psycopg.Error, raw: bytes, entry: TocEntry | None,
                          item: Item, member_of: TocEntry | None) -> None:
        """A statement the server refused: a lost connection, a grant on a missing extension
        member, a skip (``--skip-existing``), else a failure (``--keep-going`` or the end)."""
        if isinstance(exc, psycopg.OperationalError) and conn.closed:
            raise StatementFailed(f"connection lost during {_where(entry, item)}: {_first_line(exc)}") from None
        if member_of is not None and entry is not None and _member_missing(exc):
            self._member_missing(exc, raw, entry, item, member_of)
            return
        if self.policy is not None and self._skip_refused(exc, raw, entry, item):
            return
        self._fail(_failure(exc, item, entry), exc)

    def _skip_refused(self, exc: psycopg.Error, raw: bytes, entry: TocEntry | None, item: Item) -> bool:
        """``--skip-existing``: record a refused statement the policy may skip (a failure with
        ``--strict``); False when it may not be skipped."""
        assert self.policy is not None
        decoration = is_owner_statement(raw) or is_acl_statement(raw) or raw.lstrip()[:7].upper() == b"COMMENT"
        reason = self.policy.skippable(exc, decoration)
        if reason is None:
            return False
        if entry is not None and not decoration and entry.kind in CREATING_KINDS:
            self.policy.entry_was_skipped(entry)
        if self.policy.strict:
            self._fail(_failure(exc, item, entry), exc)
        else:
            text = raw.decode("utf-8", "replace").strip()
            self.policy.record(entry, reason, text if len(text) <= 200 else text[:200] + "...")
        return True

    def _member_grant_extension(self, entry: TocEntry | None) -> TocEntry | None:
        """The EXTENSION entry when ``entry`` holds the grants changed on one of its members.

        pydump writes those as an ACL entry that depends on the extension's entry alone (a
        dumped object's ACL depends on that object; one an extension script granted on, on
        the object and the extensions)."""
        if entry is None or entry.kind != Kind.ACL or not entry.deps:
            return None
        deps = [self.backup.entry(d) for d in entry.deps]
        if all(d is not None and d.kind == Kind.EXTENSION for d in deps):
            return deps[0]
        return None

    def _member_missing(self, exc: psycopg.Error, raw: bytes, entry: TocEntry, item: Item, ext: TocEntry) -> None:
        """A grant on an extension member the target's extension does not have.

        ``CREATE EXTENSION`` makes the target's default version, which on a newer major may
        have replaced the member (pg_stat_statements 1.11, PostgreSQL 17, replaced
        ``pg_stat_statements_reset(oid, oid, bigint)`` by a four-argument one). The object the
        grant was for does not exist any more, so there is nothing to grant on: the restore
        goes on with a warning naming the object, where pg_dump's script stops. With
        ``--strict`` it is an error; under ``--skip-existing`` it is in the skip report too."""
        msg = exc.diag.message_primary or _first_line(exc)
        version = ext.get("version")
        reason = (f"{entry.name}: {msg}: the target's extension {ext.name} has no such member "
                  f"(the backup's is version {version}); its changed privileges were not restored"
                  if version else
                  f"{entry.name}: {msg}: the target's extension {ext.name} has no such member; "
                  "its changed privileges were not restored")
        text = raw.decode("utf-8", "replace").strip()
        if self.policy is not None:
            if self.policy.strict:
                self._fail(_failure(exc, item, entry), exc)
                return
            self.policy.record(entry, reason, text if len(text) <= 200 else text[:200] + "...")
        with self._lock:
            if reason not in self.result.warnings:
                self.result.warnings.append(reason)

    def _privileges_not_changed(self, raw: bytes, entry: TocEntry | None, item: Item,
                                notices: list[tuple[str | None, str]]) -> None:
        """A GRANT/REVOKE the server ran but (partly) ignored, with only a WARNING: the restoring
        role holds the privilege (through PUBLIC, say) but may not grant it, as a non-superuser
        on a managed platform with ``pg_catalog.pg_sleep`` or a platform-owned extension's
        function. Nothing failed, yet the privilege is not what the backup holds, and a
        ``REVOKE ... FROM PUBLIC`` that did nothing must not pass for restored: under
        ``--skip-existing`` it is a skip like any refused statement (an error with
        ``--strict``), otherwise a warning."""
        ignored = [(state, m) for state, m in notices if state in PRIVILEGE_NOT_CHANGED]
        if not ignored:
            return
        msg = "; ".join(m for _state, m in ignored)
        text = raw.decode("utf-8", "replace").strip()
        text = text if len(text) <= 200 else text[:200] + "..."
        if self.policy is not None:
            if self.policy.strict:
                self._fail(Failure(entry=entry, line=item.line, sqlstate=ignored[0][0],
                                   message=f"skipped (--strict): {msg}", statement=text), None)
            else:
                self.policy.record(entry, f"not allowed for the restoring role: {msg}", text)
            return
        where = f"entry {entry.id} ({entry.describe()})" if entry is not None else f"line {item.line}"
        with self._lock:
            self.result.warnings.append(f"{where}: {msg}: {text}")

    # -- data ------------------------------------------------------------------------------------
    def _copy_item(self, item: CopyBlock, entry: TocEntry | None, phase: Phase | None, pos: Callable[[], int] | None) -> None:
        stmt = item.raw
        chunks: Iterable[bytes] = item.chunks
        if self.policy is not None and entry is not None and entry.kind == Kind.TABLE_DATA:
            plan = self.policy.data_plan(self.conn, entry)
            if isinstance(plan, str):
                if entry.table:
                    self.policy.skipped_data_tables.add(entry.table)
                self._skip(entry, item, plan)
                return
            if plan is not None:
                if plan.keep is not None:
                    chunks = filter_copy_columns(chunks, plan.keep)
                if plan.columns:
                    stmt = copy_statement(plan.table, plan.columns)
                f, _ = spool(chunks)
                self._deferred.append((entry, stmt, f))
                return
        if self.workers is not None:
            if not self._existing_fks_read:
                self._order_by_existing_fks()
            f, _ = spool(chunks)
            block = CopyBlock(stmt, item.entry_id, item.line, iter(()))

            def load(conn: psycopg.Connection, f: IO[bytes] = f, block: CopyBlock = block) -> None:
                try:
                    self._copy(conn, block, entry, file_chunks(f))
                finally:
                    f.close()

            self.workers.submit_data(load, entry.table if entry is not None else None,
                                     entry.id if entry is not None else None)
            return
        self._copy(self.conn, CopyBlock(stmt, item.entry_id, item.line, iter(())), entry, chunks, phase, pos)

    def _order_by_existing_fks(self) -> None:
        """``--jobs``: the foreign keys that already exist when the first row loads order the
        loads, referenced tables first. The backup's own keys come in post-data, but an
        extension's configuration tables get theirs from ``CREATE EXTENSION`` (PostGIS:
        ``topology.layer`` references ``topology.topology``), and pre-existing tables
        (``--skip-existing``) have theirs. Keys in a cycle order nothing (as serially)."""
        assert self.workers is not None
        self._existing_fks_read = True
        keys = list(dict.fromkeys(e.table for e in self.backup.entries if e.kind == Kind.TABLE_DATA and e.table))
        if not keys:
            return
        fks = foreign_keys(self.conn, keys)
        _order, cyclic = fk_order(keys, fks)
        skip = {(f.definer, f.name) for f in cyclic}
        for f in fks:
            if f.child != f.parent and (f.definer, f.name) not in skip:
                self.workers.data_after.setdefault(f.child, set()).add(f.parent)

    def _copy(self, conn: psycopg.Connection, item: CopyBlock, entry: TocEntry | None, chunks: Iterable[bytes],
              phase: Phase | None = None, pos: Callable[[], int] | None = None) -> None:
        """Stream one COPY block; row count from the server's ``COPY n`` tag, not by counting."""
        try:
            with conn.transaction() if self.policy is not None else _nullcontext():
                with conn.cursor() as cur:
                    with cur.copy(item.raw) as copy:
                        for chunk in chunks:
                            copy.write(chunk)
                            if phase is not None and pos is not None:
                                phase.update(pos())
                    rows = max(cur.rowcount, 0)
        except psycopg.Error as exc:
            for _ in chunks:  # leave the reader at the next item
                pass
            if isinstance(exc, psycopg.OperationalError) and conn.closed:
                raise StatementFailed(f"connection lost during {_where(entry, item)}: {_first_line(exc)}") from None
            if self.policy is not None:
                reason = self.policy.skippable(exc, False)
                if reason is not None and not self.policy.strict:
                    if entry is not None and entry.table:
                        self.policy.skipped_data_tables.add(entry.table)
                    self.policy.record(entry, reason)
                    return
            self._fail(_failure(exc, item, entry), exc)
            return
        with self._lock:
            self.result.copy_blocks += 1
            self.result.rows += rows
            if entry is not None and entry.table:
                self.result.rows_by_table[entry.table] = self.result.rows_by_table.get(entry.table, 0) + rows

    def _load_deferred(self) -> None:
        """Data of pre-existing tables, parents first by the target's foreign keys."""

        blocks, self._deferred = self._deferred, []
        tables = list(dict.fromkeys(e.table for e, _, _ in blocks if e.table))
        order, _cyclic = fk_order(tables, foreign_keys(self.conn, tables))
        rank = {t: i for i, t in enumerate(order)}
        blocks.sort(key=lambda b: rank.get(b[0].table or "", len(rank)))
        for entry, stmt, f in blocks:
            try:
                self._copy(self.conn, CopyBlock(stmt, entry.id, 0, iter(())), entry, file_chunks(f))
            finally:
                f.close()


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def file_chunks(f: IO[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    while chunk := f.read(size):
        yield chunk


def _where(entry: TocEntry | None, item: Item) -> str:
    return f"entry {entry.id} ({entry.describe()})" if entry else f"script line {item.line}"


def _first_line(exc: BaseException) -> str:
    """libpq's messages run over several lines ("This probably means..."): one is enough."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
