"""Exceptions of pyrestore, each carrying the exit status the CLI turns it into.

A restore fails for a small number of distinct reasons that a calling script wants to tell
apart (a typo on the command line vs. a corrupt backup vs. a server that is down vs. a
statement the server rejected), so the exit status is part of the exception rather than
being decided at the top level from the exception's text.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_BAD_BACKUP = 2
EXIT_CONNECTION = 3
EXIT_RESTORE_FAILED = 7
EXIT_VERIFY_MISMATCH = 8
EXIT_INTERRUPTED = 130


class RestoreError(Exception):
    """Base error: a one-line, actionable message plus the process exit status."""

    exit_code: int = EXIT_INTERNAL

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        """The one-line message shown to the user."""
        return str(self.args[0]) if self.args else self.__class__.__name__


class UsageError(RestoreError):
    """Bad command line or contradictory options."""

    exit_code = EXIT_USAGE


class BackupError(RestoreError):
    """The backup directory is missing, incomplete, corrupt or not of a format we read."""

    exit_code = EXIT_BAD_BACKUP


class ScriptError(BackupError):
    """The SQL script cannot be parsed or decompressed (truncated, corrupt, unexpected syntax)."""


class ConnectionFailure(RestoreError):
    """The target server could not be reached or refused the login."""

    exit_code = EXIT_CONNECTION


class TargetNotEmpty(RestoreError):
    """The target already holds user objects and ``--clean`` was not given; nothing was changed."""

    exit_code = EXIT_USAGE


class StatementFailed(RestoreError):
    """The server rejected a statement of the backup (or several, with ``--keep-going``)."""

    exit_code = EXIT_RESTORE_FAILED


class VerificationFailed(RestoreError):
    """Row counts after the restore differ from ``row_counts.json``."""

    exit_code = EXIT_VERIFY_MISMATCH
