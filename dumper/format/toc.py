"""``toc.json``: one entry per object of the script, in the order written (docs/FORMAT.md, "Entry").

:class:`TocEntry` is the one class that writes an entry (``to_json``) and reads it back
(``from_json``): the dumper's planning entries (:mod:`dumper.toc`) serialise through it, and
pyrestore holds the entries it reads as instances of it. The core fields every entry has are
typed attributes; the kind-specific fields (``table``, ``columns``, ``rows``, ``csv``, ``part``,
``ref_table``, ``value``, ...) stay in ``fields`` in the order the writer put them, so a
read-then-written entry is the same bytes, and typed properties read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from dumper.format.layout import FORMAT_VERSION
from dumper.format.names import canonical_key


class _StrEnum(str, Enum):
    """A ``str`` enum that prints, formats and serialises as its value (``"TABLE DATA"``), so
    members compare equal to the strings in toc.json and f-strings show pg_dump's spelling."""

    __str__ = str.__str__
    __format__ = str.__format__


class Section(_StrEnum):
    PRE = "pre-data"
    DATA = "data"
    POST = "post-data"


class Kind(_StrEnum):
    """Entry kinds, spelled as pg_dump spells them. The set grows with the object kinds pydump
    dumps; a reader keeps a kind it does not know as plain text (:meth:`parse`)."""

    ROLE = "ROLE"
    ROLE_MEMBERSHIP = "ROLE MEMBERSHIP"
    SCHEMA = "SCHEMA"
    EXTENSION = "EXTENSION"
    PROCEDURAL_LANGUAGE = "PROCEDURAL LANGUAGE"
    COLLATION = "COLLATION"
    TRANSFORM = "TRANSFORM"
    TYPE = "TYPE"
    DOMAIN = "DOMAIN"
    SHELL_TYPE = "SHELL TYPE"
    CAST = "CAST"
    FUNCTION = "FUNCTION"
    PROCEDURE = "PROCEDURE"
    AGGREGATE = "AGGREGATE"
    ACCESS_METHOD = "ACCESS METHOD"
    OPERATOR = "OPERATOR"
    OPERATOR_FAMILY = "OPERATOR FAMILY"
    OPERATOR_CLASS = "OPERATOR CLASS"
    CONVERSION = "CONVERSION"
    TEXT_SEARCH_PARSER = "TEXT SEARCH PARSER"
    TEXT_SEARCH_TEMPLATE = "TEXT SEARCH TEMPLATE"
    TEXT_SEARCH_DICTIONARY = "TEXT SEARCH DICTIONARY"
    TEXT_SEARCH_CONFIGURATION = "TEXT SEARCH CONFIGURATION"
    FOREIGN_DATA_WRAPPER = "FOREIGN DATA WRAPPER"
    SERVER = "SERVER"
    USER_MAPPING = "USER MAPPING"
    SEQUENCE = "SEQUENCE"
    TABLE = "TABLE"
    FOREIGN_TABLE = "FOREIGN TABLE"
    VIEW = "VIEW"
    MATERIALIZED_VIEW = "MATERIALIZED VIEW"
    TABLE_ATTACH = "TABLE ATTACH"
    SEQUENCE_OWNED_BY = "SEQUENCE OWNED BY"
    DEFAULT = "DEFAULT"
    CHECK_CONSTRAINT = "CHECK CONSTRAINT"
    BLOB_METADATA = "BLOB METADATA"
    TABLE_DATA = "TABLE DATA"
    SEQUENCE_SET = "SEQUENCE SET"
    BLOBS = "BLOBS"
    CONSTRAINT = "CONSTRAINT"
    INDEX = "INDEX"
    INDEX_ATTACH = "INDEX ATTACH"
    STATISTICS = "STATISTICS"
    RULE = "RULE"
    TRIGGER = "TRIGGER"
    FK_CONSTRAINT = "FK CONSTRAINT"
    ROW_SECURITY = "ROW SECURITY"
    POLICY = "POLICY"
    PUBLICATION = "PUBLICATION"
    PUBLICATION_TABLE = "PUBLICATION TABLE"
    PUBLICATION_TABLES_IN_SCHEMA = "PUBLICATION TABLES IN SCHEMA"
    SUBSCRIPTION = "SUBSCRIPTION"
    DEFAULT_ACL = "DEFAULT ACL"
    EVENT_TRIGGER = "EVENT TRIGGER"
    MATERIALIZED_VIEW_DATA = "MATERIALIZED VIEW DATA"
    COMMENT = "COMMENT"
    ACL = "ACL"
    SECURITY_LABEL = "SECURITY LABEL"

    @classmethod
    def parse(cls, text: str) -> "Kind | str":
        """The member for ``text``, or ``text`` itself for a kind this version does not know (a
        newer pydump's backup still lists and replays; only kind-specific handling is missed)."""
        try:
            return cls(text)
        except ValueError:
            return text


#: Kinds whose entries hold rows (COPY blocks in the script).
DATA_KINDS = frozenset({Kind.TABLE_DATA})
_CORE = ("id", "kind", "schema", "name", "owner", "section", "deps")


@dataclass(frozen=True, slots=True)
class TocEntry:
    """One entry of ``toc.json``; see docs/FORMAT.md for every field."""

    id: int
    kind: Kind | str
    schema: str | None
    name: str
    owner: str | None
    section: Section | str
    deps: tuple[int, ...] = ()
    #: The kind-specific fields, in the writer's order (table keys as written, not canonical).
    fields: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: ``fields["table"]`` as a canonical key (:func:`~dumper.format.names.canonical_key`).
    table: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", _key_or_none(self.fields.get("table")))

    # -- writing and reading ---------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The entry as written to toc.json: the core fields, then ``fields`` in their order."""
        d: dict[str, Any] = {"id": self.id, "kind": str(self.kind), "schema": self.schema, "name": self.name,
                             "owner": self.owner, "section": str(self.section), "deps": list(self.deps)}
        d.update(self.fields)
        return d

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "TocEntry":
        """An entry read from toc.json; ``KeyError``/``TypeError``/``ValueError`` if malformed."""
        if not isinstance(obj, Mapping):
            raise TypeError(f"an entry must be an object, not {type(obj).__name__}")
        table = obj.get("table")
        if table is not None and not isinstance(table, str):
            raise TypeError(f"'table' must be a table key, not {type(table).__name__}")
        return cls(
            id=int(obj["id"]), kind=Kind.parse(str(obj["kind"])), schema=obj.get("schema"),
            name=str(obj.get("name", "")), owner=obj.get("owner"),
            section=_section(str(obj.get("section", Section.PRE))),
            deps=tuple(int(d) for d in obj.get("deps") or ()),
            fields={k: v for k, v in obj.items() if k not in _CORE},
        )

    def get(self, key: str, default: Any = None) -> Any:
        """A kind-specific field as written (``value``, ``is_called``, ``version``, ...)."""
        return self.fields.get(key, default)

    # -- typed views of the kind-specific fields -------------------------------------------
    @property
    def columns(self) -> tuple[str, ...] | None:
        """``TABLE DATA``: the COPY column list (unquoted names)."""
        cols = self.fields.get("columns")
        return tuple(cols) if cols is not None else None

    @property
    def rows(self) -> int | None:
        """``TABLE DATA``: rows in this entry's COPY block."""
        return self.fields.get("rows")

    @property
    def csv(self) -> str | None:
        """``TABLE DATA``: the CSV file relative to the backup directory, or None."""
        return self.fields.get("csv")

    @property
    def part(self) -> tuple[int, int] | None:
        """``TABLE DATA`` of a table split into ctid ranges: ``(i, n)``, 1-based."""
        p = self.fields.get("part")
        return (int(p[0]), int(p[1])) if p else None

    @property
    def load_via(self) -> str | None:
        """``TABLE DATA`` of a partition under a hash-on-enum partitioned table: the canonical key
        of the partition root the rows are loaded through (the COPY names it, not the table)."""
        return _key_or_none(self.fields.get("load_via"))

    @property
    def load_target(self) -> str | None:
        """The table a ``TABLE DATA`` entry's rows are loaded into: ``load_via`` or ``table``."""
        return self.load_via or self.table

    @property
    def ref_table(self) -> str | None:
        """``FK CONSTRAINT``: the referenced table's canonical key."""
        return _key_or_none(self.fields.get("ref_table"))

    @property
    def extension_config(self) -> bool:
        """``TABLE DATA`` of an extension configuration table (it carries the extension's ``filter``):
        ``CREATE EXTENSION`` adds rows of its own there, so only the loaded rows can be compared."""
        return "filter" in self.fields

    def describe(self) -> str:
        """Human label as pg_restore prints it: kind, schema, name."""
        who = f"{self.schema}.{self.name}" if self.schema else self.name
        return f"{self.kind} {who}"


def _key_or_none(value: Any) -> str | None:
    return canonical_key(value) if isinstance(value, str) else None


def _section(text: str) -> Section | str:
    try:
        return Section(text)
    except ValueError:
        raise ValueError(f"unknown section {text!r}") from None


def toc_bytes(entries: Iterable[TocEntry]) -> bytes:
    """The whole ``toc.json`` file."""
    toc = {"format": FORMAT_VERSION, "entries": [e.to_json() for e in entries]}
    return orjson.dumps(toc, option=orjson.OPT_INDENT_2)


def parse_toc(data: Any) -> list[TocEntry]:
    """Entries of a parsed ``toc.json`` document; ``ValueError`` naming what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise ValueError("expected an object with an 'entries' list")
    try:
        return [TocEntry.from_json(e) for e in data["entries"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed entry ({exc})") from None
