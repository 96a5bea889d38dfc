"""A small Python API for CI scripts: :func:`restore` and :func:`check`, the same runs as the
``pyrestore`` command, returning the object ``pyrestore --json`` prints.

::

    from restore.api import check, restore
    assert check(result["backup_dir"])["ok"]
    res = restore(result["backup_dir"], "postgresql://.../copy", no_report=True)

Nothing is printed; a failure is ``ok: false`` with ``error`` and ``exit_code`` (README "Exit
codes"), exactly as under ``--json``. The counterpart of :func:`dumper.api.backup`.
"""

from __future__ import annotations

from typing import Any, Sequence

from dumper.api import to_argv

__all__ = ["check", "restore"]


def restore(backup: str | None = None, dsn: str | None = None, *, args: Sequence[str] = (),
            **options: Any) -> dict[str, Any]:
    """Restore ``backup`` (a directory; None: the latest under $PYDUMP_BACKUP_DIR, else
    ./storage/backups) into ``dsn``; ``options`` as pyrestore's long options (``clean=True``,
    ``jobs=4``, ``data_only=True``)."""
    from restore.cli import execute

    argv = [backup or "latest"] + ([dsn] if dsn else []) + to_argv(**options) + list(args)
    code, data = execute(argv, silent=True)
    return {**data, "ok": code == 0, "exit_code": code}


def check(backup: str) -> dict[str, Any]:
    """``pyrestore --check BACKUP``: checksums, streams and row counts, without a database."""
    return restore(backup, check=True)
