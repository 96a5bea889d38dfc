"""COPY text → CSV (dumper/sinks.py ``text_to_csv``), checked against Python's csv module.

The oracle is independent of the converter: rows are encoded the way the server's COPY TO
writes text format (``CopyAttributeOutText``), converted, and compared byte for byte with
what ``csv.writer(QUOTE_ALL)`` writes for the same rows (a NULL is an empty unquoted field),
then read back with ``csv.reader``.
"""
from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from dumper.sinks import csv_header, text_to_csv

_COPY_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f", "\v": "\\v"}
_NULL = "\x00null\x00"  # cannot occur in a value: PostgreSQL text holds no NUL

values = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=20)
tricky = st.text(st.sampled_from(['"', "\\", "\t", "\n", "\r", ",", "N", "a", "\b", "\f", "\v", " ", "é"]), max_size=8)
fields = st.one_of(st.none(), values, tricky, st.just("\\N"), st.just(""))
rows = st.lists(st.lists(fields, min_size=1, max_size=5), min_size=1, max_size=8)


def copy_text(rows: list[list[str | None]]) -> bytes:
    """Rows as COPY ... TO STDOUT (text format) writes them."""
    def field(v: str | None) -> str:
        return "\\N" if v is None else "".join(_COPY_ESCAPES.get(c, c) for c in v)

    return "".join("\t".join(field(v) for v in row) + "\n" for row in rows).encode()


def expected_csv(rows: list[list[str | None]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for row in rows:
        w.writerow([_NULL if v is None else v for v in row])
    return buf.getvalue().replace(f'"{_NULL}"', "").encode()


@settings(max_examples=300)
@given(rows)
def test_text_to_csv_equals_python_csv_writer(data: list[list[str | None]]) -> None:
    assert text_to_csv(copy_text(data)) == expected_csv(data)


@given(rows)
def test_csv_reads_back_to_the_values(data: list[list[str | None]]) -> None:
    out = text_to_csv(copy_text(data)).decode()
    # (csv.reader reads an empty line as no fields; COPY ... CSV reads it as one NULL)
    back = [r or [""] for r in csv.reader(io.StringIO(out, newline=""))]
    assert back == [["" if v is None else v for v in row] for row in data]


@given(rows, st.integers(min_value=1, max_value=7))
def test_chunks_of_whole_lines_convert_independently(data: list[list[str | None]], k: int) -> None:
    """The sink converts chunk by chunk (whole lines each): the result must not depend on where
    the chunks were cut."""
    whole = text_to_csv(copy_text(data))
    assert b"".join(text_to_csv(copy_text(data[i:i + k])) for i in range(0, len(data), k)) == whole


def test_empty_chunk_and_header() -> None:
    assert text_to_csv(b"") == b""
    assert csv_header(["id", 'we"ird', "a,b"]) == b'"id","we""ird","a,b"\n'
