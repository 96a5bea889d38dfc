"""The command lines as CI scripts and people use them (issue 12): stable exit codes with or
without --debug, one-line errors, one JSON object always, the backups directory rule, category
flags from the file in use, the summary's extra lines, and the Python API.

Every run is a real subprocess against a real server (or none, for failures before any
connection); nothing is mocked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from pathlib import Path

import psycopg
import pytest

from dumper.errors import EXIT_CODE_MEANINGS, ExitCode
from tests.support import pgtest
from tests.support.helpers import REPO_ROOT, pydump_env, run_pydump, run_pyrestore

SQL = """
CREATE TABLE public.items (id int PRIMARY KEY, name text);
INSERT INTO public.items SELECT i, 'n' || i FROM generate_series(1, 20) i;
CREATE TABLE public.tasks (id int PRIMARY KEY);
INSERT INTO public.tasks VALUES (1), (2);
CREATE SCHEMA auth;
CREATE TABLE auth.users (id int PRIMARY KEY, email text);
INSERT INTO auth.users VALUES (1, 'a@example.com');
"""


@pytest.fixture
def src(db: str) -> str:

    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(SQL)
    return db


def _stderr_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def _one_error(run, tool: str = "pydump") -> str:
    lines = _stderr_lines(run.stderr)
    assert len(lines) == 1, f"expected one stderr line, got:\n{run.stderr}"
    assert lines[0].startswith(f"{tool}: error: "), lines[0]
    return lines[0]


# -- 1. --debug never changes an exit code --------------------------------------------------
@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_debug_keeps_exit_codes(pg_server, tmp_path: Path, debug: list[str]) -> None:
    nosuch = pg_server.dsn("nosuch_db_issue12")
    assert run_pydump([nosuch, "--out", tmp_path, *debug]).returncode == ExitCode.CONNECT
    bad = tmp_path / "bad.toml"
    bad.write_text("[core\n")
    assert run_pydump(["--categories", bad, nosuch, *debug]).returncode == ExitCode.USAGE
    afile = tmp_path / "afile"
    afile.write_text("x")
    run = run_pydump([pg_server.dsn("postgres"), "--out", afile, "--no-report", *debug])
    assert run.returncode == ExitCode.OUTPUT, run.stderr
    if debug:
        assert "Traceback" in run.stderr  # --debug adds the traceback, nothing else
        assert run.stderr.rstrip().splitlines()[-1].startswith("pydump: error: ")


# -- 2. one line per failure, usage errors short, warnings once ------------------------------
def test_failures_are_one_line(pg_server, tmp_path: Path) -> None:
    run = run_pydump(["--bogus-option"])
    assert run.returncode == ExitCode.USAGE
    assert "see pydump --help" in _one_error(run)
    run = run_pyrestore(["--bogus-option"])
    assert run.returncode == ExitCode.USAGE
    assert "see pyrestore --help" in _one_error(run, "pyrestore")
    # a connection failure with reporting on: no "could not record" warning before the error
    run = run_pydump([pg_server.dsn("nosuch_db_issue12"), "--out", tmp_path])
    assert run.returncode == ExitCode.CONNECT
    _one_error(run)


def test_lock_timeout_names_the_table(src: str, tmp_path: Path) -> None:
    holder = psycopg.connect(src)
    try:
        holder.execute("LOCK TABLE public.items IN ACCESS EXCLUSIVE MODE")
        run = run_pydump([src, "--out", tmp_path, "--no-report", "--lock-wait-timeout", "200"])
    finally:
        holder.close()
    assert run.returncode == ExitCode.LOCK, run.stderr
    assert "items" in _one_error(run)


def test_warnings_once_and_counted(src: str, tmp_path: Path) -> None:
    run = run_pydump([src, "--out", tmp_path, "--no-report", "-T", "public.nosuch_table"])
    assert run.returncode == 0, run.stderr
    warnings = [ln for ln in _stderr_lines(run.stderr) if ln.startswith("pydump: warning:")]
    assert len(warnings) == 1 and "nosuch_table" in warnings[0], run.stderr
    assert "nosuch_table" not in run.stdout  # not a second copy in the summary
    assert "Warnings: 1" in run.stdout


# -- 3. --json always prints one object --------------------------------------------------------
def test_json_on_failure_both_tools(pg_server, tmp_path: Path) -> None:
    for run, code in ((run_pydump([pg_server.dsn("nosuch_db_issue12"), "--out", tmp_path, "--json"]), 3),
                      (run_pydump(["--json", "--jobs", "0"]), 2),
                      (run_pydump(["--json", "--bogus"]), 2),
                      (run_pyrestore(["--json", "--bogus"]), 2),
                      (run_pyrestore(["--json", "--check", str(tmp_path / "missing")]), 12)):
        assert run.returncode == code, run.stderr
        assert run.json is not None, run.stdout
        assert run.json["ok"] is False and run.json["exit_code"] == code and run.json["error"], run.json
        assert len(run.stdout.strip().splitlines()) == 1


def test_json_on_success(src: str, tmp_path: Path) -> None:
    run = run_pydump([src, "--out", tmp_path, "--no-report", "--json"])
    assert run.returncode == 0 and run.json and run.json["ok"] is True and run.json["exit_code"] == 0


# -- 4. one exit-code table --------------------------------------------------------------------
def test_restore_codes_distinct(src: str, make_db, tmp_path: Path) -> None:
    run = run_pydump([src, "--out", tmp_path, "--no-report", "--json"])
    backup = Path(run.json["backup_dir"])
    # a non-empty target: 11
    res = run_pyrestore([backup, src, "--no-report", "--json"])
    assert res.returncode == ExitCode.TARGET_NOT_EMPTY == 11, res.stderr
    assert res.json["ok"] is False and res.json["exit_code"] == 11
    # a failed --check: 12 (pyrestore and pydump --verify alike), in one line
    with open(backup / "row_counts.json", "a") as fh:
        fh.write(" ")
    chk = run_pyrestore(["--check", backup, "--quiet"])  # no progress lines: the error alone
    assert chk.returncode == ExitCode.BAD_BACKUP == 12, chk.stderr
    _one_error(chk, "pyrestore")
    assert run_pydump(["--verify", backup]).returncode == 12
    for tool in (run_pydump, run_pyrestore):
        helptext = tool(["--help"]).stdout
        for code, meaning in EXIT_CODE_MEANINGS.items():
            assert re.search(rf"^\s*{int(code)}\s+{re.escape(meaning[:30])}", helptext, re.M), (code, helptext)


# -- 7. where backups live ---------------------------------------------------------------------
def test_backup_dir_rule(src: str, tmp_path: Path) -> None:
    env_dir = tmp_path / "from-env"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    run = run_pydump([src, "--no-report"], env={"PYDUMP_BACKUP_DIR": str(env_dir)}, cwd=cwd)
    assert run.returncode == 0, run.stderr
    made = [d for d in env_dir.iterdir() if not d.name.startswith(".")]
    assert len(made) == 1 and not (cwd / "storage").exists()
    assert f"   {made[0]}/" in run.stdout  # absolute in the summary
    # pyrestore latest looks in the same place
    chk = run_pyrestore(["--check", "--json"], env={"PYDUMP_BACKUP_DIR": str(env_dir)}, cwd=cwd)
    assert chk.returncode == 0 and chk.json["backup_dir"] == str(made[0]), chk.stderr


def test_backup_db_sh_writes_project_backups(src: str, tmp_path: Path) -> None:
    backups = REPO_ROOT / "storage" / "backups"
    before = set(backups.iterdir()) if backups.is_dir() else set()
    proc = subprocess.run([str(REPO_ROOT / "storage/scripts/backup-db.sh"), src, "--no-report", "--json"],
                          cwd=tmp_path, env=pydump_env(), capture_output=True, text=True, timeout=120)
    new = set(backups.iterdir()) - before if backups.is_dir() else set()
    try:
        assert proc.returncode == 0, proc.stderr
        assert not (tmp_path / "storage").exists()
        assert [str(p) for p in new] == [json.loads(proc.stdout)["backup_dir"]]
    finally:
        import shutil
        for p in new:
            shutil.rmtree(p, ignore_errors=True)


# -- 8. category flags from the file -----------------------------------------------------------
def test_custom_category_flag(src: str, tmp_path: Path) -> None:
    cats = tmp_path / "custom.toml"
    cats.write_text('[core]\npatterns = ["public.*", "auth.*"]\n\n'
                    '[tasks]\nlabel = "Tasks"\npatterns = ["public.tasks"]\nflag = "--no-tasks"\n')
    run = run_pydump([src, "--out", tmp_path / "o", "--no-report", "--json", "--categories", cats, "--no-tasks"])
    assert run.returncode == 0, run.stderr
    assert run.json["excluded_categories"] == [{"label": "Tasks", "tables": 1}]
    helptext = run_pydump(["--help"]).stdout
    for flag in ("--no-transient", "--no-org-data", "--no-auth", "--no-storage"):
        assert flag in helptext


# -- 9. the summary's added lines --------------------------------------------------------------
def test_summary_lines(src: str, tmp_path: Path) -> None:
    run = run_pydump([src, "--out", tmp_path, "--no-report", "--no-auth"])
    assert run.returncode == 0, run.stderr
    for line in ("✅ Database Backup Created Successfully", "📦 Backup Location:", "📊 Backup Contents:",
                 "📈 Backup Details:", "   Mode: full", "🕐 Created: "):
        assert line in run.stdout
    assert re.search(r"^   Duration: \d\.\d s$", run.stdout, re.M), run.stdout
    assert "   Excluded: Auth (1 table)" in run.stdout, run.stdout


# -- 11. the Python API -----------------------------------------------------------------------
def test_python_api(src: str, make_db, tmp_path: Path) -> None:
    code = f"""
import json, sys
from dumper.api import backup
from restore.api import check, restore
b = backup({src!r}, out={str(tmp_path)!r}, no_report=True)
c = check(b["backup_dir"])
r = restore(b["backup_dir"], {make_db("api_copy")!r}, no_report=True)
bad = backup("dbname=x host=127.0.0.1 port=1", out={str(tmp_path)!r})
print(json.dumps([b, c, r, bad]))
"""
    proc = subprocess.run([os.sys.executable, "-c", code], cwd=REPO_ROOT, env=pydump_env(),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # nothing printed
    b, c, r, bad = json.loads(proc.stdout)
    cli = run_pydump([src, "--out", tmp_path, "--no-report", "--json"]).json
    assert set(b) == set(cli) and b["ok"] and b["exit_code"] == 0
    assert c["ok"] and r["ok"] and r["verified"] and r["exit_code"] == 0
    assert bad == {**bad, "ok": False, "exit_code": 3}
