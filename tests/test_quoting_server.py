"""The one quoting rule (dumper/format/names.py) against the server's own ``quote_ident``.

The pure round trip lives in tests/unit/test_names.py; here each example batch of names is
sent to the server, so a keyword list or a character class that drifts from PostgreSQL's
shows up as a difference, and every quoted name must parse back (``::regnamespace`` is not
needed: ``parse_ident`` splits a qualified name the server's way).
"""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dumper.format.names import quote_ident, split_qualified, table_key

idents = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=30)
sqlish = st.text(st.sampled_from('abcXYZ_09$ ."\'-é'), min_size=1, max_size=10)
keywords = st.sampled_from(["order", "user", "select", "table", "text", "int", "name", "left", "between",
                            "all", "analyse", "authorization", "collation", "concurrently", "current_user",
                            "filter", "over", "window", "xmltable", "json_table", "merge", "system_user"])
names = st.lists(st.one_of(idents, sqlish, keywords), min_size=1, max_size=40)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names)
def test_quote_ident_agrees_with_the_server(pg_server, batch: list[str]) -> None:  # type: ignore[no-untyped-def]
    """With the server's keyword list installed, as a dump session installs it (a keyword such
    as json_table is one from 17 on only)."""
    from dumper.format import names

    with pg_server.connect() as conn:
        rows = conn.execute("SELECT n, quote_ident(n) FROM unnest(%s::text[]) AS n", (batch,)).fetchall()
        words = {r[0] for r in conn.execute("SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'")}
    saved = names._keywords
    names.set_keywords(words)
    try:
        assert {n: quote_ident(n) for n, _ in rows} == dict(rows)
    finally:
        names._keywords = saved


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names, names)
def test_table_keys_parse_the_servers_way(pg_server, schemas: list[str], tables: list[str]) -> None:  # type: ignore[no-untyped-def]
    pairs = list(zip(schemas, tables))
    keys = [table_key(s, t) for s, t in pairs]
    with pg_server.connect() as conn:
        parsed = [tuple(r[0]) for r in conn.execute(
            "SELECT parse_ident(k) FROM unnest(%s::text[]) WITH ORDINALITY AS u(k, i) ORDER BY i", (keys,)).fetchall()]
    assert parsed == pairs
    assert [split_qualified(k) for k in keys] == pairs
