"""``-n/-t``-style patterns (dumper/plan.py): psql's rules, checked against a few names."""
from __future__ import annotations

import pytest

from dumper.errors import UsageError
from dumper.plan import Patterns, pattern_regex


def _matches(pattern: str, schema: str | None, name: str, qualified: bool = True) -> bool:
    return Patterns([pattern], qualified=qualified).match(schema, name)


@pytest.mark.parametrize("pattern, schema, name, expected", [
    ("public.t", "public", "t", True),
    ("public.t", "public", "t2", False),           # anchored at the end
    ("public.t*", "public", "t2", True),
    ("public.t?", "public", "t22", False),
    ("*.t", "other", "t", True),
    ("T", "public", "t", True),                     # unquoted letters fold to lower case
    ("T", "public", "T", False),
    ('"T"', "public", "T", True),                   # quotes keep case
    ('public."a.b"', "public", "a.b", True),        # and make the dot literal
    ('public."a*"', "public", "ab", False),         # and the star
    ('public."a*"', "public", "a*", True),
    ('"we""ird"', "public", 'we"ird', True),       # doubled quote inside quotes
    ("db.public.t", "public", "t", True),           # a database name in front is ignored
    ("t", "any_schema", "t", True),                 # no schema part: any schema
    ("public.t", "other", "t", False),
    ("public.new\nline", "public", "new\nline", True),  # DOTALL: a newline is a character
])
def test_pattern_matching(pattern: str, schema: str, name: str, expected: bool) -> None:
    assert _matches(pattern, schema, name) is expected


def test_unqualified_patterns_treat_the_dot_as_a_character() -> None:
    """``-n`` patterns name schemas: ``a.b`` is one schema name there."""
    assert pattern_regex("a.b", qualified=False)[0] is None
    assert _matches("a.b", None, "a.b", qualified=False)
    assert not _matches("a.b", None, "a", qualified=False)


def test_unterminated_quote_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unterminated"):
        pattern_regex('"abc', qualified=True)


def test_unmatched_patterns_are_reported() -> None:
    p = Patterns(["public.a", "public.zzz*"])
    assert p.match("public", "a")
    assert p.unmatched() == ["public.zzz*"]
