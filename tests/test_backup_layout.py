"""The backup directory as the spec and docs/FORMAT.md describe it, checked against the database.

Every number in the directory is recomputed here from an independent source: sha256 and
sizes from the files, row counts from ``count(*)``, CSV content from the server's own
``COPY ... WITH (FORMAT csv)`` and from psycopg values, the summary from the directory.
One default backup of the supabase fixture is shared by most tests of the module.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import re
import stat
import uuid
from pathlib import Path

import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

import dumper
from tests.support import oracle
from tests.support import pgtest
from dumper.cli import build_parser
from tests.support.helpers import (backup_dirs, decompress, dump_ok, load_json, read_script, run_pydump, scratch_db, temp_role,
                     user_tables)

FILES = ("backup.sql.gz", "restore.sh", "restore-full.sh", "metadata.json", "row_counts.json", "toc.json")


@pytest.fixture(scope="module")
def source(pg_server):
    """The supabase fixture, loaded once per server for the whole module (read-only)."""
    with scratch_db(pg_server, "layout_src", fixture="supabase") as dsn:
        yield dsn


@pytest.fixture(scope="module")
def backup(source, tmp_path_factory):
    """``(backup directory, PydumpRun)`` of one default ``--json`` backup of the fixture."""
    return dump_ok(source, tmp_path_factory.mktemp("layout"))


def _session(dsn: str):
    """A connection with the settings a dump reads values under (UTC, ISO dates, exact floats)."""
    conn = pgtest.connect(dsn)
    for stmt in ("SET DateStyle = ISO", "SET IntervalStyle = postgres", "SET extra_float_digits = 3",
                 "SET TimeZone = 'UTC'", "SET client_encoding = 'UTF8'"):
        conn.execute(stmt)
    return conn


def _copy_columns(dsn: str, schema: str, table: str) -> list[str]:
    """The columns a data dump must carry: every live, non-generated column, in order."""
    rows = pgtest.query(dsn, """
        SELECT a.attname FROM pg_attribute a
        WHERE a.attrelid = (quote_ident(%s) || '.' || quote_ident(%s))::regclass
          AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
        ORDER BY a.attnum""", (schema, table))
    return [r[0] for r in rows]


def _data_entries(backup_dir: Path) -> list[dict]:
    return [e for e in load_json(backup_dir / "toc.json")["entries"] if e["kind"] == "TABLE DATA"]


# --------------------------------------------------------------------------- files

def test_every_file_present(backup):
    path, _ = backup
    for name in FILES:
        assert (path / name).is_file(), name
    csvs = sorted((path / "data").glob("*.csv"))
    assert csvs, "the default backup has CSV files for the critical tables"
    for script in ("restore.sh", "restore-full.sh"):
        assert os.access(path / script, os.X_OK), f"{script} is not executable"
        assert (path / script).read_text().startswith("#!"), script
    # nothing else lies around: exactly the files metadata.json lists, plus itself
    present = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    meta = load_json(path / "metadata.json")
    assert present == set(meta["files"]) | {"metadata.json"}
    gz = (path / "backup.sql.gz").read_bytes()
    assert gz[:2] == b"\x1f\x8b"


def test_permissions_are_private(backup):
    """Backups hold password hashes and tokens: directories 0700, files 0600 (scripts 0700)."""
    path, _ = backup
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert stat.S_IMODE((path / "data").stat().st_mode) == 0o700
    for p in path.rglob("*"):
        mode = stat.S_IMODE(p.stat().st_mode)
        if p.is_dir():
            assert mode == 0o700, p
        elif p.name.endswith(".sh"):
            assert mode == 0o700, (p, oct(mode))
        else:
            assert mode == 0o600, (p, oct(mode))


def test_checksums_and_sizes(backup):
    path, run = backup
    meta = load_json(path / "metadata.json")
    total = 0
    for rel, info in meta["files"].items():
        data = (path / rel).read_bytes()
        assert info["bytes"] == len(data), rel
        assert info["sha256"] == hashlib.sha256(data).hexdigest(), rel
        total += len(data)
    assert meta["size_bytes"] == total
    assert run.json["size_bytes"] == meta["size_bytes"]


# --------------------------------------------------------------------------- metadata.json

def test_metadata_fields(backup, source, pg_server):
    path, run = backup
    meta = load_json(path / "metadata.json")
    conn_info = conninfo_to_dict(source)
    assert meta["format"] == 1
    assert meta["tool"] == {"name": "pydump", "version": dumper.__version__}
    (num, ver), = pgtest.query(source, "SELECT current_setting('server_version_num')::int, current_setting('server_version')")
    assert meta["server"]["version_num"] == num
    assert meta["server"]["version"] == ver.split()[0]
    assert meta["database"] == conn_info["dbname"]
    assert meta["host"] == conn_info["host"]
    assert int(meta["port"]) == int(conn_info["port"])
    assert meta["user"] == pg_server.superuser
    assert meta["mode"] == "full"
    # every CLI option is recorded (the DSN excepted: it may carry a password)
    dests = {a.dest for a in build_parser()._actions} - {"help", "version", "dsn"}
    assert dests <= set(meta["options"]), dests - set(meta["options"])
    assert meta["options"]["compress"] == "gzip" and meta["options"]["no_report"] is True
    # categories: all included by default, each with the tables it matched
    assert [c["name"] for c in meta["categories"]] == ["core", "auth", "storage", "org_data", "transient"]
    assert all(c["included"] for c in meta["categories"])
    listed = [t for c in meta["categories"] for t in c["tables"]]
    assert sorted(listed) == sorted(user_tables(source)), "each table in exactly one category"
    assert {c["name"]: c["csv"] for c in meta["categories"]} == {
        "core": True, "auth": True, "storage": False, "org_data": False, "transient": False}
    # times: ISO-8601, ordered, duration consistent with them
    started = dt.datetime.fromisoformat(meta["started_at"])
    finished = dt.datetime.fromisoformat(meta["finished_at"])
    assert started.tzinfo is not None and started <= finished
    assert abs((finished - started).total_seconds() - meta["duration_s"]) < 1.0
    assert 0 <= meta["duration_s"] < 120
    assert dt.datetime.strptime(path.name[:15], "%Y%m%d_%H%M%S") == started.replace(tzinfo=None, microsecond=0)
    assert meta["compression"]["method"] == "gzip"
    assert isinstance(meta["compression"]["level"], int)
    counts = load_json(path / "row_counts.json")
    assert meta["tables"] == len(counts) == run.json["tables"]
    assert meta["rows"] == sum(counts.values()) == run.json["rows"]


def test_row_counts_are_true(backup, source):
    path, _ = backup
    counts = load_json(path / "row_counts.json")
    tables = user_tables(source)
    assert set(counts) == set(tables)
    with pgtest.connect(source) as conn:
        for key, (schema, name) in tables.items():
            real = conn.execute(sql.SQL("SELECT count(*) FROM ONLY {}").format(sql.Identifier(schema, name))).fetchone()[0]
            assert counts[key] == real, key
    assert counts["crawler.pages"] == 2000  # guard: the fixture's one larger table
    for e in _data_entries(path):
        assert e["rows"] == counts[e["table"]], e["table"]


# --------------------------------------------------------------------------- toc.json

def test_toc_order_ids_and_deps(backup):
    path, _ = backup
    toc = load_json(path / "toc.json")
    assert toc["format"] == 1
    entries = toc["entries"]
    assert [e["id"] for e in entries] == list(range(len(entries)))
    for e in entries:
        assert e["section"] in ("pre-data", "data", "post-data")
        assert {"kind", "schema", "name", "owner", "deps"} <= set(e)
        for d in e["deps"]:
            assert isinstance(d, int) and 0 <= d < e["id"], f"entry {e['id']} {e['kind']} {e['name']} depends on {d}"
    sections = [e["section"] for e in entries]
    assert sections == sorted(sections, key=["pre-data", "data", "post-data"].index), "sections in order"
    # the script has one "-- pydump-entry: N" marker per entry, in the same order
    markers = [int(m) for m in re.findall(r"^-- pydump-entry: (\d+)$", read_script(path), re.M)]
    assert markers == list(range(len(entries)))
    kinds = {e["kind"] for e in entries}
    assert {"SCHEMA", "TABLE", "TABLE DATA", "SEQUENCE SET", "FK CONSTRAINT", "INDEX", "VIEW", "COMMENT"} <= kinds


# --------------------------------------------------------------------------- CSV files

def test_csv_files_equal_server_csv(backup, source):
    """Byte for byte what the server writes with FORCE_QUOTE *: every non-NULL field quoted,
    NULL an unquoted empty field, so NULL and '' stay apart."""
    path, _ = backup
    entries = [e for e in _data_entries(path) if e["csv"]]
    assert {e["csv"] for e in entries} == {p.relative_to(path).as_posix() for p in (path / "data").glob("*.csv")}
    assert "agents.agent_memory" in {e["table"] for e in entries}  # the awkward values are covered
    with _session(source) as conn:
        for e in entries:
            cols = _copy_columns(source, e["schema"], e["name"])
            assert e["columns"] == cols, e["table"]
            data = (path / e["csv"]).read_bytes()
            header, _, body = data.partition(b"\n")
            assert next(csv.reader([header.decode()])) == cols, e["table"]
            q = sql.SQL("COPY (SELECT {} FROM ONLY {}) TO STDOUT WITH (FORMAT csv, FORCE_QUOTE *)").format(
                sql.SQL(", ").join(map(sql.Identifier, cols)), sql.Identifier(e["schema"], e["name"]))
            expected = b""
            with conn.cursor() as cur, cur.copy(q) as copy:
                for chunk in copy:
                    expected += bytes(chunk)
            assert body == expected, f"{e['csv']} differs from the server's CSV"


def test_csv_files_parse_to_database_values(backup, source):
    """Python's csv module reads every CSV back to the text of the database's values
    (NULL and '' both read as '' here: the byte comparison above keeps them apart)."""
    path, _ = backup
    with _session(source) as conn:
        for e in _data_entries(path):
            if not e["csv"]:
                continue
            cols = e["columns"]
            with open(path / e["csv"], newline="", encoding="utf-8") as fh:
                rows = list(csv.reader(fh))
            assert rows[0] == cols
            q = sql.SQL("SELECT {} FROM ONLY {}").format(
                sql.SQL(", ").join(map(sql.Identifier, cols)), sql.Identifier(e["schema"], e["name"]))
            # the raw text-protocol values: each type's own output function, as COPY uses it
            res = conn.execute(q).pgresult
            db_rows = [["" if (v := res.get_value(r, c)) is None else v.decode() for c in range(res.nfields)]
                       for r in range(res.ntuples)]
            assert sorted(rows[1:]) == sorted(db_rows), e["table"]
            assert len(rows) - 1 == e["rows"]


def test_csv_loads_back_with_copy_from(backup, source, pg_server, make_db):
    """``COPY t FROM STDIN WITH (FORMAT csv, HEADER true)`` of each CSV into an emptied copy of
    the table gives exactly the source table (content hashes, NULL vs '' included)."""
    path, _ = backup
    dst = make_db("layout_csv")
    oracle.psql_replay(pg_server, dst, path / "backup.sql.gz")
    entries = [e for e in _data_entries(path) if e["csv"]]
    with pgtest.connect(dst, autocommit=False) as conn:
        conn.execute("SET session_replication_role = replica")  # FKs: load in any order
        conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(
            sql.SQL(", ").join(sql.Identifier(e["schema"], e["name"]) for e in entries)))
        for e in entries:
            stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true)").format(
                sql.Identifier(e["schema"], e["name"]), sql.SQL(", ").join(map(sql.Identifier, e["columns"])))
            with conn.cursor() as cur, cur.copy(stmt) as copy:
                copy.write((path / e["csv"]).read_bytes())
        conn.commit()
    src_h, dst_h = oracle.table_hashes(source), oracle.table_hashes(dst)
    for e in entries:
        assert dst_h[e["table"]] == src_h[e["table"]], e["table"]


# --------------------------------------------------------------------------- stdout

def _size_in_bytes(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d)?)([BKMGT])", text)
    assert m, text
    return float(m.group(1)) * 1024 ** "BKMGT".index(m.group(2))


def test_human_summary(source, tmp_path):
    """The spec's summary, line for line, with the real directory and values."""
    run = run_pydump([source, "--out", "backups", "--no-report"], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    (path,) = backup_dirs(tmp_path / "backups")
    meta = load_json(path / "metadata.json")
    lines = run.stdout.splitlines()
    expected = [
        "✅ Database Backup Created Successfully",
        "",
        "📦 Backup Location:",
        f"   {tmp_path.resolve() / 'backups' / path.name}/",  # absolute (issue 12)
        "",
        "📊 Backup Contents:",
        "   ✅ backup.sql.gz (database dump)",
        "   ✅ data/*.csv (critical tables)",
        "   ✅ restore.sh (quick restore)",
        "   ✅ restore-full.sh (full restore)",
        "   ✅ metadata.json (backup info)",
        "   ✅ row_counts.json (verification)",
        "",
        "📈 Backup Details:",
        None,  # Size
        None,  # Duration
        "   Mode: full",
        "",
        None,  # Created
    ]
    assert len(lines) >= len(expected), run.stdout
    for i, want in enumerate(expected):
        if want is not None:
            assert lines[i] == want, f"line {i}: {lines[i]!r} != {want!r}"
    m = re.fullmatch(r"   Size: (\S+) \(compressed\)", lines[14])
    assert m, lines[14]
    real = (path / "backup.sql.gz").stat().st_size
    shown = _size_in_bytes(m.group(1))
    assert real <= shown <= real * 1.1 + 1, (m.group(1), real)
    m = re.fullmatch(r"   Duration: (\d+\.\d) s|   Duration: (\d+) seconds", lines[15])  # one decimal under 10 s
    assert m, lines[15]
    assert abs(float(m.group(1) or m.group(2)) - meta["duration_s"]) <= 1
    created = dt.datetime.strptime(path.name[:15], "%Y%m%d_%H%M%S").strftime("%Y-%m-%d %H:%M:%S")
    assert lines[18] == f"🕐 Created: {created}"


def test_json_output(backup):
    path, run = backup
    assert run.stdout.count("\n") == 1 and run.stdout.endswith("\n"), "one JSON object, one line"
    out = json.loads(run.stdout)
    meta = load_json(path / "metadata.json")
    assert {"backup_dir", "size_bytes", "duration_s", "mode", "tables", "rows", "ok"} <= set(out)
    assert out["ok"] is True
    assert Path(out["backup_dir"]).resolve() == path.resolve()
    assert out["size_bytes"] == meta["size_bytes"]
    assert out["duration_s"] == pytest.approx(meta["duration_s"], abs=0.5)
    assert out["mode"] == "full"
    assert (out["tables"], out["rows"]) == (meta["tables"], meta["rows"])


def test_quiet_prints_nothing(source, tmp_path):
    run = run_pydump([source, "--out", str(tmp_path), "--no-report", "--quiet"])
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    assert run.stderr == ""
    assert len(backup_dirs(tmp_path)) == 1


# --------------------------------------------------------------------------- passwords

def test_no_password_anywhere(pg_server, fixture_db, tmp_path):
    """A DSN carrying a password (keyword form, and a URI in DATABASE_URL): the password is in
    no file of the backup (compressed ones decompressed), not on stdout/stderr, and not in the
    self-reporting rows."""
    if not pg_server.supports_password:
        pytest.skip("this server does not do password authentication")
    src = fixture_db("supabase")
    dbname = conninfo_to_dict(src)["dbname"]
    password = "Pw" + uuid.uuid4().hex
    with temp_role(pg_server, password=password) as role:
        runs = []
        dsn = pg_server.dsn(dbname, user=role, password=password, tcp=True)
        assert password in dsn
        runs.append(run_pydump([dsn, "--out", str(tmp_path / "kw"), "--json"]))
        uri = pg_server.dsn(dbname, user=role, password=password, tcp=True, uri=True)
        runs.append(run_pydump(["--out", str(tmp_path / "uri")], {"DATABASE_URL": uri}))
        # and a wrong password is reported without echoing it
        wrong = pg_server.dsn(dbname, user=role, password=password + "x", tcp=True)
        bad = run_pydump([wrong, "--out", str(tmp_path / "bad"), "--no-report"])
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert bad.returncode == 3, bad.stderr
    secret = password.encode()
    for run in runs + [bad]:
        assert password not in run.stdout and password not in run.stderr
    checked = 0
    for sub in ("kw", "uri"):
        (path,) = backup_dirs(tmp_path / sub)
        meta = load_json(path / "metadata.json")
        assert meta["user"] == role and meta["host"] == "127.0.0.1"
        for p in path.rglob("*"):
            if p.is_file():
                assert secret not in p.read_bytes(), p
                assert secret not in decompress(p), p
                checked += 1
    assert checked >= 2 * len(FILES)
    events = pgtest.query(src, "SELECT details::text FROM code_ops.artifact_events")
    assert len(events) >= 2 + 4, "the two runs reported themselves"
    assert not any(password in d for (d,) in events)
