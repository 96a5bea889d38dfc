"""Publications (with their tables and schemas) and subscriptions.

Column lists, row filters and ``TABLES IN SCHEMA`` exist from PostgreSQL 15; the
``pg_publication_rel`` query asks for them only there. Row filters are deparsed with
``pg_get_expr`` and so are read after the tables are locked. Subscriptions live in a shared
catalog that only superusers may read in full (``subconninfo``); the caller checks that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dumper.catalog.base import CatalogObject, identity_sql

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class PublicationTable:
    oid: int
    table_oid: int
    columns: list[str] | None
    row_filter: str | None


@dataclass
class Publication(CatalogObject):
    oid: int = 0
    all_tables: bool = False
    publish: list[str] = field(default_factory=list)
    # WITH options beyond publish, as the catalog holds them (None: the server has no such
    # option). Written even when they equal a default, which may differ on the restoring server.
    via_root: bool | None = None  # 13+
    generated_columns: str | None = None  # 18+: none | stored
    tables: list[PublicationTable] = field(default_factory=list)
    schemas: list[tuple[int, str]] = field(default_factory=list)  # (pg_publication_namespace oid, schema)


@dataclass
class Subscription(CatalogObject):
    oid: int = 0
    conninfo: str = ""
    slot_name: str | None = None
    sync_commit: str = "off"
    publications: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)  # WITH (...) options other than connect/slot_name


_GENCOLS = {"n": "none", "s": "stored"}
# pg_subscription.substream: a boolean on 14-15, a "char" from 16 (f, t, p).
_STREAMING = {"true": "on", "false": "off", "f": "off", "t": "on", "p": "parallel"}


def read_publications(s: Session) -> list[Publication]:
    v = s.info.version_num
    via_root = "p.pubviaroot" if v >= 130000 else "NULL::boolean"
    gencols = "p.pubgencols::text" if v >= 180000 else "NULL::text"
    pubs = {
        r["oid"]: Publication(
            ref=("pg_publication", r["oid"]), schema=None, name=r["name"], owner=r["owner"], identity=r["identity"],
            oid=r["oid"], all_tables=r["puballtables"],
            publish=[k for k in ("insert", "update", "delete", "truncate") if r["pub" + k]], via_root=r["via_root"],
            generated_columns=_GENCOLS.get(r["gencols"]) if r["gencols"] is not None else None,
        )
        for r in s.query(
            f"""
            SELECT p.oid, p.pubname AS name, pg_catalog.pg_get_userbyid(p.pubowner) AS owner,
                   {identity_sql('pg_publication', 'p.oid')} AS identity, p.puballtables,
                   p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate, {via_root} AS via_root, {gencols} AS gencols
              FROM pg_catalog.pg_publication p ORDER BY p.pubname
            """
        )
    }
    if not pubs:
        return []
    if v >= 150000:
        extra = """CASE WHEN r.prattrs IS NOT NULL THEN
                        (SELECT pg_catalog.array_agg(a.attname ORDER BY k.n)
                           FROM pg_catalog.unnest(r.prattrs) WITH ORDINALITY AS k(num, n)
                           JOIN pg_catalog.pg_attribute a ON a.attrelid = r.prrelid AND a.attnum = k.num) END AS columns,
                   pg_catalog.pg_get_expr(r.prqual, r.prrelid) AS row_filter"""
    else:
        extra = "NULL::text[] AS columns, NULL::text AS row_filter"
    for r in s.query(f"SELECT r.oid, r.prpubid, r.prrelid, {extra} FROM pg_catalog.pg_publication_rel r ORDER BY r.oid"):
        pubs[r["prpubid"]].tables.append(PublicationTable(r["oid"], r["prrelid"], r["columns"], r["row_filter"]))
    if v >= 150000:
        for r in s.query(
            """
            SELECT pn.oid, pn.pnpubid, n.nspname FROM pg_catalog.pg_publication_namespace pn
              JOIN pg_catalog.pg_namespace n ON n.oid = pn.pnnspid ORDER BY n.nspname
            """
        ):
            pubs[r["pnpubid"]].schemas.append((r["oid"], r["nspname"]))
    return list(pubs.values())


def read_subscriptions(s: Session) -> list[Subscription]:
    """Subscriptions of the current database (superuser only: the caller checks)."""
    v = s.info.version_num
    cols = ["s.subbinary AS binary", "s.substream::text AS streaming"] if v >= 140000 else []
    if v >= 150000:
        cols += ["s.subtwophasestate AS two_phase", "s.subdisableonerr AS disable_on_error"]
    if v >= 160000:
        cols += ["s.subpasswordrequired AS password_required", "s.subrunasowner AS run_as_owner", "s.suborigin AS origin"]
    if v >= 170000:
        cols += ["s.subfailover AS failover"]
    extra = "".join(", " + c for c in cols)
    out = []
    for r in s.query(
        f"""
        SELECT s.oid, s.subname AS name, pg_catalog.pg_get_userbyid(s.subowner) AS owner,
               {identity_sql('pg_subscription', 's.oid')} AS identity, s.subconninfo, s.subslotname,
               s.subsynccommit, s.subpublications{extra}
          FROM pg_catalog.pg_subscription s
         WHERE s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
         ORDER BY s.subname
        """
    ):
        opts = _subscription_options(r)
        out.append(
            Subscription(
                ref=("pg_subscription", r["oid"]), schema=None, name=r["name"], owner=r["owner"],
                identity=r["identity"], oid=r["oid"], conninfo=r["subconninfo"], slot_name=r["subslotname"],
                sync_commit=r["subsynccommit"], publications=list(r["subpublications"]), options=opts,
            )
        )
    return out


def _subscription_options(r: dict) -> dict[str, str]:  # type: ignore[type-arg]
    """Every WITH option the server's catalog holds, whatever its value.

    Defaults are not left out: they change between major versions (``streaming`` is off up to
    17 and parallel from 18), so a backup taken on one major and restored on another would
    otherwise change the subscription's behaviour.
    """
    opts: dict[str, str] = {}
    if r.get("binary") is not None:
        opts["binary"] = "true" if r["binary"] else "false"
    if r.get("streaming") is not None:
        opts["streaming"] = _STREAMING[r["streaming"]]
    if r.get("two_phase") is not None:
        opts["two_phase"] = "off" if r["two_phase"] == "d" else "on"
    for key in ("disable_on_error", "password_required", "run_as_owner", "failover"):
        if r.get(key) is not None:
            opts[key] = "true" if r[key] else "false"
    if r.get("origin") is not None:
        opts["origin"] = r["origin"]
    return opts
