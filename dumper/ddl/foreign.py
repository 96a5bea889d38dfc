"""Foreign-data wrappers, servers and user mappings."""

from __future__ import annotations

from dumper.catalog.foreign import ForeignDataWrapper, ForeignServer, UserMapping
from dumper.format.names import quote_ident, quote_literal

#: Option names that hold a secret: written like pg_dump does (a backup is private, 0700/0600,
#: and a restored server must still connect), left out under ``--redact-auth``.
SECRET_OPTIONS = frozenset({"password"})


def options_clause(options: list[tuple[str, str]]) -> str:
    if not options:
        return ""
    return " OPTIONS (\n    " + ",\n    ".join(f"{quote_ident(k)} {quote_literal(v)}" for k, v in options) + "\n)"


def create_fdw(w: ForeignDataWrapper) -> str:
    sql = f"CREATE FOREIGN DATA WRAPPER {quote_ident(w.name)}"
    if w.handler:
        sql += f" HANDLER {w.handler}"
    if w.validator:
        sql += f" VALIDATOR {w.validator}"
    return sql + options_clause(w.options) + ";\n"


def create_server(s: ForeignServer) -> str:
    sql = f"CREATE SERVER {quote_ident(s.name)}"
    if s.type is not None:
        sql += f" TYPE {quote_literal(s.type)}"
    if s.version is not None:
        sql += f" VERSION {quote_literal(s.version)}"
    return sql + f" FOREIGN DATA WRAPPER {quote_ident(s.wrapper)}" + options_clause(s.options) + ";\n"


def user_mapping_target(u: UserMapping) -> str:
    return "PUBLIC" if u.user is None else quote_ident(u.user)


def create_user_mapping(u: UserMapping, redact: bool = False) -> tuple[str, list[str]]:
    """The statement, and the names of the secret options left out of it (only with ``redact``)."""
    dropped = [k for k, _ in u.options if redact and k.lower() in SECRET_OPTIONS]
    kept = [(k, v) for k, v in u.options if k not in dropped]
    sql = f"CREATE USER MAPPING FOR {user_mapping_target(u)} SERVER {quote_ident(u.server)}" + options_clause(kept) + ";\n"
    return sql, dropped
