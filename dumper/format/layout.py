"""Where a backup lives and what its files are called (docs/FORMAT.md, first section).

A backup is a directory ``YYYYMMDD_HHMMSS`` (``_2``, ``_3``, ... for a second run in the same
second). While it is written it is called ``.NAME.partial``: the leading dot is the whole
completeness protocol, since a directory is renamed to its final name only once every file
is written, fsynced and checksummed. Readers therefore never look at a dotted name.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import shutil
from pathlib import Path
from typing import Mapping

#: The version written as ``format`` in toc.json and metadata.json; readers refuse others.
FORMAT_VERSION = 1

#: Where ``pydump`` writes by default (and ``pyrestore latest`` looks), relative to the cwd.
DEFAULT_BACKUPS_DIR = Path("storage/backups")
#: The environment variable that moves the default backups directory (see :func:`backups_dir`).
BACKUP_DIR_ENV = "PYDUMP_BACKUP_DIR"


def backups_dir(out: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The one rule both tools use for where backups live, as an absolute path:
    ``--out DIR``, else ``$PYDUMP_BACKUP_DIR``, else ``./storage/backups``.

    It lives here, in the shared contract, because pydump writes where pyrestore's ``latest``
    must look: two copies of the rule drifted once (pyrestore only ever looked in the cwd).
    Absolute, so the summary and ``--json`` name a directory a script can use from anywhere.
    """
    environ = os.environ if env is None else env
    chosen = out if out not in (None, "") else (environ.get(BACKUP_DIR_ENV) or DEFAULT_BACKUPS_DIR)
    return Path(os.path.abspath(Path(chosen).expanduser()))

TOC_FILE = "toc.json"
ROW_COUNTS_FILE = "row_counts.json"
METADATA_FILE = "metadata.json"
DATA_DIR = "data"
RESTORE_SH = "restore.sh"
RESTORE_FULL_SH = "restore-full.sh"

SCRIPT_BASE = "backup.sql"
#: The script's suffix per ``--compress`` method.
SCRIPT_SUFFIX = {"gzip": ".gz", "zstd": ".zst", "none": ""}
#: Every name the script may have, in the order a reader tries them.
SCRIPT_NAMES: tuple[str, ...] = tuple(SCRIPT_BASE + s for s in (".gz", ".zst", ""))

#: The comment line that starts every entry in the script: ``-- pydump-entry: <id>``.
ENTRY_MARKER = "-- pydump-entry: "
#: How a reader recognises that line (tolerant of spacing and a CR, as a person may edit it).
ENTRY_MARKER_RE = re.compile(rb"--[ \t]*pydump-entry:[ \t]*(\d+)[ \t\r]*\Z")

#: A complete backup's directory name: the timestamp, then an optional ``_N``.
BACKUP_NAME = re.compile(r"(\d{8}_\d{6})(?:_(\d+))?\Z")


def script_name(method: str) -> str:
    """The script's file name for a compression method (``gzip`` → ``backup.sql.gz``)."""
    return SCRIPT_BASE + SCRIPT_SUFFIX[method]


def partial_name(name: str) -> str:
    """The hidden name a backup has while it is written (``.NAME.partial``)."""
    return f".{name}.partial"


#: What :func:`partial_name` makes: ``.NAME.partial`` for a backup NAME.
PARTIAL_NAME = re.compile(r"\.(\d{8}_\d{6}(?:_\d+)?)\.partial\Z")


def claim_partial(parent: Path, tmp: Path) -> tuple[int, list[Path]]:
    """Create ``tmp`` (the ``.NAME.partial`` directory) holding an exclusive ``flock`` on it,
    and remove the stale ``.partial`` directories of dead runs; returns the lock's fd (keep it
    open until the directory is renamed or removed) and what was removed.

    A run killed by SIGKILL or a crash cannot clean up after itself, and its ``.partial`` would
    otherwise stay forever. The kernel releases a dead process's ``flock``, so a ``.partial``
    whose lock can be taken belongs to no running pydump. Creating one and locking it happen
    under a lock on ``parent`` itself, so no run can see another's directory between the two.
    Raises OSError as ``mkdir`` does.
    """
    removed: list[Path] = []
    pfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(pfd, fcntl.LOCK_EX)
        for entry in os.listdir(parent):
            stale = parent / entry
            if not PARTIAL_NAME.match(entry) or not stale.is_dir() or stale.is_symlink():
                continue
            try:
                fd = os.open(stale, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue  # a running pydump holds it
            shutil.rmtree(stale, ignore_errors=True)
            os.close(fd)
            removed.append(stale)
        tmp.mkdir(mode=0o700)
        fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd, removed
    finally:
        os.close(pfd)


def new_backup_name(parent: Path, now: dt.datetime) -> str:
    """A fresh directory name under ``parent``: the timestamp, or with ``_2``, ``_3``, ... if taken
    (by a complete backup or by one still being written)."""
    base = now.strftime("%Y%m%d_%H%M%S")
    name, n = base, 1
    while (parent / name).exists() or (parent / partial_name(name)).exists():
        n += 1
        name = f"{base}_{n}"
    return name


def backup_age(name: str) -> tuple[str, int] | None:
    """Sort key of a backup name, oldest first (``..._10`` after ``..._9``); None if not one."""
    m = BACKUP_NAME.match(name)
    return (m.group(1), int(m.group(2) or 1)) if m else None


def is_complete_backup(path: Path) -> bool:
    """A directory that holds a finished backup: not dotted, with its metadata.json."""
    return path.is_dir() and not path.name.startswith(".") and (path / METADATA_FILE).is_file()


def list_backups(base: str | os.PathLike[str] = DEFAULT_BACKUPS_DIR, *, named_only: bool = False) -> list[Path]:
    """Complete backups under ``base``, oldest first.

    ``named_only``: only directories named like a backup (``--keep`` prunes those and never
    anything else a user keeps in the folder); otherwise any complete directory counts, those
    with other names ordered by modification time before the named ones.
    """
    b = Path(base)
    if not b.is_dir():
        return []
    found = [d for d in b.iterdir() if is_complete_backup(d) and (not named_only or backup_age(d.name) is not None)]

    def key(p: Path) -> tuple[str, int, float]:
        age = backup_age(p.name)
        return (age[0], age[1], 0.0) if age else ("", 0, p.stat().st_mtime)

    return sorted(found, key=key)
