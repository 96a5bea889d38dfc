"""pyrestore's pure parts: drop statements (restore/clean.py), foreign-key load order
(restore/fk_graph.py, used by restore/dataload.py) and role mapping (restore/roles.py)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dumper.format.names import quote_ident, table_key
from dumper.format.toc import Kind, TocEntry
from restore.clean import drop_statement
from restore.fk_graph import ForeignKey, fk_order
from restore.roles import RoleMapper, parse_role_map


def _entry(kind: Kind | str, schema: str | None, name: str, **fields: object) -> TocEntry:
    return TocEntry(id=0, kind=kind, schema=schema, name=name, owner=None, section="pre-data", fields=fields)


# --------------------------------------------------------------------------- drop statements

@pytest.mark.parametrize("kind, schema, name, fields, if_exists, expected", [
    (Kind.TABLE, "public", "order", {}, False, 'DROP TABLE public."order";'),
    (Kind.VIEW, "App", "v", {}, True, 'DROP VIEW IF EXISTS "App".v;'),
    (Kind.SCHEMA, None, "my schema", {}, False, 'DROP SCHEMA "my schema";'),
    (Kind.SCHEMA, None, "public", {}, False, None),           # never dropped: every database has it
    (Kind.FUNCTION, "public", "Add(integer, integer)", {}, False, 'DROP FUNCTION public."Add"(integer, integer);'),
    (Kind.FK_CONSTRAINT, "public", "child child_p_fkey", {"table": "public.child"}, True,
     "ALTER TABLE IF EXISTS ONLY public.child DROP CONSTRAINT IF EXISTS child_p_fkey;"),
    (Kind.FK_CONSTRAINT, "public", "other c_fkey", {"table": "public.child"}, False, None),  # name not "table constraint"
    (Kind.OPERATOR, "public", "===(integer, integer)", {}, False, "DROP OPERATOR public.=== (integer, integer);"),
    (Kind.OPERATOR_CLASS, "public", "my_ops USING btree", {}, False, "DROP OPERATOR CLASS public.my_ops USING btree;"),
    (Kind.EVENT_TRIGGER, None, "Audit", {}, False, 'DROP EVENT TRIGGER "Audit";'),
    (Kind.CAST, None, "text AS my_type", {}, True, "DROP CAST IF EXISTS (text AS my_type);"),
    ("SOMETHING NEW", "public", "x", {}, False, None),       # a kind it does not know: leave it
])
def test_drop_statement(kind, schema, name, fields, if_exists, expected) -> None:  # type: ignore[no-untyped-def]
    assert drop_statement(_entry(kind, schema, name, **fields), if_exists) == expected


@given(st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=20),
       st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=20))
def test_drop_table_names_the_table_with_the_one_quoting_rule(schema: str, table: str) -> None:
    assert drop_statement(_entry(Kind.TABLE, schema, table), False) == f"DROP TABLE {table_key(schema, table)};"


# --------------------------------------------------------------------------- FK order

def _fk(child: str, parent: str, name: str = "") -> ForeignKey:
    return ForeignKey(name or f"{child}_{parent}_fkey", child, parent, f"FOREIGN KEY (x) REFERENCES {parent}")


def test_parents_before_children_ties_in_given_order() -> None:
    tables = ["public.c", "public.b", "public.a", "public.z"]
    fks = [_fk("public.c", "public.b"), _fk("public.b", "public.a")]
    order, cyclic = fk_order(tables, fks)
    # whenever several tables are ready, the one listed first goes first
    assert order == ["public.a", "public.b", "public.c", "public.z"]
    assert cyclic == []


def test_self_references_do_not_count_and_cycles_are_returned() -> None:
    tables = ["cyc.a", "cyc.b", "cyc.tree", "cyc.child"]
    fks = [_fk("cyc.a", "cyc.b"), _fk("cyc.b", "cyc.a"), _fk("cyc.tree", "cyc.tree"), _fk("cyc.child", "cyc.a")]
    order, cyclic = fk_order(tables, fks)
    assert sorted(order) == sorted(tables)
    assert order.index("cyc.child") > order.index("cyc.a")
    assert {(f.child, f.parent) for f in cyclic} == {("cyc.a", "cyc.b"), ("cyc.b", "cyc.a")}


@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=20))
def test_every_acyclic_edge_is_respected(edges: list[tuple[int, int]]) -> None:
    tables = [f"public.t{i}" for i in range(8)]
    fks = [_fk(tables[c], tables[p], f"fk{i}") for i, (c, p) in enumerate(edges)]
    order, cyclic = fk_order(tables, fks)
    assert sorted(order) == sorted(tables)
    pos = {t: i for i, t in enumerate(order)}
    for f in fks:
        if f.child != f.parent and f not in cyclic:
            assert pos[f.parent] < pos[f.child], (f, order)


# --------------------------------------------------------------------------- role mapping

def test_parse_role_map() -> None:
    assert parse_role_map(["old=new", "A=b=c"]) == {"old": "new", "A": "b=c"}
    with pytest.raises(Exception, match="OLD=NEW"):
        parse_role_map(["nonsense"])


@pytest.mark.parametrize("stmt, expected", [
    ("ALTER TABLE public.t OWNER TO alice;", "ALTER TABLE public.t OWNER TO bob;"),
    ('ALTER TABLE public.t OWNER TO "alice";', "ALTER TABLE public.t OWNER TO bob;"),
    ("GRANT SELECT ON TABLE public.t TO alice, carol;", "GRANT SELECT ON TABLE public.t TO bob, carol;"),
    ("REVOKE ALL ON TABLE public.t FROM alice;", "REVOKE ALL ON TABLE public.t FROM bob;"),
    ("ALTER TABLE public.t OWNER TO \"Mixed Case\";", "ALTER TABLE public.t OWNER TO \"New Role\";"),
])
def test_role_references_are_mapped(stmt: str, expected: str) -> None:
    m = RoleMapper({"alice": "bob", "Mixed Case": "New Role"})
    assert m.rewrite(stmt.encode()).decode() == expected


@pytest.mark.parametrize("stmt", [
    "INSERT INTO public.t VALUES ('alice');",                 # a string, not a role
    "COMMENT ON TABLE public.t IS 'OWNER TO alice';",
    "CREATE TABLE public.alice (id int);",                     # a table named like the role
    "SELECT 1; -- OWNER TO alice",
])
def test_the_same_words_elsewhere_are_left_alone(stmt: str) -> None:
    raw = stmt.encode()
    assert RoleMapper({"alice": "bob"}).rewrite(raw) == raw


def test_mapped_names_use_the_one_quoting_rule() -> None:
    out = RoleMapper({"alice": "order"}).rewrite(b"ALTER SCHEMA s OWNER TO alice;")
    assert out == f"ALTER SCHEMA s OWNER TO {quote_ident('order')};".encode()
