"""The backup format's classes (dumper/format): toc.json entries, kinds, layout, manifest, and
the restore side's one SQL lexer helpers that read what the format writes. No server needed."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from dumper.errors import ExitCode, RestoreError, ToolError, UsageError
from dumper.format import layout
from dumper.format.manifest import file_sha256, parse_row_counts, row_counts_bytes
from dumper.format.toc import Kind, Section, TocEntry, parse_toc, toc_bytes
from restore.script import copy_table, tokenize, without_quoted

_DATA_ENTRY = {"id": 3, "kind": "TABLE DATA", "schema": "public", "name": "order", "owner": "postgres",
               "section": "data", "deps": [1, 2], "table": 'public."order"', "columns": ["id", "Name"],
               "rows": 7, "category": "core", "csv": "data/public.order.csv", "part": [1, 2]}


def test_toc_entry_round_trips_to_the_same_bytes() -> None:
    doc = {"format": layout.FORMAT_VERSION, "entries": [_DATA_ENTRY]}
    entries = parse_toc(doc)
    assert json.loads(toc_bytes(entries)) == doc
    assert list(json.loads(toc_bytes(entries))["entries"][0]) == list(_DATA_ENTRY)  # field order kept


def test_toc_entry_typed_views() -> None:
    e = TocEntry.from_json(_DATA_ENTRY)
    assert e.kind is Kind.TABLE_DATA and e.section is Section.DATA
    assert (e.table, e.columns, e.rows, e.csv, e.part) == ('public."order"', ("id", "Name"), 7, "data/public.order.csv", (1, 2))
    assert e.describe() == "TABLE DATA public.order"


def test_toc_entry_compares_table_keys_as_names() -> None:
    """A key quoted by another keyword list (a bare ``order``) reads as the same table."""
    e = TocEntry.from_json({**_DATA_ENTRY, "table": "public.order", "ref_table": 'public."Ref"'})
    assert e.table == 'public."order"' and e.ref_table == 'public."Ref"'


def test_unknown_kind_is_kept_as_text_and_bad_shapes_are_refused() -> None:
    assert TocEntry.from_json({**_DATA_ENTRY, "kind": "NEW KIND"}).kind == "NEW KIND"
    for bad in ({**_DATA_ENTRY, "table": {"key": "public.t"}}, {**_DATA_ENTRY, "section": "middle"}, {"kind": "TABLE"}):
        with pytest.raises(ValueError):
            parse_toc({"entries": [bad]})


def test_kind_is_a_str_that_prints_as_pg_dump_spells_it() -> None:
    assert Kind.FK_CONSTRAINT == "FK CONSTRAINT" and f"{Kind.FK_CONSTRAINT}" == "FK CONSTRAINT"
    assert json.dumps([Kind.ACL]) == '["ACL"]' and {"ACL": 1}[Kind.ACL] == 1


def test_row_counts_sorted_and_read_back_canonical() -> None:
    data = row_counts_bytes({"public.b": 2, 'public."order"': 1})
    assert list(json.loads(data)) == ['public."order"', "public.b"]
    assert parse_row_counts({"public.order": 1}) == {'public."order"': 1}
    with pytest.raises(ValueError):
        parse_row_counts({"public.t": "1"})


def test_layout_names(tmp_path: Path) -> None:
    now = dt.datetime(2026, 2, 5, 15, 56, 58)
    assert layout.new_backup_name(tmp_path, now) == "20260205_155658"
    (tmp_path / layout.partial_name("20260205_155658")).mkdir()
    assert layout.new_backup_name(tmp_path, now) == "20260205_155658_2"
    for name in ("20260205_155658_10", "20260205_155658_9", ".20260205_155659.partial", "notes"):
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / layout.METADATA_FILE).write_text("{}")
    assert [p.name for p in layout.list_backups(tmp_path, named_only=True)] == ["20260205_155658_9", "20260205_155658_10"]
    assert layout.script_name("zstd") in layout.SCRIPT_NAMES


def test_file_sha256(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    assert file_sha256(p) == (3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_one_exit_code_table() -> None:
    assert isinstance(UsageError("x"), ToolError) and UsageError.exit_code == ExitCode.USAGE == 2
    assert RestoreError("x", ExitCode.VERIFY_MISMATCH).exit_code == 8


def test_copy_table_reads_quoted_names() -> None:
    assert copy_table(b'COPY "My ""S""".order (a) FROM stdin;') == '"My ""S"""."order"'
    assert copy_table(b"COPY t FROM stdin;") is None


def test_tokens_concatenate_back_and_quotes_are_blanked() -> None:
    text = "GRANT SELECT ON \"t;x\" TO bob; -- c\n$f$ body $f$ E'\\'' 'it''s'"
    assert "".join(t for _, t in tokenize(text)) == text
    assert without_quoted(b'SELECT "FROM stdin", \'x\'') == b'SELECT "", ""'
