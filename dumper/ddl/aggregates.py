"""``CREATE AGGREGATE``, assembled from pg_aggregate the way pg_dump's dumpAgg does."""

from __future__ import annotations

from dumper.catalog.aggregates import Aggregate
from dumper.format.names import quote_ident, quote_literal

_MODIFY = {"r": "READ_ONLY", "s": "SHAREABLE", "w": "READ_WRITE"}
_PARALLEL = {"s": "SAFE", "r": "RESTRICTED"}


def signature(a: Aggregate) -> str:
    """``schema.name(args)`` as ALTER/GRANT/COMMENT ON AGGREGATE accept it (``*`` for no arguments)."""
    return f"{quote_ident(a.schema or '')}.{quote_ident(a.name)}({a.identity_args or '*'})"


def create_aggregate(a: Aggregate) -> str:
    opts = [f"SFUNC = {a.transfn}", f"STYPE = {a.transtype}"]
    if a.transspace:
        opts.append(f"SSPACE = {a.transspace}")
    if a.initval is not None:
        opts.append(f"INITCOND = {quote_literal(a.initval)}")
    if a.finalfn:
        opts.append(f"FINALFUNC = {a.finalfn}")
        if a.finalextra:
            opts.append("FINALFUNC_EXTRA")
    # The default FINALFUNC_MODIFY is READ_ONLY, except for ordered-set aggregates (READ_WRITE).
    default_modify = "r" if a.kind == "n" else "w"
    if a.finalmodify != default_modify:
        opts.append(f"FINALFUNC_MODIFY = {_MODIFY[a.finalmodify]}")
    if a.combinefn:
        opts.append(f"COMBINEFUNC = {a.combinefn}")
    if a.serialfn:
        opts.append(f"SERIALFUNC = {a.serialfn}")
    if a.deserialfn:
        opts.append(f"DESERIALFUNC = {a.deserialfn}")
    if a.mtransfn:
        opts.append(f"MSFUNC = {a.mtransfn}")
    if a.minvtransfn:
        opts.append(f"MINVFUNC = {a.minvtransfn}")
    if a.mtranstype:
        opts.append(f"MSTYPE = {a.mtranstype}")
    if a.mtransspace:
        opts.append(f"MSSPACE = {a.mtransspace}")
    if a.mfinalfn:
        opts.append(f"MFINALFUNC = {a.mfinalfn}")
        if a.mfinalextra:
            opts.append("MFINALFUNC_EXTRA")
    if a.mtransfn and a.mfinalmodify != default_modify:
        opts.append(f"MFINALFUNC_MODIFY = {_MODIFY[a.mfinalmodify]}")
    if a.minitval is not None:
        opts.append(f"MINITCOND = {quote_literal(a.minitval)}")
    if a.sortop:
        opts.append(f"SORTOP = {a.sortop}")
    if a.kind == "h":
        opts.append("HYPOTHETICAL")
    if a.parallel in _PARALLEL:
        opts.append(f"PARALLEL = {_PARALLEL[a.parallel]}")
    args = a.arguments or "*"
    body = ",\n".join(f"    {o}" for o in opts)
    return f"CREATE AGGREGATE {quote_ident(a.schema or '')}.{quote_ident(a.name)}({args}) (\n{body}\n);\n"
