"""Statements every object kind shares: ownership, comments, grants."""

from __future__ import annotations

from dataclasses import dataclass

from dumper.catalog.base import Acl, AclRow
from dumper.format.names import quote_ident, quote_literal

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


@dataclass(frozen=True)
class AclItem:
    """One ``aclitem``: a grantee's privileges from one grantor, with their grant options."""

    grantee: str  # '' = PUBLIC
    grantor: str
    privileges: tuple[tuple[str, bool], ...]  # (privilege, grantable), aclexplode's order


def group_items(flat: list[AclRow]) -> list[AclItem]:
    """Exploded rows (one per privilege) back into ``aclitem`` elements, in array order."""
    out: list[AclItem] = []
    for grantee, grantor, priv, grantable in flat:
        if out and out[-1].grantee == grantee and out[-1].grantor == grantor:
            last = out.pop()
            out.append(AclItem(grantee, grantor, last.privileges + ((priv, grantable),)))
        else:
            out.append(AclItem(grantee, grantor, ((priv, grantable),)))
    return out


def acl_delta(base: list[AclItem], target: list[AclItem]) -> tuple[list[AclItem], list[AclItem]]:
    """(items to revoke, items to grant) that turn ``base`` into ``target``, element order included.

    Like pg_dump, whole items are compared: what both hold stays, the rest of ``base`` is
    revoked and the rest of ``target`` granted. GRANT appends a new item at the end of the
    array and REVOKE removes one without moving the others, so the items both hold may stay
    only while they form, in order, the beginning of ``target``; any later one is revoked and
    granted again in its place. An ACL equal to its base gives nothing to do.
    """
    common = [i for i in base if i in target]
    k = 0
    while k < len(common) and common[k] == target[k]:
        k += 1
    kept = set(common[:k])
    return [i for i in base if i not in kept], target[k:]


def _privilege_list(privs: list[str], full: frozenset[str] | None, col: str) -> str:
    """``ALL`` when the item holds every privilege of its kind (as pg_dump writes it), else the list."""
    if full and set(privs) >= full:
        return "ALL" + col
    return ", ".join(p + col for p in privs)


def _legacy_base(acl: Acl, owner: str | None) -> list[AclItem]:
    """Without a known base: every grantee acldefault() gives privileges to, revoked wholesale."""
    grantees = ([""] if acl.baseline in PUBLIC_BY_DEFAULT else []) + ([owner] if owner is not None else [])
    return [AclItem(g, owner or "", (("ALL", False),)) for g in grantees]


def acl_stmts(
    acl: Acl,
    target: str,
    owner: str | None,
    *,
    columns: str | None = None,
    default_privileges: tuple[str, str | None] | None = None,
) -> str:
    """GRANT/REVOKE statements that turn the object's starting ACL into exactly ``acl.items``.

    The start is ``acl.base`` (acldefault() or pg_init_privs, see :class:`Acl`); only the
    difference is written (:func:`acl_delta`), in an order that rebuilds the same
    ``aclitem[]`` element for element. Grants made by someone other than the owner are
    replayed under ``SET SESSION AUTHORIZATION`` of that grantor, so the grantor is kept too.

    ``target`` is "TABLE public.t" style; ``columns`` makes it a column grant;
    ``default_privileges`` = (role, schema) renders ALTER DEFAULT PRIVILEGES instead.
    """
    prefix = ""
    if default_privileges is not None:
        role, schema = default_privileges
        prefix = f"ALTER DEFAULT PRIVILEGES FOR ROLE {quote_ident(role)}" + (
            f" IN SCHEMA {quote_ident(schema)}" if schema else ""
        ) + " "
    if acl.base is not None:
        base = group_items(acl.base)
    elif columns is not None or (default_privileges is not None and default_privileges[1] is not None):
        base = []
    else:
        base = _legacy_base(acl, owner)
    revoke, grant = acl_delta(base, group_items(acl.items or []))
    col = f" ({columns})" if columns else ""
    out: list[str] = []

    def as_grantor(grantor: str, stmts: list[str]) -> None:
        other = default_privileges is None and owner is not None and grantor not in ("", owner)
        if other:
            out.append(f"SET SESSION AUTHORIZATION {quote_ident(grantor)};\n")
        out.extend(stmts)
        if other:
            out.append("RESET SESSION AUTHORIZATION;\n")

    for item in revoke:
        privs = _privilege_list([p for p, _g in item.privileges], acl.full, col)
        as_grantor(item.grantor, [f"{prefix}REVOKE {privs} ON {target} FROM {_role(item.grantee)};\n"])
    for item in grant:
        stmts = []
        plain = [p for p, g in item.privileges if not g]
        with_opt = [p for p, g in item.privileges if g]
        if plain:
            stmts.append(f"{prefix}GRANT {_privilege_list(plain, acl.full, col)} ON {target} TO {_role(item.grantee)};\n")
        if with_opt:
            stmts.append(f"{prefix}GRANT {_privilege_list(with_opt, acl.full, col)} ON {target} "
                         f"TO {_role(item.grantee)} WITH GRANT OPTION;\n")
        as_grantor(item.grantor, stmts)
    return "".join(out)
