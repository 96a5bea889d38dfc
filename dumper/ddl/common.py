"""Statements every object kind shares: ownership, comments, grants."""

from __future__ import annotations

from dumper.catalog.base import Acl
from dumper.ident import quote_ident, quote_literal

# pg_identify_object()'s type names → the keyword COMMENT ON / ALTER ... OWNER TO expect.
OBJTYPE_KEYWORD = {
    "table": "TABLE", "view": "VIEW", "materialized view": "MATERIALIZED VIEW", "sequence": "SEQUENCE",
    "foreign table": "FOREIGN TABLE", "index": "INDEX", "function": "FUNCTION", "procedure": "PROCEDURE",
    "aggregate": "AGGREGATE", "type": "TYPE", "domain": "DOMAIN", "schema": "SCHEMA", "extension": "EXTENSION",
    "table column": "COLUMN", "view column": "COLUMN", "materialized view column": "COLUMN",
    "foreign table column": "COLUMN", "composite type column": "COLUMN", "table constraint": "CONSTRAINT",
    "domain constraint": "CONSTRAINT", "trigger": "TRIGGER", "policy": "POLICY", "rule": "RULE",
    "collation": "COLLATION", "conversion": "CONVERSION", "operator": "OPERATOR", "operator class": "OPERATOR CLASS",
    "operator family": "OPERATOR FAMILY", "cast": "CAST", "text search configuration": "TEXT SEARCH CONFIGURATION",
    "text search dictionary": "TEXT SEARCH DICTIONARY", "text search parser": "TEXT SEARCH PARSER",
    "text search template": "TEXT SEARCH TEMPLATE", "foreign-data wrapper": "FOREIGN DATA WRAPPER",
    "server": "SERVER", "event trigger": "EVENT TRIGGER", "publication": "PUBLICATION",
    "subscription": "SUBSCRIPTION", "statistics object": "STATISTICS", "access method": "ACCESS METHOD",
    "language": "LANGUAGE", "large object": "LARGE OBJECT", "transform": "TRANSFORM",
    "partitioned table": "TABLE", "partitioned index": "INDEX",
}

# acldefault() code → the GRANT keyword for that object class.
GRANT_KEYWORD = {
    "r": "TABLE", "s": "SEQUENCE", "f": "FUNCTION", "n": "SCHEMA", "T": "TYPE", "l": "LANGUAGE",
    "F": "FOREIGN DATA WRAPPER", "S": "FOREIGN SERVER", "L": "LARGE OBJECT", "d": "DATABASE",
}
# Who holds privileges right after CREATE, per acldefault(): the owner always; PUBLIC too for these.
PUBLIC_BY_DEFAULT = {"f", "T", "l", "d"}


def owner_stmt(keyword: str, identity: str, owner: str | None) -> str:
    return f"ALTER {keyword} {identity} OWNER TO {quote_ident(owner)};\n" if owner else ""


def comment_stmt(objtype: str, identity: str, text: str) -> str:
    kw = OBJTYPE_KEYWORD.get(objtype, objtype.upper())
    if objtype == "domain constraint":
        cname, _, domain = identity.partition(" on ")
        return f"COMMENT ON CONSTRAINT {cname} ON DOMAIN {domain} IS {quote_literal(text)};\n"
    if objtype == "transform":
        # pg_identify_object says "for TYPE on language LANG" (16+: "for TYPE language LANG");
        # COMMENT wants "FOR TYPE LANGUAGE LANG".
        rest = identity[len("for "):]
        sep = " on language " if " on language " in rest else " language "
        ty, _, lang = rest.rpartition(sep)
        return f"COMMENT ON TRANSFORM FOR {ty} LANGUAGE {lang} IS {quote_literal(text)};\n"
    return f"COMMENT ON {kw} {identity} IS {quote_literal(text)};\n"


def _role(name: str) -> str:
    return "PUBLIC" if name == "" else quote_ident(name)


def acl_stmts(
    acl: Acl,
    target: str,
    owner: str | None,
    *,
    columns: str | None = None,
    baseline: list[tuple[str, str, str, bool]] | None = None,
    default_privileges: tuple[str, str | None] | None = None,
) -> str:
    """GRANT/REVOKE statements that turn the post-CREATE state into exactly ``acl.items``.

    Rather than a minimal diff, everything the object starts with is revoked and the items
    are granted again in their original order: ``aclitem[]`` appends new grantees at the end,
    so this rebuilds the same array, element for element, and ``pg_dump`` of the restored
    database prints the same lines. Grants made by someone other than the owner are replayed
    under ``SET ROLE`` of that grantor, so the grantor is kept too.

    ``target`` is "TABLE public.t" style; ``columns`` makes it a column grant;
    ``baseline`` overrides acldefault() (used for initdb's privileges on ``public``);
    ``default_privileges`` = (role, schema) renders ALTER DEFAULT PRIVILEGES instead.
    """
    items = acl.items or []
    out: list[str] = []
    if default_privileges is not None:
        role, schema = default_privileges
        prefix = f"ALTER DEFAULT PRIVILEGES FOR ROLE {quote_ident(role)}" + (
            f" IN SCHEMA {quote_ident(schema)}" if schema else ""
        ) + " "
    else:
        prefix = ""
    if columns is None:
        if baseline is not None:
            start = list(dict.fromkeys(g for g, *_ in baseline))
        elif default_privileges is not None and default_privileges[1] is not None:
            start = []
        else:
            start = (["" ] if acl.baseline in PUBLIC_BY_DEFAULT else []) + ([owner] if owner is not None else [])
        for grantee in start:
            out.append(f"{prefix}REVOKE ALL ON {target} FROM {_role(grantee)};\n")
    # Group consecutive privileges of one (grantee, grantor) aclitem.
    groups: list[tuple[str, str, list[tuple[str, bool]]]] = []
    for grantee, grantor, priv, grantable in items:
        if groups and groups[-1][0] == grantee and groups[-1][1] == grantor:
            groups[-1][2].append((priv, grantable))
        else:
            groups.append((grantee, grantor, [(priv, grantable)]))
    for grantee, grantor, privs in groups:
        col = f" ({columns})" if columns else ""
        plain = [p + col for p, g in privs if not g]
        with_opt = [p + col for p, g in privs if g]
        as_other = default_privileges is None and owner is not None and grantor != owner
        if as_other:
            out.append(f"SET SESSION AUTHORIZATION {quote_ident(grantor)};\n")
        if plain:
            out.append(f"{prefix}GRANT {', '.join(plain)} ON {target} TO {_role(grantee)};\n")
        if with_opt:
            out.append(f"{prefix}GRANT {', '.join(with_opt)} ON {target} TO {_role(grantee)} WITH GRANT OPTION;\n")
        if as_other:
            out.append("RESET SESSION AUTHORIZATION;\n")
    return "".join(out)
