"""Fidelity: a pydump backup replayed with plain psql gives back the same database.

The oracle is independent of pydump: ``pg_dump --schema-only`` of source and copy must have
the same statements, every table the same content hash, every sequence the same value.
One source database (the Supabase-shaped fixture) per server is shared by the module; each
test replays into a fresh empty database.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.support import oracle
from tests.support.helpers import copy_blocks, dump_ok, load_json, read_script, run_pydump, scratch_db, user_tables

pytestmark = pytest.mark.all_versions  # fidelity depends on the server version


@pytest.fixture(scope="module")
def source(pg_server):
    """The supabase fixture, loaded once per server for the whole module (read-only)."""
    with scratch_db(pg_server, "rt_src", fixture="supabase") as dsn:
        yield dsn


def _replay_and_compare(server, make_db, src: str, backup: Path, script_name: str) -> None:
    """psql replay into an empty database: no error at all, then the databases are the same."""
    dst = make_db("rt_copy")
    rc, err = oracle.psql_replay(server, dst, backup / script_name)
    assert rc == 0
    assert "ERROR" not in err and "FATAL" not in err, err
    oracle.assert_same_database(server, src, dst)


@pytest.mark.parametrize("compress, script_name", [
    ("gzip", "backup.sql.gz"),
    ("zstd", "backup.sql.zst"),
    ("none", "backup.sql"),
])
def test_roundtrip_is_identical(pg_server, make_db, source, tmp_path, compress, script_name):
    backup, run = dump_ok(source, tmp_path, "--compress", compress)
    assert (backup / script_name).is_file(), sorted(p.name for p in backup.iterdir())
    others = {"backup.sql.gz", "backup.sql.zst", "backup.sql"} - {script_name}
    assert not any((backup / o).exists() for o in others)
    meta = load_json(backup / "metadata.json")
    assert meta["compression"]["method"] == compress
    _replay_and_compare(pg_server, make_db, source, backup, script_name)


def test_every_table_has_its_data_in_the_script(source, tmp_path):
    """The default (full) backup carries a COPY block for every table of the fixture, with
    as many lines as the table has rows."""
    backup, _ = dump_ok(source, tmp_path)
    blocks = copy_blocks(read_script(backup))
    tables = user_tables(source)
    assert set(blocks) == set(tables)
    counts = load_json(backup / "row_counts.json")
    assert {t: len(lines) for t, lines in blocks.items()} == counts


def _socket_env(dsn: str) -> dict[str, str]:
    d = conninfo_to_dict(dsn)
    return {"PGHOST": d["host"], "PGPORT": str(d["port"]), "PGDATABASE": d["dbname"], "PGUSER": d["user"]}


@pytest.mark.parametrize("how", ["DATABASE_URL", "PG variables"])
def test_dsn_from_environment(pg_server, make_db, source, tmp_path, how):
    """No positional DSN: the connection comes from DATABASE_URL, else libpq's PG* variables."""
    if how == "DATABASE_URL":
        env = {"DATABASE_URL": pg_server.dsn(conninfo_to_dict(source)["dbname"], uri=True)}
    else:
        env = _socket_env(source)

    run = run_pydump(["--out", str(tmp_path), "--no-report", "--json"], env)
    assert run.returncode == 0, run.stderr
    assert run.json is not None and run.json["ok"] is True
    backup = Path(run.json["backup_dir"])
    meta = load_json(backup / "metadata.json")
    assert meta["database"] == conninfo_to_dict(source)["dbname"]
    assert meta["user"] == pg_server.superuser
    _replay_and_compare(pg_server, make_db, source, backup, "backup.sql.gz")


def test_positional_dsn_wins_over_database_url(pg_server, source, tmp_path):
    """DATABASE_URL naming a database that does not exist is ignored when a DSN is given."""

    bogus = pg_server.dsn("no_such_database_for_pydump", uri=True)
    run = run_pydump([source, "--out", str(tmp_path), "--no-report", "--json"], {"DATABASE_URL": bogus})
    assert run.returncode == 0, run.stderr
    meta = load_json(Path(run.json["backup_dir"]) / "metadata.json")
    assert meta["database"] == conninfo_to_dict(source)["dbname"]
