"""Errors a user can act on.

Every failure that reaches the CLI is one of these: it carries a one-line message and the
exit code documented in the README. Anything else is a bug and exits 1 (with a traceback
only under ``--debug``).
"""

from __future__ import annotations


class DumpError(Exception):
    """A backup could not be made; ``str(err)`` is the one line shown to the user."""

    exit_code = 10


class UsageError(DumpError):
    """Bad or conflicting options, or a category file that cannot be used."""

    exit_code = 2


class EncodingError(DumpError):
    """Text that cannot be written in the chosen ``--encoding`` (no equivalent character, or
    bytes a SQL_ASCII database holds that are not valid in it): the option, not the server, is
    what the user changes."""

    exit_code = 2


class ConnectError(DumpError):
    """The server could not be reached, refused us, or the database does not exist."""

    exit_code = 3


class PermissionDenied(DumpError):
    """The role cannot read or lock something the backup needs."""

    exit_code = 4


class OutputError(DumpError):
    """The output directory cannot be written (not a directory, read-only, disk full)."""

    exit_code = 5


class LockTimeout(DumpError):
    """A table lock could not be taken within ``--lock-wait-timeout``."""

    exit_code = 6


class ServerError(DumpError):
    """The server failed us mid-way: connection lost, query cancelled, object vanished."""

    exit_code = 7


class UnknownCatalogValue(DumpError):
    """The catalog holds a value pydump does not know on a column that decides what a table
    is or what its rows hold (a newer server, an extension): dumping would lose data silently."""

    exit_code = 9


class Interrupted(DumpError):
    """SIGINT or SIGTERM arrived; the partial backup was removed."""

    exit_code = 130
