"""A backup as pyrestore sees it: the directory, its metadata, TOC and row counts.

Everything here is read-only and database-free, so ``--list`` and ``--check`` work without a
server. The rules of what the files hold are the contract's (:mod:`dumper.format`); this module
only gathers them into one :class:`Backup`. A bare script file (``pg_dump -Fp`` output or a
pydump script outside its directory) is accepted too: it is a backup with no TOC, no row
counts and pg_dump's meta-commands skipped, which is what the tests need to replay pg_dump's
own output as a reference.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dumper.errors import BackupError
from dumper.format import layout
from dumper.format.manifest import check_format, parse_row_counts, read_json
from dumper.format.toc import TocEntry, parse_toc


@dataclass(slots=True)
class Backup:
    """The artefacts of one backup. ``entries`` is empty and ``row_counts`` None for a bare script."""

    path: Path
    script: Path
    metadata: dict[str, Any]
    entries: list[TocEntry]
    row_counts: dict[str, int] | None
    bare_script: bool = False

    def entry(self, entry_id: int | None) -> TocEntry | None:
        """The TOC entry with that id (ids are positions in toc.json), or None."""
        if entry_id is None or entry_id < 0 or entry_id >= len(self.entries):
            return None
        e = self.entries[entry_id]
        return e if e.id == entry_id else next((x for x in self.entries if x.id == entry_id), None)

    @property
    def name(self) -> str:
        return self.path.name

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Backup":
        """Read a backup directory (or a bare script file); ``BackupError`` if it is not usable."""
        p = Path(path)
        if p.is_file():
            return cls(path=p.parent, script=p, metadata={}, entries=[], row_counts=None, bare_script=True)
        if not p.is_dir():
            raise BackupError(f"{p}: no such backup directory")
        if p.name.startswith("."):
            raise BackupError(f"{p}: an incomplete backup (a name starting with '.' is still being written or failed)")
        metadata = _read(p / layout.METADATA_FILE)
        if not isinstance(metadata, dict):
            raise BackupError(f"{p / layout.METADATA_FILE}: not a JSON object")
        unsupported = check_format(metadata)
        if unsupported:
            raise BackupError(f"{p}: {unsupported}")
        try:
            entries = parse_toc(_read(p / layout.TOC_FILE))
        except ValueError as exc:
            raise BackupError(f"{p / layout.TOC_FILE}: {exc}") from None
        try:
            counts = parse_row_counts(_read(p / layout.ROW_COUNTS_FILE))
        except ValueError as exc:
            raise BackupError(f"{p / layout.ROW_COUNTS_FILE}: {exc}") from None
        script = next((p / n for n in layout.SCRIPT_NAMES if (p / n).is_file()), None)
        if script is None:
            raise BackupError(f"{p}: no backup.sql.gz (or .zst / plain) in the backup directory")
        return cls(path=p, script=script, metadata=metadata, entries=entries, row_counts=counts)


def _read(path: Path) -> Any:
    try:
        return read_json(path)
    except FileNotFoundError:
        raise BackupError(f"{path}: missing") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path}: unreadable ({exc})") from None


def resolve_backup(arg: str | None, base: str | os.PathLike[str] = layout.DEFAULT_BACKUPS_DIR) -> Path:
    """Turn the BACKUP argument (a path, ``latest`` or nothing) into a path."""
    if arg in (None, "", "latest"):
        backups = layout.list_backups(base)
        if not backups:
            raise BackupError(f"no complete backup under {Path(base)} (run pydump first, or name a backup directory)")
        return backups[-1]
    return Path(arg)
