"""Shared helpers for the end-to-end backup tests (tests/test_backup_*.py).

pydump is always run as a subprocess (``python -m dumper``), exactly as a user runs it, so
the tests see the real exit status, the real stdout/stderr and the real files. The
environment handed to it is scrubbed of libpq variables (``PG*``, ``DATABASE_URL``) so that
a developer's shell settings can never point a test at another server, and ``PGTZ=UTC`` is
pinned so that timestamptz text in CSV files is comparable with what the tests read back.

Nothing here knows pydump's internals: expectations (which table belongs to which
category, what a CSV must contain) are derived independently from the spec and from the
live database, so a bug in pydump's own category code cannot make its tests agree with it.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from dumper.format.names import table_key
from tests.support import pgtest
from tests.support.pgtest import PgServer

REPO_ROOT = Path(__file__).resolve().parents[2]

#: The spec's category table, written out independently of dumper/categories.toml.
TRANSIENT_TABLES = frozenset({"conversations", "tasks", "plans", "deliverables", "checkpoints", "llm_usage"})
ORG_SCHEMAS = frozenset({"marketing", "law", "engineering", "leads", "company_data", "risk"})


class PydumpRun(NamedTuple):
    """One finished pydump/pyrestore process; unpacks as ``(returncode, stdout, stderr, json)``."""

    returncode: int
    stdout: str
    stderr: str
    json: dict[str, Any] | None


def pydump_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a pydump/pyrestore subprocess.

    Every libpq variable (``PG*``) and ``DATABASE_URL`` is removed, so a developer's shell can
    never point a test at another server; ``PGTZ=UTC`` makes timestamptz text comparable with
    what the tests read back; ``PGCONNECT_TIMEOUT=10`` turns a hang into a failure. ``extra``
    goes on top (a test's ``PGPASSWORD``, ``PGPASSFILE``, ...). The tools' own knobs
    (``PYDUMP_*``, ``PYRESTORE_*``) are removed too: a test sets the ones it means.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "PYDUMP_", "PYRESTORE_")) and k != "DATABASE_URL"}
    env["PGTZ"] = "UTC"
    env["PGCONNECT_TIMEOUT"] = "10"
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def pydump_cmd(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "dumper", *[str(a) for a in args]]


def pyrestore_cmd(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "restore", *[str(a) for a in args]]


def _parse_json(stdout: str) -> dict[str, Any] | None:
    text = stdout.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _run(cmd: list[str], env: dict[str, str] | None, cwd: str | Path | None, timeout: float,
         **popen_kw: Any) -> PydumpRun:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=pydump_env(env),
                          cwd=str(cwd) if cwd else str(REPO_ROOT), timeout=timeout,
                          stdin=subprocess.DEVNULL, **popen_kw)
    return PydumpRun(proc.returncode, proc.stdout, proc.stderr, _parse_json(proc.stdout))


def run_pydump(args: list[str], env: dict[str, str] | None = None, *, cwd: str | Path | None = None,
               timeout: float = 180, **popen_kw: Any) -> PydumpRun:
    """Run ``python -m dumper ARGS`` to completion, exactly as a user would.

    ``env`` entries are added to the scrubbed environment (:func:`pydump_env`); the JSON
    object is parsed from stdout when stdout is exactly one JSON object, else ``None``.
    ``popen_kw`` goes to :func:`subprocess.run` (e.g. ``preexec_fn`` to set a umask).
    """
    return _run(pydump_cmd(args), env, cwd, timeout, **popen_kw)


def run_pyrestore(args: list[str], env: dict[str, str] | None = None, *, cwd: str | Path | None = None,
                  timeout: float = 300, **popen_kw: Any) -> PydumpRun:
    """Run ``python -m restore ARGS`` to completion (tests of its exit code, stderr, signals)."""
    return _run(pyrestore_cmd(args), env, cwd, timeout, **popen_kw)


def pyrestore(*args: str) -> int:
    """pyrestore in-process with ``--quiet --no-report``; its exit code (fast, and a failure
    shows the traceback in pytest's output)."""
    from restore.cli import main

    return main([*args, "--quiet", "--no-report"])


def start_pydump(args: list[str], env: dict[str, str] | None = None, *,
                 cwd: str | Path | None = None) -> subprocess.Popen:
    """Start pydump in the background (for tests that act on the server while it dumps)."""
    return subprocess.Popen(pydump_cmd(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=pydump_env(env), cwd=str(cwd) if cwd else str(REPO_ROOT),
                            stdin=subprocess.DEVNULL)


def start_pyrestore(args: list[str], env: dict[str, str] | None = None, *,
                    cwd: str | Path | None = None) -> subprocess.Popen:
    """Start pyrestore in the background (for tests that kill it or the server mid-restore)."""
    return subprocess.Popen(pyrestore_cmd(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=pydump_env(env), cwd=str(cwd) if cwd else str(REPO_ROOT),
                            stdin=subprocess.DEVNULL)


def dump_args(dsn: str | None, out: str | Path, *extra: str, report: bool = False) -> list[str]:
    """The usual command line: ``[DSN] --out OUT --json [--no-report] EXTRA``."""
    return [*([dsn] if dsn is not None else []), "--out", str(out), "--json",
            *([] if report else ["--no-report"]), *extra]


def dump(dsn: str | None, out: str | Path, *extra: str, report: bool = False, env: dict[str, str] | None = None,
         cwd: str | Path | None = None, timeout: float = 300, **popen_kw: Any) -> PydumpRun:
    """One ``--json`` backup of ``dsn`` into ``out``, success or not. ``cwd`` defaults to the
    repository root, like every other run here: pydump prints ``backup_dir`` relative to its
    working directory only for a directory below it, so a temp ``out`` comes back absolute."""
    return run_pydump(dump_args(dsn, out, *extra, report=report), env, cwd=cwd, timeout=timeout, **popen_kw)


def backup_dir(run: PydumpRun, base: str | Path) -> Path:
    """The backup directory a successful ``--json`` run reports (relative paths resolved
    against ``base``, the run's working directory); fails the test on any other outcome."""
    assert run.returncode == 0, f"pydump failed ({run.returncode}):\n{run.stderr}\n{run.stdout}"
    assert "Traceback" not in run.stderr, run.stderr
    assert run.json is not None, f"--json printed no JSON object:\n{run.stdout!r}"
    assert run.json.get("ok") is True, run.json
    path = Path(run.json["backup_dir"])
    if not path.is_absolute():
        path = (Path(base) / path).resolve()
    assert path.is_dir(), f"backup_dir {path} does not exist"
    return path


def dump_ok(dsn: str, out: str | Path, *extra: str, report: bool = False, env: dict[str, str] | None = None,
            cwd: str | Path | None = None, timeout: float = 300, **popen_kw: Any) -> tuple[Path, PydumpRun]:
    """A ``--json`` dump that must succeed; returns the backup directory and the run."""
    run = dump(dsn, out, *extra, report=report, env=env, cwd=cwd, timeout=timeout, **popen_kw)
    return backup_dir(run, cwd or REPO_ROOT), run


def pydump(dsn: str, out: str | Path, *extra: str, **kw: Any) -> Path:
    """:func:`dump_ok` for callers that only need the backup directory."""
    return dump_ok(dsn, out, *extra, **kw)[0]


def dbname(dsn: str) -> str:
    """The database name of a DSN (key/value or URI)."""
    return str(conninfo_to_dict(dsn)["dbname"])


def wait_for_copy(dsn: str, proc: subprocess.Popen, table: str, *, app: str = "pydump",
                  timeout: float = 60) -> list[int]:
    """Block until ``app``'s backends (``application_name`` starting with it) run a COPY of
    ``table`` in ``dsn``'s database; their pids.

    For tests that kill a backend, the server or the tool mid-COPY. Fails the test when the
    process ends first (its stderr in the message) or the COPY never shows up.
    """
    deadline = time.monotonic() + timeout
    with pgtest.connect(dsn) as conn:
        while time.monotonic() < deadline:
            pids = [r[0] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name LIKE %s"
                " AND state = 'active' AND query ILIKE 'COPY%%' AND query LIKE %s",
                (dbname(dsn), app + "%", f"%{table}%")).fetchall()]
            if pids:
                return pids
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"{app} ended (exit {proc.returncode}) before its COPY of {table} "
                                     f"was seen:\n{err}")
            time.sleep(0.01)
    proc.kill()
    proc.communicate()
    raise AssertionError(f"{app}'s COPY of {table} never showed up in pg_stat_activity")


def assert_clean_failure(run: PydumpRun, expected_code: int | None = None) -> str:
    """A failure as the spec wants it: non-zero exit, one ``pydump: error:`` line, no traceback.

    Returns the error line. Warning lines (``pydump: warning: ...``) are allowed besides it.
    """
    assert run.returncode != 0, f"expected a failure, got exit 0:\n{run.stdout}\n{run.stderr}"
    if expected_code is not None:
        assert run.returncode == expected_code, f"exit {run.returncode}, expected {expected_code}:\n{run.stderr}"
    assert "Traceback" not in run.stderr, run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if not ln.startswith("pydump: warning:")]
    assert len(errors) == 1, f"expected exactly one error line on stderr, got:\n{run.stderr}"
    assert errors[0].startswith("pydump: "), errors[0]
    return errors[0]


# --------------------------------------------------------------------------- backup directories

def backup_dirs(parent: Path) -> list[Path]:
    """Complete backups in ``parent`` (names not starting with ``.``), oldest first."""
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))


def only_backup(parent: Path) -> Path:
    """The one complete backup in ``parent`` (fails the test if there are none or several)."""
    found = backup_dirs(parent)
    assert len(found) == 1, f"expected exactly one backup in {parent}, found {found}"
    return found[0]


def latest_backup(parent: str | Path) -> Path:
    """The newest complete backup directory in ``parent`` (names sort by timestamp)."""
    found = backup_dirs(Path(parent))
    assert found, f"no backup directory in {parent}"

    def key(p: Path) -> tuple[str, int]:
        stamp, _, n = p.name.partition("_")[2].partition("_")  # YYYYMMDD_HHMMSS[_N]
        return (p.name[:8] + stamp, int(n) if n.isdigit() else 1)

    return max(found, key=key)


def leftovers(parent: Path) -> list[str]:
    """Everything in ``parent``, hidden entries included (a failed run must leave nothing)."""
    if not parent.exists():
        return []
    return sorted(p.name for p in parent.iterdir())


def dump_file(backup: Path) -> Path:
    for name in ("backup.sql.gz", "backup.sql.zst", "backup.sql"):
        if (backup / name).is_file():
            return backup / name
    raise AssertionError(f"no backup.sql[.gz|.zst] in {backup}: {sorted(os.listdir(backup))}")


def decompress(path: Path) -> bytes:
    """A file's content, gunzipped / unzstd'ed by its suffix."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        return gzip.decompress(data)
    if path.suffix == ".zst":
        import zstandard

        with zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True) as r:
            return r.read()
    return data


def all_backup_bytes(backup: Path) -> dict[str, bytes]:
    """Every file of a backup by relative path, decompressed where it is compressed (for
    tests that look for a secret or a marker anywhere in a backup)."""
    return {p.relative_to(backup).as_posix(): decompress(p) for p in sorted(backup.rglob("*")) if p.is_file()}


def read_script(backup: Path) -> str:
    return decompress(dump_file(backup)).decode("utf-8")


_COPY_RX = re.compile(r"^COPY (\S+) \((.*)\) FROM stdin;$|^COPY (\S+) FROM stdin;$")


def copy_blocks(script: str) -> dict[str, list[str]]:
    """``{qualified table: data lines}`` of every ``COPY ... FROM stdin`` block of a script.

    Several blocks for one table are concatenated. Data lines never start a COPY block of
    their own: a block only ends at a line that is exactly ``\\.``.
    """
    out: dict[str, list[str]] = {}
    lines = script.split("\n")
    i = 0
    while i < len(lines):
        m = _COPY_RX.match(lines[i])
        if not m:
            i += 1
            continue
        table = m.group(1) or m.group(3)
        rows = out.setdefault(table, [])
        i += 1
        while i < len(lines) and lines[i] != "\\.":
            rows.append(lines[i])
            i += 1
        assert i < len(lines), f"COPY block of {table} has no terminating \\."
        i += 1
    return out


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- databases

def user_tables(dsn: str) -> dict[str, tuple[str, str]]:
    """``{qualified: (schema, table)}`` for every ordinary/partitioned user table."""
    rows = pgtest.query(dsn, """
        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
          AND c.relpersistence <> 't'
        ORDER BY 1, 2""")
    return {table_key(s, t): (s, t) for s, t in rows}


def row_count(dsn: str, schema: str, table: str) -> int:
    with pgtest.connect(dsn) as conn:
        return conn.execute(sql.SQL("SELECT count(*) FROM ONLY {}").format(sql.Identifier(schema, table))).fetchone()[0]


def spec_category(schema: str, table: str) -> str:
    """The category the spec's table puts a table in (unclaimed tables are Core)."""
    if schema == "auth":
        return "auth"
    if schema == "storage":
        return "storage"
    if schema in ORG_SCHEMAS:
        return "org_data"
    if table in TRANSIENT_TABLES:
        return "transient"
    return "core"


@contextlib.contextmanager
def scratch_db(server: PgServer, hint: str, fixture: str | None = None) -> Iterator[str]:
    """A database living as long as the ``with`` block (for module-scoped fixtures, which
    cannot use the function-scoped ``make_db``); optionally loaded with a tests/fixtures file."""
    name = pgtest.unique_db_name(hint)
    dsn = server.create_database(name)
    try:
        if fixture is not None:
            path = pgtest.fixture_path(fixture)
            missing = [e for e in pgtest.fixture_requirements(path) if pgtest.missing_extension(dsn, e)]
            if missing:
                import pytest

                pytest.skip(f"fixture {fixture} needs extension(s) {', '.join(missing)}")
            pgtest.run_sql(dsn, path)
        yield dsn
    finally:
        if server.running:
            try:
                server.drop_database(name)
            except Exception as exc:  # never hide the test's own outcome
                print(f"warning: could not drop test database {name}: {exc}", file=sys.stderr)


@contextlib.contextmanager
def temp_role(server: PgServer, *, password: str | None = None, superuser: bool = True) -> Iterator[str]:
    """A LOGIN role for one test (roles are cluster-wide: always dropped again)."""
    name = f"pydump_t_{uuid.uuid4().hex[:10]}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN {} PASSWORD {}").format(
            sql.Identifier(name), sql.SQL("SUPERUSER" if superuser else "NOSUPERUSER"),
            sql.Literal(password)))
    try:
        yield name
    finally:
        if server.running:
            with server.connect() as conn:
                # sessions of the role may still be closing
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
                pgtest.wait_for(lambda: not conn.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE usename = %s", (name,)).fetchone(), timeout=5)
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


#: Foreign-key cycles (a pair, a self-reference) with rows: data-only loads must cope with them.
CYCLES = """
CREATE SCHEMA cyc;
CREATE TABLE cyc.a (id int PRIMARY KEY, b_id int);
CREATE TABLE cyc.b (id int PRIMARY KEY, a_id int REFERENCES cyc.a);
ALTER TABLE cyc.a ADD FOREIGN KEY (b_id) REFERENCES cyc.b;
CREATE TABLE cyc.tree (id int PRIMARY KEY, parent int REFERENCES cyc.tree, label text);
CREATE TABLE cyc.child (id serial PRIMARY KEY, a_id int NOT NULL REFERENCES cyc.a);
INSERT INTO cyc.a VALUES (1, NULL), (2, NULL);
INSERT INTO cyc.b VALUES (10, 1), (20, 2);
UPDATE cyc.a SET b_id = 10 * id;
INSERT INTO cyc.tree VALUES (3, NULL, 'root'), (1, 3, 'leaf'), (2, 1, 'leaf of leaf');
INSERT INTO cyc.child (a_id) SELECT 1 + g % 2 FROM generate_series(1, 50) g;
"""
