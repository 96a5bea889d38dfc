"""What extends the type system and the languages: access methods, procedural languages,
collations, transforms, casts, operators with their classes and families, conversions.

Languages, casts and transforms are database-wide (no schema): like pg_dump, a dump with
``-n``/``-t`` leaves them out.
"""

from __future__ import annotations

from dumper.catalog.base import CatalogObject
from dumper.ddl import basetypes as ddb
from dumper.ddl import operators as ddop
from dumper.entries.context import BuildContext
from dumper.format.toc import Kind
from dumper.toc import PRE, Entry


def _entry(ctx: BuildContext, kind: Kind, obj: CatalogObject, name: str, sql: str) -> Entry:
    return ctx.add(Entry(kind, obj.schema, name, obj.owner, PRE, sql), obj)


def build_languages_casts(ctx: BuildContext) -> None:
    """Access methods, languages, collations, transforms, casts (before aggregates)."""
    cat = ctx.cat
    if ctx.whole_db:
        for am in cat.access_methods:
            _entry(ctx, Kind.ACCESS_METHOD, am, am.name, ddb.create_access_method(am))
        for lang in cat.languages:
            e = _entry(ctx, Kind.PROCEDURAL_LANGUAGE, lang, lang.name,
                       ddop.create_language(lang) + ctx.owner_of("LANGUAGE", lang))
            ctx.grant(e, lang.acl, f"LANGUAGE {lang.identity}", lang.owner)
    for c in cat.collations:
        _entry(ctx, Kind.COLLATION, c, c.name, ddop.create_collation(c) + ctx.owner_of("COLLATION", c))
    if ctx.whole_db:
        for t in cat.transforms:
            _entry(ctx, Kind.TRANSFORM, t, t.name, ddop.create_transform(t))
        for cast in cat.casts:
            _entry(ctx, Kind.CAST, cast, cast.name, ddop.create_cast(cast))


def build_operators(ctx: BuildContext) -> None:
    """Operators, operator families and classes, conversions (after aggregates)."""
    cat = ctx.cat
    for o in cat.operators:
        _entry(ctx, Kind.OPERATOR, o, f"{o.name}({o.left or 'NONE'}, {o.right})",
               ddop.create_operator(o) + ctx.owner("OPERATOR", ddop.operator_signature(o), o.owner))
    for f in cat.opfamilies:
        _entry(ctx, Kind.OPERATOR_FAMILY, f, f"{f.name} USING {f.method}",
               ddop.create_opfamily(f) + ctx.owner("OPERATOR FAMILY", ddop.opfamily_signature(f), f.owner))
    for oc in cat.opclasses:
        _entry(ctx, Kind.OPERATOR_CLASS, oc, f"{oc.name} USING {oc.method}",
               ddop.create_opclass(oc) + ctx.owner("OPERATOR CLASS", ddop.opclass_signature(oc), oc.owner))
    for cv in cat.conversions:
        _entry(ctx, Kind.CONVERSION, cv, cv.name, ddop.create_conversion(cv) + ctx.owner_of("CONVERSION", cv))
