"""Tables, views, materialized views, sequences and foreign tables (everything in pg_class).

Read in two steps, as pg_dump does: :func:`list_relations` uses no deparsing function, so it
is safe before the locks are taken; :func:`read_details` runs after the locks and fills in
columns, view definitions, partition bounds and sequence parameters, each in one query over
all relations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dumper.catalog.base import (
    Acl,
    CatalogObject,
    acl_columns,
    make_acl,
    not_extension_member,
    require_deparsed,
    user_schema,
)

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class Column:
    num: int
    name: str
    type: str
    notnull: bool
    default: str | None
    identity: str  # '', 'a' (ALWAYS), 'd' (BY DEFAULT)
    generated: str  # '', 's' (STORED), 'v' (VIRTUAL, 18+)
    collation: str | None  # qualified, only when it differs from the type's default
    storage: str | None  # only when it differs from the type's default
    compression: str | None
    statistics: int | None
    options: list[str] | None
    fdw_options: list[str] | None
    is_local: bool
    inh_count: int
    acl: Acl | None = None
    default_deps_on_function: bool = False
    default_oid: int | None = None
    # PostgreSQL 18 keeps a NOT NULL as a pg_constraint row (contype 'n'); None before 18.
    nn_constraint: NotNull | None = None


@dataclass
class NotNull:
    """A column's NOT NULL constraint as PostgreSQL 18 stores it: a name to keep, and the
    states that change where and how it is written (``NOT VALID`` ones after the data)."""

    oid: int
    name: str
    valid: bool
    no_inherit: bool
    is_local: bool
    definition: str | None  # pg_get_constraintdef ("NOT NULL col [NO INHERIT] NOT VALID"), NOT VALID ones only


@dataclass
class Sequence:
    type: str
    start: int
    increment: int
    min: int
    max: int
    cache: int
    cycle: bool
    last_value: int | None = None
    is_called: bool = False
    owned_by: tuple[int, int] | None = None  # (table oid, column number) for serial/OWNED BY
    identity_of: tuple[int, int] | None = None  # (table oid, column number) for identity columns


@dataclass
class Relation(CatalogObject):
    oid: int = 0
    kind: str = "r"  # pg_class.relkind
    persistence: str = "p"
    is_partition: bool = False
    rls: bool = False
    force_rls: bool = False
    replident: str = "d"
    reloptions: list[str] | None = None
    toast_options: list[str] | None = None
    populated: bool = True
    pages: int = 0
    access_method: str | None = None
    of_type: str | None = None
    parents: list[int] = field(default_factory=list)  # pg_inherits, in seqno order
    columns: list[Column] = field(default_factory=list)
    partkey: str | None = None
    #: A partitioned table hashing an enum key: the hash is of the labels' OIDs, which a restore
    #: assigns anew, so its partitions' rows are loaded through the root (as pg_dump does).
    #: Also a key column whose type holds an enum anywhere (array elements, a domain's base, a
    #: range's subtype, a composite's attributes: their hashes hash the enum's OIDs too); pg_dump
    #: 18 looks only at the enum opclass, and such a tree failed its restore there
    #: ("violates partition constraint"). Multiranges of an enum (14+) are not followed.
    hash_on_enum: bool = False
    partbound: str | None = None
    viewdef: str | None = None
    sequence: Sequence | None = None
    server: str | None = None  # foreign tables
    ftoptions: list[str] | None = None
    replident_index: str | None = None
    owning_table: tuple[str, str] | None = None  # sequences: (schema, name) of the serial/identity table

    @property
    def has_data(self) -> bool:
        return self.kind == "r"

    @property
    def is_table(self) -> bool:
        return self.kind in ("r", "p")


_REL_ACL = acl_columns("c.relacl", "(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::\"char\"", "c.relowner")


def list_relations(s: Session) -> list[Relation]:
    rows = s.query(
        f"""
        SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind,
               pg_catalog.pg_get_userbyid(c.relowner) AS owner, c.relpersistence AS persistence,
               c.relispartition AS is_partition, c.relrowsecurity AS rls, c.relforcerowsecurity AS force_rls,
               c.relreplident AS replident, c.reloptions, tc.reloptions AS toast_options,
               c.relispopulated AS populated, c.relpages + COALESCE(tc.relpages, 0) AS pages,
               am.amname AS access_method,
               CASE WHEN c.reloftype <> 0 THEN pg_catalog.format_type(c.reloftype, NULL) END AS of_type,
               ARRAY(SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid ORDER BY i.inhseqno) AS parents,
               -- what pg_identify_object() says for a relation, without its per-row catalog lookups
               pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS identity,
               {_REL_ACL},
               CASE WHEN c.relkind = 'S' THEN
                    (SELECT ARRAY[tn.nspname::text, tc2.relname::text]
                       FROM pg_catalog.pg_depend sd
                       JOIN pg_catalog.pg_class tc2 ON tc2.oid = sd.refobjid
                       JOIN pg_catalog.pg_namespace tn ON tn.oid = tc2.relnamespace
                      WHERE sd.classid = 'pg_class'::pg_catalog.regclass AND sd.objid = c.oid
                        AND sd.refclassid = 'pg_class'::pg_catalog.regclass AND sd.deptype IN ('a', 'i')
                        AND sd.refobjsubid > 0 LIMIT 1) END AS owning_table
          FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_catalog.pg_class tc ON tc.oid = c.reltoastrelid
          LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam AND c.relkind IN ('r', 'm', 'p')
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
           AND {user_schema('n')}
           AND {not_extension_member('pg_class', 'c.oid')}
         ORDER BY n.nspname, c.relname
        """
    )
    out = []
    for r in rows:
        out.append(
            Relation(
                ref=("pg_class", r["oid"]), schema=r["schema"], name=r["name"], owner=r["owner"],
                identity=r["identity"], acl=make_acl(r, "s" if r["kind"] == "S" else "r"),
                oid=r["oid"], kind=r["kind"], persistence=r["persistence"], is_partition=r["is_partition"],
                rls=r["rls"], force_rls=r["force_rls"], replident=r["replident"], reloptions=r["reloptions"],
                toast_options=r["toast_options"], populated=r["populated"], pages=r["pages"] or 0,
                access_method=r["access_method"], of_type=r["of_type"], parents=list(r["parents"]),
                owning_table=tuple(r["owning_table"]) if r["owning_table"] else None,  # type: ignore[arg-type]
            )
        )
    return out


def read_details(s: Session, rels: list[Relation]) -> None:
    """Columns, view bodies, partition keys/bounds, sequence parameters and values."""
    if not rels:
        return
    by_oid = {r.oid: r for r in rels}
    oids = list(by_oid)
    _read_columns(s, by_oid)
    # Deparsed pieces: only now, with the tables locked.
    for r in s.query(
        """
        SELECT c.oid,
               CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partkey,
               c.relkind = 'p' AND (EXISTS (
                   SELECT FROM pg_catalog.pg_partitioned_table pt
                     JOIN pg_catalog.pg_opclass oc ON oc.oid = ANY(pt.partclass::pg_catalog.oid[])
                    WHERE pt.partrelid = c.oid AND pt.partstrat = 'h'
                      AND oc.opcintype = 'pg_catalog.anyenum'::pg_catalog.regtype) OR EXISTS (
                   WITH RECURSIVE parts(t) AS (
                       SELECT a.atttypid FROM pg_catalog.pg_partitioned_table pt
                         JOIN pg_catalog.pg_attribute a
                           ON a.attrelid = pt.partrelid AND a.attnum = ANY(pt.partattrs::pg_catalog.int2[])
                        WHERE pt.partrelid = c.oid AND pt.partstrat = 'h'
                       UNION
                       SELECT x.t FROM parts JOIN pg_catalog.pg_type ty ON ty.oid = parts.t,
                        LATERAL (SELECT ty.typelem UNION ALL SELECT ty.typbasetype
                                 UNION ALL SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid = ty.oid
                                 UNION ALL SELECT a.atttypid FROM pg_catalog.pg_attribute a
                                            WHERE a.attrelid = ty.typrelid AND a.attnum > 0
                                              AND NOT a.attisdropped) AS x(t)
                        WHERE x.t <> 0)
                   SELECT FROM parts JOIN pg_catalog.pg_type e ON e.oid = parts.t WHERE e.typtype = 'e'
               )) AS hash_on_enum,
               CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END AS partbound,
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END AS viewdef,
               fs.srvname AS server, ft.ftoptions,
               (SELECT ic.relname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                 WHERE i.indrelid = c.oid AND i.indisreplident) AS replident_index
          FROM pg_catalog.pg_class c
          LEFT JOIN pg_catalog.pg_foreign_table ft ON ft.ftrelid = c.oid
          LEFT JOIN pg_catalog.pg_foreign_server fs ON fs.oid = ft.ftserver
         WHERE c.oid = ANY(%s) AND (c.relkind IN ('p', 'v', 'm', 'f') OR c.relispartition OR c.relreplident = 'i')
        """,
        (oids,),
    ):
        rel = by_oid[r["oid"]]
        if rel.kind in ("v", "m"):
            require_deparsed([{**r, "identity": rel.identity}], ("viewdef",), "view")
        rel.partkey, rel.partbound, rel.viewdef = r["partkey"], r["partbound"], r["viewdef"]
        rel.hash_on_enum = bool(r["hash_on_enum"])
        rel.server, rel.ftoptions, rel.replident_index = r["server"], r["ftoptions"], r["replident_index"]
    seqs = [r for r in rels if r.kind == "S"]
    if seqs:
        _read_sequences(s, seqs)


def _read_columns(s: Session, by_oid: dict[int, Relation]) -> None:
    """Every column of ``by_oid``'s relations, appended to ``Relation.columns`` in order."""
    v = s.info.version_num
    compression = "a.attcompression" if v >= 140000 else "''::\"char\""
    stattarget = "a.attstattarget" if v >= 170000 else "NULLIF(a.attstattarget, -1)"
    notnull_cols, notnull_join = _notnull_sql(v)
    for c in s.query(
        f"""
        SELECT a.attrelid AS rel, a.attnum AS num, a.attname AS name,
               pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
               pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS default, d.oid AS default_oid,
               a.attidentity AS identity, a.attgenerated AS generated,
               CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 THEN
                    pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) END AS collation,
               CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END AS storage,
               NULLIF({compression}::text, '') AS compression,
               {stattarget} AS statistics,
               a.attoptions AS options, a.attfdwoptions AS fdw_options,
               a.attislocal AS is_local, a.attinhcount AS inh_count,
               {notnull_cols},
               {acl_columns('a.attacl', None)},
               EXISTS (SELECT 1 FROM pg_catalog.pg_depend dd
                        JOIN pg_catalog.pg_proc p ON dd.refclassid = 'pg_proc'::pg_catalog.regclass AND p.oid = dd.refobjid
                        JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
                       WHERE dd.classid = 'pg_attrdef'::pg_catalog.regclass AND dd.objid = d.oid
                         AND pn.nspname <> 'pg_catalog') AS default_deps_on_function
          FROM pg_catalog.pg_attribute a
          JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
          JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
          LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
          {notnull_join}
         WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attrelid, a.attnum
        """,
        (list(by_oid),),
        tuples=True,  # one row per column: no per-row dict (the select list's order is used below)
    ):
        (rel_oid, num, name, typ, notnull, default, default_oid, identity, generated, collation, storage,
         compression, statistics, options, fdw_options, is_local, inh_count, nn_oid, nn_name, nn_valid,
         nn_noinherit, nn_local, nn_def, acl, acl_is_default, default_deps_on_function) = c
        by_oid[rel_oid].columns.append(
            Column(
                num=num, name=name, type=typ, notnull=notnull, default=default,
                identity=identity or "", generated=generated or "", collation=collation,
                storage=storage, compression=compression, statistics=statistics,
                options=options, fdw_options=fdw_options, is_local=is_local,
                inh_count=inh_count,
                acl=None if acl_is_default or acl is None else make_acl({"acl": acl, "acl_is_default": False}, "c"),
                default_deps_on_function=default_deps_on_function, default_oid=default_oid,
                nn_constraint=None if nn_oid is None else NotNull(nn_oid, nn_name, nn_valid, nn_noinherit, nn_local, nn_def),
            )
        )


def _notnull_sql(version_num: int) -> tuple[str, str]:
    """Select-list and join fragments for a column's NOT NULL constraint row.

    From 18 a table's NOT NULL is a pg_constraint row (contype 'n', one column in conkey)
    with a name, ``NOT VALID`` and ``NO INHERIT``; before 18 only ``attnotnull`` exists.
    """
    if version_num < 180000:
        return "NULL::oid AS nn_oid, NULL::text AS nn_name, NULL::bool AS nn_valid, NULL::bool AS nn_noinherit, " \
               "NULL::bool AS nn_local, NULL::text AS nn_def", ""
    return (
        "nn.oid AS nn_oid, nn.conname::text AS nn_name, nn.convalidated AS nn_valid, nn.connoinherit AS nn_noinherit, "
        # deparsed only where it is written (a NOT VALID one, after the data): a
        # pg_get_constraintdef call per column was a third of this query at 10,000 tables
        "nn.conislocal AS nn_local, CASE WHEN nn.oid IS NOT NULL AND NOT nn.convalidated "
        "THEN pg_catalog.pg_get_constraintdef(nn.oid) END AS nn_def",
        "LEFT JOIN pg_catalog.pg_constraint nn ON nn.conrelid = a.attrelid AND nn.contype = 'n' AND nn.conkey[1] = a.attnum",
    )


def _read_sequences(s: Session, seqs: list[Relation]) -> None:
    by_oid = {r.oid: r for r in seqs}
    for r in s.query(
        """
        SELECT q.seqrelid AS oid, pg_catalog.format_type(q.seqtypid, NULL) AS type, q.seqstart AS start,
               q.seqincrement AS increment, q.seqmin AS min, q.seqmax AS max, q.seqcache AS cache,
               q.seqcycle AS cycle,
               (SELECT ARRAY[d.refobjid, d.refobjsubid, CASE d.deptype WHEN 'i' THEN 1 ELSE 0 END]
                  FROM pg_catalog.pg_depend d
                 WHERE d.classid = 'pg_class'::pg_catalog.regclass AND d.objid = q.seqrelid
                   AND d.refclassid = 'pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i')
                   AND d.refobjsubid > 0 LIMIT 1) AS owner_col
          FROM pg_catalog.pg_sequence q WHERE q.seqrelid = ANY(%s)
        """,
        (list(by_oid),),
    ):
        seq = Sequence(r["type"], r["start"], r["increment"], r["min"], r["max"], r["cache"], r["cycle"])
        if r["owner_col"]:
            tab, col, is_ident = r["owner_col"]
            if is_ident:
                seq.identity_of = (tab, col)
            else:
                seq.owned_by = (tab, col)
        by_oid[r["oid"]].sequence = seq
    # Current values: one UNION ALL query per batch rather than one round trip per sequence.
    items = [r for r in seqs if r.oid not in s.unreadable]
    for i in range(0, len(items), 500):
        batch = items[i : i + 500]
        sql = " UNION ALL ".join(
            f"SELECT {r.oid}::oid AS oid, last_value, is_called FROM {r.identity}" for r in batch
        )
        for row in s.query(sql):
            seq = by_oid[row["oid"]].sequence
            if seq is not None:
                seq.last_value, seq.is_called = row["last_value"], row["is_called"]


def column_names(rel: Relation) -> list[str]:
    """The COPY column list: generated columns are recomputed on load, so they are left out."""
    return [c.name for c in rel.columns if not c.generated]
