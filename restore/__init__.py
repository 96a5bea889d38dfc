"""pyrestore: pure-Python restore of pydump backups.

The package reads the artefacts described in ``docs/FORMAT.md`` (script, CSV files,
``toc.json``, ``row_counts.json``, ``metadata.json``) and replays them through psycopg 3,
so a restore needs neither ``psql`` nor ``pg_restore``.
"""
from __future__ import annotations

from restore.errors import RestoreError

__all__ = ["RestoreError", "__version__"]


def _version() -> str:
    """Return the installed distribution's version (the dumper and the restorer ship together)."""
    try:
        from importlib.metadata import version

        return version("pydump")
    except Exception:  # not installed (running from a checkout): fall back to the format's tool version
        return "0.1.0"


__version__: str = _version()
