"""Publications, publication members, subscriptions and extended statistics."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from dumper.catalog.replication import Publication, PublicationTable, Subscription
from dumper.catalog.statistics import StatisticsObject
from dumper.format.names import quote_ident, quote_literal


def create_publication(p: Publication, *, has_via_root: bool = True) -> str:
    sql = f"CREATE PUBLICATION {quote_ident(p.name)}"
    if p.all_tables:
        sql += " FOR ALL TABLES"
    opts = [f"publish = {quote_literal(', '.join(p.publish))}"]
    if p.via_root is not None:
        opts.append(f"publish_via_partition_root = {'true' if p.via_root else 'false'}")
    if p.generated_columns is not None:
        opts.append(f"publish_generated_columns = {p.generated_columns}")
    return sql + f" WITH ({', '.join(opts)});\n"


def publication_table(p: Publication, t: PublicationTable, table_identity: str) -> str:
    sql = f"ALTER PUBLICATION {quote_ident(p.name)} ADD TABLE ONLY {table_identity}"
    if t.columns:
        sql += " (" + ", ".join(quote_ident(c) for c in t.columns) + ")"
    if t.row_filter:
        sql += f" WHERE ({t.row_filter})"
    return sql + ";\n"


def publication_schema(p: Publication, schema: str) -> str:
    return f"ALTER PUBLICATION {quote_ident(p.name)} ADD TABLES IN SCHEMA {quote_ident(schema)};\n"


_KV = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']\S*|(?=\s|$))")


def strip_password(conninfo: str) -> tuple[str, bool]:
    """The connection string without its password, and whether one was removed.

    Everything else is kept as written (order, quoting), so a restored subscription's
    ``subconninfo`` differs from the source only by the missing password. URIs lose the
    password in the user-info part and any ``password=`` query parameter.
    """
    if conninfo.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(conninfo)
        netloc, had = parts.netloc, False
        if "@" in netloc:
            userinfo, _, hostpart = netloc.rpartition("@")
            if ":" in userinfo:
                netloc, had = userinfo.split(":", 1)[0] + "@" + hostpart, True
        query = [q for q in parts.query.split("&") if q]
        kept = [q for q in query if q.split("=", 1)[0] != "password"]
        had = had or len(kept) != len(query)
        return (urlunsplit(parts._replace(netloc=netloc, query="&".join(kept))) if had else conninfo), had
    out, pos, had = [], 0, False
    while pos < len(conninfo):
        m = _KV.match(conninfo, pos)
        if m is None or m.end() == pos:
            if conninfo[pos:].strip():  # not parseable: keep nothing that could be a secret
                return "", True
            break
        if m.group(1).lower() == "password":
            had = True
        else:
            out.append(m.group(0))
        pos = m.end()
    return ("".join(out).strip() if had else conninfo), had


def create_subscription(s: Subscription, conninfo: str) -> str:
    """``connect = false``: restoring never contacts the publisher nor creates a slot."""
    opts = ["connect = false", f"slot_name = {quote_literal(s.slot_name) if s.slot_name is not None else 'NONE'}"]
    opts += [f"{k} = {v if v in ('true', 'false', 'on', 'off', 'parallel') else quote_literal(v)}" for k, v in s.options.items()]
    opts.append(f"synchronous_commit = {quote_literal(s.sync_commit)}")
    pubs = ", ".join(quote_ident(p) for p in s.publications)
    return f"CREATE SUBSCRIPTION {quote_ident(s.name)} CONNECTION {quote_literal(conninfo)} PUBLICATION {pubs} WITH ({', '.join(opts)});\n"


def create_statistics(st: StatisticsObject) -> str:
    sql = st.definition.rstrip().rstrip(";") + ";\n"
    if st.target is not None:
        sql += f"ALTER STATISTICS {st.identity} SET STATISTICS {st.target};\n"
    return sql
