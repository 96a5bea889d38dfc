"""CREATE statements for base types, shell types and access methods.

Every property of a base type is written as the catalog holds it, defaults included (a
default of one server version need not be the next one's), except the functions that are
not set at all.
"""

from __future__ import annotations

from dumper.catalog.accessmethods import AM_TYPES, AccessMethod
from dumper.catalog.basetypes import BaseType
from dumper.format.names import quote_literal

_ALIGN = {"c": "char", "s": "int2", "i": "int4", "d": "double"}
_STORAGE = {"p": "plain", "e": "external", "x": "extended", "m": "main"}


def create_shell_type(t: BaseType) -> str:
    return f"CREATE TYPE {t.identity};\n"


def create_base_type(t: BaseType) -> str:
    """The full ``CREATE TYPE``, which completes the shell the script created before."""
    opts = [f"INTERNALLENGTH = {'variable' if t.length == -1 else t.length}"]
    opts += [f"{option} = {func}" for option, func in t.functions]
    if t.default is not None:
        opts.append(f"DEFAULT = {quote_literal(t.default)}")
    if t.element:
        opts.append(f"ELEMENT = {t.element}")
    opts.append(f"CATEGORY = {quote_literal(t.category)}")
    opts.append(f"PREFERRED = {'true' if t.preferred else 'false'}")
    opts.append(f"DELIMITER = {quote_literal(t.delimiter)}")
    opts.append(f"ALIGNMENT = {_ALIGN[t.alignment]}")
    opts.append(f"STORAGE = {_STORAGE[t.storage]}")
    opts.append(f"COLLATABLE = {'true' if t.collatable else 'false'}")
    if t.by_value:
        opts.append("PASSEDBYVALUE")
    return f"CREATE TYPE {t.identity} (\n    " + ",\n    ".join(opts) + "\n);\n"


def create_access_method(am: AccessMethod) -> str:
    return f"CREATE ACCESS METHOD {am.identity} TYPE {AM_TYPES[am.kind]} HANDLER {am.handler};\n"
