"""Category matching (dumper/categories.py): the most specific pattern wins, whatever the
file order; tables no pattern claims are Core; the shipped map classifies the spec's tables."""
from __future__ import annotations

from dumper.categories import Category, CategoryMap, load


def _map(**patterns: tuple[str, ...]) -> CategoryMap:
    cats = {name: Category(name, name.title(), pats, csv=False, prod=False) for name, pats in patterns.items()}
    return CategoryMap(cats, "test")


def test_more_specific_table_part_beats_a_schema_wildcard() -> None:
    m = _map(core=("public.*",), transient=("*.tasks",))
    assert m.classify("public", "tasks") == "transient"
    assert m.classify("public", "users") == "core"
    # and the order of the file does not matter
    m2 = _map(transient=("*.tasks",), core=("public.*",))
    assert m2.classify("public", "tasks") == "transient"


def test_unclaimed_tables_fall_back_to_core() -> None:
    m = _map(core=("public.*",), auth=("auth.*",))
    assert m.classify("elsewhere", "t") == "core"
    assert m.classify("auth", "users") == "auth"


def test_glob_characters_and_odd_names() -> None:
    m = _map(core=("public.*",), odd=("s.[!a-z]*", "s.new\nline"))
    assert m.classify("s", "1abc") == "odd"
    assert m.classify("s", "abc") == "core"
    assert m.classify("s", "new\nline") == "odd"


def test_unmatched_patterns() -> None:
    m = _map(core=("public.*",), org=("marketing.*", "nothing.here"))
    assert m.unmatched_patterns([("public", "t"), ("marketing", "m")]) == ["nothing.here"]


def test_shipped_map_matches_the_spec_table() -> None:
    """The spec's category table (tests/support/helpers.py writes it out independently)."""
    from tests.support.helpers import spec_category

    m = load()
    for schema, table in [("auth", "users"), ("storage", "objects"), ("public", "tasks"), ("public", "plans"),
                          ("marketing", "campaigns"), ("risk", "register"), ("public", "profiles"),
                          ("code_ops", "artifact_events"), ("public", "llm_usage")]:
        assert m.classify(schema, table) == spec_category(schema, table), (schema, table)
