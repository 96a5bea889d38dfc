"""dumper.catalog.base.gc_paused: the collector is off inside, back on after, and what was built
is frozen until gc_thaw (no server needed)."""

from __future__ import annotations

import gc

import pytest

from dumper.catalog.base import gc_paused, gc_thaw
from dumper.format import names
from dumper.format.names import canonical_key, quote_ident, set_keywords


def test_gc_paused_turns_the_collector_off_and_freezes_what_was_built() -> None:
    seen: dict[str, bool] = {}

    @gc_paused
    def build() -> list[list[int]]:
        seen["enabled inside"] = gc.isenabled()
        return [[i] for i in range(1000)]

    gc_thaw()
    assert gc.isenabled()
    before = gc.get_freeze_count()
    built = build()
    assert seen == {"enabled inside": False}
    assert gc.isenabled()
    assert gc.get_freeze_count() >= before + len(built)
    gc_thaw()
    assert gc.get_freeze_count() == 0


def test_gc_paused_restores_the_collector_after_an_error_and_leaves_a_disabled_one_alone() -> None:
    @gc_paused
    def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError):
        fail()
    assert gc.isenabled()
    gc_thaw()
    gc.disable()
    try:
        fail_calls: list[bool] = []

        @gc_paused
        def inside() -> None:
            fail_calls.append(gc.isenabled())

        inside()
        assert fail_calls == [False] and not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_quote_caches_follow_the_keyword_list() -> None:
    saved = names._keywords
    set_keywords({"select"})
    try:
        assert quote_ident("mytable") == "mytable"
        assert canonical_key('public."mytable"') == "public.mytable"
        set_keywords({"mytable"})  # a server where it is a keyword: the remembered answers go
        assert quote_ident("mytable") == '"mytable"'
        assert canonical_key("public.mytable") == 'public."mytable"'
    finally:
        set_keywords(saved)
