"""Self-reporting into ``code_ops.artifact_events``, as the spec's command does it.

One ``invoked`` row at the start and one ``completed`` row at the end, with the same run_id;
reporting is a courtesy, so a database without the table, or with a table the insert cannot
use, still gets its backup (exit 0). Each test loads its own copy of the fixture: reporting
writes into the database being dumped.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from tests.support import pgtest
from tests.support.helpers import backup_dirs, dump_ok, leftovers, load_json, run_pydump

FIXTURE_RUN = "80000000-0000-4000-8000-000000000001"  # the fixture's own sample rows


def _events(dsn: str) -> list[tuple]:
    """The rows pydump added: (run_id, artifact_type, artifact_name, artifact_version,
    event_type, success, details), in insertion order."""
    return pgtest.query(dsn, """
        SELECT run_id::text, artifact_type, artifact_name, artifact_version, event_type, success, details
        FROM code_ops.artifact_events WHERE run_id IS DISTINCT FROM %s ORDER BY id""", (FIXTURE_RUN,))


def test_invoked_and_completed_rows(fixture_db, tmp_path):
    src = fixture_db("supabase")
    run = run_pydump([src, "--out", str(tmp_path), "--json"])
    assert run.returncode == 0, run.stderr
    assert "warning" not in run.stderr, run.stderr
    rows = _events(src)
    assert [r[4] for r in rows] == ["invoked", "completed"], rows
    (run_id, *_), (run_id2, *_) = rows
    assert run_id == run_id2 and uuid.UUID(run_id).version == 4
    for _, a_type, a_name, a_version, *_ in rows:
        assert (a_type, a_name) == ("command", "backup-db")
        assert a_version
    invoked, completed = rows
    assert invoked[5] is None
    assert invoked[6]["triggered_by"] == "user"
    assert completed[5] is True
    details = completed[6]
    assert Path(details["backup_dir"]).resolve() == Path(run.json["backup_dir"]).resolve()
    assert re.fullmatch(r"\d+(\.\d)?[BKMGT]", details["backup_size"]), details["backup_size"]
    # the row carries the summary's numbers (a missing key is a failure, not a pass)
    assert details["size_bytes"] == run.json["size_bytes"], details
    assert (details["mode"], details["rows"]) == (run.json["mode"], run.json["rows"]), details

    # a second run gets a run_id of its own; --no-report adds nothing
    run2 = run_pydump([src, "--out", str(tmp_path), "--json"])
    assert run2.returncode == 0, run2.stderr
    rows2 = _events(src)[2:]
    assert [r[4] for r in rows2] == ["invoked", "completed"]
    assert rows2[0][0] == rows2[1][0] != run_id
    dump_ok(src, tmp_path)
    assert len(_events(src)) == 4


def test_failed_backup_reports_failure(fixture_db, tmp_path):
    """A backup that fails after it started (a lock it cannot get) records success = false."""
    src = fixture_db("supabase")
    out = tmp_path / "out"
    with pgtest.connect(src, autocommit=False) as holder:
        holder.execute("LOCK TABLE public.tasks IN ACCESS EXCLUSIVE MODE")
        run = run_pydump([src, "--out", str(out), "--json", "--lock-wait-timeout", "300"], timeout=60)
        holder.rollback()
    assert run.returncode == 6, run.stderr
    assert leftovers(out) == []
    rows = _events(src)
    assert [r[4] for r in rows] == ["invoked", "completed"], rows
    assert rows[0][0] == rows[1][0]
    assert rows[1][5] is False
    assert "lock" in rows[1][6].get("error", ""), rows[1][6]


def test_database_without_events_table(db, tmp_path):
    """No code_ops.artifact_events: reporting is skipped, the backup succeeds."""
    pgtest.run_sql(db, "CREATE TABLE public.things (id int PRIMARY KEY, name text); "
                       "INSERT INTO public.things VALUES (1, 'one'), (2, NULL)")
    run = run_pydump([db, "--out", str(tmp_path), "--json"])
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "error" not in run.stderr
    (backup,) = backup_dirs(tmp_path)
    assert load_json(backup / "row_counts.json") == {"public.things": 2}
    assert pgtest.query(db, "SELECT to_regclass('code_ops.artifact_events')") == [(None,)]


def test_unusable_events_table_gives_a_warning_not_a_failure(db, tmp_path):
    """The table exists but the insert fails (wrong shape): a warning, and still exit 0."""
    pgtest.run_sql(db, "CREATE SCHEMA code_ops; CREATE TABLE code_ops.artifact_events (id int PRIMARY KEY); "
                       "CREATE TABLE public.things (id int PRIMARY KEY); INSERT INTO public.things VALUES (1)")
    run = run_pydump([db, "--out", str(tmp_path), "--json"])
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    warnings = [ln for ln in run.stderr.splitlines() if ln.startswith("pydump: warning:")]
    assert warnings and all("artifact_events" in w for w in warnings), run.stderr
    assert run.json is not None and run.json["ok"] is True
    (backup,) = backup_dirs(tmp_path)
    assert load_json(backup / "row_counts.json")["public.things"] == 1
