"""Operators, operator families/classes, casts, transforms, collations, conversions, languages."""

from __future__ import annotations

from dumper.catalog.collations import Collation, Conversion
from dumper.catalog.languages import Language
from dumper.catalog.operators import Cast, OpClass, OpFamily, OpMember, Operator, Transform
from dumper.format.names import quote_ident, quote_literal


def _qname(schema: str | None, name: str) -> str:
    return f"{quote_ident(schema or '')}.{quote_ident(name)}"


def operator_signature(o: Operator) -> str:
    """``schema.op(left, right)`` for ALTER OPERATOR (operator names are never quoted)."""
    return f"{quote_ident(o.schema or '')}.{o.name}({o.left or 'NONE'}, {o.right})"


def create_operator(o: Operator) -> str:
    opts = [f"FUNCTION = {o.function}"]
    if o.left:
        opts.append(f"LEFTARG = {o.left}")
    opts.append(f"RIGHTARG = {o.right}")
    if o.commutator:
        opts.append(f"COMMUTATOR = {o.commutator}")
    if o.negator:
        opts.append(f"NEGATOR = {o.negator}")
    if o.merges:
        opts.append("MERGES")
    if o.hashes:
        opts.append("HASHES")
    if o.restrict:
        opts.append(f"RESTRICT = {o.restrict}")
    if o.join:
        opts.append(f"JOIN = {o.join}")
    body = ",\n".join(f"    {x}" for x in opts)
    return f"CREATE OPERATOR {quote_ident(o.schema or '')}.{o.name} (\n{body}\n);\n"


def _member(m: OpMember, in_class_type: str | None) -> str:
    if m.kind == "operator":
        # regoperator text is "name(left,right)" (qualified unless in pg_catalog): exactly the
        # "operator_name (op_type, op_type)" form both commands accept.
        s = f"OPERATOR {m.number} {m.target}"
        if m.sort_family:
            s += f" FOR ORDER BY {m.sort_family}"
        return s
    return f"FUNCTION {m.number} ({m.lefttype}, {m.righttype}) {m.target}"


def create_opfamily(f: OpFamily) -> str:
    sql = f"CREATE OPERATOR FAMILY {_qname(f.schema, f.name)} USING {quote_ident(f.method)};\n"
    if f.members:
        items = ",\n".join(f"    {_member(m, None)}" for m in f.members)
        sql += f"ALTER OPERATOR FAMILY {_qname(f.schema, f.name)} USING {quote_ident(f.method)} ADD\n{items};\n"
    return sql


def opfamily_signature(f: OpFamily) -> str:
    return f"{_qname(f.schema, f.name)} USING {quote_ident(f.method)}"


def opclass_signature(c: OpClass) -> str:
    return f"{_qname(c.schema, c.name)} USING {quote_ident(c.method)}"


def create_opclass(c: OpClass) -> str:
    items = [_member(m, c.input_type) for m in c.members]
    if c.storage:
        items.append(f"STORAGE {c.storage}")
    if not items:  # the grammar wants at least one item; STORAGE of the input type is a no-op
        items.append(f"STORAGE {c.input_type}")
    body = ",\n".join(f"    {i}" for i in items)
    return (
        f"CREATE OPERATOR CLASS {_qname(c.schema, c.name)}{' DEFAULT' if c.is_default else ''} "
        f"FOR TYPE {c.input_type} USING {quote_ident(c.method)} FAMILY {c.family} AS\n{body};\n"
    )


def create_cast(c: Cast) -> str:
    if c.method == "i":
        how = "WITH INOUT"
    elif c.method == "b" or not c.function:
        how = "WITHOUT FUNCTION"
    else:
        how = f"WITH FUNCTION {c.function}"
    ctx = {"a": " AS ASSIGNMENT", "i": " AS IMPLICIT"}.get(c.context, "")
    return f"CREATE CAST ({c.source} AS {c.target}) {how}{ctx};\n"


def create_transform(t: Transform) -> str:
    parts = []
    if t.from_sql:
        parts.append(f"FROM SQL WITH FUNCTION {t.from_sql}")
    if t.to_sql:
        parts.append(f"TO SQL WITH FUNCTION {t.to_sql}")
    return f"CREATE TRANSFORM FOR {t.type_name} LANGUAGE {quote_ident(t.language)} ({', '.join(parts)});\n"


def create_collation(c: Collation) -> str:
    provider = {"c": "libc", "i": "icu", "b": "builtin", "d": "libc"}.get(c.provider, "libc")
    opts = [f"provider = {provider}"]
    if not c.deterministic:
        opts.append("deterministic = false")
    if c.provider in ("i", "b"):
        opts.append(f"locale = {quote_literal(c.locale or '')}")
        if c.icu_rules:
            opts.append(f"rules = {quote_literal(c.icu_rules)}")
    elif c.collate == c.ctype:
        opts.append(f"locale = {quote_literal(c.collate or '')}")
    else:
        opts.append(f"lc_collate = {quote_literal(c.collate or '')}")
        opts.append(f"lc_ctype = {quote_literal(c.ctype or '')}")
    return f"CREATE COLLATION {_qname(c.schema, c.name)} ({', '.join(opts)});\n"


def create_conversion(c: Conversion) -> str:
    return (
        f"CREATE {'DEFAULT ' if c.is_default else ''}CONVERSION {_qname(c.schema, c.name)} "
        f"FOR {quote_literal(c.source_encoding)} TO {quote_literal(c.target_encoding)} FROM {c.function};\n"
    )


def create_language(lang: Language) -> str:
    sql = f"CREATE {'TRUSTED ' if lang.trusted else ''}PROCEDURAL LANGUAGE {quote_ident(lang.name)}"
    if lang.handler:
        sql += f" HANDLER {lang.handler}"
        if lang.inline:
            sql += f" INLINE {lang.inline}"
        if lang.validator:
            sql += f" VALIDATOR {lang.validator}"
    return sql + ";\n"
