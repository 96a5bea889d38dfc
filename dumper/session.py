"""One database session that sees one instant.

Every catalog query and every COPY of a backup runs in a single ``REPEATABLE READ, READ ONLY``
transaction, so the DDL and the rows describe the same moment. Parallel workers join that
moment through ``pg_export_snapshot()`` / ``SET TRANSACTION SNAPSHOT``. The ``pg_get_*def``
deparsers read the live catalog, not the snapshot, so tables are locked (``ACCESS SHARE``)
before any of them is called: once locked, a table's definition cannot change under us.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import psycopg
from psycopg import sql as _sql  # noqa: F401  (re-exported for callers building queries)
from psycopg.rows import dict_row

from dumper import ident
from dumper.errors import ConnectError, EncodingError, LockTimeout, PermissionDenied, ServerError, UsageError

#: Client-only encodings (the server never stores text in them): a trailing byte of a
#: multi-byte character can be an ASCII byte such as a backslash or a quote, so a script or a
#: CSV file in one of them cannot be split or converted byte by byte, as pyrestore and the
#: CSV writer do. ``--encoding`` refuses them.
CLIENT_ONLY_ENCODINGS = frozenset({"SJIS", "SHIFT_JIS_2004", "BIG5", "GBK", "UHC", "GB18030", "JOHAB"})

#: Conversion failures: a character with no equivalent in the target encoding, or bytes that
#: are not valid in it (a SQL_ASCII database dumped with ``--encoding UTF8``).
CONVERSION_ERRORS: tuple[type[psycopg.Error], ...] = (
    psycopg.errors.UntranslatableCharacter, psycopg.errors.CharacterNotInRepertoire)


def wire_encoding(encoding: str) -> str:
    """The client_encoding a dump session asks for to receive text in ``encoding``.

    ``SQL_ASCII`` means "bytes, no conversion": the server does not convert between
    SQL_ASCII and any other encoding in either direction, and LATIN1 accepts every byte, so on
    a SQL_ASCII database ``client_encoding = LATIN1`` carries exactly the stored bytes, and
    psycopg decodes them as Latin-1 (one character per byte, U+0000-U+00FF) and encodes them
    back to the same bytes. With ``client_encoding = SQL_ASCII`` psycopg would hand text back
    as ``bytes`` and refuse to encode non-ASCII query text.
    """
    return "LATIN1" if encoding == "SQL_ASCII" else encoding

# The session settings every dump needs, whatever the user's defaults: dates and intervals
# in a form the server reads back, floats that round-trip, no timeouts, and an empty
# search_path so the deparsers qualify every name. client_encoding is not here: the leader
# sets it once it knows the database's encoding (``Session``), workers get it in their DSN.
_SETUP = (
    "SET DateStyle = ISO",
    "SET IntervalStyle = postgres",
    "SET extra_float_digits = 3",
    "SET statement_timeout = 0",
    "SET lock_timeout = 0",
    "SET idle_in_transaction_session_timeout = 0",
    "SET synchronize_seqscans = off",
    "SET row_security = off",
    # COPY writes bytea as the session prints it: pinned so the script and the CSV files are the
    # same whatever a database or role sets (bytea_output = escape is lossless but differs).
    "SET bytea_output = hex",
    # timestamptz values carry their offset, so any zone restores the same instants; UTC makes
    # the script and the CSV files independent of the client's PGTZ.
    "SET TimeZone = 'UTC'",
    "SELECT pg_catalog.set_config('search_path', '', false)",
)


def resolve_dsn(dsn: str | None) -> str:
    """The positional DSN, else ``DATABASE_URL``, else "" (libpq's PG* variables, pgpass, services)."""
    if dsn:
        return dsn
    return os.environ.get("DATABASE_URL", "")


_KV_PASSWORD = re.compile(r"""(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'?|\S*)((?:\s+[^\s=']+(?=\s|$))*)""")
_URI = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def dsn_secrets(dsn: str) -> list[str]:
    """Every piece of ``dsn`` that may be (part of) a password, longest first.

    The parsed password when libpq can parse the DSN, and also what it would make of a
    malformed one: the raw and percent-decoded text between ``user:`` and the last ``@`` of a
    URI and each part of it around an unencoded ``@`` (libpq then reads the rest as a host
    name), ``?password=``, and a key/value ``password=`` value with the words after it up to the
    next ``key=`` (an unquoted space in a password). Messages are masked with all of them.
    """
    found: set[str] = set()
    parsed: str | None = None
    try:
        pw = psycopg.conninfo.conninfo_to_dict(dsn).get("password")
        parsed = str(pw) if pw else None
    except psycopg.ProgrammingError:
        pass
    if parsed:
        found.add(parsed)
    uri = _URI.match(dsn)
    if uri:
        rest = dsn[uri.end():]
        if "@" in rest:
            userinfo = rest[:rest.rfind("@")]
            if ":" in userinfo:
                raw = userinfo.split(":", 1)[1]
                found.update([raw, *raw.split("@")])
                found.add(urllib.parse.unquote(raw, errors="replace"))
        for m in re.finditer(r"[?&]password=([^&#]*)", dsn, re.IGNORECASE):
            found.update([m.group(1), urllib.parse.unquote(m.group(1), errors="replace")])
    else:
        for m in _KV_PASSWORD.finditer(dsn):
            value = m.group(1)
            found.update([value, value.strip("'"), *m.group(2).split()])
    # a one-character fragment masked everywhere would garble the message for nothing
    return sorted((x for x in found if len(x) >= 2 or (x and x == parsed)), key=len, reverse=True)


def mask_secrets(text: str, dsn: str) -> str:
    """``text`` (an error message) with every possible password piece of ``dsn`` replaced by ``***``."""
    for secret in dsn_secrets(dsn):
        if secret:
            text = text.replace(secret, "***")
    return text


def dsn_error(dsn: str) -> str | None:
    """None when libpq can parse ``dsn``, else a one-line message without any password piece."""
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as e:
        return "invalid connection string: " + mask_secrets(_first_line(e), dsn)
    return None


def redact(dsn: str) -> str:
    """The DSN with any password removed, for messages and metadata."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparseable connection string>"
    parts.pop("password", None)
    if not parts:
        return "(libpq defaults / PG* environment)"
    # mask_secrets: a password with an unencoded '@' ends up in the host name
    return mask_secrets(psycopg.conninfo.make_conninfo(**{k: v for k, v in parts.items() if v is not None}), dsn)


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or err.__class__.__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # libpq puts the useful part ("FATAL: database ... does not exist") on the last line.
    return lines[-1] if len(lines) > 1 and lines[-1].upper().startswith(("FATAL", "ERROR")) else lines[0]


def connect(dsn: str, *, application_name: str = "pydump", autocommit: bool = False) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(dsn, autocommit=autocommit, application_name=application_name, connect_timeout=int(os.environ.get("PGCONNECT_TIMEOUT", "15")))
    except psycopg.OperationalError as e:
        raise ConnectError(f"cannot connect: {mask_secrets(_first_line(e), dsn)}") from None
    except psycopg.ProgrammingError as e:
        raise ConnectError(f"invalid connection string: {mask_secrets(_first_line(e), dsn)}") from None
    return conn


@dataclass
class ServerInfo:
    version_num: int
    version: str
    database: str
    user: str
    host: str
    port: int
    encoding: str  # the database's (server_encoding)
    superuser: bool


class Session:
    """The leader's snapshot connection. Catalog readers only ever call :meth:`query`."""

    def __init__(self, dsn: str, *, snapshot: str | None = None, encoding: str | None = None) -> None:
        """``encoding``: the encoding of the output (``--encoding``); default the database's."""
        self.dsn = dsn
        self.conn = connect(dsn)
        self.queries = 0
        # Relations this role may not read (found before locking): their data and sequence
        # values are not read (--skip-unreadable).
        self.unreadable: set[int] = set()
        try:
            with self.conn.cursor() as cur:
                for stmt in _SETUP:
                    cur.execute(stmt)
            self._set_encoding(encoding)
            self.conn.commit()
            self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if snapshot:
                self.conn.execute("SET TRANSACTION SNAPSHOT %s" % ident.quote_literal(snapshot))
            row = self.one(
                "SELECT current_setting('server_version_num')::int AS num, current_setting('server_version') AS ver,"
                " current_database() AS db, current_user AS usr, current_setting('server_encoding') AS enc,"
                " (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) AS su"
            )
        except psycopg.Error as e:
            self.close()
            raise ServerError(f"cannot start the snapshot session: {_first_line(e)}") from None
        except UsageError:
            self.close()
            raise
        info = self.conn.info
        self.info = ServerInfo(
            version_num=row["num"], version=row["ver"].split()[0], database=row["db"], user=row["usr"],
            host=info.host, port=int(info.port), encoding=row["enc"], superuser=bool(row["su"]),
        )
        kw = self.query("SELECT word FROM pg_catalog.pg_get_keywords() WHERE catcode <> 'U'")
        ident.set_keywords({r["word"] for r in kw})

    def _set_encoding(self, wanted: str | None) -> None:
        """Make the session speak the dump's encoding, as pg_dump does.

        The output is in the database's encoding unless ``--encoding`` asks for another: names,
        definitions and COPY data then pass through as the server's bytes, and a database in
        LATIN1 or SQL_ASCII is written exactly as stored. ``self.encoding`` is what the script
        declares, ``self.codec`` the Python codec that turns catalog text back into those bytes
        (every writer of the script and of CSV headers must use it).
        """
        # Reported by the server at connect time; a query would return bytes under SQL_ASCII.
        db = self.conn.info.parameter_status("server_encoding") or "UTF8"
        self.db_encoding = db
        if wanted:
            row = self.conn.execute(
                "SELECT pg_catalog.pg_encoding_to_char(pg_catalog.pg_char_to_encoding(%s))", [wanted]).fetchone()
            value = row[0] if row else ""
            name = value.decode("ascii") if isinstance(value, bytes) else str(value)
            if not name:
                raise UsageError(f"--encoding {wanted}: not an encoding PostgreSQL knows")
            if name in CLIENT_ONLY_ENCODINGS:
                raise UsageError(f"--encoding {name}: a client-only encoding (multi-byte characters may contain "
                                 "ASCII bytes), which pydump cannot write; use UTF8 or a server encoding")
            if name == "SQL_ASCII" and db != "SQL_ASCII":
                raise UsageError(f"--encoding SQL_ASCII: the database is in {db}; SQL_ASCII output is only "
                                 "possible from a SQL_ASCII database (leave --encoding out)")
        else:
            name = db
        self.encoding = name
        self.wire_encoding = wire_encoding(name)
        self.conn.execute("SET client_encoding = " + ident.quote_literal(self.wire_encoding))
        try:
            self.codec = self.conn.info.encoding
        except psycopg.NotSupportedError:
            raise UsageError(f"the {name} encoding has no Python codec; dump with --encoding UTF8") from None

    def encode(self, text: str) -> bytes:
        """Script text (pydump's ASCII SQL around catalog text) as the bytes of the dump's encoding."""
        return text.encode(self.codec)

    # -- queries ------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.queries += 1
        try:
            with self.conn.cursor(row_factory=dict_row) as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        except psycopg.errors.InsufficientPrivilege as e:
            raise PermissionDenied(_first_line(e)) from None
        except CONVERSION_ERRORS as e:
            raise EncodingError(f"catalog text (a name, comment or definition) cannot be converted to "
                                f"{self.encoding}: {_first_line(e)}") from None
        except UnicodeDecodeError as e:
            raise EncodingError(f"catalog text holds bytes that are not valid {self.encoding} ({e.reason} at "
                                f"byte {e.start}); dump with --encoding UTF8 if the server can convert them") from None
        except psycopg.OperationalError as e:
            raise ServerError(f"lost the server: {_first_line(e)}") from None
        except psycopg.Error as e:
            raise ServerError(_first_line(e)) from None

    def one(self, sql: str, params: Sequence[Any] | None = None) -> dict[str, Any]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
        assert row is not None
        return row

    def export_snapshot(self) -> str:
        return str(self.one("SELECT pg_catalog.pg_export_snapshot() AS s")["s"])

    def lock_tables(self, names: Iterable[str], timeout_ms: int | None) -> None:
        """``LOCK TABLE ... IN ACCESS SHARE MODE`` in batches, waiting at most ``timeout_ms``.

        Batched like pg_dump (one statement per ~100 kB of names): one round trip per
        table would dominate the catalog phase on a database with thousands of tables.
        """
        batch: list[str] = []
        size = 0
        if timeout_ms:
            self.conn.execute(f"SET LOCAL lock_timeout = {int(timeout_ms)}")
        for name in names:
            batch.append(name)
            size += len(name) + 2
            if size > 100_000:
                self._lock(batch)
                batch, size = [], 0
        if batch:
            self._lock(batch)
        if timeout_ms:
            self.conn.execute("SET LOCAL lock_timeout = 0")

    def _lock(self, batch: list[str]) -> None:
        self.queries += 1
        try:
            self.conn.execute("LOCK TABLE " + ", ".join(batch) + " IN ACCESS SHARE MODE")
        except psycopg.errors.LockNotAvailable:
            raise LockTimeout(
                "could not lock a table within --lock-wait-timeout (another session holds a conflicting lock)"
            ) from None
        except psycopg.errors.InsufficientPrivilege as e:
            raise PermissionDenied(_first_line(e)) from None
        except psycopg.errors.UndefinedTable as e:
            raise ServerError(f"a table disappeared before it could be locked: {_first_line(e)}") from None
        except psycopg.Error as e:
            raise ServerError(_first_line(e)) from None

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass
