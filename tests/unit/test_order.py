"""The dump order's loop repair (dumper/order.py): a view whose query needs a function that
returns the view's row type is split as pg_dump does; any other loop is broken, reported."""
from __future__ import annotations

from dumper.catalog.depend import Dependencies
from dumper.order import order_entries
from dumper.toc import POST, PRE, Entry

PLACEHOLDER = "CREATE VIEW public.v AS SELECT NULL::integer AS x;\n"
REAL = "CREATE OR REPLACE VIEW public.v AS SELECT public.f() AS x;\n"


def _view_function_loop() -> tuple[Entry, Entry, Dependencies]:
    view = Entry("VIEW", "public", "v", None, PRE, "CREATE VIEW public.v AS SELECT public.f() AS x;\n",
                 refs=[("pg_class", 100)], view_split=(PLACEHOLDER, REAL))
    func = Entry("FUNCTION", "public", "f()", None, PRE, "CREATE FUNCTION public.f() RETURNS SETOF public.v ...;\n",
                 refs=[("pg_proc", 200)])
    deps = Dependencies(
        edges=[(("pg_rewrite", 300), ("pg_proc", 200), "n"),   # the view's query calls f
               (("pg_proc", 200), ("pg_type", 101), "n"),      # f returns the view's row type
               (("pg_rewrite", 300), ("pg_type", 23), "n")],   # (a built-in: no entry, ignored)
        aliases={("pg_rewrite", 300): ("pg_class", 100), ("pg_type", 101): ("pg_class", 100)},
    )
    return view, func, deps


def test_view_loop_is_repaired_with_a_placeholder_view() -> None:
    view, func, deps = _view_function_loop()
    ordered = order_entries([view, func], deps)
    kinds = [(e.kind, e.name) for e in ordered.entries]
    assert kinds == [("VIEW", "v"), ("FUNCTION", "f()"), ("RULE", "v _RETURN")], kinds
    assert ordered.broken_loops == []
    assert len(ordered.repaired_loops) == 1 and "public.v" in ordered.repaired_loops[0]
    v, f, rule = ordered.entries
    assert v.sql == PLACEHOLDER and rule.sql == REAL and rule.section == POST
    assert f.id in rule.dep_ids and v.id in rule.dep_ids   # the real query after f and the placeholder
    assert v.id in f.dep_ids and f.id not in v.dep_ids     # f after the placeholder, not the reverse
    assert [e.id for e in ordered.entries] == [0, 1, 2]


def test_other_loops_are_broken_once_and_reported() -> None:
    a = Entry("FUNCTION", "public", "a()", None, PRE, "a", refs=[("pg_proc", 1)])
    b = Entry("FUNCTION", "public", "b()", None, PRE, "b", refs=[("pg_proc", 2)])
    deps = Dependencies(edges=[(("pg_proc", 1), ("pg_proc", 2), "n"), (("pg_proc", 2), ("pg_proc", 1), "n")])
    ordered = order_entries([b, a], deps)
    assert [e.name for e in ordered.entries] == ["a()", "b()"]
    assert ordered.broken_loops == ["FUNCTION public.a()"]   # broken at the first by sort order
    assert ordered.repaired_loops == []
    first, second = ordered.entries
    assert first.dep_ids == [] and second.dep_ids == [first.id]


def test_dependencies_beat_the_sort_key_and_sections_order_the_rest() -> None:
    late = Entry("TABLE", "public", "a_child", None, PRE, "t", refs=[("pg_class", 10)])
    early = Entry("TYPE", "public", "z_type", None, PRE, "ty", refs=[("pg_type", 11)])
    index = Entry("INDEX", "public", "a_idx", None, POST, "i", refs=[("pg_class", 12)])
    deps = Dependencies(edges=[(("pg_class", 10), ("pg_type", 11), "n"), (("pg_class", 12), ("pg_class", 10), "a")])
    ordered = order_entries([index, late, early], deps)
    assert [e.name for e in ordered.entries] == ["z_type", "a_child", "a_idx"]
