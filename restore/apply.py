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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import psycopg

from restore.backup import Backup, Entry, split_qualified
from restore.errors import StatementFailed
from restore.progress import Phase, Progress
from restore.script import CopyBlock, Item, MetaCommand, ScriptReader, Statement
from restore.streams import open_source

ACL_KINDS = frozenset({"ACL", "DEFAULT ACL"})
DATA_KINDS = frozenset({"TABLE DATA", "SEQUENCE SET"})
RELATION_KINDS = frozenset({"TABLE", "VIEW", "MATERIALIZED VIEW", "SEQUENCE", "FOREIGN TABLE"})
#: Entry kinds that belong to one table and follow it when ``-t`` selects that table.
ATTACHED_KINDS = frozenset({"DEFAULT", "CONSTRAINT", "CHECK CONSTRAINT", "INDEX", "TRIGGER", "RULE", "POLICY",
                            "ROW SECURITY", "COMMENT", "ACL", "SEQUENCE OWNED BY", "TABLE DATA",
                            "FK CONSTRAINT", "SEQUENCE SET", "MATERIALIZED VIEW DATA", "STATISTICS"})
SECTIONS = ("pre-data", "data", "post-data")

_QUOTED = re.compile(rb'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'')
_OWNER_TO = re.compile(rb"\A\s*ALTER\b.*\bOWNER\s+TO\b", re.IGNORECASE | re.DOTALL)
_ACL_STMT = re.compile(rb"\A\s*(?:GRANT|REVOKE|ALTER\s+DEFAULT\s+PRIVILEGES)\b", re.IGNORECASE)


def _unquoted(raw: bytes) -> bytes:
    """The statement with quoted strings/identifiers emptied, so keywords inside names cannot match."""
    return _QUOTED.sub(b'""', raw)


def is_owner_statement(raw: bytes) -> bool:
    """``ALTER <kind> <name> OWNER TO <role>;`` — what ``--no-owner`` drops."""
    return _OWNER_TO.match(_unquoted(raw)) is not None


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

    def wants_entry(self, e: Entry | None) -> bool:
        """Entry-level decision. Statements before the first entry (session SETs) always run."""
        if e is None:
            return True
        section = "data" if e.kind in DATA_KINDS else e.section
        if section not in self.sections:
            return False
        if self.no_acl and e.kind in ACL_KINDS:
            return False
        if self.schemas:
            in_schema = e.schema in self.schemas or (e.kind == "SCHEMA" and e.name in self.schemas)
            if not in_schema:
                return False
        if self.tables:
            if e.id in self._table_entry_ids:
                return True
            if e.kind == "TABLE DATA" and e.table is not None:
                s, n = split_qualified(e.table)
                return any(_matches(s, n, ts, tn) for ts, tn in self.tables)
            if e.kind in ATTACHED_KINDS:
                if not any(d in self._table_entry_ids for d in e.deps):
                    return False
                # A foreign key also needs the table it references: only when both ends are selected.
                return e.kind != "FK CONSTRAINT" or all(d in self._table_entry_ids for d in e.deps if d in self._relation_ids)
            return False
        return True

    def wants_statement(self, raw: bytes, e: Entry | None) -> bool:
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

    entry: Entry | None
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


def _failure(exc: psycopg.Error, item: Item, entry: Entry | None) -> Failure:
    diag = exc.diag
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    msg = diag.message_primary or first_line
    if diag.message_detail:
        msg += f" ({diag.message_detail})"
    text = item.raw.decode("utf-8", "replace")
    return Failure(entry=entry, line=item.line, sqlstate=diag.sqlstate, message=msg,
                   statement=text if len(text) <= 300 else text[:300] + "...")


class Replayer:
    """Executes the items of one script on one connection.

    The connection's transaction mode is the caller's choice: autocommit (each statement its
    own transaction, the default) or one open transaction (``--single-transaction``), which
    the caller commits or rolls back.
    """

    def __init__(self, conn: psycopg.Connection, backup: Backup, selection: Selection, *,
                 keep_going: bool = False, on_failure: Callable[[Failure], None] | None = None,
                 item_filter: Callable[[Item, Entry | None], bool] | None = None) -> None:
        self.conn = conn
        self.backup = backup
        self.selection = selection
        self.keep_going = keep_going
        self.on_failure = on_failure
        self.item_filter = item_filter
        self.result = ApplyResult()

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
        return self.result

    def apply_item(self, item: Item, phase: Phase | None = None, pos: Callable[[], int] | None = None) -> None:
        """Execute one item if selected; raise ``StatementFailed`` unless keep-going absorbs it."""
        if isinstance(item, MetaCommand):
            return
        entry = self.backup.entry(item.entry_id)
        sel = self.selection
        if not sel.wants_entry(entry) or (self.item_filter is not None and not self.item_filter(item, entry)):
            self.result.skipped_items += 1
            return
        if isinstance(item, Statement) and not sel.wants_statement(item.raw, entry):
            self.result.skipped_owner += 1
            return
        if phase is not None and pos is not None:
            phase.update(pos(), entry.describe() if entry else None)
        try:
            if isinstance(item, CopyBlock):
                self._copy(item, entry, phase, pos)
            else:
                self.conn.execute(item.raw)
                self.result.statements += 1
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError) and self.conn.closed:
                raise StatementFailed(f"connection lost during {_where(entry, item)}: {exc}") from None
            f = _failure(exc, item, entry)
            if not self.keep_going or not self.conn.autocommit:
                raise StatementFailed(f.describe()) from exc
            self.result.failures.append(f)
            if self.on_failure is not None:
                self.on_failure(f)

    def _copy(self, item: CopyBlock, entry: Entry | None, phase: Phase | None, pos: Callable[[], int] | None) -> None:
        """Stream one COPY block; row count from the server's ``COPY n`` tag, not by counting."""
        with self.conn.cursor() as cur:
            with cur.copy(item.raw) as copy:
                for chunk in item.chunks:
                    copy.write(chunk)
                    if phase is not None and pos is not None:
                        phase.update(pos())
            rows = max(cur.rowcount, 0)
        self.result.copy_blocks += 1
        self.result.rows += rows
        if entry is not None and entry.table:
            self.result.rows_by_table[entry.table] = self.result.rows_by_table.get(entry.table, 0) + rows


def _where(entry: Entry | None, item: Item) -> str:
    return f"entry {entry.id} ({entry.describe()})" if entry else f"script line {item.line}"
