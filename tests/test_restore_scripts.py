"""The ``restore.sh`` / ``restore-full.sh`` each pydump backup carries, run as a user runs them.

Twice each: with ``pyrestore`` on the PATH (the scripts hand over to it) and with only ``psql``
(a PATH that has the server's client binaries and the system tools, but no pyrestore). The
backup lives in a directory whose name has spaces, quotes and a ``$``: the scripts must quote
everything. ``code_ops.artifact_events`` is dropped from the source so that pyrestore's own
event rows do not make the copies differ.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import oracle
from tests.support import pgtest
from tests.support.helpers import CYCLES, pydump

VENV_BIN = Path(sys.executable).parent


def _path(with_pyrestore: bool, server: pgtest.PgServer, tmp: Path) -> str:
    """A PATH with psql (through a directory holding only it) and system tools; pyrestore or not."""
    only = tmp / "psql-only-bin"
    only.mkdir(exist_ok=True)
    if not (only / "psql").exists():
        (only / "psql").symlink_to(server.psql_path)
    parts = ([str(VENV_BIN)] if with_pyrestore else []) + [str(only), "/usr/bin", "/bin"]
    path = os.pathsep.join(parts)
    found = shutil.which("pyrestore", path=path)
    if with_pyrestore:
        assert found is not None
    elif found is not None:
        pytest.skip(f"pyrestore is installed system-wide ({found}): cannot test the psql-only path")
    return path


def _run(script: Path, target: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "DATABASE_URL"}
    env.update(PATH=path, PGTZ="UTC")
    return subprocess.run(["bash", str(script), target], capture_output=True, text=True, env=env, timeout=300,
                          cwd=script.parent.parent)


@pytest.fixture
def source(fixture_db):  # type: ignore[no-untyped-def]
    dsn = fixture_db("supabase")
    pgtest.run_sql(dsn, CYCLES + "DROP TABLE code_ops.artifact_events;")
    return dsn


@pytest.mark.parametrize("with_pyrestore", [True, False], ids=["pyrestore", "psql-only"])
@pytest.mark.parametrize("script", ["restore.sh", "restore-full.sh"])
def test_scripts_restore(source, make_db, tmp_path: Path, script: str, with_pyrestore: bool) -> None:  # type: ignore[no-untyped-def]
    server = make_db.server
    b = pydump(source, tmp_path / "we'ird dir $HOME \"x\"")
    path = _path(with_pyrestore, server, tmp_path)
    dst = make_db("dst")
    proc = _run(b / script, dst, path)
    assert proc.returncode == 0, proc.stderr
    if not with_pyrestore:
        # quiet on success: one line, no result tables of set_config()/setval() (issue 10 item 8)
        assert proc.stdout.strip().count("\n") == 0 and proc.stdout.startswith("restored"), proc.stdout[:500]
        assert "set_config" not in proc.stdout and "setval" not in proc.stdout
        if script == "restore-full.sh":
            assert "row counts verified" in proc.stdout
    oracle.assert_same_database(server, source, dst)


@pytest.mark.parametrize("script", ["restore.sh", "restore-full.sh"])
def test_psql_path_refuses_a_target_that_is_not_empty(source, make_db, tmp_path: Path, script: str) -> None:  # type: ignore[no-untyped-def]
    """Issue 10 item 8: into a Supabase project (auth.* exists) psql would stop at ``schema "auth"
    already exists`` after starting; the script stops first, changing nothing, and names pyrestore."""
    server = make_db.server
    b = pydump(source, tmp_path / "b")
    dst = make_db("dst")
    pgtest.run_sql(dst, "CREATE SCHEMA auth; CREATE TABLE auth.users (id uuid PRIMARY KEY);")
    before = pgtest.query(dst, "SELECT count(*) FROM pg_class")
    proc = _run(b / script, dst, _path(False, server, tmp_path))
    assert proc.returncode == 11, proc.stderr  # pyrestore's "target not empty" code
    assert "auth.users" in proc.stderr and "pip install pydump-pg" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert pgtest.query(dst, "SELECT count(*) FROM pg_class") == before


def test_scripts_help_and_password_warning(source, make_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 16 item 5: --help says to prefer DATABASE_URL/PG* variables; a password on the
    command line gets a warning (it is visible in ps)."""
    server = make_db.server
    b = pydump(source, tmp_path / "b")
    proc = _run(b / "restore.sh", "--help", _path(False, server, tmp_path))
    assert proc.returncode == 0 and "DATABASE_URL" in proc.stdout and "ps" in proc.stdout
    dst = make_db("dst")
    uri = "postgresql://postgres:not-needed@" + dst.split("host=")[1].split()[0].replace("/", "%2F") + ":" + \
        dst.split("port=")[1].split()[0] + "/" + dst.split("dbname=")[1].split()[0]
    proc = _run(b / "restore.sh", uri, _path(False, server, tmp_path))
    assert "visible in ps" in proc.stderr


@pytest.mark.parametrize("with_pyrestore", [True, False], ids=["pyrestore", "psql-only"])
def test_restore_full_fails_on_count_mismatch(source, make_db, tmp_path: Path, with_pyrestore: bool) -> None:  # type: ignore[no-untyped-def]
    """Exit 8 naming the table when a count differs.

    The expected counts are changed rather than the database (tampering between replay and
    check cannot be timed): for psql the count baked into restore-full.sh, for pyrestore
    row_counts.json (with metadata.json's checksum updated, or the backup would be refused).
    """
    server = make_db.server
    b = pydump(source, tmp_path / "b")
    if with_pyrestore:
        counts = json.loads((b / "row_counts.json").read_text())
        counts["cyc.tree"] += 1
        (b / "row_counts.json").write_text(json.dumps(counts))
        meta = json.loads((b / "metadata.json").read_text())
        data = (b / "row_counts.json").read_bytes()
        meta["files"]["row_counts.json"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        (b / "metadata.json").write_text(json.dumps(meta))
    else:
        text = (b / "restore-full.sh").read_text()
        assert "('cyc.tree', 3::bigint," in text
        (b / "restore-full.sh").write_text(text.replace("('cyc.tree', 3::bigint,", "('cyc.tree', 4::bigint,"))
    dst = make_db("dst")
    proc = _run(b / "restore-full.sh", dst, _path(with_pyrestore, server, tmp_path))
    assert proc.returncode == 8, proc.stderr
    assert "cyc.tree" in proc.stderr
