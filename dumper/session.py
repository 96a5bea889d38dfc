"""One database session that sees one instant.

Every catalog query and every COPY of a backup runs in a single ``REPEATABLE READ, READ ONLY``
transaction, so the DDL and the rows describe the same moment. Parallel workers join that
moment through ``pg_export_snapshot()`` / ``SET TRANSACTION SNAPSHOT``. The ``pg_get_*def``
deparsers read the live catalog, not the snapshot, so tables are locked (``ACCESS SHARE``)
before any of them is called: once locked, a table's definition cannot change under us.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import psycopg
from psycopg.rows import dict_row, tuple_row

from dumper.connect import connect, first_line as _first_line, wire_encoding
from dumper.format.names import quote_literal, set_keywords
from dumper.catalog.base import require_deparsed
from dumper.errors import EncodingError, LockTimeout, PermissionDenied, ServerError, UsageError

#: Client-only encodings (the server never stores text in them): a trailing byte of a
#: multi-byte character can be an ASCII byte such as a backslash or a quote, so a script or a
#: CSV file in one of them cannot be split or converted byte by byte, as pyrestore and the
#: CSV writer do. ``--encoding`` refuses them.
CLIENT_ONLY_ENCODINGS = frozenset({"SJIS", "SHIFT_JIS_2004", "BIG5", "GBK", "UHC", "GB18030", "JOHAB"})

#: Conversion failures: a character with no equivalent in the target encoding, or bytes that
#: are not valid in it (a SQL_ASCII database dumped with ``--encoding UTF8``).
CONVERSION_ERRORS: tuple[type[psycopg.Error], ...] = (
    psycopg.errors.UntranslatableCharacter, psycopg.errors.CharacterNotInRepertoire)


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
    collate: str | None = None  # the database's libc LC_COLLATE / LC_CTYPE, for pyrestore --create
    ctype: str | None = None


class Session:
    """The leader's snapshot connection. Catalog readers only ever call :meth:`query`."""

    def __init__(self, dsn: str, *, snapshot: str | None = None, encoding: str | None = None) -> None:
        """``encoding``: the encoding of the output (``--encoding``); default the database's."""
        self.dsn = dsn
        self.conn = connect(dsn, application_name="pydump")
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
                self.conn.execute("SET TRANSACTION SNAPSHOT %s" % quote_literal(snapshot))
            row = self.one(
                "SELECT current_setting('server_version_num')::int AS num, current_setting('server_version') AS ver,"
                " current_database() AS db, current_user AS usr, current_setting('server_encoding') AS enc,"
                " (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) AS su,"
                " d.datcollate::text AS collate, d.datctype::text AS ctype"
                " FROM pg_catalog.pg_database d WHERE d.datname = current_database()"
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
            collate=row["collate"], ctype=row["ctype"],
        )
        kw = self.query("SELECT word FROM pg_catalog.pg_get_keywords() WHERE catcode <> 'U'")
        set_keywords({r["word"] for r in kw})

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
        self.conn.execute("SET client_encoding = " + quote_literal(self.wire_encoding))
        try:
            self.codec = self.conn.info.encoding
        except psycopg.NotSupportedError:
            raise UsageError(f"the {name} encoding has no Python codec; dump with --encoding UTF8") from None

    def encode(self, text: str) -> bytes:
        """Script text (pydump's ASCII SQL around catalog text) as the bytes of the dump's encoding."""
        return text.encode(self.codec)

    # -- queries ------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None, *,
              deparsed: tuple[str, ...] = (), what: str = "object", tuples: bool = False) -> list[Any]:
        """Rows as dicts. ``deparsed``: columns that hold a ``pg_get_*def`` result and are never
        NULL for an object that exists (see :func:`require_deparsed`). ``tuples``: rows as plain
        tuples instead (built in C: several times cheaper for the large catalog reads; no
        ``deparsed`` check then)."""
        self.queries += 1
        try:
            with self.conn.cursor(row_factory=tuple_row if tuples else dict_row) as cur:
                cur.execute(sql, params)
                rows = cur.fetchall()
            if deparsed:
                require_deparsed(rows, deparsed, what)
            return rows
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
            held = self._locked_by_others(batch)
            what = f"table {', '.join(held[:3])}" + (f" (and {len(held) - 3} more)" if len(held) > 3 else "") \
                if held else "a table"
            raise LockTimeout(
                f"could not lock {what} within --lock-wait-timeout (another session holds a conflicting lock)"
            ) from None
        except psycopg.errors.InsufficientPrivilege as e:
            raise PermissionDenied(_first_line(e)) from None
        except psycopg.errors.UndefinedTable as e:
            raise ServerError(f"a table disappeared before it could be locked: {_first_line(e)}") from None
        except psycopg.Error as e:
            raise ServerError(_first_line(e)) from None

    def _locked_by_others(self, batch: list[str]) -> list[str]:
        """Which of ``batch`` another session holds an ACCESS EXCLUSIVE lock on, asked on a
        fresh connection (this transaction is aborted): the lock-timeout error names the table
        a user has to go and look at. Empty when that cannot be found out."""
        try:
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as conn:
                rows = conn.execute(
                    "SELECT DISTINCT l.relation::regclass::text FROM pg_catalog.pg_locks l"
                    " WHERE l.granted AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_backend_pid()"
                    " AND l.relation = ANY (SELECT pg_catalog.to_regclass(n) FROM unnest(%s::text[]) n)"
                    " ORDER BY 1", (batch,)).fetchall()
            return [r[0] for r in rows]
        except psycopg.Error:
            return []

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass

