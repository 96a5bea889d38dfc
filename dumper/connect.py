"""Connecting, for both tools: where the DSN comes from, how long to wait, and no password anywhere.

Connection parameters come from libpq's own sources (a DSN or URI, ``DATABASE_URL``, ``PG*``
variables, ``~/.pgpass``, service files): psycopg hands an empty or partial conninfo to libpq,
which fills the gaps exactly as ``psql`` would. A password must never reach a message, a file
or an event row, and libpq's own error messages quote parts of a malformed DSN (often the
password), so every message that may carry connection text goes through :func:`mask_secrets`.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import threading
import time
import urllib.parse
import weakref
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dumper.errors import ConnectError

#: Seconds to wait for a server when neither the DSN nor ``PGCONNECT_TIMEOUT`` says: libpq's
#: own default is to wait forever, which turns a wrong host into a hung backup or restore.
DEFAULT_CONNECT_TIMEOUT = 15


def resolve_dsn(arg: str | None) -> str:
    """The DSN argument, else ``DATABASE_URL``, else "" (libpq's ``PG*`` variables, pgpass, services).

    A DSN libpq cannot parse stops here (:class:`ConnectError`, exit 3), before anything
    connects, reports or prints it, with a message that has no piece of the password.
    """
    dsn = arg if arg else os.environ.get("DATABASE_URL", "")
    bad = dsn_error(dsn)
    if bad:
        raise ConnectError(bad)
    return dsn


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
        pw = conninfo_to_dict(dsn).get("password")
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
        conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as e:
        return "invalid connection string: " + mask_secrets(first_line(e), dsn)
    return None


def redact_dsn(dsn: str) -> str:
    """The DSN with any password removed, for messages and metadata."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparseable connection string>"
    parts.pop("password", None)
    if not parts:
        return "(libpq defaults / PG* environment)"
    # mask_secrets: a password with an unencoded '@' ends up in the host name
    return mask_secrets(make_conninfo(**{k: v for k, v in parts.items() if v is not None}), dsn)


def first_line(err: BaseException) -> str:
    """The useful line of a server or libpq error (libpq puts "FATAL: database ... does not
    exist" on the last line, after the address it tried)."""
    text = str(err).strip() or err.__class__.__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if len(lines) > 1 and lines[-1].upper().startswith(("FATAL", "ERROR")) else lines[0]


def connect_timeout(dsn: str) -> dict[str, Any]:
    """``connect_timeout`` to add: none when the DSN or ``PGCONNECT_TIMEOUT`` sets one (libpq
    reads those itself), else :data:`DEFAULT_CONNECT_TIMEOUT`."""
    try:
        given = "connect_timeout" in conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        given = False
    if given or os.environ.get("PGCONNECT_TIMEOUT"):
        return {}
    return {"connect_timeout": DEFAULT_CONNECT_TIMEOUT}


#: TCP settings added unless the DSN sets them: a peer that vanishes (host down, cable cut,
#: a NAT that forgot the connection) is noticed by the kernel — keepalive probes after 30 s of
#: idleness, 3 unanswered 10 s apart; sent data unacknowledged for 60 s (``tcp_user_timeout``)
#: — and the blocked read or write fails instead of waiting for the OS's two-hour default.
#: Ignored on a Unix socket.
TCP_DEFAULTS = {"keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10",
                "keepalives_count": "3", "tcp_user_timeout": "60000"}


def tcp_settings(dsn: str) -> dict[str, Any]:
    """The :data:`TCP_DEFAULTS` the DSN does not set itself."""
    try:
        given = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        given = {}
    return {k: v for k, v in TCP_DEFAULTS.items() if k not in given}


def connect(dsn: str, *, application_name: str, autocommit: bool = False, **kwargs: Any) -> psycopg.Connection[Any]:
    """Open a connection; :class:`ConnectError` (exit 3) with a password-free message on failure.

    Every connection gets a connect timeout, TCP keepalives and ``tcp_user_timeout``
    (:data:`TCP_DEFAULTS`) and is watched for stalls (:class:`StallWatchdog`), so neither tool
    hangs forever on a dead network path."""
    try:
        conn = psycopg.connect(dsn, autocommit=autocommit, application_name=application_name,
                               **connect_timeout(dsn), **{**tcp_settings(dsn), **kwargs})
        StallWatchdog.watch(conn, dsn)
        return conn
    except psycopg.OperationalError as e:
        raise ConnectError(f"cannot connect to {redact_dsn(dsn)}: {mask_secrets(first_line(e), dsn)}") from None
    except psycopg.ProgrammingError:  # a DSN libpq cannot parse
        raise ConnectError(dsn_error(dsn) or "invalid connection string") from None


def wire_encoding(encoding: str) -> str:
    """The client_encoding a session asks for to exchange text in ``encoding``.

    ``SQL_ASCII`` means "bytes, no conversion": the server does not convert between
    SQL_ASCII and any other encoding in either direction, and LATIN1 accepts every byte, so on
    a SQL_ASCII database ``client_encoding = LATIN1`` carries exactly the stored bytes, and
    psycopg decodes them as Latin-1 (one character per byte, U+0000-U+00FF) and encodes them
    back to the same bytes. With ``client_encoding = SQL_ASCII`` psycopg would hand text back
    as ``bytes`` and refuse to encode non-ASCII query text.
    """
    return "LATIN1" if encoding == "SQL_ASCII" else encoding


# --------------------------------------------------------------------------- stalls

#: Seconds a connection waiting for the server may go without a byte in either direction
#: before the server is asked whether it is still working for it (``PYDUMP_STALL_TIMEOUT_S``).
DEFAULT_STALL_TIMEOUT_S = 120.0
_TCP_INFO = getattr(socket, "TCP_INFO", None)


def stall_timeout_s() -> float:
    try:
        return max(1.0, float(os.environ.get("PYDUMP_STALL_TIMEOUT_S", DEFAULT_STALL_TIMEOUT_S)))
    except ValueError:
        return DEFAULT_STALL_TIMEOUT_S


def _silence_ms(fd: int) -> int | None:
    """Milliseconds since the last data sent or received on TCP socket ``fd`` (Linux
    ``TCP_INFO``: ``tcpi_last_data_sent``, ``tcpi_last_data_recv``); None if not TCP."""
    if _TCP_INFO is None:
        return None
    s = socket.socket(fileno=os.dup(fd))
    try:
        if s.family not in (socket.AF_INET, socket.AF_INET6):
            return None
        info = s.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 104)
    except OSError:
        return None
    finally:
        s.close()
    if len(info) < 56:
        return None
    sent, _ack, recv = struct.unpack_from("III", info, 44)
    return int(min(sent, recv))


class StallWatchdog(threading.Thread):
    """Turns a stalled connection into an error instead of a hang.

    Keepalives and ``tcp_user_timeout`` catch a peer that is gone, not a path that stays up and
    forwards nothing (a stuck pooler or proxy answers keepalives itself), and PostgreSQL sends
    nothing while it waits for a lock or computes: silence alone proves nothing. So once a
    connection has waited for the server with no byte either way for
    :func:`stall_timeout_s`, the watchdog asks the server, on a fresh connection, what that
    backend is doing. Working (running, waiting for a lock or I/O) is fine and asked again
    after the next silent period; waiting to write to us or read from us, idle, gone, or no
    answer within 15 s means the path is dead: the socket is shut down, the blocked call
    fails like a lost connection (pydump exit 7), and the usual cleanup runs. One daemon
    thread per process; it never blocks the tools, it only shuts a socket down.
    """

    _lock = threading.Lock()
    _instance: "StallWatchdog | None" = None
    _pid = 0

    def __init__(self) -> None:
        super().__init__(daemon=True, name="pydump-stall-watchdog")
        self.conns: "weakref.WeakKeyDictionary[psycopg.Connection[Any], tuple[str, list[float]]]" = \
            weakref.WeakKeyDictionary()

    @classmethod
    def watch(cls, conn: psycopg.Connection[Any], dsn: str) -> None:
        if _TCP_INFO is None or _silence_ms(conn.pgconn.socket) is None:
            return  # a Unix socket: no network path to stall
        with cls._lock:
            if cls._instance is None or cls._pid != os.getpid():  # a forked worker starts its own
                cls._instance, cls._pid = cls(), os.getpid()
                cls._instance.start()
            cls._instance.conns[conn] = (dsn, [0.0])

    def run(self) -> None:
        while True:
            time.sleep(1.0)
            limit = stall_timeout_s()
            with self._lock:
                items = list(self.conns.items())
            for conn, (dsn, last_probe) in items:
                try:
                    self._check(conn, dsn, last_probe, limit)
                except Exception:  # never let the watchdog die; the tools' own errors rule
                    pass

    def _check(self, conn: psycopg.Connection[Any], dsn: str, last_probe: list[float], limit: float) -> None:
        if conn.closed or conn.pgconn.transaction_status != psycopg.pq.TransactionStatus.ACTIVE:
            return
        fd = conn.pgconn.socket
        silence = _silence_ms(fd)
        now = time.monotonic()
        if silence is None or silence < limit * 1000 or now - last_probe[0] < limit:
            return
        last_probe[0] = now
        if self._backend_working(dsn, conn.pgconn.backend_pid):
            return
        s = socket.socket(fileno=os.dup(fd))
        try:
            s.shutdown(socket.SHUT_RDWR)
        finally:
            s.close()

    @staticmethod
    def _backend_working(dsn: str, pid: int) -> bool:
        """Is backend ``pid`` running, or waiting for anything but its client? (15 s at most)"""
        answer: list[bool] = []

        def ask() -> None:
            try:
                with psycopg.connect(dsn, autocommit=True, application_name="pydump stall check",
                                     connect_timeout=10, options="-c statement_timeout=5000") as c:
                    row = c.execute("SELECT state, wait_event FROM pg_catalog.pg_stat_activity WHERE pid = %s",
                                    (pid,)).fetchone()
                answer.append(bool(row) and row[0] == "active" and row[1] not in ("ClientWrite", "ClientRead"))
            except Exception:
                answer.append(False)

        t = threading.Thread(target=ask, daemon=True)
        t.start()
        t.join(15)
        return bool(answer and answer[0])
