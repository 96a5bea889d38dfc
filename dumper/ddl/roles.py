"""Guarded role creation and memberships (never a password)."""

from __future__ import annotations

from dumper.catalog.privileges import Membership, RoleDef
from dumper.format.names import dollar_quote, quote_ident, quote_literal


def _do(body: str) -> str:
    return f"DO {dollar_quote(body)};\n"


def create_role(r: RoleDef) -> str:
    """``CREATE ROLE`` inside ``IF NOT EXISTS``: restoring where the role exists changes nothing.

    The attributes are those of the source role; a password is never read or written, so a
    role created here cannot log in with a password until one is set.
    """
    attrs = [
        "SUPERUSER" if r.superuser else "NOSUPERUSER",
        "INHERIT" if r.inherit else "NOINHERIT",
        "CREATEROLE" if r.createrole else "NOCREATEROLE",
        "CREATEDB" if r.createdb else "NOCREATEDB",
        "LOGIN" if r.login else "NOLOGIN",
        "REPLICATION" if r.replication else "NOREPLICATION",
        "BYPASSRLS" if r.bypassrls else "NOBYPASSRLS",
    ]
    if r.connlimit != -1:
        attrs.append(f"CONNECTION LIMIT {r.connlimit}")
    if r.valid_until is not None:
        attrs.append(f"VALID UNTIL {quote_literal(r.valid_until)}")
    body = (
        f"\nBEGIN\n  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {quote_literal(r.name)}) THEN\n"
        f"    CREATE ROLE {quote_ident(r.name)} WITH {' '.join(attrs)};\n  END IF;\nEND\n"
    )
    return _do(body)


def grant_membership(m: Membership) -> str:
    opts = []
    if m.admin:
        opts.append("ADMIN OPTION" if m.inherit is None else "ADMIN TRUE")
    if m.inherit is not None:
        opts.append(f"INHERIT {'TRUE' if m.inherit else 'FALSE'}")
        opts.append(f"SET {'TRUE' if m.set else 'FALSE'}")
    with_ = f" WITH {', '.join(opts)}" if opts else ""
    body = (
        "\nBEGIN\n  IF NOT EXISTS (SELECT FROM pg_catalog.pg_auth_members m"
        f" WHERE m.roleid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = {quote_literal(m.role)})"
        f" AND m.member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = {quote_literal(m.member)})) THEN\n"
        f"    GRANT {quote_ident(m.role)} TO {quote_ident(m.member)}{with_};\n  END IF;\nEND\n"
    )
    return _do(body)
