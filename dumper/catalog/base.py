"""SQL fragments shared by the catalog readers.

Catalog readers run set-based queries (one per object family, never one per object) and
return plain dataclasses. They never render SQL text for the dump: that is ``dumper.ddl``'s job.
"""

from __future__ import annotations

import functools
import gc
from dataclasses import dataclass, field
from typing import Any, Callable, ParamSpec, TypeVar

from dumper.errors import ServerError

# Schemas that are never dumped: the system's own.
SYSTEM_SCHEMA_SQL = "({n}.nspname NOT IN ('pg_catalog', 'information_schema') AND {n}.nspname !~ '^pg_(toast|temp_|toast_temp_)')"

FIRST_NORMAL_OID = 16384

P = ParamSpec("P")
T = TypeVar("T")


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


AclRow = tuple[str, str, str, bool]
"""One privilege of an exploded ACL: grantee ('' = PUBLIC), grantor, privilege, grantable."""

#: Every privilege of a kind (by acldefault() code, 'c' for columns) as pg_dump 18 knows them:
#: an item holding all of them is written ``ALL``, else as a list. A table item from a server
#: older than 17 lacks MAINTAIN, so it is listed, and the REVOKE of a 16 table's default leaves
#: the MAINTAIN an 18 target gives the owner, exactly as with pg_dump 18.
ALL_PRIVILEGES = {
    "r": frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN"}),
    "c": frozenset({"SELECT", "INSERT", "UPDATE", "REFERENCES"}),
    "s": frozenset({"SELECT", "USAGE", "UPDATE"}),
    "f": frozenset({"EXECUTE"}),
    "l": frozenset({"USAGE"}),
    "n": frozenset({"USAGE", "CREATE"}),
    "T": frozenset({"USAGE"}),
    "F": frozenset({"USAGE"}),
    "S": frozenset({"USAGE"}),
    "L": frozenset({"SELECT", "UPDATE"}),
    "d": frozenset({"CREATE", "CONNECT", "TEMPORARY"}),
}


@dataclass
class Acl:
    """An object's privileges and the state a restore starts from.

    ``base`` is what the object holds right after it is created on the target: acldefault()
    for its kind and owner, or what ``pg_init_privs`` recorded for objects that CREATE
    EXTENSION or initdb made. The dump writes the difference between ``base`` and ``items``
    (as pg_dump does), so an ACL that equals its default produces nothing. ``base`` None
    means "not known": the renderer then revokes everything the kind starts with.

    An item holding every privilege of its kind (:data:`ALL_PRIVILEGES`) is written ``ALL``.
    """

    items: list[AclRow] | None
    is_default: bool
    baseline: str  # acldefault() code: r, s, f, n, T, l, F, S, L, d, c (column)
    base: list[AclRow] | None = None

    @property
    def full(self) -> frozenset[str]:
        return ALL_PRIVILEGES.get(self.baseline, frozenset())


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


def rows(items: Any) -> list[AclRow]:
    """JSON rows of :func:`acl_sql` as tuples."""
    return [tuple(i) for i in (items or [])]  # type: ignore[misc]


def make_acl(row: dict[str, Any], baseline: str) -> Acl | None:
    items = row.get("acl")
    if row.get("acl_is_default", True) or items is None:
        return None
    if baseline == "c" or "acl_base" not in row:
        # Columns start with no privileges at all; without acl_base the base is unknown.
        return Acl(rows(items), False, baseline, [] if baseline == "c" else None)
    return Acl(rows(items), False, baseline, rows(row["acl_base"]))


def acl_columns(acl_col: str, code_sql: str | None, owner_col: str = "") -> str:
    """Select-list fragment: the exploded ACL, whether it equals the post-CREATE default, and
    (only when it does not) the exploded default itself (``acl_base``), the restore's start.

    ``code_sql`` is an SQL expression giving ``acldefault``'s object-type code, or ``None`` for
    objects whose default is "no ACL at all" (columns, default privileges in a schema).
    """
    if code_sql is None:
        return f"{acl_sql(acl_col)} AS acl, ({acl_col} IS NULL) AS acl_is_default"
    default = f"pg_catalog.acldefault({code_sql}, {owner_col})"
    return (
        f"{acl_sql(acl_col)} AS acl, ({acl_col} IS NULL OR {acl_col} = {default}) AS acl_is_default, "
        f"CASE WHEN {acl_col} <> {default} THEN {acl_sql(default)} END AS acl_base"
    )


def require_deparsed(rows: list[dict[str, Any]], columns: tuple[str, ...], what: str) -> None:
    """Stop with exit 7, naming the object, when a server deparser returned NULL.

    The ``pg_get_*def`` functions read the live catalog, not the dump's snapshot: an object
    the snapshot still shows but another session dropped since (a function, a view's rule, a
    trigger) deparses to NULL. Dumping it as an empty definition would write a broken script,
    and using it as text crashed; the backup instead fails in one line that says what changed,
    and a rerun (with ``--lock-wait-timeout``, or when the schema is quiet) succeeds."""
    for row in rows:
        for col in columns:
            if row.get(col) is None:
                name = row.get("identity")
                if not name or str(name).isdigit():  # ::regclass::text of a relation gone since: its OID
                    name = ".".join(str(row[k]) for k in ("schema", "name") if row.get(k)) or f"oid {row.get('oid')}"
                raise ServerError(f"{what} {name} was dropped or changed by another session while the dump ran "
                                  "(the server could not deparse it); run the backup again")


def gc_paused(fn: Callable[P, T]) -> Callable[P, T]:
    """Run ``fn`` with Python's cyclic garbage collector off, then freeze what it built.

    Reading the catalog, building the entries and ordering them allocate millions of tuples,
    dicts and dataclass instances that live until the dump ends, and every collection of the
    older generations walked all of them again: a quarter of pydump's CPU at 10,000 tables
    (``perf``: ``gc_collect_main``, ``visit_reachable``, ``visit_decref``; a ``gc.callbacks``
    timer: 2.7 s). Merely turning it off would move that into one large collection afterwards,
    so what exists when ``fn`` returns is frozen (``gc.freeze()``): the collector skips it,
    reference counting still frees it. :func:`gc_thaw` gives it back to the collector.
    """

    @functools.wraps(fn)
    def paused(*args: P.args, **kwargs: P.kwargs) -> T:
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.freeze()
            gc.enable()

    return paused


def gc_thaw() -> None:
    """Hand what :func:`gc_paused` froze back to the collector (the start of a dump calls it, so
    that a process running dump after dump, through the Python API, keeps no cycles of an
    earlier one)."""
    gc.unfreeze()
