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

from dumper.catalog.base import Acl, acl_sql

if TYPE_CHECKING:
    from dumper.session import Session

# pg_default_acl.defaclobjtype → (acldefault code, the word ALTER DEFAULT PRIVILEGES uses)
DEFACL_TYPES = {"r": ("r", "TABLES"), "S": ("s", "SEQUENCES"), "f": ("f", "FUNCTIONS"), "T": ("T", "TYPES"), "n": ("n", "SCHEMAS")}


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
    rows = s.query(
        f"""
        SELECT d.oid, pg_catalog.pg_get_userbyid(d.defaclrole) AS role, n.nspname AS schema, d.defaclobjtype AS objtype,
               {acl_sql('d.defaclacl')} AS acl
          FROM pg_catalog.pg_default_acl d LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
         ORDER BY 2, 3 NULLS FIRST, 4
        """
    )
    out = []
    for r in rows:
        if r["objtype"] not in DEFACL_TYPES:
            continue
        items = [tuple(i) for i in (r["acl"] or [])]
        out.append(
            DefaultAcl(("pg_default_acl", r["oid"]), r["role"], r["schema"], r["objtype"],
                       Acl(items, False, DEFACL_TYPES[r["objtype"]][0]))  # type: ignore[arg-type]
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
