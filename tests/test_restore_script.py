"""Unit tests of the script reader (no server needed).

Every case runs with tiny read sizes as well as a large one, so each lexer state is also
tested with the buffer ending in the middle of it (a quote, a ``$tag$``, a ``--``, the
``\\.`` terminator, ...).
"""
from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from dumper.errors import ScriptError
from restore.script import CopyBlock, MetaCommand, Statement, iter_pg_dump_script, iter_script, iter_source
from restore.streams import GzipSource, PlainSource, ZstdSource

READ_SIZES = [1, 2, 3, 5, 7, 64, 1 << 20]


def items_of(data: bytes, read_size: int, meta: str = "error") -> list[tuple[str, bytes, int | None, bytes]]:
    """Materialise the reader's items as (type, statement, entry, copy data) tuples."""
    out: list[tuple[str, bytes, int | None, bytes]] = []
    for it in iter_source(PlainSource(io.BytesIO(data), "mem"), meta=meta, read_size=read_size):  # type: ignore[arg-type]
        if isinstance(it, CopyBlock):
            out.append(("copy", it.raw, it.entry_id, b"".join(it.chunks)))
        elif isinstance(it, MetaCommand):
            out.append(("meta", it.raw, it.entry_id, b""))
        else:
            out.append(("stmt", it.raw, it.entry_id, b""))
    return out


def stmts(data: bytes, read_size: int) -> list[bytes]:
    return [raw for kind, raw, _, _ in items_of(data, read_size)]


TRICKY = [
    b"SELECT 'a;b';",
    b"SELECT 'it''s; fine';",
    b"SELECT E'back\\'slash; \\\\';",
    b"SELECT e'x\\\\';",
    b"SELECT 'E''s not escaped\\';",
    b'CREATE TABLE "we;ird""name" (a int);',
    b"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;",
    b"CREATE FUNCTION g() RETURNS text LANGUAGE plpgsql AS $_$ BEGIN RETURN 'x;$$;'; END $_$;",
    b"CREATE FUNCTION h() RETURNS text LANGUAGE sql AS $fn$ SELECT $$;$$ $fn$;",
    b"SELECT 1 -- comment; with semicolon\n + 2;",
    b"SELECT /* a; /* nested; */ still; */ 3;",
    b"SELECT a$b$c FROM t WHERE x = $1;",
    b"SELECT '\xc3\xa9t\xc3\xa9;' AS \"caf\xc3\xa9\";",
    b"SELECT 1/2, 3-4, 'x'::text;",
    b"COMMENT ON TABLE t IS 'COPY t FROM stdin;';",
    # SQL-standard bodies: the ; inside BEGIN ATOMIC ... END (and CASE ... END within) do not end them
    b"CREATE FUNCTION f(a int DEFAULT 1) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n SELECT CASE WHEN a > 0 THEN 1 ELSE 2 END;\n"
    b" SELECT 3;\nEND;",
    b"create or replace procedure \"P\"() language sql begin atomic insert into t values ('end;'), (e'\\'end;'); end;",
    b"CREATE FUNCTION begin_end(x text DEFAULT 'begin') RETURNS text LANGUAGE sql AS $$ SELECT 'end' $$;",
]


@pytest.mark.parametrize("read_size", READ_SIZES)
def test_tricky_statements_split_exactly(read_size: int) -> None:
    data = b"\n".join(TRICKY) + b"\n"
    assert stmts(data, read_size) == TRICKY


@pytest.mark.parametrize("read_size", READ_SIZES)
def test_copy_blocks_and_entries(read_size: int) -> None:
    data = (
        b"SET client_encoding = 'UTF8';\n"
        b"-- pydump-entry: 0\n-- Name: t; Type: TABLE\n"
        b"CREATE TABLE public.t (a text);\n"
        b"-- pydump-entry: 5\n"
        b"COPY public.t (a) FROM stdin;\n"
        b"x\\ty\n\\\\.\nback\\\\slash\n\\N\n.\\.\n"
        b"\\.\n"
        b"-- pydump-entry: 6\n"
        b"COPY public.\"from stdin\" (a) FROM stdin;\n\\.\n"
        b"/* c */ SELECT 1;\n"
    )
    got = items_of(data, read_size)
    assert got == [
        ("stmt", b"SET client_encoding = 'UTF8';", None, b""),
        ("stmt", b"CREATE TABLE public.t (a text);", 0, b""),
        ("copy", b"COPY public.t (a) FROM stdin;", 5, b"x\\ty\n\\\\.\nback\\\\slash\n\\N\n.\\.\n"),
        ("copy", b"COPY public.\"from stdin\" (a) FROM stdin;", 6, b""),
        ("stmt", b"SELECT 1;", 6, b""),
    ]


def test_entry_marker_inside_body_is_ignored() -> None:
    data = b"-- pydump-entry: 1\nCREATE FUNCTION f() RETURNS int AS $$\n-- pydump-entry: 9\nSELECT 1$$ LANGUAGE sql;\nSELECT 2;\n"
    assert [(raw[:6], e) for _, raw, e, _ in items_of(data, 3)] == [(b"CREATE", 1), (b"SELECT", 1)]


def test_copy_chunks_are_bounded_and_count_rows() -> None:
    rows = b"".join(b"%d\tsome text value\n" % i for i in range(50_000))
    data = b"COPY t (a, b) FROM stdin;\n" + rows + b"\\.\n"
    reader = iter_source(PlainSource(io.BytesIO(data), "m"), read_size=4096)
    blk = next(reader)
    assert isinstance(blk, CopyBlock)
    sizes, n, total = [], 0, b""
    for ch in blk.chunks:
        sizes.append(len(ch))
        n += ch.count(b"\n")
        total += ch
    assert max(sizes) <= 4096 + 3
    assert n == 50_000 and total == rows
    assert list(reader) == []


def test_copy_without_trailing_newline_at_eof() -> None:
    assert items_of(b"COPY t FROM stdin;\na\n\\.", 2) == [("copy", b"COPY t FROM stdin;", None, b"a\n")]


@pytest.mark.parametrize("data", [
    b"SELECT 1",
    b"SELECT 'abc;",
    b"SELECT $$abc;",
    b"SELECT /* abc;",
    b"COPY t FROM stdin;\na\nb\n",
    b"COPY t FROM stdin;",
    b'SELECT "abc;',
])
def test_truncated_scripts_raise(data: bytes) -> None:
    with pytest.raises(ScriptError):
        items_of(data, 3)


def test_meta_commands() -> None:
    data = b"\\restrict abc\nSELECT 1;\n\\unrestrict abc\n"
    with pytest.raises(ScriptError):
        items_of(data, 5)
    assert items_of(data, 5, meta="skip") == [("stmt", b"SELECT 1;", None, b"")]
    assert [k for k, *_ in items_of(data, 5, meta="yield")] == ["meta", "stmt", "meta"]


def _gz_members(parts: list[bytes]) -> bytes:
    return b"".join(gzip.compress(p) for p in parts)


def _zstd_frames(parts: list[bytes]) -> bytes:
    # Frames carry a content checksum, as the dumper writes them: without one a flipped byte
    # in a literal section would decompress to wrong bytes silently (sha256 still catches it).
    c = zstandard.ZstdCompressor(write_checksum=True)
    return b"".join(c.compress(p) for p in parts)


SCRIPT = b"SELECT 1;\n-- pydump-entry: 2\nCOPY t FROM stdin;\n" + b"row\n" * 1000 + b"\\.\nSELECT 'end';\n"


@pytest.mark.parametrize("suffix,pack", [(".sql.gz", _gz_members), (".sql.zst", _zstd_frames),
                                         (".sql", lambda parts: b"".join(parts))])
def test_files_with_many_members(tmp_path: Path, suffix: str, pack) -> None:  # type: ignore[no-untyped-def]
    parts = [SCRIPT[i:i + 37] for i in range(0, len(SCRIPT), 37)]
    f = tmp_path / ("backup" + suffix)
    f.write_bytes(pack(parts))
    got = []
    for it in iter_script(f, read_size=100):
        got.append((type(it).__name__, it.raw, b"".join(it.chunks) if isinstance(it, CopyBlock) else b""))
    assert got == [("Statement", b"SELECT 1;", b""), ("CopyBlock", b"COPY t FROM stdin;", b"row\n" * 1000),
                   ("Statement", b"SELECT 'end';", b"")]


@pytest.mark.parametrize("suffix,pack", [(".sql.gz", _gz_members), (".sql.zst", _zstd_frames)])
def test_truncated_and_corrupt_streams(tmp_path: Path, suffix: str, pack) -> None:  # type: ignore[no-untyped-def]
    blob = pack([SCRIPT[:500], SCRIPT[500:]])
    f = tmp_path / ("backup" + suffix)
    f.write_bytes(blob[:-5])
    with pytest.raises(ScriptError):
        list(iter_script(f))
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 0xFF
    f.write_bytes(bytes(bad))
    with pytest.raises(ScriptError):
        list(iter_script(f))
    f.write_bytes(b"")
    with pytest.raises(ScriptError):
        list(iter_script(f))


def test_gzip_output_is_bounded_for_highly_compressible_input() -> None:
    raw = b"COPY t FROM stdin;\n" + b"0" * 50_000_000 + b"\n\\.\n"
    src = GzipSource(io.BytesIO(gzip.compress(raw, 9)), "z")  # type: ignore[arg-type]
    biggest = 0
    while True:
        b = src.read(1 << 16)
        if not b:
            break
        biggest = max(biggest, len(b))
    assert biggest <= 1 << 16


def test_zstd_source_reads_frames() -> None:
    src = ZstdSource(io.BytesIO(_zstd_frames([b"a" * 10, b"b" * 10])), "z")  # type: ignore[arg-type]
    out = b""
    while b := src.read(3):
        out += b
    assert out == b"a" * 10 + b"b" * 10 and src.frames == 2


# -- property: any sequence of tricky pieces splits back into the same statements ------------
_piece = st.sampled_from([
    b"x", b" ", b"\n", b"'a;b'", b"'it''s'", b"E'\\'; \\\\'", b'"q;""x"', b"$$ ; ' \" $$",
    b"$t$ $$ ; $t$", b"-- c; '\n", b"/* ; /* ; */ ' */", b"a$b", b"$1", b"-", b"/", b"e", b"E",
])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_piece, min_size=1, max_size=8), min_size=1, max_size=6), st.sampled_from([1, 2, 3, 11, 4096]))
def test_property_split(stmt_pieces: list[list[bytes]], read_size: int) -> None:
    statements = [b"SELECT " + b" ".join(p) + b" ;" for p in stmt_pieces]
    data = b"\n".join(statements) + b"\n"
    assert stmts(data, read_size) == statements


def test_pg_dump_reader_is_available(tmp_path: Path) -> None:
    f = tmp_path / "dump.sql"
    f.write_bytes(b"\\restrict k\nSET x = 1;\n\\unrestrict k\n")
    assert [type(i) for i in iter_pg_dump_script(f)] == [Statement]
