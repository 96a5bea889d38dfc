"""``pyrestore -j N``: a parallel restore gives the same database as a serial one (issue 22).

Every post-data entry of ``toc.json`` lists what its statement needs (the referenced key of a
foreign key, every attached partition index, the tables a ``REFRESH`` reads, ...), and the
scheduler starts an entry only after all of those finished. A missing dependency shows up
only when the scheduler happens to pick the dependent entry first, so besides the plain
``-j 2`` run the test shuffles the order of ready entries with fixed seeds
(``PYRESTORE_SHUFFLE_SEED``): the same seed always makes the same choices, so a missing
dependency fails every time rather than now and then.

Runtime matters (this runs on every server version): per fixture one dump, one ``-j 2``
restore and two shuffled ``-j 4`` restores, each judged by the oracle; plus one shuffled
``--data-only -j 4`` load per fixture into a schema-only copy.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import oracle
from tests.support import pgtest
from restore.cli import main
from tests.support.helpers import pydump

pytestmark = pytest.mark.all_versions  # what a restore must wait for depends on the server version

FIXTURES = sorted(p.stem for p in pgtest.FIXTURES_DIR.glob("*.sql"))
#: Two seeds per fixture: each picks ready entries in a different (reproducible) order.
SEEDS = (1, 2)


def restore(backup: Path, dsn: str, *args: str, seed: int | None = None,
            monkeypatch: pytest.MonkeyPatch | None = None) -> int:
    """Run pyrestore in-process, shuffled with ``seed`` when given."""
    if monkeypatch is not None:
        if seed is None:
            monkeypatch.delenv("PYRESTORE_SHUFFLE_SEED", raising=False)
        else:
            monkeypatch.setenv("PYRESTORE_SHUFFLE_SEED", str(seed))
    return main([str(backup), dsn, *args, "--quiet", "--no-report"])


@pytest.mark.parametrize("fixture", FIXTURES)
def test_parallel_restore_of_every_fixture_is_identical(fixture_db, make_db, tmp_path: Path, fixture: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    src = fixture_db(fixture)
    b = pydump(src, tmp_path)
    runs: list[tuple[int, int | None]] = [(2, None)] + [(4, s) for s in SEEDS]
    for jobs, seed in runs:
        dst = make_db(f"j{jobs}s{seed or 0}")
        rc = restore(b, dst, "--jobs", str(jobs), seed=seed, monkeypatch=monkeypatch)
        assert rc == 0, f"{fixture}: pyrestore -j {jobs} (shuffle seed {seed}) failed"
        oracle.assert_same_database(make_db.server, src, dst)


@pytest.mark.parametrize("fixture", FIXTURES)
def test_parallel_data_only_of_every_fixture_is_identical(fixture_db, make_db, tmp_path: Path, fixture: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """``--data-only -j 4`` (shuffled) into a schema-only copy: the FK order holds on every connection."""
    src = fixture_db(fixture)
    schema_b = pydump(src, tmp_path / "s", "--schema-only")
    full_b = pydump(src, tmp_path / "f")
    dst = make_db("dst")
    assert restore(schema_b, dst, monkeypatch=monkeypatch) == 0
    assert restore(full_b, dst, "--data-only", "--jobs", "4", seed=SEEDS[0], monkeypatch=monkeypatch) == 0
    oracle.assert_same_database(make_db.server, src, dst)


def test_toc_post_data_dependencies(fixture_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The dependencies a parallel restore needs are in toc.json, written by the dumper."""
    src = fixture_db("partitions_fk")
    b = pydump(src, tmp_path)
    entries = json.loads((b / "toc.json").read_text())["entries"]
    by_name = {(e["kind"], e["name"]): e for e in entries}

    def deps(kind: str, name: str) -> set[tuple[str, str]]:
        return {(entries[d]["kind"], entries[d]["name"]) for d in by_name[(kind, name)]["deps"]}

    fk = deps("FK CONSTRAINT", "stock stock_item_id_fkey")
    assert ("CONSTRAINT", "items items_pkey") in fk
    attached = {e["name"] for e in entries if e["kind"] == "INDEX ATTACH"}
    assert len(attached) >= 10
    # every partition's index attached to items_pkey, through the sub-partitioned items_b
    pkey_attaches = {n for n in attached if n.endswith("_pkey") and n.startswith("items")}
    assert len(pkey_attaches) == 5 and {n for k, n in fk if k == "INDEX ATTACH"} >= pkey_attaches
    labels = deps("FK CONSTRAINT", "labels labels_item_fkey")
    assert ("INDEX", "items_name_kind_idx") in labels
    assert {n for k, n in labels if k == "INDEX ATTACH"} >= {n for n in attached if "name_kind" in n}
    assert ("CONSTRAINT", "warehouses warehouses_code_key") in deps("FK CONSTRAINT", "stock_0 stock_warehouse_id_fkey")
    # a foreign key waits for the rows of both tables, partitions included
    fk_data = {n for k, n in fk if k == "TABLE DATA"}
    assert {"stock_0", "stock_1", "items_a", "items_b1", "items_b2", "items_other"} <= fk_data
    assert ("FUNCTION", "touch()") in deps("TRIGGER", "stock stock_touch") or \
        any(k == "FUNCTION" and n.startswith("touch") for k, n in deps("TRIGGER", "stock stock_touch"))
    assert any(k == "FUNCTION" and n.startswith("visible") for k, n in deps("POLICY", "warehouses warehouses_visible"))
    refresh = deps("MATERIALIZED VIEW DATA", "stock_totals")
    assert {"stock_0", "stock_1", "items_a"} <= {n for k, n in refresh if k == "TABLE DATA"}
    assert ("VIEW", "stock_by_item") in refresh
    assert ("MATERIALIZED VIEW DATA", "stock_totals") in deps("MATERIALIZED VIEW DATA", "stock_totals_2")
    for e in entries:
        assert all(d < e["id"] for d in e["deps"]), f"entry {e['id']} depends on a later entry"


_FK_EXT_CONTROL = "comment = 'pydump test: configuration tables linked by a foreign key'\ndefault_version = '1.0'\nrelocatable = false\n"
_FK_EXT_SCRIPT = """
CREATE TABLE @extschema@.fkext_parent (id integer PRIMARY KEY);
CREATE TABLE @extschema@.fkext_child (id integer PRIMARY KEY, parent integer NOT NULL REFERENCES @extschema@.fkext_parent);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fkext_parent', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fkext_child', '');
"""


def test_parallel_load_follows_the_foreign_keys_an_extension_created(make_db, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """An extension's configuration tables get their foreign key from CREATE EXTENSION, before
    any row loads (PostGIS: topology.layer -> topology.topology): ``-j 4`` must load the
    referenced table first, whatever order the shuffled scheduler would pick."""
    src = make_db("fkext")
    sharedir = pgtest.query(src, "SELECT setting FROM pg_catalog.pg_config WHERE name = 'SHAREDIR'")[0][0]
    ext = Path(sharedir) / "extension"
    (ext / "pydump_fkext.control").write_text(_FK_EXT_CONTROL)
    (ext / "pydump_fkext--1.0.sql").write_text(_FK_EXT_SCRIPT)
    pgtest.run_sql(src, "CREATE EXTENSION pydump_fkext;"
                        " INSERT INTO public.fkext_parent SELECT g FROM generate_series(1, 2000) g;"
                        " INSERT INTO public.fkext_child SELECT g, g FROM generate_series(1, 2000) g;")
    b = pydump(src, tmp_path)
    for seed in (1, 2, 3, 4, 5, 6):
        dst = make_db(f"fkext_s{seed}")
        assert restore(b, dst, "--jobs", "4", seed=seed, monkeypatch=monkeypatch) == 0, f"shuffle seed {seed}"
        assert pgtest.query(dst, "SELECT count(*) FROM public.fkext_child") == [(2000,)]
