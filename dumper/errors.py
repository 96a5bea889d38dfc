"""Errors a user can act on, and the one exit-code table of both tools.

Every failure that reaches either CLI is a :class:`ToolError`: it carries a one-line message
and the exit status documented in the README, because a calling script wants to tell a typo
on the command line from a server that is down from a corrupt backup without parsing text.
Anything else is a bug and exits 1 (with a traceback only under ``--debug``).

``pydump``'s failures are :class:`DumpError`, ``pyrestore``'s :class:`RestoreError`; the
failures both tools share (bad options, no connection, a signal) are neither, so each CLI
catches :class:`ToolError`.
"""

from __future__ import annotations

import argparse
from enum import IntEnum
from typing import NoReturn


class ExitCode(IntEnum):
    """Exit statuses of ``pydump`` and ``pyrestore`` (README "Exit codes", ``pyrestore --help``)."""

    OK = 0
    INTERNAL = 1  #: a bug
    USAGE = 2  #: bad or conflicting options, or a category file that cannot be used
    CONNECT = 3  #: cannot connect (DSN, host, password, database)
    PERMISSION = 4  #: pydump: the role cannot read or lock what the backup needs
    OUTPUT = 5  #: pydump: the output directory cannot be written
    LOCK = 6  #: pydump: a lock not granted in time, or more locks than the server's lock table holds
    SERVER = 7  #: pydump: the server failed mid-dump; pyrestore: the server rejected a statement
    VERIFY_MISMATCH = 8  #: pyrestore: row counts after the restore differ from row_counts.json
    UNKNOWN_CATALOG = 9  #: pydump: a catalog value it does not know decides what a table holds
    DUMP_FAILED = 10  #: pydump: a DumpError without a more specific class
    TARGET_NOT_EMPTY = 11  #: pyrestore: the target holds user objects (no --clean/--skip-existing)
    BAD_BACKUP = 12  #: pyrestore/pydump --verify: the backup is missing, incomplete or fails its check
    INTERRUPTED = 130  #: SIGINT/SIGTERM


#: What each exit status means, for both tools: the one table the README ("Exit codes"), both
#: ``--help`` epilogs and ``--json``'s ``exit_code`` share (tests/unit/test_cli_pure.py holds the
#: README to it), so a CI script can branch on a number without knowing which tool ran.
EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.INTERNAL: "internal error (a bug: --debug shows the traceback)",
    ExitCode.USAGE: "bad or conflicting options, unreadable category file, a value --encoding cannot convert; "
                    "pyrestore: a target server that cannot hold the backup (pg_cron's cron.database_name)",
    ExitCode.CONNECT: "cannot connect (wrong DSN, host, password, database)",
    ExitCode.PERMISSION: "pydump: permission denied (a table or sequence the role cannot read or lock)",
    ExitCode.OUTPUT: "pydump: output not writable, not a directory, or disk full",
    ExitCode.LOCK: "pydump: a table lock not granted within --lock-wait-timeout (the table is named), "
                   "or the dump's locks do not fit the server's lock table",
    ExitCode.SERVER: "pydump: the server failed mid-dump; pyrestore: the server rejected a statement",
    ExitCode.VERIFY_MISMATCH: "pyrestore: row counts after the restore differ from row_counts.json",
    ExitCode.UNKNOWN_CATALOG: "pydump: a catalog value pydump does not know decides what a table holds "
                              "(--allow-unknown-catalog dumps anyway)",
    ExitCode.DUMP_FAILED: "pydump: the backup failed for another reason (the line says why)",
    ExitCode.TARGET_NOT_EMPTY: "pyrestore: the target database is not empty (use --clean or --skip-existing); "
                               "nothing was changed",
    ExitCode.BAD_BACKUP: "pyrestore, pydump --verify: the backup is missing, incomplete, corrupt or fails "
                         "its check (checksums, streams, row counts)",
    ExitCode.INTERRUPTED: "interrupted by SIGINT/SIGTERM",
}


def exit_code_epilog() -> str:
    """The exit-code table as ``--help`` prints it (both tools print the same one)."""
    return "exit codes (both pydump and pyrestore):\n" + "\n".join(
        f"  {int(c):>3}  {m}" for c, m in EXIT_CODE_MEANINGS.items())


class ToolError(Exception):
    """Base of every expected failure: a one-line, actionable message plus the exit status."""

    exit_code: int = ExitCode.INTERNAL

    def __init__(self, message: str = "", exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        """The one-line message shown to the user."""
        return str(self.args[0]) if self.args and self.args[0] else self.__class__.__name__


# -- shared by both tools -------------------------------------------------------------------
class UsageError(ToolError):
    """Bad or conflicting options, or a category file that cannot be used."""

    exit_code = ExitCode.USAGE


class ConnectError(ToolError):
    """The server could not be reached, refused us, or the database does not exist."""

    exit_code = ExitCode.CONNECT


class Interrupted(ToolError):
    """SIGINT or SIGTERM arrived (pydump: the partial backup was removed)."""

    exit_code = ExitCode.INTERRUPTED


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line ("see --help"), not the usage block.

    A usage error becomes a :class:`UsageError` instead of ``sys.exit(2)``, so it takes the
    same road as every other failure: one stderr line, exit 2, and a JSON object under --json.
    """

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


# -- pydump ---------------------------------------------------------------------------------
class DumpError(ToolError):
    """A backup could not be made; ``str(err)`` is the one line shown to the user."""

    exit_code = ExitCode.DUMP_FAILED


class EncodingError(DumpError):
    """Text that cannot be written in the chosen ``--encoding`` (no equivalent character, or
    bytes a SQL_ASCII database holds that are not valid in it): the option, not the server, is
    what the user changes."""

    exit_code = ExitCode.USAGE


class PermissionDenied(DumpError):
    """The role cannot read or lock something the backup needs."""

    exit_code = ExitCode.PERMISSION


class OutputError(DumpError):
    """The output directory cannot be written (not a directory, read-only, disk full)."""

    exit_code = ExitCode.OUTPUT


class LockTimeout(DumpError):
    """A table lock could not be taken within ``--lock-wait-timeout``."""

    exit_code = ExitCode.LOCK


class ServerError(DumpError):
    """The server failed us mid-way: connection lost, query cancelled, object vanished."""

    exit_code = ExitCode.SERVER


class UnknownCatalogValue(DumpError):
    """The catalog holds a value pydump does not know on a column that decides what a table
    is or what its rows hold (a newer server, an extension): dumping would lose data silently."""

    exit_code = ExitCode.UNKNOWN_CATALOG


# -- pyrestore ------------------------------------------------------------------------------
class RestoreError(ToolError):
    """A restore could not be done (or checked)."""


class BackupError(RestoreError):
    """The backup directory is missing, incomplete, corrupt or not of a format we read."""

    exit_code = ExitCode.BAD_BACKUP


class ScriptError(BackupError):
    """The SQL script cannot be parsed or decompressed (truncated, corrupt, unexpected syntax)."""


class TargetNotEmpty(RestoreError):
    """The target already holds user objects and ``--clean`` was not given; nothing was changed."""

    exit_code = ExitCode.TARGET_NOT_EMPTY


class StatementFailed(RestoreError):
    """The server rejected a statement of the backup (or several, with ``--keep-going``)."""

    exit_code = ExitCode.SERVER


class VerificationFailed(RestoreError):
    """Row counts after the restore differ from ``row_counts.json``."""

    exit_code = ExitCode.VERIFY_MISMATCH
