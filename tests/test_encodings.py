"""Every server encoding, byte for byte (issue 19).

Databases in LATIN1, WIN1252, EUC_JP and SQL_ASCII (the last one holding bytes that are not
valid UTF-8) carry non-ASCII bytes in schema, table, column, type, function, view, sequence and
index names, in comments, in an enum label, in a function body, in a view's query, in a
CHECK and a DEFAULT, and in the data. Each is dumped by pydump and restored three ways (psql
replaying the script, pyrestore, and ``pyrestore --data-only --from-csv`` into a schema-only
copy); the copy must hold the very same bytes. A LATIN1 backup restored into a UTF8 database
must hold the same characters.

The fixtures are sent as bytes over a connection whose client_encoding is the database's
(``SET client_encoding`` then ``execute(bytes)``), so the server stores exactly those bytes:
a UTF8 client connection would either convert them or reject them. Byte equality is checked
independently of pydump and of the pg_dump oracle by :func:`fingerprint`, which reads names,
comments, labels, function bodies and rows with ``convert_to(..., 'SQL_ASCII')`` (the stored
bytes, unconverted) into one ``bytea``.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Iterator

import psycopg
import pytest
from psycopg import sql

from tests.support import oracle
from tests.support import pgtest
from tests.support.helpers import assert_clean_failure, dump_ok, run_pydump
from tests.support.helpers import pyrestore, run_pyrestore

pytestmark = pytest.mark.all_versions

#: per encoding: N goes into names, W into names/labels/comments, D into catalog text and data,
#: R only into table data (bytes the encoding stores but that have no character, e.g. 0x81 in
#: WIN1252, which pg_dump and psql copy but no conversion accepts)
SAMPLES: dict[str, dict[str, bytes]] = {
    "LATIN1": {"N": "café".encode("latin-1"), "W": "grüß".encode("latin-1"),
               "D": "à la carte ¤ ÿ".encode("latin-1"), "R": b"\x85\x9f\xff\xfe"},
    "WIN1252": {"N": "€uro".encode("cp1252"), "W": "šaé".encode("cp1252"),
                "D": "„quoted“ – ‰ Ÿ".encode("cp1252"), "R": b"\x81\x8d\x8f\x90\x9d"},
    "EUC_JP": {"N": "日本".encode("euc_jp"), "W": "テスト".encode("euc_jp"),
               "D": "漢字と かな ｶﾅ".encode("euc_jp"), "R": "表示".encode("euc_jp")},
    # SQL_ASCII stores bytes as they come: UTF-8 mixed with bytes that are not valid UTF-8
    "SQL_ASCII": {"N": b"caf\xc3\xa9\xff", "W": b"\xfe\xe9x", "D": b"\xc3\xa9 \xff\xfe \x80\xc0",
                  "R": b"\xed\xa0\x80\xf8"},
}

FIXTURE = b"""
CREATE SCHEMA "s_{N}";
COMMENT ON SCHEMA "s_{N}" IS 'schema {D}';
CREATE TYPE "s_{N}"."mood_{N}" AS ENUM ('ok', 'l_{W}');
CREATE TABLE "s_{N}"."t_{N}" (
    id int PRIMARY KEY,
    "c_{W}" text,
    m "s_{N}"."mood_{N}",
    b bytea,
    v varchar(60) DEFAULT 'def {W}' CHECK (v <> 'bad {W}'),
    a text[]
);
COMMENT ON TABLE "s_{N}"."t_{N}" IS 'table {D}';
COMMENT ON COLUMN "s_{N}"."t_{N}"."c_{W}" IS 'column {W}';
INSERT INTO "s_{N}"."t_{N}" VALUES
    (1, 'd_{D} {R}', 'l_{W}', '\\x00ff5c', 'v_{W}', ARRAY['{W}', 'x"y', NULL]),
    (2, NULL, 'ok', NULL, E'tab\\there {W}\\nline', '{}'),
    (3, '{R}', NULL, '\\x', DEFAULT, NULL);
CREATE INDEX "i_{N}" ON "s_{N}"."t_{N}" ("c_{W}");
CREATE FUNCTION "s_{N}"."f_{N}"(x text) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT x || ' body {D}' $$;
COMMENT ON FUNCTION "s_{N}"."f_{N}"(text) IS 'function {W}';
CREATE FUNCTION "s_{N}"."p_{N}"() RETURNS text LANGUAGE plpgsql
    AS $body$ BEGIN RETURN 'plpgsql {D}'; END $body$;
CREATE VIEW "s_{N}"."v_{N}" AS SELECT id, "c_{W}" AS "alias_{W}", 'lit {W}'::text AS lit FROM "s_{N}"."t_{N}";
CREATE SEQUENCE "s_{N}"."seq_{N}";
SELECT setval('"s_{N}"."seq_{N}"', 7);
CREATE TABLE public.plain (id int, "x_{W}" text);
INSERT INTO public.plain VALUES (1, 'p {D}'), (2, '{R}');
"""


def fixture_sql(encoding: str) -> bytes:
    out = FIXTURE
    for key, value in SAMPLES[encoding].items():
        out = out.replace(b"{" + key.encode() + b"}", value)
    return out


@pytest.fixture
def enc_db(pg_server) -> Iterator:  # type: ignore[no-untyped-def]
    """``enc_db(encoding, hint)`` -> DSN of a fresh database in that encoding (C locale)."""
    created: list[str] = []

    def make(encoding: str, hint: str = "enc") -> str:
        name = pgtest.unique_db_name(f"{hint}_{encoding}")
        with pg_server.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} ENCODING {} LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
                         .format(sql.Identifier(name), sql.Literal(encoding)))
        created.append(name)
        return pg_server.dsn(name)

    make.server = pg_server  # type: ignore[attr-defined]
    yield make
    if pg_server.running:
        for name in created:
            try:
                pg_server.drop_database(name)
            except Exception:
                pass


def load_bytes(dsn: str, encoding: str, script: bytes) -> None:
    """Run ``script`` as the very bytes given, declared to be in ``encoding``."""
    with pgtest.connect(dsn) as conn:
        conn.execute(sql.SQL("SET client_encoding = {}").format(sql.Literal(encoding)))
        conn.execute(script)


_CATALOG_TEXT = """
SELECT x FROM (
    SELECT nspname::text AS x FROM pg_namespace WHERE oid >= 16384 OR nspname = 'public'
    UNION ALL SELECT relname::text FROM pg_class WHERE oid >= 16384 AND relnamespace <> 'pg_toast'::regnamespace
    UNION ALL SELECT attname::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
               WHERE c.oid >= 16384 AND c.relnamespace <> 'pg_toast'::regnamespace AND a.attnum > 0
    UNION ALL SELECT typname::text FROM pg_type WHERE oid >= 16384 AND typnamespace <> 'pg_toast'::regnamespace
    UNION ALL SELECT enumlabel::text FROM pg_enum
    UNION ALL SELECT proname::text || ':' || prosrc FROM pg_proc WHERE oid >= 16384
    UNION ALL SELECT description FROM pg_description WHERE objoid >= 16384
    UNION ALL SELECT pg_get_viewdef(oid) FROM pg_class WHERE oid >= 16384 AND relkind = 'v'
    UNION ALL SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid >= 16384
    UNION ALL SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid >= 16384
) s
"""


def fingerprint(dsn: str) -> bytes:
    """The stored bytes of every user name, comment, label, body, definition, row and sequence
    value, in a fixed order.

    ``convert_to(text, 'SQL_ASCII')`` returns text as stored (nothing converts to SQL_ASCII),
    so two databases in one encoding give the same fingerprint only if every byte matches.
    """
    with oracle._connect_text(dsn) as conn:
        parts: list[bytes] = [conn.execute(
            "SELECT convert_to(string_agg(x, E'\\n---\\n' ORDER BY convert_to(x, 'SQL_ASCII')), 'SQL_ASCII')"
            f" FROM ({_CATALOG_TEXT}) t").fetchone()[0]]
        rels = conn.execute(
            "SELECT c.oid::regclass::text, c.relkind FROM pg_class c WHERE c.relkind IN ('r', 'S') AND c.oid >= 16384"
            " ORDER BY convert_to(c.oid::regclass::text, 'SQL_ASCII')").fetchall()
        for ident, kind in rels:
            if kind == "S":
                q = sql.SQL("SELECT convert_to(last_value::text || ' ' || is_called::text, 'SQL_ASCII') FROM {}")
            else:
                q = sql.SQL("SELECT convert_to(coalesce(string_agg(t::text, E'\\n' ORDER BY convert_to(t::text, 'SQL_ASCII')),"
                            " ''), 'SQL_ASCII') FROM ONLY {} t")
            name = conn.execute("SELECT convert_to(%s::regclass::text, 'SQL_ASCII')", [ident]).fetchone()[0]
            parts.append(name + b"\n" + conn.execute(q.format(sql.SQL(ident))).fetchone()[0])
    return b"\n===\n".join(parts)


ENCODINGS = list(SAMPLES)


def source_db(enc_db, encoding: str) -> str:  # type: ignore[no-untyped-def]
    dsn = enc_db(encoding, "src")
    load_bytes(dsn, encoding, fixture_sql(encoding))
    return dsn


def script_bytes(backup: Path) -> bytes:
    return gzip.decompress((backup / "backup.sql.gz").read_bytes())




@pytest.mark.parametrize("encoding", ENCODINGS)
def test_dump_is_in_the_database_encoding(enc_db, tmp_path: Path, encoding: str) -> None:  # type: ignore[no-untyped-def]
    """The script and CSV files carry the database's bytes; the script and metadata say which encoding."""
    src = source_db(enc_db, encoding)
    backup, _ = dump_ok(src, tmp_path, "--csv", "all")
    script = script_bytes(backup)
    sample = SAMPLES[encoding]
    assert f"SET client_encoding = '{encoding}';\n".encode() in script
    assert b"SET client_encoding = 'UTF8'" not in script
    # names, comments, labels, bodies and data as the server stores them
    for needle in (b'"s_' + sample["N"] + b'"', b"'l_" + sample["W"] + b"'", b"body " + sample["D"],
                   b"COMMENT ON TABLE", b"'table " + sample["D"] + b"'", b"d_" + sample["D"] + b" " + sample["R"]):
        assert needle in script, needle
    # restore-full.sh checks row counts with psql: same encoding, same bytes for the names
    full_sh = (backup / "restore-full.sh").read_bytes()
    assert f"SET client_encoding = '{encoding}';".encode() in full_sh
    assert b'"s_' + sample["N"] + b'"."t_' + sample["N"] + b'"' in full_sh
    meta = json.loads((backup / "metadata.json").read_bytes())
    assert meta["encoding"] == encoding
    assert meta["server"]["encoding"] == encoding
    csv = [p for p in (backup / "data").iterdir() if p.name.startswith("s_")]
    assert len(csv) == 1
    body = csv[0].read_bytes()
    assert body.startswith(b'"id","c_' + sample["W"] + b'","m","b","v","a"\n'), body[:80]
    assert b'"d_' + sample["D"] + b" " + sample["R"] + b'"' in body
    # bytea_output is pinned: a database default of escape changes neither file
    with pgtest.connect(src) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET bytea_output = 'escape'").format(
            sql.Identifier(conninfo_dbname(src))))
    backup2, _ = dump_ok(src, tmp_path / "escape", "--csv", "all")
    assert b"\\\\x00ff5c" in script
    assert strip_header(script_bytes(backup2)) == strip_header(script)
    csv2 = [p for p in (backup2 / "data").iterdir() if p.name.startswith("s_")][0]
    assert csv2.read_bytes() == body


def conninfo_dbname(dsn: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return str(conninfo_to_dict(dsn)["dbname"])


def strip_header(script: bytes) -> bytes:
    """The script without its "Dumped at" line."""
    return b"\n".join(ln for ln in script.split(b"\n") if not ln.startswith(b"-- Dumped at"))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_roundtrip_byte_for_byte(enc_db, tmp_path: Path, encoding: str) -> None:  # type: ignore[no-untyped-def]
    """psql, pyrestore and --data-only --from-csv each rebuild the same bytes."""
    server = enc_db.server
    src = source_db(enc_db, encoding)
    want = fingerprint(src)
    assert SAMPLES[encoding]["N"] in want and SAMPLES[encoding]["R"] in want  # the fixture is what we think
    backup, _ = dump_ok(src, tmp_path / "full", "--csv", "all")

    via_psql = enc_db(encoding, "psql")
    oracle.psql_replay(server, via_psql, backup / "backup.sql.gz")
    assert fingerprint(via_psql) == want
    oracle.assert_same_database(server, src, via_psql)

    via_pyrestore = enc_db(encoding, "pyr")
    assert pyrestore(str(backup), via_pyrestore) == 0
    assert fingerprint(via_pyrestore) == want
    oracle.assert_same_database(server, src, via_pyrestore)

    schema, _ = dump_ok(src, tmp_path / "schema", "--schema-only")
    via_csv = enc_db(encoding, "csv")
    assert pyrestore(str(schema), via_csv) == 0
    assert pyrestore(str(backup), via_csv, "--data-only", "--from-csv") == 0
    assert fingerprint(via_csv) == want
    oracle.assert_same_database(server, src, via_csv)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_parallel_dump_same_bytes(enc_db, tmp_path: Path, encoding: str) -> None:  # type: ignore[no-untyped-def]
    """Worker connections speak the leader's encoding: -j2 writes the script and CSV files -j1 writes."""
    src = source_db(enc_db, encoding)
    one, _ = dump_ok(src, tmp_path / "j1", "--csv", "all")
    two, _ = dump_ok(src, tmp_path / "j2", "--csv", "all", "-j", "2")
    assert strip_header(script_bytes(two)) == strip_header(script_bytes(one))
    for p in (one / "data").iterdir():
        assert (two / "data" / p.name).read_bytes() == p.read_bytes(), p.name


def utf8_fingerprint(dsn: str) -> str:
    """:func:`fingerprint` as characters (decoded in the database's encoding)."""
    with pgtest.connect(dsn) as conn:
        enc = conn.execute("SELECT pg_catalog.getdatabaseencoding()").fetchone()[0]
    codec = {"LATIN1": "latin-1", "UTF8": "utf-8"}[enc]
    return fingerprint(dsn).decode(codec)


@pytest.mark.parametrize("encoding", ["LATIN1", "SQL_ASCII"])
def test_create_makes_the_database_in_the_backups_encoding(enc_db, tmp_path: Path, encoding: str) -> None:  # type: ignore[no-untyped-def]
    """``pyrestore --create`` creates the database as pg_dump's ``--create`` would: in the
    source's encoding and locale (metadata.json's ``server``), not the server's defaults, so
    the same bytes come back (SQL_ASCII: bytes no encoding would accept)."""
    server = enc_db.server
    src = source_db(enc_db, encoding)
    want = fingerprint(src)
    backup, _ = dump_ok(src, tmp_path / "b")
    meta = json.loads((backup / "metadata.json").read_text())["server"]
    assert (meta["encoding"], meta["collate"], meta["ctype"]) == (encoding, "C", "C")
    name = pgtest.unique_db_name(f"created_{encoding}")
    try:
        assert pyrestore(str(backup), server.dsn(name), "--create") == 0
        with server.connect() as conn:
            row = conn.execute("SELECT pg_catalog.pg_encoding_to_char(encoding), datcollate::text, datctype::text"
                               " FROM pg_catalog.pg_database WHERE datname = %s", [name]).fetchone()
        assert row == (encoding, "C", "C")
        assert fingerprint(server.dsn(name)) == want
    finally:
        server.drop_database(name)
    if encoding != "LATIN1":
        return
    # A locale this server lacks: the encoding is kept, with a locale that fits it (the
    # server's default C.UTF-8 does not fit LATIN1, so C), and the output says so.
    doc = json.loads((backup / "metadata.json").read_text())
    doc["server"]["collate"] = doc["server"]["ctype"] = "xx_NOWHERE.ISO-8859-1"
    (backup / "metadata.json").write_text(json.dumps(doc))
    name = pgtest.unique_db_name("created_fallback")
    try:
        run = run_pyrestore([str(backup), server.dsn(name), "--create", "--no-report"])
        assert run.returncode == 0, run.stderr
        assert "in LATIN1 with the C locale" in run.stdout + run.stderr
        with server.connect() as conn:
            row = conn.execute("SELECT pg_catalog.pg_encoding_to_char(encoding), datcollate::text"
                               " FROM pg_catalog.pg_database WHERE datname = %s", [name]).fetchone()
        assert row == ("LATIN1", "C")
        assert fingerprint(server.dsn(name)) == want
    finally:
        server.drop_database(name)


def test_latin1_backup_into_utf8_database(enc_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A LATIN1 backup restores into a UTF8 database with the same characters (the server
    converts, as the script's SET client_encoding asks), through psql, pyrestore and the CSV path."""
    server = enc_db.server
    src = source_db(enc_db, "LATIN1")
    want = utf8_fingerprint(src)
    assert "café" in want and "grüß" in want
    backup, _ = dump_ok(src, tmp_path / "full", "--csv", "all")
    targets = {}
    targets["psql"] = enc_db("UTF8", "psql")
    oracle.psql_replay(server, targets["psql"], backup / "backup.sql.gz")
    targets["pyrestore"] = enc_db("UTF8", "pyr")
    assert pyrestore(str(backup), targets["pyrestore"]) == 0
    schema, _ = dump_ok(src, tmp_path / "schema", "--schema-only")
    targets["csv"] = enc_db("UTF8", "csv")
    assert pyrestore(str(schema), targets["csv"]) == 0
    assert pyrestore(str(backup), targets["csv"], "--data-only", "--from-csv") == 0
    for how, dst in targets.items():
        assert utf8_fingerprint(dst) == want, how
        # pg_dump -E UTF8 of both: the same statements
        a = oracle.schema_dump(server, src, "-E", "UTF8")
        b = oracle.schema_dump(server, dst, "-E", "UTF8")
        assert not oracle.diff_statements(a, b, conninfo_dbname(src), conninfo_dbname(dst)), how


def test_encoding_option_converts(enc_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--encoding UTF8 on a LATIN1 database: UTF-8 files that restore the same characters."""
    src = source_db(enc_db, "LATIN1")
    backup, _ = dump_ok(src, tmp_path / "u", "--csv", "all", "--encoding", "utf8")
    script = script_bytes(backup)
    assert b"SET client_encoding = 'UTF8';\n" in script
    assert '"s_café"'.encode() in script and "grüß".encode() in script
    assert json.loads((backup / "metadata.json").read_bytes())["encoding"] == "UTF8"
    csv = [p for p in (backup / "data").iterdir() if p.name.startswith("s_")][0]
    assert '"c_grüß"'.encode() in csv.read_bytes()
    dst = enc_db("LATIN1", "dst")
    assert pyrestore(str(backup), dst) == 0
    assert fingerprint(dst) == fingerprint(src)


def test_pgclientencoding_is_another_way_to_ask_for_an_encoding(enc_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """As pg_dump: without --encoding, PGCLIENTENCODING chooses the output's encoding ('auto',
    libpq's own value, chooses nothing); --encoding wins over it."""
    src = source_db(enc_db, "LATIN1")
    backup, _ = dump_ok(src, tmp_path / "env", env={"PGCLIENTENCODING": "UTF8"})
    assert json.loads((backup / "metadata.json").read_bytes())["encoding"] == "UTF8"
    assert '"s_café"'.encode() in script_bytes(backup)
    backup, _ = dump_ok(src, tmp_path / "auto", env={"PGCLIENTENCODING": "auto"})
    assert json.loads((backup / "metadata.json").read_bytes())["encoding"] == "LATIN1"
    backup, _ = dump_ok(src, tmp_path / "opt", "--encoding", "LATIN1", env={"PGCLIENTENCODING": "UTF8"})
    assert json.loads((backup / "metadata.json").read_bytes())["encoding"] == "LATIN1"
    dst = enc_db("LATIN1", "dst")
    assert pyrestore(str(backup), dst) == 0
    assert fingerprint(dst) == fingerprint(src)


def test_encoding_option_names_the_unconvertible_value(enc_db, make_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A value --encoding cannot hold: one error line naming table and column, non-zero exit, no backup."""
    src = make_db("utf8src")
    pgtest.run_sql(src, 'CREATE TABLE public."prix" (id int, ok text, "montant_é" text, later text);'
                        "INSERT INTO public.prix VALUES (1, 'fine é', '12 €', '€ too');")
    for jobs in ("1", "2"):
        run = run_pydump([src, "--out", str(tmp_path / jobs), "--no-report", "-q", "--encoding", "LATIN1", "-j", jobs])
        line = assert_clean_failure(run, 2)
        assert 'table public.prix, column "montant_é"' in line, line
        assert "LATIN1" in line
        assert not list((tmp_path / jobs).glob("*")) if (tmp_path / jobs).exists() else True
    # a name that cannot be converted: said so, also one line
    pgtest.run_sql(src, 'CREATE TABLE public."€uro" (id int)')
    run = run_pydump([src, "--out", str(tmp_path / "n"), "--no-report", "-q", "--encoding", "LATIN1"])
    line = assert_clean_failure(run, 2)
    assert "cannot be converted to LATIN1" in line
    run = run_pydump([src, "--out", str(tmp_path / "x"), "--no-report", "-q", "--encoding", "NOPE"])
    assert "not an encoding" in assert_clean_failure(run, 2)
    run = run_pydump([src, "--out", str(tmp_path / "x"), "--no-report", "-q", "--encoding", "SJIS"])
    assert "client-only" in assert_clean_failure(run, 2)


def test_own_sql_is_ascii(enc_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """pydump's own SQL and comments are pure ASCII: an all-ASCII database gives an all-ASCII script."""
    src = enc_db("SQL_ASCII", "ascii")
    for fixture in ("keywords.sql", "pgdump_catalogue.sql"):  # many object kinds, ASCII only
        pgtest.run_sql(src, pgtest.fixture_path(fixture))
    backup, _ = dump_ok(src, tmp_path, "--csv", "all")
    script = script_bytes(backup)
    bad = sorted({b for b in script if b > 0x7F})
    assert not bad, [script[max(0, script.index(bytes([bad[0]])) - 80):script.index(bytes([bad[0]])) + 20]]
