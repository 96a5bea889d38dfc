"""``pyrestore --check``: verify a backup without any database.

Checks, in the order a person debugging a broken backup wants them:
1. ``metadata.json``, ``toc.json``, ``row_counts.json`` parse and are of format 1;
2. every file listed in ``metadata.json`` ``files`` exists with the recorded size and sha256,
   and no unlisted file lies around (FORMAT.md: ``files`` lists every file but itself);
3. the script decompresses to the end (zlib verifies every gzip member's CRC-32 and length;
   zstd frames are read one by one so a truncated last frame is noticed), and parses;
4. the COPY data rows per table in the script equal ``row_counts.json`` (and the TOC's ``rows``);
5. every CSV file's record count equals ``row_counts.json``.
All problems are collected, not just the first, so one run tells the whole story.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dumper.errors import RestoreError
from dumper.format.layout import DATA_DIR, METADATA_FILE
from dumper.format.manifest import HASH_CHUNK, file_sha256, safe_member
from dumper.format.names import csv_table_key
from dumper.format.toc import Kind
from restore.backup import Backup
from restore.progress import Progress
from restore.script import CopyBlock, ScriptReader, copy_table
from restore.streams import open_source

_CSV_QUOTED = re.compile(rb'"[^"]*"')


@dataclass(slots=True)
class CheckResult:
    """Outcome of ``--check``: ``problems`` empty means the backup is sound."""

    path: Path
    problems: list[str] = field(default_factory=list)
    files_checked: int = 0
    bytes_checked: int = 0
    script_rows: dict[str, int] = field(default_factory=dict)
    csv_rows: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {"backup_dir": str(self.path), "ok": self.ok, "problems": self.problems,
                "files_checked": self.files_checked, "bytes_checked": self.bytes_checked}


def count_csv_records(path: Path, chunk_size: int = HASH_CHUNK) -> int:
    """Records in a CSV file with a header row, without parsing fields in Python.

    A newline ends a record only outside quotes. With RFC 4180 quoting, quote characters
    pair up left to right (an escaped ``""`` is just an empty pair), so deleting every
    ``"..."`` span with one C-level regex substitution leaves exactly the unquoted text, whose
    newlines are record ends. A span cut by a chunk boundary is carried over as state.
    """
    records = 0
    in_quote = False
    last = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            last = chunk
            i = 0
            if in_quote:
                j = chunk.find(b'"')
                if j < 0:
                    continue
                i = j + 1
                in_quote = False
            rest = _CSV_QUOTED.sub(b"", chunk[i:] if i else chunk)
            k = rest.find(b'"')
            if k >= 0:  # an opening quote whose closing one is in a later chunk
                records += rest.count(b"\n", 0, k)
                in_quote = True
            else:
                records += rest.count(b"\n")
    if last and not last.endswith(b"\n"):
        records += 1  # final record without a line end
    return max(records - 1, 0)  # minus the header row


def check_backup(path: str | os.PathLike[str], progress: Progress | None = None) -> CheckResult:
    """Run every check on a backup directory; never raises for a bad backup, reports instead."""
    progress = progress or Progress("off")
    base = Path(path)
    res = CheckResult(base)
    try:
        backup = Backup.load(base)
    except RestoreError as exc:
        res.problems.append(exc.message)
        return res
    if backup.bare_script:
        res.problems.append(f"{base}: --check needs a backup directory, not a single file")
        return res
    _check_files(backup, res, progress)
    _check_script(backup, res, progress)
    _check_csv(backup, res, progress)
    return res


def _check_files(backup: Backup, res: CheckResult, progress: Progress) -> None:
    files = backup.metadata.get("files")
    if not isinstance(files, dict) or not files:
        res.problems.append("metadata.json: no 'files' list of checksums")
        return
    total = sum(int(v.get("bytes", 0)) for v in files.values() if isinstance(v, dict))
    phase = progress.phase("checksums", total, "B")
    done = 0
    try:
        for name, info in sorted(files.items()):
            p = safe_member(backup.path, name)
            if p is None:
                res.problems.append(f"metadata.json lists an unsafe file name {name!r}")
                continue
            if not p.is_file():
                res.problems.append(f"{name}: missing")
                continue
            size, digest = file_sha256(p)
            res.files_checked += 1
            res.bytes_checked += size
            done += size
            phase.update(done, name)
            if isinstance(info, dict):
                if info.get("bytes") is not None and int(info["bytes"]) != size:
                    res.problems.append(f"{name}: {size} bytes, metadata.json says {info['bytes']} (truncated or modified)")
                elif info.get("sha256") and str(info["sha256"]).lower() != digest:
                    res.problems.append(f"{name}: sha256 mismatch (modified or corrupt)")
    finally:
        phase.close()
    listed = set(files)
    for f in sorted(backup.path.rglob("*")):
        rel = f.relative_to(backup.path).as_posix()
        if f.is_file() and rel != METADATA_FILE and rel not in listed:
            res.problems.append(f"{rel}: present but not listed in metadata.json")


def _check_script(backup: Backup, res: CheckResult, progress: Progress) -> None:
    phase = progress.phase("script", os.path.getsize(backup.script), "B")
    try:
        source = open_source(backup.script)
    except RestoreError as exc:
        res.problems.append(exc.message)
        return
    counts: dict[str, int] = {}
    per_entry: dict[int, int] = {}
    unknown_entries: set[int] = set()
    try:
        for item in ScriptReader(source, name=backup.script.name):
            entry = backup.entry(item.entry_id)
            if item.entry_id is not None and entry is None:
                unknown_entries.add(item.entry_id)
            if not isinstance(item, CopyBlock):
                continue
            n = 0
            for chunk in item.chunks:
                n += chunk.count(b"\n")
            phase.update(source.compressed_pos)
            key = entry.table if entry is not None and entry.table else copy_table(item.raw)
            if key is None:
                res.problems.append(f"{backup.script.name}: cannot tell the table of the COPY at line {item.line}")
                continue
            counts[key] = counts.get(key, 0) + n
            if item.entry_id is not None:
                per_entry[item.entry_id] = per_entry.get(item.entry_id, 0) + n
        phase.update(source.compressed_pos)
    except RestoreError as exc:
        res.problems.append(exc.message)
        return
    finally:
        source.close()
        phase.close()
    if unknown_entries:
        res.problems.append(f"{backup.script.name}: entry ids not in toc.json: {sorted(unknown_entries)[:10]}")
    res.script_rows = counts
    _compare_rows(backup, res, counts, per_entry)


def _compare_rows(backup: Backup, res: CheckResult, counts: dict[str, int], per_entry: dict[int, int]) -> None:
    """The script's rows per table against row_counts.json, and per entry against toc.json."""
    expected = backup.row_counts or {}
    for key in sorted(set(expected) | set(counts)):
        want, got = expected.get(key), counts.get(key, 0)
        if want is None:
            res.problems.append(f"{key}: {got} rows in the script but absent from row_counts.json")
        elif want != got:
            res.problems.append(f"{key}: {got} rows in the script, row_counts.json says {want}")
    for e in backup.entries:
        if e.kind == Kind.TABLE_DATA and e.rows is not None and per_entry.get(e.id, 0) != e.rows:
            res.problems.append(f"entry {e.id} ({e.describe()}): {per_entry.get(e.id, 0)} rows in the script, toc.json says {e.rows}")


def csv_files(backup: Backup) -> dict[str, Path]:
    """Table key → CSV path, from the TOC's ``csv`` fields, else from the file names under data/."""
    out: dict[str, Path] = {}
    for e in backup.entries:
        if e.kind == Kind.TABLE_DATA and e.csv and e.table:
            p = safe_member(backup.path, e.csv)
            if p is not None:
                out[e.table] = p
    data = backup.path / DATA_DIR
    if data.is_dir():
        for f in sorted(data.glob("*.csv")):
            key = csv_table_key(f.name)
            if key is not None and key not in out:
                out[key] = f
    return out


def _check_csv(backup: Backup, res: CheckResult, progress: Progress) -> None:
    files = csv_files(backup)
    if not files:
        return
    phase = progress.phase("csv", len(files), "files")
    expected = backup.row_counts or {}
    try:
        for i, (key, p) in enumerate(sorted(files.items()), 1):
            rel = p.relative_to(backup.path).as_posix()
            if not p.is_file():
                res.problems.append(f"{rel}: missing")
                continue
            n = count_csv_records(p)
            res.csv_rows[key] = n
            phase.update(i, key)
            if key not in expected:
                res.problems.append(f"{rel}: table {key} is not in row_counts.json")
            elif expected[key] != n:
                res.problems.append(f"{rel}: {n} records, row_counts.json says {expected[key]}")
    finally:
        phase.close()
