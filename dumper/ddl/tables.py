"""CREATE statements for tables, sequences, views and materialized views, built from the catalog."""

from __future__ import annotations

from dumper.catalog.relations import Column, Relation, Sequence
from dumper.format.names import quote_ident, quote_literal

_STORAGE = {"p": "PLAIN", "e": "EXTERNAL", "m": "MAIN", "x": "EXTENDED"}
_COMPRESSION = {"p": "pglz", "l": "lz4"}


def _options(opts: list[str]) -> str:
    """reloptions/attoptions (``key=value`` text) → ``key='value', ...``."""
    parts = []
    for o in opts:
        k, _, v = o.partition("=")
        parts.append(f"{k}={quote_literal(v)}" if not _is_plain(v) else f"{k}={v}")
    return ", ".join(parts)


def _is_plain(v: str) -> bool:
    return v.replace(".", "", 1).replace("-", "", 1).isalnum() and v.isascii()


def _fdw_options(opts: list[str]) -> str:
    parts = []
    for o in opts:
        k, _, v = o.partition("=")
        parts.append(f"{quote_ident(k)} {quote_literal(v)}")
    return ", ".join(parts)


_GENERATED = {"s": "STORED", "v": "VIRTUAL"}


def column_def(col: Column, *, include_default: bool, rel: Relation | None = None,
               parent_rels: list[Relation] | None = None) -> str:
    parts = [quote_ident(col.name), col.type]
    if col.collation:
        parts.append(f"COLLATE {col.collation}")
    if col.generated and col.default is not None and not _parent_generates(rel, col, parent_rels or []):
        parts.append(f"GENERATED ALWAYS AS ({col.default}) {_GENERATED[col.generated]}")
    elif include_default and col.default is not None:
        parts.append(f"DEFAULT {col.default}")
    nn = notnull_clause(rel, col, parent_rels or [])
    if nn:
        parts.append(nn)
    return " ".join(parts)


def _parent_generates(rel: Relation | None, col: Column, parent_rels: list[Relation]) -> bool:
    """An inheritance child's local column inherits a parent's identical generation expression,
    and before 16 may not repeat it ("child column specifies generation expression"). Not a
    partition: it is created on its own, then attached."""
    return bool(col.inh_count) and not (rel is not None and rel.is_partition) and any(pc.name == col.name and pc.generated == col.generated and pc.default == col.default
                                       for p in parent_rels for pc in p.columns)


def notnull_clause(rel: Relation | None, col: Column, parent_rels: list[Relation]) -> str:
    """What a column definition says about NOT NULL.

    Before 18 only ``attnotnull`` exists: ``NOT NULL``. From 18 the constraint has a name
    (written when it is not the one the server would choose, ``<table>_<column>_not_null``),
    ``NO INHERIT``, and may be ``NOT VALID`` (written after the data: the column holds NULLs).
    """
    nn = col.nn_constraint
    if nn is None or rel is None:
        # a parent's NOT NULL reaches its children (not partitions: they are attached later); written
        # again it would become a local constraint of the child once restored on 18
        inherited = rel is not None and not rel.is_partition and col.inh_count and any(
            pc.notnull for p in parent_rels for pc in p.columns if pc.name == col.name)
        return "NOT NULL" if col.notnull and not inherited else ""
    return _named_notnull(rel, col) if _writes_notnull(rel, col, parent_rels) else ""


def _writes_notnull(rel: Relation, col: Column, parent_rels: list[Relation]) -> bool:
    """18+: does this table's CREATE TABLE write the column's NOT NULL constraint?

    Not a NOT VALID one (added after the data). An inheritance child gets an inherited one
    from a parent's valid, inheritable constraint at CREATE time, with the parent's name; if no
    parent gives it (the parent's is NOT VALID), the child writes it, as pg_dump does. A
    partition is created on its own and attached, so it writes all of its constraints.
    """
    nn = col.nn_constraint
    if nn is None or not nn.valid:
        return False
    if nn.is_local or rel.is_partition:
        return True
    return not any(
        pc.nn_constraint is not None and pc.nn_constraint.valid and not pc.nn_constraint.no_inherit
        for p in parent_rels for pc in p.columns if pc.name == col.name
    )


def _named_notnull(rel: Relation, col: Column, *, table_constraint: bool = False) -> str:
    nn = col.nn_constraint
    assert nn is not None
    text = "" if nn.name == f"{rel.name}_{col.name}_not_null" else f"CONSTRAINT {quote_ident(nn.name)} "
    text += f"NOT NULL {quote_ident(col.name)}" if table_constraint else "NOT NULL"
    return text + (" NO INHERIT" if nn.no_inherit else "")


def inherited_notnull_lines(rel: Relation, parent_rels: list[Relation]) -> list[str]:
    """18+: a NOT NULL on a column an inheritance child only inherits (so the column is not
    printed), which the parents do not give it, becomes a table constraint in its CREATE TABLE."""
    if rel.is_partition or rel.of_type:
        return []
    printed = {c.num for c in printed_columns(rel)}
    return [
        _named_notnull(rel, c, table_constraint=True)
        for c in rel.columns
        if c.num not in printed and _writes_notnull(rel, c, parent_rels)
    ]


def printed_columns(rel: Relation) -> list[Column]:
    """Columns that belong in CREATE TABLE: inherited-only columns come from the parent.

    Partitions are created standalone and attached later, so they print every column.
    """
    if rel.is_partition:
        return rel.columns
    return [c for c in rel.columns if c.is_local or c.inh_count == 0]


def inline_default(col: Column) -> bool:
    """Defaults that call user functions are set later by their own entry (the function
    might need the table's row type: that loop is broken by a separate ALTER, as pg_dump does)."""
    return col.default is not None and not col.generated and not col.default_deps_on_function and not col.identity


def _typed_column(rel: Relation, col: Column) -> str | None:
    """A typed table's column takes its type and collation from the type: only the options
    the table adds are written (``col WITH OPTIONS DEFAULT ... NOT NULL``)."""
    parts = []
    if inline_default(col):
        parts.append(f"DEFAULT {col.default}")
    nn = notnull_clause(rel, col, [])
    if nn:
        parts.append(nn)
    return f"{quote_ident(col.name)} WITH OPTIONS {' '.join(parts)}" if parts else None


def create_table(
    rel: Relation, checks: list[tuple[str, str]], parents: list[str], parent_rels: list[Relation] | None = None
) -> str:
    """``checks`` = (name, definition) of the CHECK constraints written inline.

    ``parent_rels`` (inheritance parents) let a child's inherited-only columns get what the
    parents do not give them: a NOT NULL of their own, as pg_dump writes it before PG 18.
    """
    sql = _create_head(rel, _table_lines(rel, checks, parent_rels)) + _table_clauses(rel, parents) + ";\n"
    out = [sql]
    for c in rel.columns:
        out += _column_alters(rel, c, parent_rels)
    out += _replica_identity(rel)
    return "".join(out)


def _table_lines(rel: Relation, checks: list[tuple[str, str]], parent_rels: list[Relation] | None) -> list[str]:
    """The lines between the parentheses: columns (or a typed table's column options), then
    the NOT NULLs of inherited-only columns, then the inline CHECK constraints."""
    if rel.of_type:
        lines = [f"    {x}" for x in (_typed_column(rel, c) for c in rel.columns) if x]
    else:
        lines = [f"    {column_def(c, include_default=inline_default(c), rel=rel, parent_rels=parent_rels)}"
                 for c in printed_columns(rel)]
        lines += [f"    {x}" for x in inherited_notnull_lines(rel, parent_rels or [])]
    return lines + [f"    CONSTRAINT {quote_ident(n)} {d}" for n, d in checks]


def _create_head(rel: Relation, lines: list[str]) -> str:
    kw = "UNLOGGED TABLE" if rel.persistence == "u" else "TABLE"
    if rel.kind == "f":
        kw = "FOREIGN TABLE"
    head = f"CREATE {kw} {rel.identity}"
    if rel.of_type:
        head += f" OF {rel.of_type}"
    return head + (" (\n" + ",\n".join(lines) + "\n)" if lines or not rel.of_type else "")


def _table_clauses(rel: Relation, parents: list[str]) -> str:
    """INHERITS, PARTITION BY, SERVER/OPTIONS, USING and WITH, each on its own line."""
    sql = ""
    if parents and not rel.is_partition:
        sql += f"\nINHERITS ({', '.join(parents)})"
    if rel.partkey:
        sql += f"\nPARTITION BY {rel.partkey}"
    if rel.kind == "f" and rel.server:
        sql += f"\nSERVER {quote_ident(rel.server)}"
        if rel.ftoptions:
            sql += f"\nOPTIONS ({_fdw_options(rel.ftoptions)})"
    # heap is the header's default_table_access_method; a partitioned table (17+) has an
    # access method only when one was given, heap included.
    if rel.access_method and (rel.access_method != "heap" or rel.kind == "p"):
        sql += f"\nUSING {quote_ident(rel.access_method)}"
    withs = list(rel.reloptions or []) + [f"toast.{o}" for o in rel.toast_options or []]
    if withs:
        sql += f"\nWITH ({_options(withs)})"
    return sql


def _column_alters(rel: Relation, c: Column, parent_rels: list[Relation] | None) -> list[str]:
    """Per-column settings CREATE TABLE cannot hold: statistics target, storage, compression,
    attribute and FDW options, and the NOT NULL of an inherited-only column its parents lack."""
    only = f"ALTER TABLE ONLY {rel.identity}"
    col = quote_ident(c.name)
    out = []
    if c.statistics is not None and c.statistics >= 0:
        out.append(f"{only} ALTER COLUMN {col} SET STATISTICS {c.statistics};\n")
    if c.storage:
        out.append(f"{only} ALTER COLUMN {col} SET STORAGE {_STORAGE[c.storage]};\n")
    if c.compression:
        out.append(f"{only} ALTER COLUMN {col} SET COMPRESSION {_COMPRESSION.get(c.compression, c.compression)};\n")
    if c.options:
        out.append(f"{only} ALTER COLUMN {col} SET ({_options(c.options)});\n")
    if c.fdw_options:
        out.append(f"ALTER FOREIGN TABLE ONLY {rel.identity} ALTER COLUMN {col} OPTIONS ({_fdw_options(c.fdw_options)});\n")
    if (c.nn_constraint is None and not c.is_local and not rel.is_partition and not rel.of_type and c.inh_count
            and c.notnull and parent_rels):
        if not any(pc.notnull for p in parent_rels for pc in p.columns if pc.name == c.name):
            out.append(f"{only} ALTER COLUMN {col} SET NOT NULL;\n")
    return out


def _replica_identity(rel: Relation) -> list[str]:
    """FULL or NOTHING (USING INDEX comes with the index; foreign tables have none: 'n' always)."""
    if rel.kind == "f":
        return []
    if rel.replident == "f":
        return [f"ALTER TABLE ONLY {rel.identity} REPLICA IDENTITY FULL;\n"]
    if rel.replident == "n":
        return [f"ALTER TABLE ONLY {rel.identity} REPLICA IDENTITY NOTHING;\n"]
    return []


def add_invalid_notnull(rel: Relation, col: Column) -> str:
    """A NOT VALID NOT NULL (18+), added after the data as pg_dump does: the column holds NULLs.
    Not ONLY: an inheritance parent refuses a constraint its children would lack."""
    nn = col.nn_constraint
    assert nn is not None
    return f"ALTER TABLE {rel.identity} ADD CONSTRAINT {quote_ident(nn.name)} {nn.definition};\n"


def identity_column(rel: Relation, col: Column, seq_identity: str, seq: Sequence) -> str:
    kind = "ALWAYS" if col.identity == "a" else "BY DEFAULT"
    return (
        f"ALTER TABLE {rel.identity} ALTER COLUMN {quote_ident(col.name)} ADD GENERATED {kind} AS IDENTITY (\n"
        f"    SEQUENCE NAME {seq_identity}\n{_seq_options(seq, indent='    ', with_type=False)}\n);\n"
    )


def _seq_options(seq: Sequence, indent: str = "    ", *, with_type: bool = True) -> str:
    """Every parameter spelled out; an identity column's sequence takes its type from the column."""
    lines = []
    if with_type and seq.type != "bigint":
        lines.append(f"AS {seq.type}")
    lines += [
        f"START WITH {seq.start}",
        f"INCREMENT BY {seq.increment}",
        f"MINVALUE {seq.min}",
        f"MAXVALUE {seq.max}",
        f"CACHE {seq.cache}",
    ]
    if seq.cycle:
        lines.append("CYCLE")
    return "\n".join(indent + ln for ln in lines)


def create_sequence(rel: Relation) -> str:
    assert rel.sequence is not None
    kw = "UNLOGGED SEQUENCE" if rel.persistence == "u" else "SEQUENCE"
    return f"CREATE {kw} {rel.identity}\n{_seq_options(rel.sequence)};\n"


def sequence_owned_by(rel: Relation, table: Relation, column: str) -> str:
    return f"ALTER SEQUENCE {rel.identity} OWNED BY {table.identity}.{quote_ident(column)};\n"


def setval(rel: Relation) -> str:
    seq = rel.sequence
    assert seq is not None
    value = seq.last_value if seq.last_value is not None else seq.start
    called = "true" if seq.is_called else "false"
    return f"SELECT pg_catalog.setval({quote_literal(rel.identity)}, {value}, {called});\n"


def create_view(rel: Relation) -> str:
    opts = [o for o in rel.reloptions or [] if not o.startswith("check_option=")]
    check = next((o.split("=", 1)[1] for o in rel.reloptions or [] if o.startswith("check_option=")), None)
    body = (rel.viewdef or "").rstrip().rstrip(";")
    if rel.kind == "m":
        sql = f"CREATE MATERIALIZED VIEW {rel.identity}"
        if rel.access_method and rel.access_method != "heap":
            sql += f" USING {quote_ident(rel.access_method)}"
        if opts:
            sql += f" WITH ({_options(opts)})"
        return f"{sql} AS\n{body}\n  WITH NO DATA;\n"
    return _view_as(rel, "CREATE VIEW", body, check) + _view_defaults(rel)


def _view_as(rel: Relation, verb: str, body: str, check: str | None) -> str:
    opts = [o for o in rel.reloptions or [] if not o.startswith("check_option=")]
    sql = f"{verb} {rel.identity}"
    if opts:
        sql += f" WITH ({_options(opts)})"
    sql += f" AS\n{body}"
    if check:
        sql += f"\n  WITH {check.upper()} CHECK OPTION"
    return sql + ";\n"


def _view_defaults(rel: Relation) -> str:
    return "".join(
        f"ALTER VIEW {rel.identity} ALTER COLUMN {quote_ident(c.name)} SET DEFAULT {c.default};\n"
        for c in rel.columns
        if c.default is not None
    )


def view_placeholder(rel: Relation) -> str:
    """pg_dump's dummy view for a view caught in a dependency loop: the right column names,
    types and collations, no query (``SELECT NULL::type AS col``), so whatever needs the
    view's row type can be created before the objects its query reads."""
    cols = ",\n    ".join(
        f"NULL::{c.type}" + (f" COLLATE {c.collation}" if c.collation else "") + f" AS {quote_ident(c.name)}"
        for c in rel.columns
    )
    return _view_as(rel, "CREATE VIEW", f" SELECT\n    {cols}", None) + _view_defaults(rel)


def view_replace(rel: Relation) -> str:
    """The real query of a placeholder view, run once everything it reads exists."""
    check = next((o.split("=", 1)[1] for o in rel.reloptions or [] if o.startswith("check_option=")), None)
    return _view_as(rel, "CREATE OR REPLACE VIEW", (rel.viewdef or "").rstrip().rstrip(";"), check)


def column_default(rel: Relation, col: Column) -> str:
    kw = "VIEW" if rel.kind == "v" else "TABLE ONLY"
    return f"ALTER {kw} {rel.identity} ALTER COLUMN {quote_ident(col.name)} SET DEFAULT {col.default};\n"


def column_drop_default(rel: Relation, col: Column) -> str:
    """An inheritance child's column without the default its parent would give it."""
    return f"ALTER TABLE ONLY {rel.identity} ALTER COLUMN {quote_ident(col.name)} DROP DEFAULT;\n"


def attach_partition(parent: Relation, child: Relation) -> str:
    return f"ALTER TABLE ONLY {parent.identity} ATTACH PARTITION {child.identity} {child.partbound};\n"


def row_security(rel: Relation) -> str:
    out = ""
    if rel.rls:
        out += f"ALTER TABLE {rel.identity} ENABLE ROW LEVEL SECURITY;\n"
    if rel.force_rls:
        out += f"ALTER TABLE ONLY {rel.identity} FORCE ROW LEVEL SECURITY;\n"
    return out


def keyword(rel: Relation) -> str:
    return {
        "r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE", "f": "FOREIGN TABLE",
    }[rel.kind]
