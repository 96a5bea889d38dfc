"""Base types (``CREATE TYPE t (INPUT = ..., OUTPUT = ...)``) and shell types (``CREATE TYPE t;``).

A base type and its I/O functions need each other: the input function returns the type, the
type names the input function. The server resolves this with a shell type, and so does the
dump (as pg_dump does): ``CREATE TYPE t;`` first, then the functions (which may take or return
a shell), then the full ``CREATE TYPE``. :attr:`BaseType.io_functions` lists the functions that
take part in that loop, so the entries can route their dependency on the type to the shell.

Array types the server made for a base type (``_t``) are implicit, as are the row types of
relations; user-made pseudo-types can only be shells (``typisdefined = false``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dumper.catalog.base import FIRST_NORMAL_OID, CatalogObject, acl_columns, identity_sql, make_acl, not_extension_member, user_schema

if TYPE_CHECKING:
    from dumper.session import Session

# pg_type columns naming a support function, and the CREATE TYPE option each one is.
SUPPORT_FUNCTIONS = (
    ("typinput", "INPUT"), ("typoutput", "OUTPUT"), ("typreceive", "RECEIVE"), ("typsend", "SEND"),
    ("typmodin", "TYPMOD_IN"), ("typmodout", "TYPMOD_OUT"), ("typanalyze", "ANALYZE"),
)
SUBSCRIPT_FUNCTION = ("typsubscript", "SUBSCRIPT")  # PostgreSQL 14+


@dataclass
class BaseType(CatalogObject):
    """A base type, or a shell (``defined`` false) that nothing completed."""

    oid: int = 0
    defined: bool = True
    length: int = -1  # typlen: -1 variable, -2 C string
    by_value: bool = False
    alignment: str = "i"  # c, s, i, d
    storage: str = "p"  # p, e, x, m
    category: str = "U"
    preferred: bool = False
    delimiter: str = ","
    default: str | None = None  # typdefault: the literal, as written
    element: str | None = None  # format_type of typelem
    collatable: bool = False
    functions: list[tuple[str, str]] = field(default_factory=list)  # (CREATE TYPE option, regproc text)
    io_functions: list[int] = field(default_factory=list)  # support functions that are user objects


def read_base_types(s: Session) -> list[BaseType]:
    """User base and shell types in one query; implicit arrays and extension members left out."""
    funcs = list(SUPPORT_FUNCTIONS) + ([SUBSCRIPT_FUNCTION] if s.info.version_num >= 140000 else [])
    func_cols = ", ".join(f"NULLIF(t.{col}, 0)::pg_catalog.regproc::text AS {col}, "
                          f"t.{col}::pg_catalog.oid AS {col}_oid" for col, _ in funcs)
    rows = s.query(
        f"""
        SELECT t.oid, n.nspname AS schema, t.typname AS name, pg_catalog.pg_get_userbyid(t.typowner) AS owner,
               {identity_sql('pg_type', 't.oid')} AS identity, {acl_columns('t.typacl', "'T'", 't.typowner')},
               t.typisdefined AS defined, t.typlen AS length, t.typbyval AS by_value, t.typalign AS alignment,
               t.typstorage AS storage, t.typcategory AS category, t.typispreferred AS preferred,
               t.typdelim AS delimiter, t.typdefault AS default, t.typcollation <> 0 AS collatable,
               CASE WHEN t.typelem <> 0 THEN pg_catalog.format_type(t.typelem, NULL) END AS element,
               {func_cols}
          FROM pg_catalog.pg_type t
          JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
         WHERE {user_schema('n')}
           AND ((t.typtype = 'b' AND t.typrelid = 0) OR (t.typtype = 'p' AND NOT t.typisdefined))
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type a WHERE a.typarray = t.oid)
           AND {not_extension_member('pg_type', 't.oid')}
         ORDER BY n.nspname, t.typname
        """
    )
    return [_base_type(r, funcs) for r in rows]


def _base_type(r: dict, funcs: list[tuple[str, str]]) -> BaseType:  # type: ignore[type-arg]
    t = BaseType(
        ref=("pg_type", r["oid"]), schema=r["schema"], name=r["name"], owner=r["owner"], identity=r["identity"],
        acl=make_acl(r, "T"), oid=r["oid"], defined=r["defined"], length=r["length"], by_value=r["by_value"],
        alignment=r["alignment"], storage=r["storage"], category=r["category"], preferred=r["preferred"],
        delimiter=r["delimiter"], default=r["default"], element=r["element"], collatable=r["collatable"],
    )
    for col, option in funcs:
        if r[col] is not None:
            t.functions.append((option, r[col]))
            if r[col + "_oid"] >= FIRST_NORMAL_OID:
                t.io_functions.append(r[col + "_oid"])
    return t
