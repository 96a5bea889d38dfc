"""Catalog values pydump does not know: never a silent loss (issue 9, items 2 and 5).

- Completeness, on every server version: every value the server's catalog can hold in a column
  pydump branches on is known to pydump. "Can hold" is the value list of PostgreSQL's catalog
  documentation, written down below per major, checked against what the server's own objects
  hold (so a list that misses a value the system itself uses fails); a major with no list
  fails, so a new PostgreSQL version is not tested until someone has read its catalog chapter.
  What the fixtures create is checked by every fidelity test: the dump itself stops (exit 9)
  on a critical value it does not know.
- Fail closed: an unknown value on a critical column (an access method's type, a column's
  identity kind, set directly in the catalog as a future server could) stops the dump with
  exit 9 and one line naming the objects; ``--allow-unknown-catalog`` dumps and records it in metadata.json; an
  unknown value elsewhere (an event trigger's event) is one warning and a metadata entry.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import pgtest
from tests.support.helpers import dump
from dumper.catalog import versions

pytestmark = pytest.mark.all_versions

_BASE = {
    "pg_class.relkind": "rivmScftpI",
    "pg_class.relpersistence": "put",
    "pg_attribute.attgenerated": "s",
    "pg_attribute.attidentity": "ad",
    "pg_constraint.contype": "cfptux",
    "pg_am.amtype": "it",
    "pg_proc.prokind": "fpaw",
    "pg_type.typtype": "bcdepr",
    "pg_default_acl.defaclobjtype": "rSfTn",
    "pg_collation.collprovider": "dci",
    "pg_trigger.tgenabled": "OADR",
    "pg_policy.polcmd": "*rawd",
    "pg_class.relreplident": "dnfi",
    "pg_attribute.attstorage": "pemx",
}
_EVENTS = ("ddl_command_start", "ddl_command_end", "sql_drop", "table_rewrite")


def _documented(major: int) -> dict[str, tuple[str, ...]]:
    """The values each column can hold on ``major``, from the docs' catalog chapter (and the
    event trigger chapter for evtevent), built up release by release."""
    d: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _BASE.items()}
    d["pg_event_trigger.evtevent"] = _EVENTS
    if major >= 14:
        d["pg_type.typtype"] += ("m",)  # multiranges
        d["pg_attribute.attcompression"] = ("p", "l")
    if major >= 17:
        d["pg_constraint.contype"] += ("n",)  # domain NOT NULL constraints
        d["pg_collation.collprovider"] += ("b",)  # builtin provider
        d["pg_event_trigger.evtevent"] += ("login",)
    if major >= 18:
        d["pg_attribute.attgenerated"] += ("v",)  # virtual generated columns
        d["pg_default_acl.defaclobjtype"] += ("L",)  # large objects
    return d


#: Majors whose catalog chapter has been read into _documented.
DOCUMENTED_MAJORS = range(12, 19)


def _major(dsn: str) -> int:
    return int(pgtest.query(dsn, "SHOW server_version_num")[0][0]) // 10000


def test_every_documented_catalog_value_is_known(db: str) -> None:
    major = _major(db)
    assert major in DOCUMENTED_MAJORS, (
        f"PostgreSQL {major}: read its catalog documentation and release notes, add the values of every column "
        "in dumper/catalog/versions.py COLUMNS to _documented, and teach pydump the new ones")
    documented = _documented(major)
    checked = {c.key for c in versions.columns_for(major * 10000)}
    assert checked == set(documented), "versions.COLUMNS and the documented lists name different columns"
    for key, values in documented.items():
        unknown = set(values) - set(versions.KNOWN[key])
        assert not unknown, f"{key} can hold {sorted(unknown)} on PostgreSQL {major}, which pydump does not know"


def test_the_systems_own_catalog_values_are_documented(db: str) -> None:
    """Every value the server's own objects hold (initdb's catalog, all rows) is in the list:
    a list that forgot a value the server uses would not pass."""
    major = _major(db)
    documented = _documented(major)
    for c in versions.columns_for(major * 10000):
        seen = {r[0] for r in pgtest.query(db, f"SELECT DISTINCT x.v FROM ({c.sql(min_oid=0)}) x")} - {""}
        assert seen <= set(documented[c.key]), f"{c.key}: the server holds {sorted(seen - set(documented[c.key]))}"


def test_unknown_critical_value_stops_the_dump(db: str, tmp_path: Path) -> None:
    pgtest.run_sql(db, """
        CREATE TABLE public.odd (id integer, x integer);
        INSERT INTO public.odd VALUES (1, 2);
        CREATE ACCESS METHOD odd_am TYPE INDEX HANDLER pg_catalog.bthandler;
        UPDATE pg_catalog.pg_am SET amtype = 'z' WHERE amname = 'odd_am';
        UPDATE pg_catalog.pg_attribute SET attidentity = 'z' WHERE attrelid = 'public.odd'::regclass AND attname = 'x';
    """)
    proc = dump(db, tmp_path)
    assert proc.returncode == 9, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pydump: error: "), proc.stderr
    assert "pg_am.amtype = 'z' (odd_am)" in lines[0] and "pg_attribute.attidentity = 'z' (public.odd.x)" in lines[0]
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")], "no backup may appear"


def test_allow_unknown_catalog_dumps_and_records(db: str, tmp_path: Path) -> None:
    pgtest.run_sql(db, """
        CREATE TABLE public.odd (id integer, x integer);
        INSERT INTO public.odd VALUES (1, 2);
        UPDATE pg_catalog.pg_attribute SET attidentity = 'z' WHERE attrelid = 'public.odd'::regclass AND attname = 'x';
    """)
    assert dump(db, tmp_path).returncode == 9
    proc = dump(db, tmp_path, "--allow-unknown-catalog")
    assert proc.returncode == 0, proc.stderr
    assert "pg_attribute.attidentity = 'z' (public.odd.x)" in proc.stderr
    meta = json.loads((Path(json.loads(proc.stdout)["backup_dir"]) / "metadata.json").read_text())
    assert meta["server"]["unknown_catalog_values"] == ["pg_attribute.attidentity = 'z' (public.odd.x)"]


def test_unknown_other_value_warns_once(db: str, tmp_path: Path) -> None:
    pgtest.run_sql(db, """
        CREATE FUNCTION public.evt() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
        CREATE EVENT TRIGGER e1 ON ddl_command_end EXECUTE FUNCTION public.evt();
        CREATE EVENT TRIGGER e2 ON ddl_command_end EXECUTE FUNCTION public.evt();
        UPDATE pg_catalog.pg_event_trigger SET evtevent = 'some_future_event';
    """)
    proc = dump(db, tmp_path)
    assert proc.returncode == 0, proc.stderr
    warned = [ln for ln in proc.stderr.splitlines() if "some_future_event" in ln]
    assert warned == ["pydump: warning: catalog value pydump does not know, the object may not be dumped "
                      "faithfully: pg_event_trigger.evtevent = 'some_future_event' (e1, e2)"], proc.stderr
    meta = json.loads((Path(json.loads(proc.stdout)["backup_dir"]) / "metadata.json").read_text())
    assert meta["server"]["unknown_catalog_values"] == ["pg_event_trigger.evtevent = 'some_future_event' (e1, e2)"]
