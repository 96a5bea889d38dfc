"""SQL quoting done exactly as the server does it.

The renderers never query the database, yet they must quote names the way the server's
``quote_ident`` would, so that our output and ``pg_dump``'s agree and every name survives a
round trip. ``quote_ident`` leaves a name bare only when it is all lower-case letters, digits,
underscores (not starting with a digit) and not a keyword outside the "unreserved" class;
the keyword list comes from the server once per session (``pg_get_keywords()``) so that
newer servers' keywords are respected.
"""

from __future__ import annotations

import re

_SAFE = re.compile(r"[a-z_][a-z0-9_]*\Z")

# Used until a session installs the server's own list (covers PostgreSQL 12-17).
_DEFAULT_KEYWORDS = frozenset(
    """all analyse analyze and any array as asc asymmetric authorization between bigint binary bit
    boolean both case cast char character check coalesce collate collation column concurrently
    constraint create cross current_catalog current_date current_role current_schema current_time
    current_timestamp current_user dec decimal default deferrable desc distinct do else end except
    exists extract false fetch float for foreign freeze from full grant greatest group grouping
    having ilike in initially inner inout int integer intersect interval into is isnull join
    json json_array json_arrayagg json_exists json_object json_objectagg json_query json_scalar
    json_serialize json_table json_value lateral leading least left like limit localtime
    localtimestamp merge_action national natural nchar none normalize not notnull null nullif
    numeric offset on only or order out outer overlaps overlay placing position precision primary
    real references returning right row select session_user setof similar smallint some substring
    symmetric system_user table tablesample then time timestamp to trailing treat trim true union
    unique user using values varchar variadic verbose when where window with xmlattributes
    xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize
    xmltable""".split()
)

_keywords: frozenset[str] = _DEFAULT_KEYWORDS


def set_keywords(words: set[str] | frozenset[str]) -> None:
    """Install the server's non-unreserved keywords (``catcode <> 'U'``)."""
    global _keywords
    _keywords = frozenset(words)


def quote_ident(name: str) -> str:
    if _SAFE.match(name) and name not in _keywords:
        return name
    return '"' + name.replace('"', '""') + '"'


def qualify(schema: str | None, name: str) -> str:
    return quote_ident(name) if schema is None else f"{quote_ident(schema)}.{quote_ident(name)}"


def quote_literal(value: str) -> str:
    """A standard-conforming string literal (the script sets standard_conforming_strings on)."""
    return "'" + value.replace("'", "''") + "'"


def dollar_quote(body: str, hint: str = "") -> str:
    """Dollar-quote ``body`` with a tag that does not occur inside it."""
    tag = hint
    while f"${tag}$" in body or body.endswith("$" + tag):
        tag += "_"
    return f"${tag}${body}${tag}$"


def table_key(schema: str, name: str) -> str:
    """The key of a table in row_counts.json and toc.json: qualified, quoted as the server would."""
    return qualify(schema, name)
