"""pyrestore: pure-Python restore of pydump backups.

The package reads the artefacts described in ``docs/FORMAT.md`` (script, CSV files,
``toc.json``, ``row_counts.json``, ``metadata.json``) and replays them through psycopg 3,
so a restore needs neither ``psql`` nor ``pg_restore``.
"""
from __future__ import annotations

from dumper import __version__
from dumper.errors import RestoreError

#: The dumper and the restorer ship together (one distribution): one version.
__all__ = ["RestoreError", "__version__"]
