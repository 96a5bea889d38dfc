"""Restoring into a target that already has part of the backup (a Supabase project).

A new Supabase project already has the ``auth`` and ``storage`` schemas, their tables, types
and functions, owned by platform roles (``supabase_auth_admin``, ...), and the restoring role
``postgres`` is not a superuser. Replaying a backup there fails on the first ``CREATE SCHEMA
auth`` (see ../shared/research/supabase.md §5: "type aal_level already exists", "must be owner
of table", "multiple primary keys", duplicate migration rows). This module decides, entry by
entry and statement by statement, what to do instead:

* an object the backup would create that already exists (schema, table, view, sequence, type,
  function, extension, event trigger) is not created; the statements that belong to it
  (owner, grants, comment, defaults) are not run either: we did not create it, it is the
  platform's, and changing its owner or grants is neither allowed nor wanted;
* the data of an existing table is loaded into it, with the column list intersected with the
  target's columns (a column the target lacks is dropped from every row, with a warning); it
  is loaded after the new tables' data, in the foreign-key order of the *target* (existing
  tables have their FKs in place, new ones get theirs in post-data); an existing table that
  already holds rows (a migrations table) keeps them and gets none of ours;
* any statement the server refuses for a reason that means "exists already" or "not yours"
  (SQLSTATE classes below) is skipped inside its own savepoint, so the restore goes on;
* entries that depend on a skipped (failed) entry are skipped too.

Everything skipped is recorded with its reason; ``--strict`` turns each skip into an error.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from dumper.format.names import qualify, quote_ident, split_qualified
from dumper.format.toc import Kind, TocEntry
from restore.backup import Backup

#: Server errors that mean "it exists already" or "you may not": skip the statement, report it.
SKIPPABLE_SQLSTATES = {
    "42501": "insufficient privilege",
    "42710": "already exists",
    "42P07": "already exists",
    "42P06": "already exists",
    "42723": "already exists",
    "42P16": "conflicts with the existing definition",
    "0LP01": "invalid grant operation",
}
#: ``undefined_object``: skippable only for owner/ACL statements (a role the target lacks).
ROLE_MISSING = "42704"

CREATING_KINDS = {
    Kind.SCHEMA: "schema", Kind.EXTENSION: "extension", Kind.TYPE: "type", Kind.DOMAIN: "type",
    Kind.FUNCTION: "function", Kind.PROCEDURE: "function", Kind.AGGREGATE: "function",
    Kind.TABLE: "relation", Kind.VIEW: "relation", Kind.MATERIALIZED_VIEW: "relation", Kind.SEQUENCE: "relation",
    Kind.FOREIGN_TABLE: "relation", Kind.EVENT_TRIGGER: "event trigger", Kind.PUBLICATION: "publication",
}
#: Entries that only decorate their object: not run when the object pre-existed.
DECORATION_KINDS = frozenset({Kind.COMMENT, Kind.ACL, Kind.DEFAULT, Kind.SEQUENCE_OWNED_BY, Kind.ROW_SECURITY})


@dataclass(frozen=True, slots=True)
class Skip:
    """One thing not restored, and why."""

    entry: str
    reason: str
    statement: str | None = None
    kind: str = "statement"  # the TOC kind of the entry, for the grouped terminal report

    def describe(self) -> str:
        return f"{self.entry}: {self.reason}"

    def as_json(self) -> dict[str, Any]:
        return {"entry": self.entry, "kind": self.kind, "reason": self.reason,
                **({"statement": self.statement} if self.statement else {})}


@dataclass(slots=True)
class DataPlan:
    """How to load one TABLE DATA block into a pre-existing table."""

    table: str
    keep: list[int] | None  # indices of the backup's columns to keep (None: all)
    columns: list[str]  # the columns to load, in the backup's order
    defer: bool = True


@dataclass(slots=True)
class Inventory:
    """What the target holds before the restore, by the names toc.json uses."""

    schemas: dict[str, str] = field(default_factory=dict)  # name → owner
    relations: dict[tuple[str, str], str] = field(default_factory=dict)  # (schema, name) → owner
    types: set[tuple[str, str]] = field(default_factory=set)
    functions: set[tuple[str, str]] = field(default_factory=set)  # (schema, "name(identity args)")
    extensions: set[str] = field(default_factory=set)
    event_triggers: set[str] = field(default_factory=set)
    publications: set[str] = field(default_factory=set)
    #: (schema, name) → last_value of every sequence the target has (None: never used)
    sequence_values: dict[tuple[str, str], int | None] = field(default_factory=dict)

    @classmethod
    def read(cls, conn: psycopg.Connection) -> "Inventory":
        """One pass over the catalogs (search_path '' so function signatures match the dumper's)."""
        inv = cls()
        with conn.transaction():
            conn.execute("SELECT pg_catalog.set_config('search_path', '', true)")
            inv.schemas = dict(conn.execute(
                "SELECT nspname, pg_catalog.pg_get_userbyid(nspowner) FROM pg_catalog.pg_namespace").fetchall())
            inv.relations = {(r[0], r[1]): r[2] for r in conn.execute(
                "SELECT n.nspname, c.relname, pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c"
                " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p','v','m','S','f')")}
            inv.types = {(r[0], r[1]) for r in conn.execute(
                "SELECT n.nspname, t.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace")}
            inv.functions = {(r[0], r[1]) for r in conn.execute(
                "SELECT n.nspname, p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')'"
                "  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace")}
            inv.extensions = {r[0] for r in conn.execute("SELECT extname FROM pg_catalog.pg_extension")}
            inv.event_triggers = {r[0] for r in conn.execute("SELECT evtname FROM pg_catalog.pg_event_trigger")}
            inv.publications = {r[0] for r in conn.execute("SELECT pubname FROM pg_catalog.pg_publication")}
            inv.sequence_values = {(r[0], r[1]): r[2] for r in conn.execute(
                "SELECT n.nspname, c.relname,"
                "       CASE WHEN pg_catalog.has_sequence_privilege(c.oid, 'SELECT')"
                "            THEN pg_catalog.pg_sequence_last_value(c.oid) END"
                "  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind = 'S'")}
        return inv

    def has(self, e: TocEntry) -> str | None:
        """If the target already has the object entry ``e`` creates: a description of it, else None."""
        what = CREATING_KINDS.get(e.kind)
        s = e.schema or ""
        if what == "schema":
            return f"schema {e.name} exists (owner {self.schemas[e.name]})" if e.name in self.schemas else None
        if what == "extension":
            return f"extension {e.name} is installed (extensions are never altered)" if e.name in self.extensions else None
        if what == "type":
            return f"type {s}.{e.name} exists" if (s, e.name) in self.types else None
        if what == "function":
            return f"function {s}.{e.name} exists" if (s, e.name) in self.functions else None
        if what == "relation":
            owner = self.relations.get((s, e.name))
            return f"{e.kind.lower()} {s}.{e.name} exists (owner {owner})" if owner is not None else None
        if what == "event trigger":
            return f"event trigger {e.name} exists" if e.name in self.event_triggers else None
        if what == "publication":
            return f"publication {e.name} exists" if e.name in self.publications else None
        return None


class ExistingPolicy:
    """The decisions of the skip-existing mode for one restore (thread-safe recording)."""

    def __init__(self, conn: psycopg.Connection, backup: Backup, *, strict: bool = False) -> None:
        self.backup = backup
        self.strict = strict
        self.inventory = Inventory.read(conn)
        self.skips: list[Skip] = []
        self.notes: list[str] = []
        self._lock = threading.Lock()
        self._existing: dict[int, str] = {}  # entry id → why it counts as pre-existing
        self._failed: set[int] = set()
        self._decided: dict[int, str | None] = {}
        self.skipped_data_tables: set[str] = set()
        for e in backup.entries:
            why = self.inventory.has(e)
            if why is not None:
                self._existing[e.id] = why

    # -- recording -------------------------------------------------------------------------
    def record(self, entry: TocEntry | None, reason: str, statement: str | None = None, *, failed: bool = False) -> Skip:
        label = f"entry {entry.id} ({entry.describe()})" if entry is not None else "statement"
        s = Skip(label, reason, statement, entry.kind if entry is not None else "statement")
        with self._lock:
            if any(x.entry == s.entry and x.reason == s.reason for x in self.skips[-8:]):
                return s  # several statements of one entry skipped for one reason: once
            self.skips.append(s)
            if failed and entry is not None:
                self._failed.add(entry.id)
        return s

    def existed(self, entry_id: int) -> bool:
        return entry_id in self._existing

    # -- entry-level decisions -----------------------------------------------------------------
    def entry_skip_reason(self, e: TocEntry) -> str | None:
        """Why the whole entry is not run (None: run it, statement by statement)."""
        if e.id in self._decided:
            return self._decided[e.id]
        reason = self._entry_reason(e)
        self._decided[e.id] = reason
        return reason

    def _entry_reason(self, e: TocEntry) -> str | None:
        if e.id in self._existing:
            return self._existing[e.id] + "; not created"
        if e.kind == Kind.SEQUENCE_SET:
            return self._sequence_reason(e)
        failed = [d for d in e.deps if d in self._failed]
        if failed:
            return f"depends on entry {failed[0]}, which was skipped"
        if e.kind in DECORATION_KINDS:
            for d in e.deps:
                if d in self._existing:
                    dep = self.backup.entry(d)
                    return (f"belongs to {dep.describe() if dep else d}, which existed before the restore: "
                            "its owner, grants, comments and defaults are left as they are")
        return None

    def _sequence_reason(self, e: TocEntry) -> str | None:
        """A sequence that existed before the restore is never moved backwards.

        Its table may already hold rows (the platform's, or this backup's from an earlier
        restore) whose keys the target's sequence has handed out: setting it back to the
        backup's value would make the application's next insert collide with them."""
        key = (e.schema or "", e.name)
        if key not in self.inventory.sequence_values:
            return None
        current = self.inventory.sequence_values[key]
        wanted = e.get("value")
        if current is None or not isinstance(wanted, int):
            return None
        if current >= wanted:
            return (f"the existing sequence is at {current}, the backup's value is {wanted}: "
                    "a sequence is never moved backwards")
        return None

    def entry_was_skipped(self, e: TocEntry) -> None:
        """An entry skipped as a whole counts as failed for its dependants, unless it pre-existed."""
        if e.id not in self._existing:
            with self._lock:
                self._failed.add(e.id)

    # -- statement-level ---------------------------------------------------------------------------
    @staticmethod
    def skippable(exc: psycopg.Error, owner_or_acl: bool) -> str | None:
        """The reason to skip a statement the server refused, or None when it is a real error."""
        state = exc.diag.sqlstate or ""
        msg = exc.diag.message_primary or str(exc).strip().splitlines()[0]
        if state in SKIPPABLE_SQLSTATES:
            return f"{SKIPPABLE_SQLSTATES[state]}: {msg}"
        if state == ROLE_MISSING and owner_or_acl:
            return f"role missing in the target: {msg}"
        return None

    # -- data -----------------------------------------------------------------------------------
    def data_plan(self, conn: psycopg.Connection, e: TocEntry) -> DataPlan | str | None:
        """For TABLE DATA of a pre-existing table: how to load it, or a skip reason; None: not pre-existing."""
        if not e.table:
            return None
        schema, name = split_qualified(e.table)
        if (schema or "", name) not in self.inventory.relations:
            return None
        ident = sql.Identifier(schema, name) if schema else sql.Identifier(name)
        try:
            with conn.transaction():
                has_rows = conn.execute(sql.SQL("SELECT EXISTS (SELECT FROM ONLY {})").format(ident)).fetchone()
                cols = conn.execute(
                    "SELECT attname, attgenerated <> '' FROM pg_catalog.pg_attribute"
                    " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                    [ident.as_string(conn)]).fetchall()
        except psycopg.Error as exc:
            return f"cannot read the existing table: {exc.diag.message_primary or exc}"
        if has_rows and has_rows[0]:
            return "the existing table already holds rows (e.g. the platform's own migration rows): its data from the backup is not loaded"
        target_cols = {c: gen for c, gen in cols}
        src = list(e.columns or [])
        if not src:
            return DataPlan(e.load_target or e.table, None, [])
        keep = [i for i, c in enumerate(src) if c in target_cols and not target_cols[c]]
        dropped = [c for c in src if c not in target_cols or target_cols[c]]
        if dropped:
            self.record(e, "column(s) " + ", ".join(dropped) + " of the backup are missing (or generated) in the "
                        f"target table {e.table}: their values are not loaded")
        if not keep:
            return "none of the backup's columns exists in the target table"
        return DataPlan(e.load_target or e.table, None if len(keep) == len(src) else keep, [src[i] for i in keep])

    def summary(self) -> list[dict[str, Any]]:
        return [s.as_json() for s in self.skips]


def filter_copy_columns(chunks: Iterable[bytes], keep: list[int]) -> Iterable[bytes]:
    """COPY text rows with only the fields at ``keep``.

    In COPY text format a raw tab only ever separates fields and a raw newline only ends rows
    (both are backslash-escaped inside values), so splitting bytes is exact.
    """
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        rest = data[cut + 1:]
        out = []
        for line in data[:cut].split(b"\n"):
            fields = line.split(b"\t")
            out.append(b"\t".join(fields[i] for i in keep))
        yield b"\n".join(out) + b"\n"
    if rest:
        fields = rest.split(b"\t")
        yield b"\t".join(fields[i] for i in keep) + b"\n"


def copy_statement(table: str, columns: list[str]) -> bytes:
    """``COPY schema.table (cols) FROM stdin;`` with every name quoted as the server would."""
    schema, name = split_qualified(table)
    return f"COPY {qualify(schema, name)} ({', '.join(quote_ident(c) for c in columns)}) FROM stdin;".encode()
