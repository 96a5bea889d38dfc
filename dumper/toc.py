"""The dumper's planning entries: one per object, the unit that ordering works on.

:class:`Entry` carries what planning needs (catalog identities, SQL text, sort key, entry
dependencies); what reaches ``toc.json`` is its :meth:`Entry.toc_entry`, the contract's
:class:`~dumper.format.toc.TocEntry`, so the file has one writer and one reader class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

from dumper.catalog.base import Ref
from dumper.format.toc import Section, TocEntry

if TYPE_CHECKING:
    from dumper.catalog.relations import Relation
    from dumper.redact import TableRedaction

PRE, DATA, POST = Section.PRE, Section.DATA, Section.POST
SECTION_RANK = {PRE: 0, DATA: 1, POST: 2}

# Kind priorities inside a section, after pg_dump's: they decide the order wherever
# dependencies leave a choice, which makes two dumps of one database identical.
PRIORITY = {
    "SCHEMA": 1, "EXTENSION": 5, "TYPE": 6, "DOMAIN": 6, "SHELL TYPE": 6, "FUNCTION": 8, "PROCEDURE": 8,
    "AGGREGATE": 9, "SEQUENCE": 20, "TABLE": 20, "FOREIGN TABLE": 20, "VIEW": 20, "MATERIALIZED VIEW": 20,
    "TABLE ATTACH": 21, "SEQUENCE OWNED BY": 22, "DEFAULT": 23, "CHECK CONSTRAINT": 24,
    "TABLE DATA": 30, "SEQUENCE SET": 31,
    "CONSTRAINT": 40, "INDEX": 41, "INDEX ATTACH": 42, "STATISTICS": 43, "RULE": 44, "TRIGGER": 45,
    "FK CONSTRAINT": 46, "ROW SECURITY": 47, "POLICY": 47, "PUBLICATION": 48, "PUBLICATION TABLE": 49,
    "DEFAULT ACL": 60, "EVENT TRIGGER": 61, "MATERIALIZED VIEW DATA": 62,
    # the other families' kinds, placed as pg_dump's dbObjectTypePriorities places them.
    "ROLE": 0, "ROLE MEMBERSHIP": 0, "PROCEDURAL LANGUAGE": 2, "COLLATION": 3, "TRANSFORM": 4, "CAST": 7,
    "OPERATOR": 10, "OPERATOR FAMILY": 11, "OPERATOR CLASS": 11, "CONVERSION": 12, "TEXT SEARCH PARSER": 13,
    "TEXT SEARCH TEMPLATE": 14, "TEXT SEARCH DICTIONARY": 15, "TEXT SEARCH CONFIGURATION": 16,
    "FOREIGN DATA WRAPPER": 17, "SERVER": 18, "USER MAPPING": 19, "BLOB METADATA": 25, "BLOBS": 32,
    "PUBLICATION TABLES IN SCHEMA": 49, "SUBSCRIPTION": 50, "ACCESS METHOD": 9.5,
}
# Comments and grants sort with their object, right after it.
FOLLOWER_KINDS = {"COMMENT": 1, "ACL": 2, "SECURITY LABEL": 3}


@dataclass
class TableSource:
    """Where a ``TABLE DATA`` entry's rows come from, for the COPY at write time.

    Kept apart from ``Entry.extra`` (which is what toc.json says about the entry) so nothing
    internal can leak into the file: these are Python objects and SQL fragments for the reader.
    """

    rel: Relation
    condition: str | None = None  # an extension configuration table's filter, parenthesised
    ctid_range: str | None = None  # one range of a table split by a parallel dump (dumper.parallel)
    redaction: TableRedaction | None = None  # --redact/--redact-auth: the COPY reader rewrites values
    load_via: str | None = None  # the partition root the rows are loaded through (quoted identity)

    @property
    def load_target(self) -> str:
        """The table the script's ``COPY ... FROM stdin`` names: the root or the relation itself."""
        return self.load_via or self.rel.identity

    @property
    def where(self) -> str | None:
        """The COPY's WHERE clause: the filter and the range, both when both are set."""
        return " AND ".join(x for x in (self.condition, self.ctid_range) if x) or None


@dataclass
class Entry:
    kind: str
    schema: str | None
    name: str
    owner: str | None
    section: str
    sql: str
    refs: list[Ref] = field(default_factory=list)  # catalog objects this entry creates
    deps: set[Ref] = field(default_factory=set)  # catalog objects it needs
    entry_deps: list["Entry"] = field(default_factory=list)  # entries it needs (no catalog identity)
    sort_key: tuple[Any, ...] = ()
    id: int = -1
    dep_ids: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # TABLE DATA: table key, columns, csv, ...
    # A relation's entry: the TABLE DATA entries that hold its rows (its own, its partitions' and
    # inheritance children's). Whatever reads or checks the relation after the data waits for them.
    rows_in: list["Entry"] = field(default_factory=list)
    # Loop repair (not written to toc.json): a view that may be split, as pg_dump does, into a
    # placeholder view (``view_split[0]``) and a post-data ``CREATE OR REPLACE VIEW`` (``[1]``).
    view_split: tuple[str, str] | None = None
    # Not written to toc.json either: how the data of a TABLE DATA entry is read ...
    source: TableSource | None = None
    # ... and, for a BLOBS entry, the generator of its SQL chunks (``stream(conn)``), run at write time.
    stream: Callable[[Any], Iterator[bytes]] | None = None

    def __post_init__(self) -> None:
        if not self.sort_key:
            self.sort_key = (SECTION_RANK[self.section], PRIORITY.get(self.kind, 50), self.schema or "", self.name, 0)

    def follow(self, kind: str, sql: str, name: str | None = None) -> "Entry":
        """A COMMENT or ACL entry that belongs right after this one."""
        e = Entry(kind, self.schema, name or self.name, self.owner, self.section, sql)
        e.sort_key = self.sort_key[:-1] + (self.sort_key[-1] + FOLLOWER_KINDS[kind] / 10 + 0.0,) + (name or "",)
        e.entry_deps.append(self)
        return e

    def toc_entry(self) -> TocEntry:
        """This entry as toc.json holds it (``extra`` must hold no private ``_`` keys by now)."""
        return TocEntry(id=self.id, kind=self.kind, schema=self.schema, name=self.name, owner=self.owner,
                        section=self.section, deps=tuple(self.dep_ids), fields=dict(self.extra))
