"""SQL fragments shared by the catalog readers.

Catalog readers run set-based queries (one per object family, never one per object) and
return plain dataclasses. They never render SQL text for the dump: that is ``dumper.ddl``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Schemas that are never dumped: the system's own.
SYSTEM_SCHEMA_SQL = "({n}.nspname NOT IN ('pg_catalog', 'information_schema') AND {n}.nspname !~ '^pg_(toast|temp_|toast_temp_)')"

FIRST_NORMAL_OID = 16384


def user_schema(alias: str = "n") -> str:
    return SYSTEM_SCHEMA_SQL.format(n=alias)


def not_extension_member(classid: str, oid_expr: str) -> str:
    """Extension members are recreated by CREATE EXTENSION and never dumped on their own."""
    return (
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend xd WHERE xd.classid = "
        f"'{classid}'::pg_catalog.regclass AND xd.objid = {oid_expr} AND xd.deptype = 'e')"
    )


def acl_sql(acl_expr: str) -> str:
    """The ACL as an ordered JSON list of [grantee, grantor, privilege, grantable].

    ``aclexplode`` keeps the array's order, which matters: restoring grants in the same order
    rebuilds the same ``aclitem[]``, and ``pg_dump`` output follows that order.
    """
    return (
        "(SELECT pg_catalog.json_agg(pg_catalog.json_build_array("
        "CASE WHEN e.grantee = 0 THEN '' ELSE pg_catalog.pg_get_userbyid(e.grantee) END, "
        "pg_catalog.pg_get_userbyid(e.grantor), e.privilege_type, e.is_grantable) ORDER BY e.ord) "
        f"FROM pg_catalog.aclexplode({acl_expr}) WITH ORDINALITY AS e(grantor, grantee, privilege_type, is_grantable, ord))"
    )


def identity_sql(classid: str, oid_expr: str, sub: str = "0") -> str:
    return f"(pg_catalog.pg_identify_object('{classid}'::pg_catalog.regclass, {oid_expr}, {sub})).identity"


Ref = tuple[str, int]
"""A catalog object's identity: (catalog table name, oid)."""


@dataclass
class Acl:
    """An object's privileges, ``None`` items meaning "as the defaults after CREATE"."""

    items: list[tuple[str, str, str, bool]] | None  # grantee ('' = PUBLIC), grantor, privilege, grantable
    is_default: bool
    baseline: str  # acldefault() code: r, s, f, n, T, l, F, S, L, d


@dataclass
class CatalogObject:
    """Fields every dumped object has."""

    ref: Ref
    schema: str | None
    name: str
    owner: str | None
    identity: str
    acl: Acl | None = None
    deps: set[Ref] = field(default_factory=set)


def make_acl(row: dict[str, Any], baseline: str) -> Acl | None:
    items = row.get("acl")
    if row.get("acl_is_default", True) or items is None:
        return None
    return Acl([tuple(i) for i in items], False, baseline)  # type: ignore[misc]


def acl_columns(acl_col: str, code_sql: str | None, owner_col: str = "") -> str:
    """Select-list fragment: the exploded ACL and whether it equals the post-CREATE default.

    ``code_sql`` is an SQL expression giving ``acldefault``'s object-type code, or ``None`` for
    objects whose default is "no ACL at all" (columns, default privileges in a schema).
    """
    same = "false" if code_sql is None else f"{acl_col} = pg_catalog.acldefault({code_sql}, {owner_col})"
    return f"{acl_sql(acl_col)} AS acl, ({acl_col} IS NULL OR {same}) AS acl_is_default"
