"""The spec's options and modes: which tables' data are in a backup and which are not.

Expectations come from the spec's category table (tests/helpers.py ``spec_category``), not
from dumper/categories.toml, and are checked against the fixture's real tables in four
places: the script's COPY blocks, ``row_counts.json``, ``metadata.json`` and the database a
psql replay produces (excluded tables exist there, empty; included ones hold the same rows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import oracle
from tests.support import pgtest
from tests.support.helpers import (REPO_ROOT, assert_clean_failure, backup_dirs, copy_blocks, dump_ok, leftovers, load_json,
                     pydump_env, read_script, run_pydump, scratch_db, spec_category, user_tables)

ALL_CATEGORIES = ("core", "auth", "storage", "org_data", "transient")


@pytest.fixture(scope="module")
def source(pg_server):
    """The supabase fixture, loaded once per server for the whole module (read-only)."""
    with scratch_db(pg_server, "opt_src", fixture="supabase") as dsn:
        yield dsn


@pytest.fixture(scope="module")
def tables(source) -> dict[str, tuple[str, str]]:
    return user_tables(source)


@pytest.fixture(scope="module")
def source_hashes(source):
    return oracle.table_hashes(source)


@pytest.fixture(scope="module")
def foreign_keys(source) -> list[tuple[str, str, str]]:
    """``(constraint name, referencing table, referenced table)`` of every FK of the fixture."""
    rows = pgtest.query(source, """
        SELECT c.conname, rn.nspname, r.relname, fn.nspname, f.relname
        FROM pg_constraint c
        JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
        JOIN pg_class f ON f.oid = c.confrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace
        WHERE c.contype = 'f' ORDER BY 1""")
    return [(name, f"{s}.{t}", f"{fs}.{ft}") for name, s, t, fs, ft in rows]


def by_category(tables: dict[str, tuple[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {c: set() for c in ALL_CATEGORIES}
    for key, (schema, name) in tables.items():
        out[spec_category(schema, name)].add(key)
    return out


def test_fixture_covers_every_category(tables):
    """Guard: the checks below mean something only if every category has tables."""
    cats = by_category(tables)
    assert all(cats[c] for c in ALL_CATEGORIES), cats
    assert cats["transient"] == {f"public.{t}" for t in
                                 ("conversations", "tasks", "plans", "deliverables", "checkpoints", "llm_usage")}


MODES = {
    "default": ([], set(), "full"),
    "prod": (["--prod"], {"transient", "org_data"}, "production"),
    "no-transient": (["--no-transient"], {"transient"}, "full"),
    "no-org-data": (["--no-org-data"], {"org_data"}, "full"),
    "no-auth": (["--no-auth"], {"auth"}, "full"),
    "no-storage": (["--no-storage"], {"storage"}, "full"),
    "prod+no-auth+no-storage": (["--prod", "--no-auth", "--no-storage"],
                                {"transient", "org_data", "auth", "storage"}, "production"),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_mode_selects_the_spec_categories(pg_server, make_db, source, tables, source_hashes, foreign_keys,
                                          tmp_path, mode):
    args, excluded, mode_name = MODES[mode]
    cats = by_category(tables)
    expected_in = {t for c, ts in cats.items() if c not in excluded for t in ts}
    expected_out = set(tables) - expected_in

    backup, run = dump_ok(source, tmp_path, *args)

    # the script and row_counts.json: exactly the included tables have data
    blocks = copy_blocks(read_script(backup))
    assert set(blocks) == expected_in
    counts = load_json(backup / "row_counts.json")
    assert set(counts) == expected_in
    assert run.json["tables"] == len(expected_in)
    assert run.json["mode"] == mode_name

    # metadata.json: mode, options, categories with included/excluded and their tables
    meta = load_json(backup / "metadata.json")
    assert meta["mode"] == mode_name
    for flag in ("prod", "no_transient", "no_org_data", "no_auth", "no_storage"):
        assert meta["options"][flag] == ("--" + flag.replace("_", "-") in args), flag
    listed = {c["name"]: c for c in meta["categories"]}
    assert set(listed) == set(ALL_CATEGORIES)
    for name, c in listed.items():
        assert c["included"] is (name not in excluded), name
        matched = set(c["tables"]) | set(c.get("excluded_tables", []))
        assert matched == cats[name], name
        if name in excluded:
            assert not set(c["tables"]) & set(counts), f"{name} is excluded but lists dumped tables"

    # FKs from an included table into a table whose data is out: NOT VALID, with a warning
    not_valid = {fk for fk, src, dst in foreign_keys if src in expected_in and dst in expected_out}
    if mode in ("no-auth", "no-storage", "prod+no-auth+no-storage"):
        assert not_valid, "this mode should cut some foreign key (guard against a vacuous check)"
    for fk in not_valid:
        assert f"foreign key {fk} " in run.stderr, f"no warning for {fk}:\n{run.stderr}"
        assert any(fk in w for w in meta["warnings"]), fk
    if not not_valid:
        assert "NOT VALID" not in run.stderr

    # replay: no error; every table exists; excluded ones are empty, included ones identical
    dst = make_db("opt_copy")
    rc, err = oracle.psql_replay(pg_server, dst, backup / "backup.sql.gz")
    assert rc == 0 and "ERROR" not in err, err
    assert set(user_tables(dst)) == set(tables), "excluded categories must keep their DDL"
    copy_hashes = oracle.table_hashes(dst)
    for t in expected_in:
        assert copy_hashes[t] == source_hashes[t], t
    for t in expected_out:
        assert copy_hashes[t][0] == 0, f"{t} should be empty after replay"
    validated = {name: v for name, v in pgtest.query(dst, "SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f'")}
    assert set(validated) == {fk for fk, _, _ in foreign_keys}
    assert {fk for fk, v in validated.items() if not v} == not_valid


# --------------------------------------------------------------------------- --csv

def _csv_tables(backup: Path) -> set[str]:
    names = {p.name for p in (backup / "data").glob("*")} if (backup / "data").exists() else set()
    assert all(n.endswith(".csv") for n in names), names
    return {n[: -len(".csv")] for n in names}


@pytest.mark.parametrize("args, expect", [
    ([], "critical"),
    (["--csv", "critical"], "critical"),
    (["--csv", "all"], "all"),
    (["--csv", "none"], "none"),
    (["--csv", "all", "--no-transient"], "all-but-transient"),
    (["--no-auth"], "core-only"),
])
def test_csv_selection(source, tables, tmp_path, args, expect):
    """critical = Core + Auth tables; all = every dumped table; none = no CSV at all."""
    cats = by_category(tables)
    expected = {
        "critical": cats["core"] | cats["auth"],
        "all": set(tables),
        "none": set(),
        "all-but-transient": set(tables) - cats["transient"],
        "core-only": cats["core"],
    }[expect]
    backup, run = dump_ok(source, tmp_path, *args)
    assert _csv_tables(backup) == expected
    toc_csv = {e["table"]: e["csv"] for e in load_json(backup / "toc.json")["entries"] if e["kind"] == "TABLE DATA"}
    assert {t for t, c in toc_csv.items() if c} == expected
    for t, c in toc_csv.items():
        assert c in (None, f"data/{t}.csv")
    assert run.json["csv_files"] == len(expected)


# --------------------------------------------------------------------------- --categories FILE

CUSTOM_MAP = textwrap.dedent("""\
    # custom map for the tests: crawler.pages moves out of Core into a category of its own,
    # leads and marketing become CSV-critical "Sales", everything else falls back to Core
    [core]
    label = "Core"
    patterns = ["rbac.*"]
    csv = false

    [bulk]
    label = "Bulk"
    patterns = ["crawler.pages"]
    csv = false
    prod = true
    flag = "--no-transient"

    [sales]
    label = "Sales"
    description = "leads and campaigns"
    patterns = ["leads.*", "marketing.*"]
    csv = true
    prod = false
    flag = "--no-org-data"
    """)
SALES = {"leads.leads", "marketing.campaigns"}


@pytest.fixture
def custom_map(tmp_path) -> Path:
    path = tmp_path / "my categories.toml"
    path.write_text(CUSTOM_MAP)
    return path


def test_custom_category_file(source, tables, tmp_path, custom_map):
    out = tmp_path / "out"
    backup, run = dump_ok(source, out, "--categories", str(custom_map))
    meta = load_json(backup / "metadata.json")
    listed = {c["name"]: c for c in meta["categories"]}
    assert set(listed) == {"core", "bulk", "sales"}
    assert set(listed["bulk"]["tables"]) == {"crawler.pages"}
    assert set(listed["sales"]["tables"]) == SALES
    assert set(listed["core"]["tables"]) == set(tables) - SALES - {"crawler.pages"}
    assert all(c["included"] for c in listed.values())
    # only the csv = true category gets CSV files (auth is Core here, and Core is not critical)
    assert _csv_tables(backup) == SALES
    assert set(load_json(backup / "row_counts.json")) == set(tables)


def test_custom_category_flags_and_prod(source, tables, tmp_path, custom_map):
    """A flag belongs to whichever category names it; prod = false leaves a category out of --prod."""
    backup, _ = dump_ok(source, tmp_path / "a", "--categories", str(custom_map), "--no-transient")
    counts = load_json(backup / "row_counts.json")
    assert set(counts) == set(tables) - {"crawler.pages"}
    assert "public.tasks" in counts  # not Transient under this map

    backup, run = dump_ok(source, tmp_path / "b", "--categories", str(custom_map), "--prod")
    assert set(load_json(backup / "row_counts.json")) == set(tables) - SALES
    assert run.json["mode"] == "production"
    assert _csv_tables(backup) == set()


def test_flag_without_category_in_custom_map_is_a_usage_error(source, tmp_path, custom_map):
    out = tmp_path / "out"
    run = run_pydump([source, "--out", str(out), "--no-report", "--json", "--categories", str(custom_map), "--no-auth"])
    line = assert_clean_failure(run, 2)
    assert "--no-auth" in line
    assert leftovers(out) == []


BAD_FILES = {
    "syntax error": "[core\npatterns = [\"a.*\"\n",
    "unknown key": "[core]\npatterns = [\"rbac.*\"]\ncolour = \"red\"\n",
    "patterns not a list": "[core]\npatterns = \"rbac.*\"\n",
    "csv not a boolean": "[core]\npatterns = [\"rbac.*\"]\ncsv = \"yes\"\n",
    "empty file": "",
}


@pytest.mark.parametrize("problem", list(BAD_FILES) + ["missing file"])
def test_bad_category_file_exits_2(tmp_path, problem):
    """Checked before connecting: the DSN here points nowhere and must never be tried."""
    path = tmp_path / "cats.toml"
    if problem != "missing file":
        path.write_text(BAD_FILES[problem])
    out = tmp_path / "out"
    run = run_pydump(["host=/nonexistent-socket-dir dbname=nothing", "--out", str(out), "--categories", str(path)])
    line = assert_clean_failure(run, 2)
    assert "cats.toml" in line, line
    assert run.stdout == ""
    assert backup_dirs(out) == [] and leftovers(out) == []


# --------------------------------------------------------------------------- storage/scripts/backup-db.sh

WRAPPER = REPO_ROOT / "storage" / "scripts" / "backup-db.sh"


def _wrapper_env() -> dict[str, str]:
    env = pydump_env()
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def test_backup_db_sh_help():
    assert os.access(WRAPPER, os.X_OK), f"{WRAPPER} is not executable"
    proc = subprocess.run([str(WRAPPER), "--help"], capture_output=True, text=True, env=_wrapper_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: pydump"), proc.stdout[:200]
    for opt in ("--prod", "--no-transient", "--no-org-data", "--no-auth", "--no-storage", "--out", "--json"):
        assert opt in proc.stdout, opt


def test_backup_db_sh_passes_arguments_through(source, tables, tmp_path):
    proc = subprocess.run([str(WRAPPER), source, "--out", str(tmp_path), "--no-report", "--json", "--prod"],
                          capture_output=True, text=True, env=_wrapper_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["mode"] == "production"
    counts = load_json(Path(summary["backup_dir"]) / "row_counts.json")
    cats = by_category(tables)
    assert set(counts) == set(tables) - cats["transient"] - cats["org_data"]
