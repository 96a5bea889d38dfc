"""Identifier quoting, table keys and CSV file names (dumper/format/names.py): the one rule
both tools use. Property tests: whatever the name, quoting then parsing gives it back."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dumper.format.names import (canonical_key, csv_name, csv_table_key, quote_ident, split_qualified,
                                 table_key)

#: Any identifier PostgreSQL accepts: non-empty, no NUL (length limits are the server's business).
idents = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=40)
#: Names that look like SQL: mostly the characters that make quoting interesting.
sqlish = st.text(st.sampled_from('abcXYZ_09$ ."\'.-é\n\t'), min_size=1, max_size=12)
names = st.one_of(idents, sqlish, st.sampled_from(["order", "user", "select", "table", "public", "Order", "a.b"]))


@given(names)
def test_quote_ident_then_parse_gives_the_name_back(name: str) -> None:
    schema, parsed = split_qualified(quote_ident(name))
    assert (schema, parsed) == (None, name)


@given(names, names)
def test_table_key_round_trip(schema: str, table: str) -> None:
    key = table_key(schema, table)
    assert split_qualified(key) == (schema, table)
    assert canonical_key(key) == key


@given(names)
def test_quoting_is_needed_exactly_when_the_name_is_not_a_plain_lower_case_word(name: str) -> None:
    quoted = quote_ident(name)
    if quoted == name:
        # unquoted output must survive the server's case folding and tokenising unchanged
        assert name == name.lower() and name[0].isalpha() or name[0] == "_"
        assert all(c.isascii() and (c.isalnum() or c == "_") for c in name)
    else:
        assert quoted.startswith('"') and quoted.endswith('"')
        assert quoted[1:-1].replace('""', "") .count('"') == 0


@pytest.mark.parametrize("word", ["order", "user", "select", "table", "group", "limit", "from"])
def test_reserved_words_are_quoted(word: str) -> None:
    """The bug that started issue 13: a table named ``order`` must come out quoted."""
    assert quote_ident(word) == f'"{word}"'
    assert table_key("public", word) == f'public."{word}"'


def test_canonical_key_requotes_a_hand_written_key() -> None:
    assert canonical_key('"public"."t"') == "public.t"
    assert canonical_key('public."Order"') == 'public."Order"'


def test_split_qualified_rejects_what_is_not_a_key() -> None:
    for bad in ['a.b.c', '"a"x.b']:
        with pytest.raises(ValueError):
            split_qualified(bad)


@given(names, names)
def test_csv_name_round_trip_and_stays_in_data_dir(schema: str, table: str) -> None:
    path = csv_name(schema, table)
    directory, _, file = path.rpartition("/")
    assert directory == "data" and "/" not in file and file.count(".") == 2
    assert csv_table_key(path) == table_key(schema, table)
