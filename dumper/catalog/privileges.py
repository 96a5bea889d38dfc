"""Default privileges (pg_default_acl) and the roles a dump refers to.

Roles are cluster-wide and never part of a database's catalog proper; the dump recreates the
ones it mentions (owners, grantees, grantors, policy roles, user mappings) so a restore into
a fresh cluster does not fail on a missing role. Role passwords are never read: the queries
use ``pg_roles``, whose ``rolpassword`` is always masked, so the dump works for non-superusers
and a secret cannot leak even by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumper.catalog.base import FIRST_NORMAL_OID, Acl, acl_sql, rows

if TYPE_CHECKING:
    from dumper.session import Session

# pg_default_acl.defaclobjtype → (acldefault code, the word ALTER DEFAULT PRIVILEGES uses)
DEFACL_TYPES = {"r": ("r", "TABLES"), "S": ("s", "SEQUENCES"), "f": ("f", "FUNCTIONS"), "T": ("T", "TYPES"), "n": ("n", "SCHEMAS"),
                "L": ("L", "LARGE OBJECTS")}  # 'L': PostgreSQL 18


# acldefault() of the kind a pg_default_acl row is for (its code differs only for sequences).
_DEFACL_DEFAULT = (
    "pg_catalog.acldefault(CASE WHEN d.defaclobjtype = 'S' THEN 's'::\"char\" ELSE d.defaclobjtype END, d.defaclrole)"
)


@dataclass
class DefaultAcl:
    ref: tuple[str, int]
    role: str
    schema: str | None  # None = the role's global default
    objtype: str  # defaclobjtype
    acl: Acl


@dataclass
class RoleDef:
    name: str
    superuser: bool
    inherit: bool
    createrole: bool
    createdb: bool
    login: bool
    replication: bool
    bypassrls: bool
    connlimit: int
    valid_until: str | None


@dataclass
class Membership:
    role: str
    member: str
    admin: bool
    inherit: bool | None = None  # 16+: per-grant INHERIT / SET options
    set: bool | None = None


def read_default_acls(s: Session) -> list[DefaultAcl]:
    found = s.query(
        f"""
        SELECT d.oid, pg_catalog.pg_get_userbyid(d.defaclrole) AS role, n.nspname AS schema, d.defaclobjtype AS objtype,
               {acl_sql('d.defaclacl')} AS acl,
               CASE WHEN d.defaclnamespace = 0 THEN {acl_sql(_DEFACL_DEFAULT)} END AS acl_default
          FROM pg_catalog.pg_default_acl d LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
         ORDER BY 2, 3 NULLS FIRST, 4
        """
    )
    out = []
    for r in found:
        if r["objtype"] not in DEFACL_TYPES:
            continue
        # pg_dump's rule: a global entry replaces the built-in default, so it is written as a
        # change from acldefault(); one IN SCHEMA can only add privileges, so it starts empty.
        out.append(
            DefaultAcl(("pg_default_acl", r["oid"]), r["role"], r["schema"], r["objtype"],
                       Acl(rows(r["acl"]), False, DEFACL_TYPES[r["objtype"]][0], rows(r["acl_default"])))
        )
    return out


def read_roles(s: Session) -> tuple[dict[str, RoleDef], list[Membership]]:
    """Every role's attributes (no password) and every membership; the caller picks."""
    roles = {
        r["rolname"]: RoleDef(
            r["rolname"], r["rolsuper"], r["rolinherit"], r["rolcreaterole"], r["rolcreatedb"], r["rolcanlogin"],
            r["rolreplication"], r["rolbypassrls"], r["rolconnlimit"], r["valid_until"],
        )
        for r in s.query(
            """
            SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
                   r.rolreplication, r.rolbypassrls, r.rolconnlimit, r.rolvaliduntil::text AS valid_until
              FROM pg_catalog.pg_roles r
             WHERE r.oid <> 10 AND r.rolname !~ '^pg_'
             ORDER BY r.rolname
            """
        )
    }
    opts = "m.inherit_option, m.set_option" if s.info.version_num >= 160000 else "NULL::bool AS inherit_option, NULL::bool AS set_option"
    members = [
        Membership(r["role"], r["member"], r["admin_option"], r["inherit_option"], r["set_option"])
        for r in s.query(
            f"""
            SELECT DISTINCT pg_catalog.pg_get_userbyid(m.roleid) AS role, pg_catalog.pg_get_userbyid(m.member) AS member,
                   m.admin_option, {opts}
              FROM pg_catalog.pg_auth_members m
             ORDER BY 1, 2
            """
        )
    ]
    return roles, members


@dataclass
class InitialAcl:
    """Privileges changed on an object the dump does not create itself.

    Extension members come back with CREATE EXTENSION, system objects (``pg_catalog``, the
    built-in languages, ``plpgsql``) with the database; both start with the privileges
    ``pg_init_privs`` recorded when they were made (else acldefault()), and pg_dump writes
    only the difference from that. ``extension_oid`` is None for system objects.

    ``by_script``: an object the dump creates itself (not a member, not a system object) on
    which an extension's script granted or revoked, so ``pg_init_privs`` holds a row of type
    'e' for it (PostGIS's ``topology`` schema: CREATE EXTENSION postgis_topology makes it as
    the extension's schema, then grants USAGE to PUBLIC). pg_dump compares every object that
    has a ``pg_init_privs`` row with that row, member or not (only ``public`` is exempt), so
    its start is the row too; and the grants must run after that CREATE EXTENSION, or its
    GRANT records the user's own privileges in the copy's ``pg_init_privs`` and a backup of
    the copy leaves them out. Such rows are listed even when the ACL equals the recorded one:
    the object's own ACL entry (a change from acldefault()) must then be left out.
    """

    classid: str
    oid: int
    keyword: str  # the word GRANT uses: TABLE, SEQUENCE, FUNCTION, PROCEDURE, TYPE, SCHEMA, ...
    target: str  # qualified, quoted name (functions with their argument types)
    column: str | None  # quoted column name for a column grant
    owner: str
    extension_oid: int | None
    acl: Acl
    subid: int = 0  # column number of a column grant
    by_script: bool = False


def _signature(p: str, n: str) -> str:
    """``schema.name(type, ...)`` from the input argument types, the form GRANT ON FUNCTION
    accepts for functions, procedures and every kind of aggregate."""
    return (
        f"pg_catalog.quote_ident({n}.nspname) || '.' || pg_catalog.quote_ident({p}.proname) || '(' || "
        f"pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.format_type(a.t, NULL) "
        f"FROM pg_catalog.unnest({p}.proargtypes::pg_catalog.oid[]) WITH ORDINALITY AS a(t, i) ORDER BY a.i), ', ') || ')'"
    )


def _qualified(n: str, name: str) -> str:
    return f"pg_catalog.quote_ident({n}.nspname) || '.' || pg_catalog.quote_ident({name})"


def _candidate(classid: str, oid: str, builtin: str) -> str:
    """Only what the final filter of :func:`read_initial_acls` can keep: system objects,
    extension members and objects with a ``pg_init_privs`` row. Without it every user table,
    column and type is joined and named first (most of the query's time at 10,000 tables)."""
    return (
        f"({builtin} OR {oid} IN (SELECT xd.objid FROM pg_catalog.pg_depend xd"
        f" WHERE xd.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND xd.deptype = 'e'"
        f" AND xd.classid = '{classid}'::pg_catalog.regclass)"
        f" OR {oid} IN (SELECT xi.objoid FROM pg_catalog.pg_init_privs xi"
        f" WHERE xi.classoid = '{classid}'::pg_catalog.regclass))"
    )


def _acl_or_initial(acl: str, classid: str, oid: str) -> str:
    """Also necessary for the final filter: an ACL, or a ``pg_init_privs`` row (a NULL ACL with
    neither is the default and never differs). Cheap enough to filter ``pg_attribute`` before
    its join with ``pg_class``."""
    return (f"({acl} IS NOT NULL OR {oid} IN (SELECT xa.objoid FROM pg_catalog.pg_init_privs xa"
            f" WHERE xa.classoid = '{classid}'::pg_catalog.regclass))")


# Every object that can hold privileges and be made by CREATE EXTENSION or by initdb:
# (classoid, oid, subid, GRANT keyword, target, column, owner oid, acldefault code or NULL
# for columns, ACL, system object?). Array types, table row types and multiranges are left
# out: their privileges are their element's or table's (GRANT refuses them).
_OBJECTS = """
SELECT 'pg_class'::pg_catalog.regclass AS classoid, c.oid, 0 AS subid,
       CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS keyword,
       {rel} AS target, NULL::text AS colname, c.relowner AS ownerid,
       (CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char" AS code, c.relacl AS acl,
       n.nspname = 'pg_catalog' AS builtin
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND {rel_candidate}
UNION ALL
SELECT 'pg_class'::pg_catalog.regclass, c.oid, a.attnum, 'TABLE', {rel}, pg_catalog.quote_ident(a.attname),
       c.relowner, NULL, a.attacl, n.nspname = 'pg_catalog'
  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped AND {rel_candidate}
   AND {att_acl}
UNION ALL
SELECT 'pg_proc'::pg_catalog.regclass, p.oid, 0, CASE WHEN p.prokind = 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
       {sig}, NULL, p.proowner, 'f', p.proacl, n.nspname = 'pg_catalog'
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE {proc_candidate}
UNION ALL
SELECT 'pg_type'::pg_catalog.regclass, t.oid, 0, 'TYPE', {typ}, NULL, t.typowner, 'T', t.typacl,
       n.nspname = 'pg_catalog'
  FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
 WHERE t.typtype <> 'm' AND {type_candidate}
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.typarray = t.oid)
   AND (t.typrelid = 0 OR (SELECT r.relkind FROM pg_catalog.pg_class r WHERE r.oid = t.typrelid) = 'c')
UNION ALL
SELECT 'pg_namespace'::pg_catalog.regclass, n.oid, 0, 'SCHEMA', pg_catalog.quote_ident(n.nspname), NULL,
       n.nspowner, 'n', n.nspacl, n.nspname = 'pg_catalog'
  FROM pg_catalog.pg_namespace n
UNION ALL
SELECT 'pg_language'::pg_catalog.regclass, l.oid, 0, 'LANGUAGE', pg_catalog.quote_ident(l.lanname), NULL,
       l.lanowner, 'l', l.lanacl, l.oid < 16384
  FROM pg_catalog.pg_language l
UNION ALL
SELECT 'pg_foreign_data_wrapper'::pg_catalog.regclass, w.oid, 0, 'FOREIGN DATA WRAPPER',
       pg_catalog.quote_ident(w.fdwname), NULL, w.fdwowner, 'F', w.fdwacl, false
  FROM pg_catalog.pg_foreign_data_wrapper w
UNION ALL
SELECT 'pg_foreign_server'::pg_catalog.regclass, s.oid, 0, 'FOREIGN SERVER', pg_catalog.quote_ident(s.srvname), NULL,
       s.srvowner, 'S', s.srvacl, false
  FROM pg_catalog.pg_foreign_server s
""".format(rel=_qualified("n", "c.relname"), sig=_signature("p", "n"), typ=_qualified("n", "t.typname"),
           att_acl=_acl_or_initial("a.attacl", "pg_class", "a.attrelid"),
           rel_candidate=_candidate("pg_class", "c.oid", "c.relnamespace = 'pg_catalog'::pg_catalog.regnamespace"),
           proc_candidate=_candidate("pg_proc", "p.oid", "p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace"),
           type_candidate=_candidate("pg_type", "t.oid", "t.typnamespace = 'pg_catalog'::pg_catalog.regnamespace")
           + " AND " + _acl_or_initial("t.typacl", "pg_type", "t.oid"))

# NULL for a column (no privileges): an empty array literal has no dimension, and aclexplode()
# refuses it.
_DEFAULT = "pg_catalog.acldefault(o.code, o.ownerid)"


def read_initial_acls(s: Session) -> list[InitialAcl]:
    """Extension members and system objects whose privileges differ from their initial ones,
    and every other object an extension script recorded initial privileges for
    (:attr:`InitialAcl.by_script`).

    As pg_dump: the start is ``pg_init_privs`` when it has a row for the object (else
    acldefault(), or nothing for a column), and a NULL ACL next to an initial one means the
    default. Members of built-in extensions (plpgsql) count as system objects. The
    ``public`` schema is compared with a new database's instead (``public_schema_base``).
    """
    out = []
    for r in s.query(
        f"""
        WITH o AS ({_OBJECTS}),
        member AS (SELECT d.classid, d.objid, d.refobjid AS extoid FROM pg_catalog.pg_depend d
                    WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e')
        SELECT o.classoid::text AS classid, o.oid, o.subid, o.keyword, o.target, o.colname,
               pg_catalog.pg_get_userbyid(o.ownerid) AS owner,
               CASE WHEN m.extoid >= {FIRST_NORMAL_OID} THEN m.extoid END AS extension_oid,
               {acl_sql(f'COALESCE(o.acl, {_DEFAULT})')} AS acl,
               {acl_sql(f'COALESCE(ip.initprivs, {_DEFAULT})')} AS base, o.code,
               (NOT o.builtin AND m.extoid IS NULL) AS by_script
          FROM o
          LEFT JOIN pg_catalog.pg_init_privs ip
                 ON ip.classoid = o.classoid AND ip.objoid = o.oid AND ip.objsubid = o.subid
          LEFT JOIN member m ON m.classid = o.classoid AND m.objid = o.oid
         WHERE ((o.builtin OR m.extoid IS NOT NULL) AND o.acl IS DISTINCT FROM ip.initprivs)
            OR (NOT o.builtin AND m.extoid IS NULL AND ip.privtype = 'e'
                AND NOT (o.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND o.target = 'public'))
         ORDER BY 1, o.target, o.subid
        """
    ):
        base, items = rows(r["base"]), rows(r["acl"])
        if items == base and not r["by_script"]:
            continue
        out.append(InitialAcl(r["classid"], r["oid"], r["keyword"], r["target"], r["colname"], r["owner"],
                              r["extension_oid"], Acl(items, False, r["code"] or "c", base), r["subid"],
                              r["by_script"]))
    return out
