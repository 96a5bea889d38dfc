"""A small Python API for CI scripts written in Python: :func:`backup`, the same run as the
``pydump`` command, returning the object ``pydump --json`` prints.

Why not just ``subprocess.run(["pydump", "--json", ...])``? That works too (docs/ci.md); this
saves a script the parsing and keeps the option names of the command line, so the README's
usage is the only reference::

    from dumper.api import backup
    result = backup("postgresql://...", out="artifacts", prod=True, no_report=True)
    if not result["ok"]:
        raise SystemExit(f"backup failed ({result['exit_code']}): {result['error']}")

Nothing is printed (warnings are in ``result["warnings"]``); a failure is not an exception but
``ok: false`` with ``error`` and ``exit_code`` (README "Exit codes"), as under ``--json``.
``restore.api.restore`` is the other half; this module never imports ``restore``.
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["backup", "to_argv"]


def to_argv(**options: Any) -> list[str]:
    """Keyword options as command-line options: ``prod=True`` → ``--prod``, ``jobs=4`` →
    ``--jobs 4``, ``table=["a", "b"]`` → ``--table a --table b``; False and None are left out."""
    argv: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, (list, tuple)):
            for v in value:
                argv += [flag, str(v)]
        else:
            argv += [flag, str(value)]
    return argv


def backup(dsn: str | None = None, *, args: Sequence[str] = (), **options: Any) -> dict[str, Any]:
    """Run one backup (as ``pydump [DSN] OPTIONS``); the ``--json`` object, success or not.

    ``options`` are pydump's long options in Python spelling (``out="dir"``, ``no_auth=True``,
    ``categories="custom.toml"``, a custom file's ``no_tasks=True``); ``args`` adds raw
    command-line arguments.
    """
    from dumper.cli import execute

    argv = ([dsn] if dsn else []) + to_argv(**options) + list(args)
    return execute(argv, warn=lambda _msg: None, progress=False).data
