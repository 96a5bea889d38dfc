"""docs/ci.md's job, step by step, against a real server: only a connection string in the
environment (DATABASE_URL + PGPASSWORD, as a CI service container gives), `pydump --json`
into $PYDUMP_BACKUP_DIR, the backup kept (copied away, as an artifact upload does), then
`pyrestore --check` on the copy. If the documented steps stop working, this fails."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from tests.support.helpers import REPO_ROOT, pydump_env, run_pydump, run_pyrestore


def _uri(dsn: str) -> str:
    """The key/value DSN of the test server as the URI a CI job has (socket dir as host=)."""
    d = conninfo_to_dict(dsn)
    return f"postgresql://{d.get('user', 'postgres')}@/{d['dbname']}?host={d['host']}&port={d['port']}"


def test_ci_job_steps(db: str, tmp_path: Path) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.t (id int PRIMARY KEY); INSERT INTO public.t SELECT generate_series(1, 50)")
    doc = (REPO_ROOT / "docs/ci.md").read_text()
    # the steps this test runs are the ones the document shows
    for step in ("pydump --json --no-report", 'pyrestore --check "$BACKUP_DIR" --json', "PYDUMP_BACKUP_DIR",
                 "upload-artifact"):
        assert step in doc, step
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    env = {"DATABASE_URL": _uri(db), "PYDUMP_BACKUP_DIR": str(workspace / "backups")}
    run = run_pydump(["--json", "--no-report"], env=env, cwd=workspace)
    assert run.returncode == 0, run.stderr
    assert run.json is not None and run.json["ok"] and Path(run.json["backup_dir"]).is_absolute()
    backup = Path(run.json["backup_dir"])
    assert backup.parent == workspace / "backups"
    artifact = tmp_path / "artifact" / backup.name  # what the artifact store keeps
    shutil.copytree(backup, artifact)
    chk = run_pyrestore(["--check", str(artifact), "--json"], env=env, cwd=tmp_path)
    assert chk.returncode == 0 and chk.json and chk.json["ok"], chk.stderr
    # and a failing job says why in its one JSON object
    bad = run_pydump(["--json", "--no-report"], env={**env, "DATABASE_URL": _uri(db).replace(
        re.search(r"/(\w+)\?", _uri(db)).group(1), "nosuch_ci_db")}, cwd=workspace)
    assert bad.returncode == 3 and bad.json == {**bad.json, "ok": False, "exit_code": 3}, bad.stdout
