"""A backup as pyrestore sees it: the directory, its metadata, TOC and row counts.

Everything here is read-only and database-free, so ``--list`` and ``--check`` work without a
server. A bare script file (``pg_dump -Fp`` output or a pydump script outside its directory) is
accepted too: it is a backup with no TOC, no row counts and pg_dump's meta-commands skipped,
which is what the tests need to replay pg_dump's own output as a reference.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dumper.ident import table_key
from restore.errors import BackupError
from restore.streams import SCRIPT_NAMES

#: Where ``pydump`` writes by default, relative to the current directory.
DEFAULT_BACKUPS_DIR = Path("storage/backups")
SUPPORTED_FORMAT = 1

_BACKUP_NAME = re.compile(r"(\d{8}_\d{6})(?:_(\d+))?\Z")


@dataclass(frozen=True, slots=True)
class Entry:
    """One TOC entry of ``toc.json`` (see docs/FORMAT.md)."""

    id: int
    kind: str
    schema: str | None
    name: str
    owner: str | None
    section: str
    deps: tuple[int, ...]
    table: str | None = None
    columns: tuple[str, ...] | None = None
    rows: int | None = None
    csv: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Entry":
        """Build from a toc.json object; ``table`` may be a key or an object holding the data fields."""
        table = obj.get("table")
        data: dict[str, Any] = obj
        if isinstance(table, dict):  # tolerate {"table": {"key": .., "columns": ..}} as well
            data = {**obj, **table}
            table = table.get("key") or table.get("name")
        cols = data.get("columns")
        known = {"id", "kind", "schema", "name", "owner", "section", "deps", "table", "columns", "rows", "csv"}
        return cls(
            id=int(obj["id"]),
            kind=str(obj["kind"]),
            schema=obj.get("schema"),
            name=str(obj.get("name", "")),
            owner=obj.get("owner"),
            section=str(obj.get("section", "pre-data")),
            deps=tuple(int(d) for d in obj.get("deps") or ()),
            table=canonical_key(table) if isinstance(table, str) else table,
            columns=tuple(cols) if cols is not None else None,
            rows=data.get("rows"),
            csv=data.get("csv"),
            extra={k: v for k, v in obj.items() if k not in known},
        )

    def describe(self) -> str:
        """Human label as pg_restore prints it: kind, schema, name."""
        who = f"{self.schema}.{self.name}" if self.schema else self.name
        return f"{self.kind} {who}"


@dataclass(slots=True)
class Backup:
    """The artefacts of one backup. ``entries`` is empty and ``row_counts`` None for a bare script."""

    path: Path
    script: Path
    metadata: dict[str, Any]
    entries: list[Entry]
    row_counts: dict[str, int] | None
    bare_script: bool = False

    def entry(self, entry_id: int | None) -> Entry | None:
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
        metadata = _read_json(p / "metadata.json")
        if not isinstance(metadata, dict):
            raise BackupError(f"{p / 'metadata.json'}: not a JSON object")
        fmt = metadata.get("format")
        if fmt != SUPPORTED_FORMAT:
            raise BackupError(f"{p}: backup format {fmt!r} is not supported (this pyrestore reads format {SUPPORTED_FORMAT})")
        toc = _read_json(p / "toc.json")
        if not isinstance(toc, dict) or not isinstance(toc.get("entries"), list):
            raise BackupError(f"{p / 'toc.json'}: expected an object with an 'entries' list")
        try:
            entries = [Entry.from_json(e) for e in toc["entries"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupError(f"{p / 'toc.json'}: malformed entry ({exc})") from None
        counts = _read_json(p / "row_counts.json")
        if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
            raise BackupError(f"{p / 'row_counts.json'}: expected an object of table → integer")
        script = next((p / n for n in SCRIPT_NAMES if (p / n).is_file()), None)
        if script is None:
            raise BackupError(f"{p}: no backup.sql.gz (or .zst / plain) in the backup directory")
        try:
            counts = {canonical_key(k): v for k, v in counts.items()}
        except ValueError as exc:
            raise BackupError(f"{p / 'row_counts.json'}: malformed table key ({exc})") from None
        return cls(path=p, script=script, metadata=metadata, entries=entries, row_counts=counts)


def _read_json(path: Path) -> Any:
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read())
    except FileNotFoundError:
        raise BackupError(f"{path}: missing") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path}: unreadable ({exc})") from None


def _backup_sort_key(p: Path) -> tuple[str, int, float]:
    """Order by the timestamp in the name, then the ``_N`` suffix numerically (``_10`` after ``_9``)."""
    m = _BACKUP_NAME.match(p.name)
    if m:
        return (m.group(1), int(m.group(2) or 1), 0.0)
    return ("", 0, p.stat().st_mtime)


def list_complete_backups(base: str | os.PathLike[str] = DEFAULT_BACKUPS_DIR) -> list[Path]:
    """Complete backups under base, oldest first: no leading ``.``, has ``metadata.json``."""
    b = Path(base)
    if not b.is_dir():
        return []
    found = [d for d in b.iterdir() if d.is_dir() and not d.name.startswith(".") and (d / "metadata.json").is_file()]
    return sorted(found, key=_backup_sort_key)


def resolve_backup(arg: str | None, base: str | os.PathLike[str] = DEFAULT_BACKUPS_DIR) -> Path:
    """Turn the BACKUP argument (a path, ``latest`` or nothing) into a path."""
    if arg in (None, "", "latest"):
        backups = list_complete_backups(base)
        if not backups:
            raise BackupError(f"no complete backup under {Path(base)} (run pydump first, or name a backup directory)")
        return backups[-1]
    return Path(arg)


# -- qualified names ------------------------------------------------------------------------
def split_qualified(key: str) -> tuple[str | None, str]:
    """Split ``schema.table`` where each part may be double-quoted (``"My ""T"" x"``).

    The inverse of quote_ident-style keys of row_counts.json; an unquoted part is taken as
    written (row_counts keys never need case folding, and user input ``-t Users`` should
    match a table created as ``"Users"``, like pg_restore's exact matching).
    """
    parts: list[str] = []
    i, n = 0, len(key)
    while i <= n:
        if i < n and key[i] == '"':
            j = i + 1
            buf: list[str] = []
            while True:
                k = key.find('"', j)
                if k < 0:
                    raise ValueError(f"unterminated quote in {key!r}")
                buf.append(key[j:k])
                if k + 1 < n and key[k + 1] == '"':
                    buf.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            parts.append("".join(buf))
        else:
            k = key.find(".", i)
            k = n if k < 0 else k
            parts.append(key[i:k])
            i = k
        if i >= n:
            break
        if key[i] != ".":
            raise ValueError(f"unexpected character after quoted name in {key!r}")
        i += 1
    if len(parts) == 1:
        return None, parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f"too many dots in {key!r}")


def qualified_key(schema: str, name: str) -> str:
    """The key of a table on the restore side: the dumper's own ``table_key`` (quoted as the
    server's ``quote_ident`` would, keywords included)."""
    return table_key(schema, name)


def canonical_key(key: str) -> str:
    """A table key read from a backup, re-rendered by :func:`qualified_key`.

    Keys in ``row_counts.json``/``toc.json`` were quoted by the dumper with the keyword list of
    the *source* server; a newer server's keywords, or a backup written by another version of
    pydump, may quote a name that this side would leave bare. Comparing keys as parsed names,
    never as strings, makes every quoting rule agree (``public."order"`` == ``public.order``)."""
    schema, name = split_qualified(key)
    return name if schema is None else qualified_key(schema, name)
