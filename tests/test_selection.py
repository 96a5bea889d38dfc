"""pg_dump-style selection: -n/-N/-t/-T/--exclude-table-data/--schema-only/--data-only/
--no-owner/--no-acl/--no-comments, one test each, against real servers.

Each test dumps a small database with pydump and checks what is in and out of ``toc.json``
and of the script; where the result is meant to be restored, it is replayed with psql and
compared with the oracle (pg_dump of source and copy, row hashes, sequence values).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import oracle
from tests.support import pgtest

SOURCE = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sel_owner') THEN CREATE ROLE sel_owner NOLOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sel_reader') THEN CREATE ROLE sel_reader NOLOGIN; END IF;
END $$;
CREATE SCHEMA keep AUTHORIZATION sel_owner;
CREATE SCHEMA drop_me;
CREATE SCHEMA "Other";
CREATE TYPE keep.state AS ENUM ('on', 'off');
CREATE FUNCTION keep.twice(i integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT i * 2 $$;
CREATE TABLE keep.accounts (id serial PRIMARY KEY, name text NOT NULL, st keep.state DEFAULT 'on');
CREATE TABLE keep.entries (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                           account_id integer REFERENCES keep.accounts, amount integer CHECK (amount <> 0));
CREATE TABLE keep.audit_log (at integer, what text);
CREATE INDEX entries_account ON keep.entries (account_id);
CREATE VIEW keep.balances AS SELECT account_id, sum(amount) AS total FROM keep.entries GROUP BY account_id;
ALTER TABLE keep.accounts OWNER TO sel_owner;
COMMENT ON TABLE keep.accounts IS 'the accounts';
COMMENT ON COLUMN keep.entries.amount IS 'never zero';
GRANT SELECT ON keep.accounts TO sel_reader;
GRANT SELECT (id) ON keep.entries TO sel_reader;
CREATE TABLE drop_me.junk (x integer);
CREATE TABLE "Other"."Mixed Case" (k text PRIMARY KEY);
CREATE TABLE "Other".lower_case (k text);
INSERT INTO keep.accounts (name) SELECT 'acct ' || g FROM generate_series(1, 5) g;
INSERT INTO keep.entries (account_id, amount) SELECT 1 + g % 5, g FROM generate_series(1, 40) g;
INSERT INTO keep.audit_log SELECT g, 'w' FROM generate_series(1, 100) g;
INSERT INTO drop_me.junk VALUES (1);
INSERT INTO "Other"."Mixed Case" VALUES ('a');
INSERT INTO "Other".lower_case VALUES ('b');
"""


@pytest.fixture
def src(make_db) -> str:  # type: ignore[no-untyped-def]
    dsn = make_db("sel")
    pgtest.run_sql(dsn, SOURCE)
    return dsn


class Dump:
    """One pydump run: its toc entries, script text and metadata."""

    def __init__(self, dsn: str, out: Path, *args: str) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "dumper", dsn, "--out", str(out), "--no-report", "--json", *args],
            capture_output=True, text=True, timeout=300,
        )
        assert proc.returncode == 0, f"pydump {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
        self.dir = Path(json.loads(proc.stdout)["backup_dir"])
        self.entries: list[dict[str, Any]] = json.loads((self.dir / "toc.json").read_text())["entries"]
        self.script = gzip.decompress((self.dir / "backup.sql.gz").read_bytes()).decode()
        self.meta = json.loads((self.dir / "metadata.json").read_text())

    def kinds(self) -> set[str]:
        return {e["kind"] for e in self.entries}

    def schemas(self) -> set[str | None]:
        return {e["schema"] for e in self.entries if e["schema"] is not None}

    def named(self, kind: str) -> set[str]:
        return {f"{e['schema']}.{e['name']}" for e in self.entries if e["kind"] == kind}

    def data_tables(self) -> set[str]:
        return self.named("TABLE DATA")


def test_schema_include(src: str, tmp_path: Path) -> None:
    d = Dump(src, tmp_path, "-n", "keep")
    assert d.schemas() == {"keep"}
    assert d.named("SCHEMA") == {"None.keep"}
    assert d.named("TABLE") == {"keep.accounts", "keep.entries", "keep.audit_log"}
    assert {"TYPE", "FUNCTION", "VIEW", "INDEX", "FK CONSTRAINT", "COMMENT", "ACL"} <= d.kinds()
    assert "drop_me" not in d.script and '"Other"' not in d.script


def test_schema_exclude_with_quoted_pattern(src: str, make_db, pg_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = Dump(src, tmp_path, "-N", "drop_me", "-N", '"Other"')
    assert d.schemas() == {"keep"}
    assert "drop_me" not in d.script and "Mixed Case" not in d.script
    # what is left restores to the same objects: compare against the source minus those schemas
    dst = make_db("sel_copy")
    oracle.psql_replay(pg_server, dst, d.dir / "backup.sql.gz")
    pgtest.run_sql(src, 'DROP SCHEMA drop_me CASCADE; DROP SCHEMA "Other" CASCADE;')
    oracle.assert_same_database(pg_server, src, dst)


def test_table_include_brings_owned_sequences_only(src: str, tmp_path: Path) -> None:
    d = Dump(src, tmp_path, "-t", "keep.acc*", "-t", '"Other"."Mixed Case"')
    assert d.named("TABLE") == {"keep.accounts", "Other.Mixed Case"}
    assert d.data_tables() == {"keep.accounts", "Other.Mixed Case"}
    # the serial's sequence follows its table (its default calls it); nothing else comes along
    assert d.named("SEQUENCE") == {"keep.accounts_id_seq"}
    assert not {"SCHEMA", "TYPE", "FUNCTION", "VIEW"} & d.kinds()
    assert "keep.entries" not in d.script and "lower_case" not in d.script


def test_table_exclude(src: str, tmp_path: Path) -> None:
    d = Dump(src, tmp_path, "-T", "keep.audit_log", "-T", "drop_me.*")
    tables = d.named("TABLE")
    assert "keep.audit_log" not in tables and "drop_me.junk" not in tables
    assert {"keep.accounts", "keep.entries", "Other.Mixed Case", "Other.lower_case"} <= tables
    assert "audit_log" not in d.script and "junk" not in d.script
    assert d.named("SCHEMA") >= {"None.drop_me"}  # -T drops tables, not their schema


def test_exclude_table_data(src: str, make_db, pg_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = Dump(src, tmp_path, "--exclude-table-data", "keep.audit_log")
    assert "keep.audit_log" in d.named("TABLE")
    assert "keep.audit_log" not in d.data_tables()
    assert "keep.accounts" in d.data_tables()
    dst = make_db("sel_copy")
    oracle.psql_replay(pg_server, dst, d.dir / "backup.sql.gz")
    assert pgtest.query(dst, "SELECT count(*) FROM keep.audit_log")[0][0] == 0
    pgtest.run_sql(src, "TRUNCATE keep.audit_log")
    oracle.assert_same_database(pg_server, src, dst)


def test_schema_only_replays_to_the_same_schema(src: str, make_db, pg_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = Dump(src, tmp_path, "--schema-only")
    assert not {"TABLE DATA", "SEQUENCE SET"} & d.kinds()
    assert "COPY " not in d.script and "setval" not in d.script
    dst = make_db("sel_copy")
    oracle.psql_replay(pg_server, dst, d.dir / "backup.sql.gz")
    diff = oracle.diff_statements(oracle.schema_dump(pg_server, src), oracle.schema_dump(pg_server, dst),
                                  oracle._dbname(src), oracle._dbname(dst), "source", "copy")
    assert diff == "", diff
    assert pgtest.query(dst, "SELECT count(*) FROM keep.entries")[0][0] == 0


def test_data_only_replays_into_a_schema_only_copy(src: str, make_db, pg_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    schema = Dump(src, tmp_path, "--schema-only")
    data = Dump(src, tmp_path, "--data-only")
    assert data.kinds() <= {"TABLE DATA", "SEQUENCE SET"}
    assert "CREATE " not in data.script and "ALTER " not in data.script
    # referenced tables load before the tables that reference them (FKs exist in the target)
    ids = {f"{e['schema']}.{e['name']}": e["id"] for e in data.entries if e["kind"] == "TABLE DATA"}
    assert ids["keep.accounts"] < ids["keep.entries"]
    dst = make_db("sel_copy")
    oracle.psql_replay(pg_server, dst, schema.dir / "backup.sql.gz")
    oracle.psql_replay(pg_server, dst, data.dir / "backup.sql.gz")
    oracle.assert_same_database(pg_server, src, dst)


def test_no_owner(src: str, make_db, pg_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = Dump(src, tmp_path, "--no-owner")
    assert "OWNER TO" not in d.script
    assert "ACL" in d.kinds()  # grants stay
    dst = make_db("sel_copy")
    oracle.psql_replay(pg_server, dst, d.dir / "backup.sql.gz")
    owner = pgtest.query(dst, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'keep.accounts'::regclass")[0][0]
    assert owner == "postgres"
    # with owners ignored on both sides, the copy is the same database
    oracle.assert_same_database(pg_server, src, dst, "--no-owner", "--no-acl")


def test_no_acl(src: str, make_db, pg_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = Dump(src, tmp_path, "--no-acl")
    assert "ACL" not in d.kinds()
    assert "GRANT " not in d.script and "REVOKE " not in d.script
    assert "OWNER TO" in d.script
    dst = make_db("sel_copy")
    oracle.psql_replay(pg_server, dst, d.dir / "backup.sql.gz")
    assert pgtest.query(dst, "SELECT relacl FROM pg_class WHERE oid = 'keep.accounts'::regclass")[0][0] is None
    oracle.assert_same_database(pg_server, src, dst, "--no-acl")


def test_no_comments(src: str, tmp_path: Path) -> None:
    d = Dump(src, tmp_path, "--no-comments")
    assert "COMMENT" not in d.kinds()
    assert "COMMENT ON" not in d.script
    with_comments = Dump(src, tmp_path)
    assert {e["name"] for e in with_comments.entries if e["kind"] == "COMMENT"} >= {
        "table keep.accounts", "table column keep.entries.amount"}
