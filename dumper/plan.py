"""What one backup will contain: options and category map turned into decisions.

The Plan is the only place that knows the rules of selection; the catalog readers and the
orchestration ask it ("is this schema in?", "is this table's data in?") and never look at
options themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from dumper.categories import CategoryMap
from dumper.errors import UsageError

if TYPE_CHECKING:
    from dumper.catalog.relations import Relation


def pattern_regex(pattern: str, *, qualified: bool) -> tuple[re.Pattern[str] | None, re.Pattern[str]]:
    """A pg_dump-style pattern → (schema regex or None, name regex).

    As in psql/pg_dump: ``*`` and ``?`` are wildcards, unquoted letters fold to lower case,
    double quotes keep case and make ``*``, ``?`` and ``.`` literal, and an unquoted ``.``
    separates schema from name (only when ``qualified``).
    """
    parts: list[str] = [""]
    i, inq = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == '"':
            if inq and pattern[i + 1 : i + 2] == '"':
                parts[-1] += re.escape('"')
                i += 1
            else:
                inq = not inq
        elif inq:
            parts[-1] += re.escape(ch)
        elif ch == "*":
            parts[-1] += ".*"
        elif ch == "?":
            parts[-1] += "."
        elif ch == "." and qualified:
            parts.append("")
        else:
            parts[-1] += re.escape(ch.lower())
        i += 1
    if inq:
        raise UsageError(f"unterminated quoted identifier in pattern {pattern!r}")
    if len(parts) > 2:
        # database.schema.table: pg_dump allows the current database's name first; ignore it.
        parts = parts[-2:]
    name = re.compile(parts[-1] + r"\Z", re.DOTALL)
    schema = re.compile(parts[0] + r"\Z", re.DOTALL) if len(parts) == 2 else None
    return schema, name


@dataclass
class Patterns:
    raw: list[str] = field(default_factory=list)
    qualified: bool = True
    compiled: list[tuple[re.Pattern[str] | None, re.Pattern[str]]] = field(default_factory=list)
    hits: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.compiled = [pattern_regex(p, qualified=self.qualified) for p in self.raw]
        self.hits = [0] * len(self.raw)

    def match(self, schema: str | None, name: str) -> bool:
        found = False
        for i, (sx, nx) in enumerate(self.compiled):
            if nx.match(name) and (sx is None or schema is None or sx.match(schema)):
                self.hits[i] += 1
                found = True
        return found

    def unmatched(self) -> list[str]:
        return [p for p, h in zip(self.raw, self.hits) if h == 0]

    def __bool__(self) -> bool:
        return bool(self.raw)


@dataclass
class Plan:
    dsn: str
    out_dir: Path
    categories: CategoryMap
    excluded_categories: set[str] = field(default_factory=set)
    prod: bool = False
    csv: str = "critical"  # critical | all | none
    schema_only: bool = False
    data_only: bool = False
    schemas: Patterns = field(default_factory=lambda: Patterns(qualified=False))
    exclude_schemas: Patterns = field(default_factory=lambda: Patterns(qualified=False))
    tables: Patterns = field(default_factory=Patterns)
    exclude_tables: Patterns = field(default_factory=Patterns)
    exclude_table_data: Patterns = field(default_factory=Patterns)
    no_owner: bool = False
    no_acl: bool = False
    no_comments: bool = False
    no_publications: bool = False
    no_subscriptions: bool = False
    no_security_labels: bool = False
    no_large_objects: bool = False  # -B: large objects are dumped only with the whole database anyway
    compress: str = "gzip"
    level: int | None = None
    jobs: int = 1
    report: bool = True
    lock_wait_timeout_ms: int | None = None
    keep: int | None = None  # retention: complete backups to keep in out_dir after success
    redact_auth: bool = False
    redact_patterns: list[str] = field(default_factory=list)  # --redact SCHEMA.TABLE.COLUMN (fnmatch)
    skip_unreadable: bool = False
    unreadable: dict[int, str] = field(default_factory=dict)  # oid → qualified name, found at lock time
    options: dict[str, object] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return "production" if self.prod else "full"

    def schema_included(self, name: str) -> bool:
        if self.schemas and not self.schemas.match(None, name):
            return False
        return not self.exclude_schemas.match(None, name)

    def relation_included(self, schema: str, name: str) -> bool:
        if self.tables and not self.tables.match(schema, name):
            return False
        return not self.exclude_tables.match(schema, name)

    def relation_wanted(self, rel: "Relation") -> bool:
        """A relation's definition is dumped; a sequence owned by a column (serial or identity)
        also follows its table, as pg_dump's getOwnedSeqs does, so ``-t tbl`` keeps the
        sequence its default calls."""
        if self.relation_included(rel.schema or "", rel.name):
            return True
        owner = rel.owning_table
        return owner is not None and not self.exclude_tables.match(rel.schema, rel.name) and self.relation_included(*owner)

    @property
    def dumps_everything(self) -> bool:
        """pg_dump's ``include_everything``: no -n and no -t. Extensions (and other database-wide
        objects) are dumped only then."""
        return not self.schemas and not self.tables

    @property
    def dumps_non_tables(self) -> bool:
        """With -t, pg_dump dumps the matching relations (and what hangs off them) only: no
        schemas, types or functions; the target is expected to have them."""
        return not self.tables

    def category_of(self, schema: str, name: str) -> str:
        return self.categories.classify(schema, name)

    def data_included(self, schema: str, name: str, oid: int | None = None) -> bool:
        if self.schema_only or (oid is not None and oid in self.unreadable):
            return False
        if self.category_of(schema, name) in self.excluded_categories:
            return False
        return not self.exclude_table_data.match(schema, name)

    def csv_wanted(self, schema: str, name: str) -> bool:
        if self.csv == "none":
            return False
        if self.csv == "all":
            return True
        return self.categories.categories[self.category_of(schema, name)].csv
