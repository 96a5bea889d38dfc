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
import urllib.parse
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


def connect(dsn: str, *, application_name: str, autocommit: bool = False, **kwargs: Any) -> psycopg.Connection[Any]:
    """Open a connection; :class:`ConnectError` (exit 3) with a password-free message on failure."""
    try:
        return psycopg.connect(dsn, autocommit=autocommit, application_name=application_name,
                               **connect_timeout(dsn), **kwargs)
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
