"""CREATE TEXT SEARCH PARSER / TEMPLATE / DICTIONARY / CONFIGURATION and mappings."""

from __future__ import annotations

from dumper.catalog.textsearch import TSConfig, TSDictionary, TSParser, TSTemplate
from dumper.format.names import quote_ident


def _qname(schema: str | None, name: str) -> str:
    return f"{quote_ident(schema or '')}.{quote_ident(name)}"


def create_parser(p: TSParser) -> str:
    opts = [f"START = {p.start}", f"GETTOKEN = {p.gettoken}", f"END = {p.end}", f"LEXTYPES = {p.lextypes}"]
    if p.headline:
        opts.append(f"HEADLINE = {p.headline}")
    return f"CREATE TEXT SEARCH PARSER {_qname(p.schema, p.name)} (\n" + ",\n".join(f"    {o}" for o in opts) + "\n);\n"


def create_template(t: TSTemplate) -> str:
    opts = ([f"INIT = {t.init}"] if t.init else []) + [f"LEXIZE = {t.lexize}"]
    return f"CREATE TEXT SEARCH TEMPLATE {_qname(t.schema, t.name)} (\n" + ",\n".join(f"    {o}" for o in opts) + "\n);\n"


def create_dictionary(d: TSDictionary) -> str:
    # dictinitoption is stored as the server prints it: "key = 'value', ..." ready to paste.
    extra = f",\n    {d.options}" if d.options else ""
    return f"CREATE TEXT SEARCH DICTIONARY {_qname(d.schema, d.name)} (\n    TEMPLATE = {d.template}{extra}\n);\n"


def create_config(c: TSConfig) -> str:
    name = _qname(c.schema, c.name)
    sql = f"CREATE TEXT SEARCH CONFIGURATION {name} (\n    PARSER = {c.parser}\n);\n"
    for token, dicts in c.mappings:
        sql += f"ALTER TEXT SEARCH CONFIGURATION {name}\n    ADD MAPPING FOR {quote_ident(token)} WITH {', '.join(dicts)};\n"
    return sql
