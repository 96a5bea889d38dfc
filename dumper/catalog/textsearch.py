"""Text search parsers, templates, dictionaries and configurations (with their mappings).

Token type names come from ``ts_token_type(parser)`` joined laterally, so one query reads
every configuration's mappings whatever the number of configurations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dumper.catalog.base import FIRST_NORMAL_OID, CatalogObject, identity_sql, not_extension_member

if TYPE_CHECKING:
    from dumper.session import Session


def _fn(col: str) -> str:
    return f"CASE WHEN {col} <> 0 THEN {col}::pg_catalog.regproc::text END"


@dataclass
class TSParser(CatalogObject):
    oid: int = 0
    start: str = ""
    gettoken: str = ""
    end: str = ""
    lextypes: str = ""
    headline: str | None = None


@dataclass
class TSTemplate(CatalogObject):
    oid: int = 0
    init: str | None = None
    lexize: str = ""


@dataclass
class TSDictionary(CatalogObject):
    oid: int = 0
    template: str = ""  # qualified
    options: str | None = None  # dictinitoption, already "key = value, ..." text


@dataclass
class TSConfig(CatalogObject):
    oid: int = 0
    parser: str = ""  # qualified
    mappings: list[tuple[str, list[str]]] = field(default_factory=list)  # token type → dictionaries in order


def _q(alias: str, col: str) -> str:
    return f"pg_catalog.quote_ident({alias}.nspname) || '.' || pg_catalog.quote_ident({col})"


def read_text_search(s: Session) -> tuple[list[TSParser], list[TSTemplate], list[TSDictionary], list[TSConfig]]:
    """Parsers, templates, dictionaries and configurations (with their token mappings)."""
    return _parsers(s), _templates(s), _dictionaries(s), _configurations(s)


def _parsers(s: Session) -> list[TSParser]:
    return [
        TSParser(
            ref=("pg_ts_parser", r["oid"]), schema=r["schema"], name=r["name"], owner=None, identity=r["identity"],
            oid=r["oid"], start=r["start"], gettoken=r["gettoken"], end=r["end_"], lextypes=r["lextypes"],
            headline=r["headline"],
        )
        for r in s.query(
            f"""
            SELECT p.oid, n.nspname AS schema, p.prsname AS name, {identity_sql('pg_ts_parser', 'p.oid')} AS identity,
                   {_fn('p.prsstart')} AS start, {_fn('p.prstoken')} AS gettoken, {_fn('p.prsend')} AS end_,
                   {_fn('p.prslextype')} AS lextypes, {_fn('p.prsheadline')} AS headline
              FROM pg_catalog.pg_ts_parser p JOIN pg_catalog.pg_namespace n ON n.oid = p.prsnamespace
             WHERE p.oid >= {FIRST_NORMAL_OID} AND {not_extension_member('pg_ts_parser', 'p.oid')}
             ORDER BY n.nspname, p.prsname
            """
        )
    ]


def _templates(s: Session) -> list[TSTemplate]:
    return [
        TSTemplate(
            ref=("pg_ts_template", r["oid"]), schema=r["schema"], name=r["name"], owner=None, identity=r["identity"],
            oid=r["oid"], init=r["init"], lexize=r["lexize"],
        )
        for r in s.query(
            f"""
            SELECT t.oid, n.nspname AS schema, t.tmplname AS name, {identity_sql('pg_ts_template', 't.oid')} AS identity,
                   {_fn('t.tmplinit')} AS init, {_fn('t.tmpllexize')} AS lexize
              FROM pg_catalog.pg_ts_template t JOIN pg_catalog.pg_namespace n ON n.oid = t.tmplnamespace
             WHERE t.oid >= {FIRST_NORMAL_OID} AND {not_extension_member('pg_ts_template', 't.oid')}
             ORDER BY n.nspname, t.tmplname
            """
        )
    ]


def _dictionaries(s: Session) -> list[TSDictionary]:
    return [
        TSDictionary(
            ref=("pg_ts_dict", r["oid"]), schema=r["schema"], name=r["name"], owner=r["owner"], identity=r["identity"],
            oid=r["oid"], template=r["template"], options=r["options"],
        )
        for r in s.query(
            f"""
            SELECT d.oid, n.nspname AS schema, d.dictname AS name, pg_catalog.pg_get_userbyid(d.dictowner) AS owner,
                   {identity_sql('pg_ts_dict', 'd.oid')} AS identity, {_q('tn', 't.tmplname')} AS template,
                   d.dictinitoption AS options
              FROM pg_catalog.pg_ts_dict d
              JOIN pg_catalog.pg_namespace n ON n.oid = d.dictnamespace
              JOIN pg_catalog.pg_ts_template t ON t.oid = d.dicttemplate
              JOIN pg_catalog.pg_namespace tn ON tn.oid = t.tmplnamespace
             WHERE d.oid >= {FIRST_NORMAL_OID} AND {not_extension_member('pg_ts_dict', 'd.oid')}
             ORDER BY n.nspname, d.dictname
            """
        )
    ]


def _configurations(s: Session) -> list[TSConfig]:
    configs = {
        r["oid"]: TSConfig(
            ref=("pg_ts_config", r["oid"]), schema=r["schema"], name=r["name"], owner=r["owner"], identity=r["identity"],
            oid=r["oid"], parser=r["parser"],
        )
        for r in s.query(
            f"""
            SELECT c.oid, n.nspname AS schema, c.cfgname AS name, pg_catalog.pg_get_userbyid(c.cfgowner) AS owner,
                   {identity_sql('pg_ts_config', 'c.oid')} AS identity, {_q('pn', 'p.prsname')} AS parser
              FROM pg_catalog.pg_ts_config c
              JOIN pg_catalog.pg_namespace n ON n.oid = c.cfgnamespace
              JOIN pg_catalog.pg_ts_parser p ON p.oid = c.cfgparser
              JOIN pg_catalog.pg_namespace pn ON pn.oid = p.prsnamespace
             WHERE c.oid >= {FIRST_NORMAL_OID} AND {not_extension_member('pg_ts_config', 'c.oid')}
             ORDER BY n.nspname, c.cfgname
            """
        )
    }
    if configs:
        for r in s.query(
            """
            SELECT m.mapcfg, t.alias AS token,
                   pg_catalog.array_agg(m.mapdict::pg_catalog.regdictionary::text ORDER BY m.mapseqno) AS dicts
              FROM pg_catalog.pg_ts_config_map m
              JOIN pg_catalog.pg_ts_config c ON c.oid = m.mapcfg
              CROSS JOIN LATERAL pg_catalog.ts_token_type(c.cfgparser) t
             WHERE m.mapcfg = ANY(%s) AND t.tokid = m.maptokentype
             GROUP BY m.mapcfg, m.maptokentype, t.alias
             ORDER BY m.mapcfg, m.maptokentype
            """,
            (list(configs),),
        ):
            configs[r["mapcfg"]].mappings.append((r["token"], list(r["dicts"])))
    return list(configs.values())
