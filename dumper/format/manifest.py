"""What a backup says about itself: file checksums, ``row_counts.json``, ``metadata.json``.

``metadata.json`` lists every other file with its size and sha256, which is how a reader tells
a complete, untouched backup from a damaged one; ``row_counts.json`` holds the rows per table
counted from the COPY streams themselves, which is what a restore is verified against. The
writer encodes here and the reader decodes here; writing the bytes durably (0600, fsync) is
the dumper's business (:func:`dumper.sinks.write_private`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from dumper.format.layout import FORMAT_VERSION, METADATA_FILE
from dumper.format.names import canonical_key

HASH_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str], bufsize: int = HASH_CHUNK) -> tuple[int, str]:
    """Size and sha256 hex digest of a file, streamed (files can be gigabytes)."""
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(bufsize):
            h.update(chunk)
            n += len(chunk)
    return n, h.hexdigest()


def file_entry(size: int, sha256: str) -> dict[str, Any]:
    """One value of ``metadata.json`` ``files``."""
    return {"bytes": size, "sha256": sha256}


def listed_files(directory: Path) -> list[tuple[str, Path]]:
    """Every file a backup's ``files`` must list: all but metadata.json, as POSIX relative paths."""
    out = []
    for p in sorted(directory.rglob("*")):
        rel = p.relative_to(directory).as_posix()
        if p.is_file() and rel != METADATA_FILE:
            out.append((rel, p))
    return out


def safe_member(base: Path, name: str) -> Path | None:
    """A file name listed in the backup as a path inside it, or None if it tries to leave it."""
    if not name or os.path.isabs(name) or any(part in ("..", "") for part in Path(name).parts):
        return None
    return base / name


# -- row_counts.json ---------------------------------------------------------------------
def row_counts_bytes(counts: Mapping[str, int]) -> bytes:
    """``row_counts.json``: table key → rows, keys sorted so two dumps of one database diff cleanly."""
    return orjson.dumps(dict(counts), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def parse_row_counts(data: Any) -> dict[str, int]:
    """A parsed ``row_counts.json`` with canonical keys; ``ValueError`` naming what is wrong."""
    if not isinstance(data, dict) or not all(isinstance(v, int) for v in data.values()):
        raise ValueError("expected an object of table → integer")
    try:
        return {canonical_key(k): v for k, v in data.items()}
    except ValueError as exc:
        raise ValueError(f"malformed table key ({exc})") from None


# -- metadata.json -----------------------------------------------------------------------
def metadata_bytes(meta: Mapping[str, Any]) -> bytes:
    """``metadata.json`` as written (keys in the writer's order)."""
    return orjson.dumps(dict(meta), option=orjson.OPT_INDENT_2)


def check_format(meta: Mapping[str, Any]) -> str | None:
    """None when this version reads the backup's format, else the reason in one line."""
    fmt = meta.get("format")
    if fmt != FORMAT_VERSION:
        return f"backup format {fmt!r} is not supported (this version reads format {FORMAT_VERSION})"
    return None


def backup_encoding(meta: Mapping[str, Any]) -> str:
    """The encoding of a backup's script and CSV files: ``metadata.json``'s ``encoding``;
    UTF8 for backups written before it was recorded (their script always said UTF8)."""
    enc = meta.get("encoding")
    return enc if isinstance(enc, str) and enc else "UTF8"


def read_json(path: Path) -> Any:
    """A JSON file of the backup; ``FileNotFoundError`` or ``ValueError``/``OSError`` as raised."""
    with open(path, "rb") as fh:
        return json.loads(fh.read())
