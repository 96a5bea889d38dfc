"""DDL renderers (dumper/ddl): a few representative statements, quoting included."""
from __future__ import annotations

from dumper.catalog.base import Acl
from dumper.ddl.common import acl_stmts, comment_stmt, owner_stmt


def test_owner_statement_quotes_the_role() -> None:
    assert owner_stmt("TABLE", "public.t", "Alice") == 'ALTER TABLE public.t OWNER TO "Alice";\n'
    assert owner_stmt("TABLE", "public.t", "user") == 'ALTER TABLE public.t OWNER TO "user";\n'
    assert owner_stmt("TABLE", "public.t", None) == ""


def test_comment_statement_quotes_the_text() -> None:
    assert comment_stmt("table", "public.t", "it's") == "COMMENT ON TABLE public.t IS 'it''s';\n"
    assert comment_stmt("materialized view", "public.m", "x") == "COMMENT ON MATERIALIZED VIEW public.m IS 'x';\n"
    # pg_identify_object's "c on d" identity becomes COMMENT ON CONSTRAINT c ON DOMAIN d
    assert comment_stmt("domain constraint", "c on public.d", "y") == \
        "COMMENT ON CONSTRAINT c ON DOMAIN public.d IS 'y';\n"


def test_acl_equal_to_its_default_writes_nothing() -> None:
    base = [("owner", "owner", p, False) for p in ("SELECT", "INSERT")]
    assert acl_stmts(Acl(items=list(base), is_default=False, baseline="r", base=list(base)), "TABLE public.t", "owner") == ""


def test_acl_grants_the_difference_only() -> None:
    base = [("owner", "owner", "SELECT", False)]
    items = base + [("reader", "owner", "SELECT", False), ("", "owner", "SELECT", False)]
    out = acl_stmts(Acl(items=items, is_default=False, baseline="r", base=list(base)), "TABLE public.t", "owner")
    assert out.splitlines() == ["GRANT SELECT ON TABLE public.t TO reader;", "GRANT SELECT ON TABLE public.t TO PUBLIC;"]
