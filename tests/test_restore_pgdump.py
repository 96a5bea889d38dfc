"""pyrestore against real servers, with backups made by pg_dump (independent of pydump's dumper).

``pgdump_backup`` turns ``pg_dump -Fp`` output into a backup directory of docs/FORMAT.md
(entry markers, toc.json from pg_dump's ``-- Name: ...; Type: ...`` headers, row_counts.json,
CSV files, metadata.json with sha256): a second producer of the format, so the restore side is
tested even where the dumper is not finished, and against a producer we did not write.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
import zstandard
from psycopg import sql

from tests.support import oracle
from tests.support import pgtest
from tests.support.helpers import CYCLES
from tests.support.helpers import pyrestore
from restore.cli import main

_HEADER = re.compile(r"^-- (?:Data for )?Name: (.*); Type: (.*); Schema: (.*); Owner: (.*)$")
_POST_DATA = {"CONSTRAINT", "FK CONSTRAINT", "INDEX", "TRIGGER", "RULE", "POLICY", "ROW SECURITY",
              "MATERIALIZED VIEW DATA", "EVENT TRIGGER", "PUBLICATION", "PUBLICATION TABLE", "INDEX ATTACH"}
_DATA = {"TABLE DATA", "SEQUENCE SET"}


def _qi(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'


def _pct(name: str) -> str:
    return "".join(c if re.fullmatch(r"[A-Za-z0-9_-]", c) else "".join(f"%{b:02X}" for b in c.encode()) for c in name)


def pgdump_backup(server: pgtest.PgServer, dsn: str, out: Path, compress: str = "gzip",
                  csv: bool = True) -> Path:
    """Write a FORMAT.md backup of ``dsn`` made from pg_dump's plain output into ``out``."""
    env = oracle._client_env()
    text = subprocess.run([str(server.pg_dump_path), "-Fp", "--no-password", "-d", dsn], capture_output=True,
                          text=True, check=True, env=env).stdout
    lines = text.split("\n")
    entries: list[dict[str, Any]] = []
    script: list[str] = []
    counts: dict[str, int] = {}
    in_copy = False
    current: dict[str, Any] | None = None
    for line in lines:
        if in_copy:
            script.append(line)
            if line == "\\.":
                in_copy = False
            else:
                assert current is not None
                current["rows"] += 1
                counts[current["table"]] += 1
            continue
        if line.startswith("\\"):
            continue  # \restrict / \unrestrict: never in a pydump script
        m = _HEADER.match(line)
        if m:
            name, kind, schema, owner = m.groups()
            section = "data" if kind in _DATA else "post-data" if kind in _POST_DATA else "pre-data"
            current = {"id": len(entries), "kind": kind, "schema": None if schema == "-" else schema, "name": name,
                       "owner": None if owner == "-" else owner, "section": section, "deps": [], "table": None}
            entries.append(current)
            script.append(f"-- pydump-entry: {current['id']}")
        elif line.startswith("COPY ") and line.endswith(" FROM stdin;"):
            assert current is not None and current["kind"] == "TABLE DATA"
            key = f"{_qi(current['schema'])}.{_qi(current['name'])}"
            cols = re.search(r"\((.*)\) FROM stdin;$", line)
            current.update(table=key, rows=0, csv=None,
                           columns=[c.strip().strip('"') for c in cols.group(1).split(",")] if cols else [])
            counts.setdefault(key, 0)
            in_copy = True
        script.append(line)
    out.mkdir(parents=True)
    body = "\n".join(script).encode()
    if compress == "gzip":
        third = len(body) // 3  # several members, as parallel workers write them
        name, blob = "backup.sql.gz", b"".join(gzip.compress(p) for p in (body[:third], body[third:2 * third], body[2 * third:]))
    elif compress == "zstd":
        c = zstandard.ZstdCompressor(write_checksum=True)
        name, blob = "backup.sql.zst", c.compress(body[:1000]) + c.compress(body[1000:])
    else:
        name, blob = "backup.sql", body
    (out / name).write_bytes(blob)
    if csv:
        (out / "data").mkdir()
        with psycopg.connect(dsn, autocommit=True) as conn:
            for e in entries:
                if e["kind"] != "TABLE DATA":
                    continue
                rel = f"data/{_pct(e['schema'])}.{_pct(e['name'])}.csv"
                cols = sql.SQL(", ").join(sql.Identifier(c) for c in e["columns"])
                q = sql.SQL("COPY {} ({}) TO STDOUT WITH (FORMAT csv, HEADER true, FORCE_QUOTE *)").format(
                    sql.Identifier(e["schema"], e["name"]), cols)
                with open(out / rel, "wb") as fh, conn.cursor().copy(q) as cp:
                    for chunk in cp:
                        fh.write(chunk)
                e["csv"] = rel
    (out / "toc.json").write_text(json.dumps({"format": 1, "entries": entries}))
    (out / "row_counts.json").write_text(json.dumps(counts))
    write_metadata(out)
    return out


def write_metadata(out: Path) -> None:
    """(Re)write metadata.json with the size and sha256 of every other file."""
    files = {}
    for f in sorted(out.rglob("*")):
        rel = f.relative_to(out).as_posix()
        if f.is_file() and rel != "metadata.json":
            files[rel] = {"bytes": f.stat().st_size, "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
    (out / "metadata.json").write_text(json.dumps({"format": 1, "tool": {"name": "test", "version": "0"}, "files": files}))






@pytest.fixture
def supabase_src(fixture_db):  # type: ignore[no-untyped-def]
    dsn = fixture_db("supabase")
    pgtest.run_sql(dsn, CYCLES)
    return dsn


def test_full_restore_of_plain_pg_dump_script(supabase_src, make_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = make_db.server
    text = subprocess.run([str(server.pg_dump_path), "-Fp", "-d", supabase_src], capture_output=True, check=True,
                          env=oracle._client_env()).stdout
    f = tmp_path / "dump.sql.gz"
    f.write_bytes(gzip.compress(text))
    dst = make_db("dst")
    assert pyrestore(str(f), dst) == 0
    oracle.assert_same_database(server, supabase_src, dst)


def test_parallel_replay_of_a_plain_script_waits_for_its_loads(make_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A bare pg_dump script under ``-j 2``: its COPY blocks load on workers, and the statements
    after them (here the REFRESH of a materialized view that counts the rows, and a NOT VALID
    foreign key validated against them) must see every row. Before the fix the REFRESH ran on
    the main connection while the COPY was uncommitted and the view came back empty."""
    server = make_db.server
    src = make_db("barej")
    pgtest.run_sql(src, """
        CREATE TABLE big AS SELECT g AS id, md5(g::text) AS t FROM generate_series(1, 200000) g;
        CREATE TABLE also AS SELECT g AS id FROM generate_series(1, 50000) g;
        CREATE MATERIALIZED VIEW counts AS SELECT (SELECT count(*) FROM big) AS big, (SELECT count(*) FROM also) AS also;
    """)
    text = subprocess.run([str(server.pg_dump_path), "-Fp", "-d", src], capture_output=True, check=True,
                          env=oracle._client_env()).stdout
    f = tmp_path / "dump.sql"
    f.write_bytes(text)
    dst = make_db("barej_dst")
    assert main([str(f), dst, "-j", "2", "--quiet", "--no-report"]) == 0
    assert pgtest.query(dst, "SELECT big, also FROM counts") == [(200000, 50000)]
    oracle.assert_same_database(server, src, dst)


@pytest.mark.parametrize("compress", ["gzip", "zstd", "none"])
def test_full_restore_of_backup_dir_verifies(supabase_src, make_db, tmp_path: Path, compress: str) -> None:  # type: ignore[no-untyped-def]
    server = make_db.server
    b = pgdump_backup(server, supabase_src, tmp_path / "b", compress=compress)
    assert pyrestore("--check", str(b)) == 0
    dst = make_db("dst")
    assert pyrestore(str(b), dst) == 0
    oracle.assert_same_database(server, supabase_src, dst)


def test_refuses_non_empty_target(supabase_src, make_db, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    b = pgdump_backup(make_db.server, supabase_src, tmp_path / "b", csv=False)
    dst = make_db("dst")
    pgtest.run_sql(dst, "CREATE TABLE public.keep (x int); INSERT INTO public.keep VALUES (1);")
    assert pyrestore(str(b), dst) == 11
    assert "not empty" in capsys.readouterr().err
    assert pgtest.query(dst, "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')") == [(1,)]


def test_single_transaction_failure_leaves_target_unchanged(supabase_src, make_db, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    b = pgdump_backup(make_db.server, supabase_src, tmp_path / "b", compress="none", csv=False)
    script = b / "backup.sql"
    script.write_bytes(script.read_bytes() + b"\n-- pydump-entry: 0\nSELECT 1/0;\n")
    write_metadata(b)
    dst = make_db("dst")
    assert pyrestore(str(b), dst, "--single-transaction") == 7
    err = capsys.readouterr().err
    assert "division by zero" in err and "entry 0" in err
    assert pgtest.query(dst, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                             " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')") == [(0,)]
    assert pgtest.query(dst, "SELECT count(*) FROM pg_namespace WHERE nspname = 'cyc'") == [(0,)]


def test_keep_going_reports_and_exits_7(supabase_src, make_db, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    b = pgdump_backup(make_db.server, supabase_src, tmp_path / "b", compress="none", csv=False)
    script = b / "backup.sql"
    data = script.read_bytes()
    marker = b"-- pydump-entry: 1\n"
    script.write_bytes(data.replace(marker, marker + b"SELECT no_such_function();\n", 1))
    write_metadata(b)
    dst = make_db("dst")
    assert pyrestore(str(b), dst) == 7  # stops at the first error
    dst2 = make_db("dst2")
    assert pyrestore(str(b), dst2, "--keep-going") == 7
    assert "no_such_function" in capsys.readouterr().err
    oracle.assert_same_database(make_db.server, supabase_src, dst2)  # everything else got restored


def test_check_catches_corruption(supabase_src, make_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    b = pgdump_backup(make_db.server, supabase_src, tmp_path / "b")
    assert pyrestore("--check", str(b)) == 0
    gz = b / "backup.sql.gz"
    orig = gz.read_bytes()
    flipped = bytearray(orig)
    flipped[len(flipped) // 2] ^= 0x01
    gz.write_bytes(bytes(flipped))
    assert pyrestore("--check", str(b)) == 12
    write_metadata(b)  # checksums now "match": the gzip CRC must still catch it
    assert pyrestore("--check", str(b)) == 12
    gz.write_bytes(orig[:-100])
    write_metadata(b)
    assert pyrestore("--check", str(b)) == 12
    gz.write_bytes(orig)
    write_metadata(b)
    assert pyrestore("--check", str(b)) == 0
    next((b / "data").glob("*.csv")).unlink()
    assert pyrestore("--check", str(b)) == 12


def test_corrupt_backup_refused_before_touching_target(supabase_src, make_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    b = pgdump_backup(make_db.server, supabase_src, tmp_path / "b", csv=False)
    gz = b / "backup.sql.gz"
    gz.write_bytes(gz.read_bytes()[:-50])
    dst = make_db("dst")
    assert pyrestore(str(b), dst) == 12
    assert pgtest.query(dst, "SELECT count(*) FROM pg_namespace WHERE nspname = 'cyc'") == [(0,)]


def test_verification_mismatch_exits_8(supabase_src, make_db, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    b = pgdump_backup(make_db.server, supabase_src, tmp_path / "b", csv=False)
    counts = json.loads((b / "row_counts.json").read_text())
    counts["cyc.tree"] += 1
    (b / "row_counts.json").write_text(json.dumps(counts))
    write_metadata(b)
    dst = make_db("dst")
    assert pyrestore(str(b), dst) == 8
    assert "cyc.tree" in capsys.readouterr().err


@pytest.mark.parametrize("from_csv", [False, True])
def test_schema_only_then_data_only_superuser(supabase_src, make_db, tmp_path: Path, from_csv: bool,
                                               capsys) -> None:  # type: ignore[no-untyped-def]
    server = make_db.server
    b = pgdump_backup(server, supabase_src, tmp_path / "b")
    dst = make_db("dst")
    assert pyrestore(str(b), dst, "--schema-only") == 0
    assert pgtest.query(dst, "SELECT count(*) FROM cyc.a") == [(0,)]
    args = ["--data-only"] + (["--from-csv"] if from_csv else [])
    assert main([str(b), dst, *args, "--no-report"]) == 0
    assert "session_replication_role" in capsys.readouterr().err
    oracle.assert_same_database(server, supabase_src, dst)
    # a second data-only load refuses (tables hold rows) unless --clean
    assert pyrestore(str(b), dst, *args) == 11
    assert pyrestore(str(b), dst, *args, "--clean") == 0
    oracle.assert_same_database(server, supabase_src, dst, schema=False)


@pytest.mark.parametrize("from_csv", [False, True])
def test_data_only_fk_cycles_non_superuser(make_db, tmp_path: Path, from_csv: bool, capsys) -> None:  # type: ignore[no-untyped-def]
    server = make_db.server
    role = "pyrestore_owner"
    pgtest.run_sql(server.dsn("postgres"), f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
                                           f"THEN CREATE ROLE {role} LOGIN; END IF; END $$;")
    src = make_db("src")
    dst = make_db("dst")
    for d in (src, dst):
        pgtest.run_sql(d, f"ALTER DATABASE {conninfo_db(d)} OWNER TO {role}; ALTER SCHEMA public OWNER TO {role};")
    src_role = server.dsn(conninfo_db(src), user=role)
    dst_role = server.dsn(conninfo_db(dst), user=role)
    pgtest.run_sql(src_role, CYCLES)
    b = pgdump_backup(server, src_role, tmp_path / "b")
    assert pyrestore(str(b), dst_role, "--schema-only", "--no-owner") == 0
    args = ["--data-only"] + (["--from-csv"] if from_csv else [])
    assert main([str(b), dst_role, *args, "--no-report"]) == 0
    err = capsys.readouterr().err
    assert "dropped and are re-created" in err
    oracle.assert_same_database(server, src, dst)


def conninfo_db(dsn: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return str(conninfo_to_dict(dsn)["dbname"])


def test_table_and_schema_selection_and_list(supabase_src, make_db, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    b = pgdump_backup(make_db.server, supabase_src, tmp_path / "b", csv=False)
    assert pyrestore(str(b), "--list", "-n", "cyc") == 0
    listing = capsys.readouterr().out
    assert "TABLE cyc tree" in listing and "auth" not in listing.replace(str(b), "")
    dst = make_db("dst")
    assert pyrestore(str(b), dst, "-n", "cyc") == 0
    assert pgtest.query(dst, "SELECT count(*) FROM cyc.tree") == [(3,)]
    assert pgtest.query(dst, "SELECT count(*) FROM pg_namespace WHERE nspname = 'auth'") == [(0,)]
    dst2 = make_db("dst2")
    pgtest.run_sql(dst2, "CREATE SCHEMA cyc;")
    assert pyrestore(str(b), dst2, "-t", "cyc.tree", "--clean", "--data-only") == 2  # cyc.tree missing in target
    assert pyrestore(str(b), "--list", "-t", "nope") == 2


def test_self_reporting_across_schema_then_data_restore(supabase_src, make_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = make_db.server
    b = pgdump_backup(server, supabase_src, tmp_path / "b", csv=False)
    dst = make_db("dst")
    assert main([str(b), dst, "--schema-only", "--quiet"]) == 0
    # the schema-only restore created the events table: it reports nothing into it
    assert pgtest.query(dst, "SELECT count(*) FROM code_ops.artifact_events") == [(0,)]
    assert main([str(b), dst, "--data-only", "--quiet"]) == 0
    # the data-only restore found it in place (a live target): its two rows follow the backup's
    events = pgtest.query(dst, "SELECT event_type, success FROM code_ops.artifact_events"
                               " WHERE artifact_name = 'restore-db' ORDER BY id")
    assert events == [("invoked", None), ("completed", True)]
    src_rows = pgtest.query(supabase_src, "SELECT run_id, event_type FROM code_ops.artifact_events ORDER BY id")
    assert pgtest.query(dst, "SELECT run_id, event_type FROM code_ops.artifact_events"
                             " WHERE artifact_name <> 'restore-db' ORDER BY id") == src_rows


def test_events_table_missing_is_only_a_warning(supabase_src, make_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pgtest.run_sql(supabase_src, "DROP TABLE code_ops.artifact_events")
    b = pgdump_backup(make_db.server, supabase_src, tmp_path / "b", csv=False)
    dst = make_db("dst")
    assert main([str(b), dst, "--quiet"]) == 0
