#!/usr/bin/env python3
"""`make demo`: pydump against an embedded PostgreSQL, with no PostgreSQL installed.

1. starts the `pgserver` package's bundled PostgreSQL in a temp dir,
2. loads the Supabase-shaped sample database (tests/fixtures/supabase.sql) into `postgres`,
3. runs `pydump <dsn>` (this venv's; extra arguments of this script are passed on, e.g.
   `demo.py --prod`, `make demo ARGS="--prod"`), which writes storage/backups/<timestamp>/
   under the current directory and prints its summary,
4. creates a second database, `restored`, and runs `pyrestore <backup> <dsn of restored>`,
   which replays the backup and prints the row-count verification: both halves of the tool,
5. stops the server and deletes its temp dir, unless PYDUMP_DEMO_KEEP=1 (`make demo KEEP=1`):
   then it prints how to connect and waits until Ctrl-C, so there is a server to try more on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import json
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "supabase.sql"


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore")  # platformdirs warns about XDG_RUNTIME_DIR as root
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    try:
        import pgserver
        import psycopg
    except ImportError as exc:
        print(f"demo: {exc}; run `make demo` (it installs the project into .venv)", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="pydump-demo-"))
    os.chmod(tmp, 0o755)  # as root, pgserver runs the server as its own OS user
    server = None
    try:
        t0 = time.monotonic()
        print("▶ starting embedded PostgreSQL (pgserver) ...", flush=True)
        server = pgserver.get_server(tmp / "pgdata", cleanup_mode="delete")
        info = server.get_postmaster_info()
        dsn = (f"postgresql://postgres@/postgres?host={info.socket_dir}&port={info.port}"
               if info.socket_dir else server.get_uri("postgres"))
        with psycopg.connect(dsn, autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            print(f"▶ PostgreSQL {version} up in {time.monotonic() - t0:.1f}s; "
                  f"loading {FIXTURE.relative_to(REPO)} ...", flush=True)
            conn.execute(FIXTURE.read_text())
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
                "('pg_catalog', 'information_schema')").fetchone()[0]
        print(f"▶ sample database loaded ({tables} tables); running: pydump {dsn} "
              + " ".join(argv), flush=True)
        print(flush=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        proc = subprocess.run([*tool("pydump", "dumper"), dsn, *argv], cwd=os.getcwd(), env=env)
        if proc.returncode != 0:
            print(f"demo: pydump exited with status {proc.returncode}", file=sys.stderr)
            return proc.returncode
        backup = newest_backup(argv)
        restored = dsn.replace("/postgres?", "/restored?") if "/postgres?" in dsn else server.get_uri("restored")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE restored")
        print(f"\n▶ restoring {backup} into the database 'restored': pyrestore {backup} {restored}\n", flush=True)
        proc = subprocess.run([*tool("pyrestore", "restore"), str(backup), restored], cwd=os.getcwd(), env=env)
        if proc.returncode != 0:
            print(f"demo: pyrestore exited with status {proc.returncode}", file=sys.stderr)
            return proc.returncode
        if os.environ.get("PYDUMP_DEMO_KEEP"):
            keep_running(dsn, restored)
        else:
            print("\n▶ stopping the server (make demo KEEP=1 keeps it running to try more)", flush=True)
        return 0
    finally:
        if server is not None:
            try:
                server.cleanup()
            except Exception as exc:  # pragma: no cover
                print(f"demo: could not stop the embedded server cleanly: {exc}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


def tool(name: str, module: str) -> list[str]:
    """The venv's console script when installed, else the package straight from the repo."""
    script = Path(sys.executable).with_name(name)
    return [str(script)] if script.exists() else [sys.executable, "-m", module]


def newest_backup(argv: list[str]) -> Path:
    """The backup pydump just wrote: pydump's own rule (--out, else $PYDUMP_BACKUP_DIR, else
    ./storage/backups), newest first."""
    sys.path.insert(0, str(REPO))
    from dumper.format import layout

    out = argv[argv.index("--out") + 1] if "--out" in argv[:-1] else None
    return layout.list_backups(layout.backups_dir(out), named_only=True)[-1]


def keep_running(dsn: str, restored: str) -> None:
    """KEEP=1: say how to reach the server, then wait for Ctrl-C (the server stops with us)."""
    print("\n▶ the server keeps running until Ctrl-C. Try:", flush=True)
    print(f"   export DATABASE_URL={json.dumps(dsn)}")
    print(f"   .venv/bin/pydump --prod            # another backup of the sample database")
    print(f"   .venv/bin/pyrestore --check        # check the newest backup without a database")
    print(f"   .venv/bin/pyrestore latest '{restored}' --clean")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\n▶ stopping the server", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
