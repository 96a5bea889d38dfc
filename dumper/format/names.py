"""Names as the backup spells them: quoted identifiers, table keys, CSV file names.

Quoting is done exactly as the server's ``quote_ident`` does it, on both sides: the dumper's
renderers never query the database yet must quote as the server would (so that output and
``pg_dump``'s agree and every name survives a round trip), and the restorer must build the
same table keys to match ``row_counts.json``. ``quote_ident`` leaves a name bare only when it
is all lower-case letters, digits, underscores (not starting with a digit) and not a keyword
outside the "unreserved" class. The keyword list comes from the server once per dump session
(``pg_get_keywords()``, :func:`set_keywords`) so newer servers' keywords are respected; a
reader compares keys as parsed names (:func:`canonical_key`), so a key quoted with another
server's list still matches.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from dumper.format.layout import DATA_DIR

_SAFE = re.compile(r"[a-z_][a-z0-9_]*\Z")

# Used until a session installs the server's own list (covers PostgreSQL 12-18).
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
    """Install the server's non-unreserved keywords (``catcode <> 'U'``) for this process."""
    global _keywords
    _keywords = frozenset(words)
    _quoted.clear()
    _canonical.clear()


# -- SQL quoting ---------------------------------------------------------------------------
# name -> quoted name under the current keyword list: a dump quotes the same few names (schemas,
# tables, columns) hundreds of thousands of times at 10,000 tables.
_quoted: dict[str, str] = {}


def quote_ident(name: str) -> str:
    """``name`` as the server's ``quote_ident`` would write it."""
    q = _quoted.get(name)
    if q is None:
        q = name if _SAFE.match(name) and name not in _keywords else '"' + name.replace('"', '""') + '"'
        if len(_quoted) < 1_000_000:
            _quoted[name] = q
    return q


def qualify(schema: str | None, name: str) -> str:
    """``schema.name`` with both parts quoted (just ``name`` when there is no schema)."""
    return quote_ident(name) if schema is None else f"{quote_ident(schema)}.{quote_ident(name)}"


def quote_literal(value: str) -> str:
    """A standard-conforming string literal (every script sets standard_conforming_strings on)."""
    return "'" + value.replace("'", "''") + "'"


def dollar_quote(body: str, hint: str = "") -> str:
    """Dollar-quote ``body`` with a tag that does not occur inside it."""
    tag = hint
    while f"${tag}$" in body or body.endswith("$" + tag):
        tag += "_"
    return f"${tag}${body}${tag}$"


# -- table keys ----------------------------------------------------------------------------
def table_key(schema: str, name: str) -> str:
    """The key of a table in row_counts.json and toc.json: qualified, quoted as the server would."""
    return qualify(schema, name)


def split_qualified(key: str) -> tuple[str | None, str]:
    """Split ``schema.table`` where each part may be double-quoted (``"My ""T"" x"``).

    The inverse of :func:`table_key`; an unquoted part is taken as written (keys never need
    case folding, and user input ``-t Users`` should match a table created as ``"Users"``,
    like pg_restore's exact matching). ``ValueError`` for a key that is not one.
    """
    parts: list[str] = []
    i, n = 0, len(key)
    while True:
        if i < n and key[i] == '"':
            part, i = _quoted_part(key, i)
        else:
            k = key.find(".", i)
            k = n if k < 0 else k
            part, i = key[i:k], k
        parts.append(part)
        if i >= n:
            break
        if key[i] != ".":
            raise ValueError(f"unexpected character after quoted name in {key!r}")
        i += 1
    if len(parts) == 1:
        return None, parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f"too many dots in {key!r}")


def _quoted_part(key: str, i: int) -> tuple[str, int]:
    """The double-quoted name starting at ``key[i]`` (``""`` is one quote) and the index after it."""
    j = i + 1
    buf: list[str] = []
    while True:
        k = key.find('"', j)
        if k < 0:
            raise ValueError(f"unterminated quote in {key!r}")
        buf.append(key[j:k])
        if k + 1 < len(key) and key[k + 1] == '"':
            buf.append('"')
            j = k + 2
            continue
        return "".join(buf), k + 1


def canonical_key(key: str) -> str:
    """A table key read from a backup, re-rendered by :func:`table_key`.

    Keys in ``row_counts.json``/``toc.json`` were quoted with the keyword list of the *source*
    server; a newer server's keywords, or a backup written by another version of pydump, may
    quote a name that this process would leave bare. Comparing keys as parsed names, never as
    strings, makes every quoting rule agree (``public."order"`` == ``public.order``)."""
    c = _canonical.get(key)
    if c is None:
        schema, name = split_qualified(key)
        c = name if schema is None else table_key(schema, name)
        if len(_canonical) < 1_000_000:
            _canonical[key] = c
    return c


_canonical: dict[str, str] = {}  # key -> canonical key under the current keyword list


# -- CSV file names ------------------------------------------------------------------------
def _pct_encode(s: str) -> str:
    return "".join(ch if (ch.isascii() and (ch.isalnum() or ch in "_-")) else "".join(f"%{b:02X}" for b in ch.encode())
                   for ch in s)


def _pct_decode(s: str) -> str:
    """Undo :func:`_pct_encode`; ``ValueError`` for a bad escape or bytes that are not UTF-8."""
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == "%":
            out += bytes.fromhex(s[i + 1:i + 3])
            i += 3
        else:
            out += s[i].encode()
            i += 1
    return out.decode("utf-8")


def csv_name(schema: str, table: str) -> str:
    """``data/<schema>.<table>.csv`` with anything but ``[A-Za-z0-9_-]`` percent-encoded (per
    UTF-8 byte), so the one bare ``.`` separates schema and table and no name leaves ``data/``."""
    return f"{DATA_DIR}/{_pct_encode(schema)}.{_pct_encode(table)}.csv"


def csv_table_key(filename: str) -> str | None:
    """``data/<schema>.<table>.csv`` (or just its file name) → table key; None if not such a name."""
    name = PurePosixPath(filename).name
    if not name.endswith(".csv"):
        return None
    stem = name[:-4]
    if stem.count(".") != 1:
        return None
    schema, table = stem.split(".")
    try:
        return table_key(_pct_decode(schema), _pct_decode(table))
    except ValueError:
        return None
