"""Text search parsers, templates, dictionaries and configurations."""

from __future__ import annotations

from dumper.ddl import textsearch as ddts
from dumper.entries.context import BuildContext
from dumper.format.toc import Kind
from dumper.toc import PRE, Entry


def build_text_search(ctx: BuildContext) -> None:
    cat = ctx.cat
    for p in cat.ts_parsers:
        ctx.add(Entry(Kind.TEXT_SEARCH_PARSER, p.schema, p.name, p.owner, PRE, ddts.create_parser(p)), p)
    for tt in cat.ts_templates:
        ctx.add(Entry(Kind.TEXT_SEARCH_TEMPLATE, tt.schema, tt.name, tt.owner, PRE, ddts.create_template(tt)), tt)
    for d in cat.ts_dicts:
        ctx.add(Entry(Kind.TEXT_SEARCH_DICTIONARY, d.schema, d.name, d.owner, PRE,
                      ddts.create_dictionary(d) + ctx.owner_of("TEXT SEARCH DICTIONARY", d)), d)
    for cfg in cat.ts_configs:
        ctx.add(Entry(Kind.TEXT_SEARCH_CONFIGURATION, cfg.schema, cfg.name, cfg.owner, PRE,
                      ddts.create_config(cfg) + ctx.owner_of("TEXT SEARCH CONFIGURATION", cfg)), cfg)
