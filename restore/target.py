"""The target database: pyrestore's session on it, and looking before we write.

Where the DSN comes from, the connect timeout and password masking are the same for both
tools (:mod:`dumper.connect`); what is restore-specific is the session set-up below.
"""
from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dumper import connect as _connect
from dumper.connect import wire_encoding
from dumper.errors import ConnectError, StatementFailed, TargetNotEmpty, UsageError
from dumper.format.names import quote_literal

#: Schemas that are never "user objects" of a target.
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


def connect(dsn: str, *, autocommit: bool = True, application_name: str = "pyrestore",
            encoding: str | None = None) -> psycopg.Connection:
    """Open a connection; ``ConnectError`` (exit 3) with a password-free message on failure.

    ``prepare_threshold=None``: a restore runs thousands of distinct utility statements once
    each; server-side preparation would only add round trips (and ``SET`` repeated by pg_dump
    scripts would be prepared for nothing).

    ``encoding``: the backup's (metadata.json). Only a SQL_ASCII target needs it: there the
    server converts nothing, so pyrestore's own statements must carry table names in the
    backup's bytes, and psycopg cannot speak SQL_ASCII itself (it returns text as ``bytes``),
    so the session asks for the backup's encoding, and LATIN1 for a SQL_ASCII backup (see
    ``dumper.connect.wire_encoding``). Any other target converts from whatever the client
    declares, and the script's own ``SET client_encoding`` takes over during the replay.
    """
    conn = _connect.connect(dsn, autocommit=autocommit, prepare_threshold=None, application_name=application_name)
    deepen_send_buffer(conn)
    if conn.info.parameter_status("server_encoding") == "SQL_ASCII":
        conn.execute("SET client_encoding = " + quote_literal(wire_encoding(encoding or "SQL_ASCII")))
        if not autocommit:
            conn.commit()
    return conn


#: Send buffer asked for on a Unix-socket connection (the kernel caps it at ``net.core.wmem_max``).
SEND_BUFFER = 4 << 20


def deepen_send_buffer(conn: psycopg.Connection) -> None:
    """Let a Unix socket queue megabytes of COPY data for the server, not ~200 kB.

    With the default buffer the server drains what is queued in a few milliseconds, and the
    next bytes must wait until the sending thread runs Python again: after the decompression
    of the next read, or, with ``--jobs``, after the GIL comes back from the script reader
    (up to the 5 ms switch interval). Sampled ``pg_stat_activity`` showed the COPY backends
    waiting on the client (``ClientRead``) 22-28 % of the time with ``-j2`` and ~10 % with
    one connection; with a 4 MB buffer 1-3 %, as ``psql -f``. TCP connections keep the
    kernel's autotuning, which a fixed ``SO_SNDBUF`` would switch off."""
    try:
        s = socket.socket(fileno=os.dup(conn.pgconn.socket))
    except OSError:
        return
    try:
        if s.family == socket.AF_UNIX:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
    except OSError:
        pass  # best effort: the default buffer works, only slower
    finally:
        s.close()


_SET_SQL_ASCII = re.compile(rb"\A\s*SET\s+client_encoding\s*(?:=|\bTO\b)\s*'?sql_ascii'?\s*;\s*\Z", re.IGNORECASE)


def session_statement(raw: bytes, target_sql_ascii: bool) -> bytes:
    """A script header statement as it must run on this target.

    ``SET client_encoding = 'SQL_ASCII'`` into a SQL_ASCII database becomes LATIN1: for the
    server both mean "store the bytes as they come" (it never converts to or from SQL_ASCII,
    and every byte is valid LATIN1), while psycopg can decode and encode LATIN1 text, which
    pyrestore's own later statements (verification, data loads) need for non-ASCII names.
    """
    if target_sql_ascii and _SET_SQL_ASCII.match(raw):
        return b"SET client_encoding = 'LATIN1';"
    return raw


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the restore needs to know about the target session."""

    version_num: int
    database: str
    user: str
    superuser: bool


def server_info(conn: psycopg.Connection) -> ServerInfo:
    """Version, database, role and whether the role is a superuser."""
    row = conn.execute(
        "SELECT current_setting('server_version_num')::int, current_database(), current_user,"
        " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)").fetchone()
    assert row is not None
    return ServerInfo(version_num=row[0], database=row[1], user=row[2], superuser=bool(row[3]))


def user_relations(conn: psycopg.Connection, limit: int = 20) -> list[str]:
    """Tables, views, sequences, ... the target holds outside system schemas and extensions.

    Extension members do not count: an extension preinstalled by the platform is not user data
    and the backup's ``CREATE EXTENSION IF NOT EXISTS`` copes with it.
    """
    rows = conn.execute(
        sql.SQL("""
        SELECT format('%I.%I', n.nspname, c.relname)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
           AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
         ORDER BY 1 LIMIT {}""").format(sql.Literal(limit))).fetchall()
    return [r[0] for r in rows]


def foreign_owned_only(conn: psycopg.Connection) -> bool:
    """True when every user relation of the target lives in a schema another role owns.

    That is the shape of a managed platform's fresh database (Supabase: ``auth``, ``storage``,
    ... owned by ``supabase_*_admin``, the user's ``postgres`` role not a superuser): restoring
    there means adding to what exists, not replacing it, so pyrestore picks ``--skip-existing``.
    """
    row = conn.execute("""
        SELECT count(*) FILTER (WHERE NOT pg_has_role(current_user, n.nspowner, 'USAGE'))::int, count(*)::int
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
           AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')""").fetchone()
    return bool(row and row[1] > 0 and row[0] == row[1])


def database_name(dsn: str) -> str | None:
    """The database a DSN connects to, as libpq would resolve it (dbname, PGDATABASE, user)."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return None
    name = params.get("dbname") or os.environ.get("PGDATABASE") or params.get("user") or os.environ.get("PGUSER")
    return str(name) if name else None


def _create_variants(name: str, like: Mapping[str, Any] | None) -> list[tuple[sql.Composable, str]]:
    """The ``CREATE DATABASE`` statements to try, best first, each with what to say if it is used.

    As pg_dump's ``--create``: the source database's encoding and locale (``metadata.json``'s
    ``server``). A target without that locale gets the encoding with the server's default
    locale, then with the C locale (which fits every encoding), each said in one line."""
    base = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
    enc = (like or {}).get("encoding")
    if not enc:  # a bare script: the server's defaults
        return [(base, "")]
    with_enc = sql.SQL("{} ENCODING {}").format(base, sql.Literal(enc))
    collate, ctype = (like or {}).get("collate"), (like or {}).get("ctype")
    out: list[tuple[sql.Composable, str]] = []
    if collate and ctype:
        out.append((sql.SQL("{} LC_COLLATE {} LC_CTYPE {}").format(with_enc, sql.Literal(collate), sql.Literal(ctype)), ""))
    out.append((with_enc, f" in {enc} with the server's default locale" + (
        f" (the backup's {collate}/{ctype} cannot be used here)" if collate and ctype else "")))
    out.append((sql.SQL("{} LC_COLLATE 'C' LC_CTYPE 'C'").format(with_enc),
                f" in {enc} with the C locale (the backup's locale and the server's default do not fit {enc} here)"))
    return out


#: CREATE DATABASE refusing a locale: unknown name (42809) or one that does not fit the encoding (22023).
_LOCALE_STATES = frozenset({"42809", "22023"})


def create_database(dsn: str, *, drop_first: bool, info: Callable[[str], None],
                    like: Mapping[str, Any] | None = None) -> bool:
    """``--create``: create the DSN's database from a maintenance connection; True when created.

    ``TEMPLATE template0``: template1 may carry local additions that would collide with the
    backup's objects (what pg_dump's ``--create`` scripts do as well); encoding and locale
    those of the source (``like``: metadata.json's ``server``; see :func:`_create_variants`).
    An existing database is an error unless ``--clean`` asks to drop it first; a drop that
    fails (sessions connected) stops with the server's reason.
    """
    name = database_name(dsn)
    if not name:
        raise UsageError("--create needs a database name in the DSN (dbname=...)")
    last: Exception | None = None
    conn = None
    for maint in ("postgres", "template1"):
        try:
            conn = connect(make_conninfo(dsn, dbname=maint), autocommit=True)
            break
        except ConnectError as exc:
            last = exc
    if conn is None:
        assert last is not None
        raise last
    try:
        exists = conn.execute("SELECT EXISTS (SELECT FROM pg_database WHERE datname = %s)", [name]).fetchone()
        if exists and exists[0]:
            if not drop_first:
                raise TargetNotEmpty(f"--create: database {name} already exists; add --clean to drop and re-create it, "
                                     "or restore into it without --create; nothing was changed")
            try:
                conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
            except psycopg.Error as exc:
                raise StatementFailed(f"--create --clean: cannot drop database {name}: "
                                      f"{exc.diag.message_primary or exc}") from None
            info(f"dropped database {name}")
        variants = _create_variants(name, like)
        for i, (stmt, how) in enumerate(variants):
            try:
                conn.execute(stmt)
            except psycopg.Error as exc:
                if exc.sqlstate in _LOCALE_STATES and i + 1 < len(variants):
                    continue
                raise StatementFailed(f"--create: cannot create database {name}: {exc.diag.message_primary or exc}") from None
            info(f"created database {name}{how}")
            return True
        raise AssertionError("unreachable: the last variant raises or returns")
    finally:
        conn.close()
