"""Moved: identifier quoting lives in :mod:`dumper.format.names` (the contract both tools share).

This re-export stays only until ``dumper/entries.py`` and ``dumper/kinds_extra.py``, which are
being restructured into per-family builders, import from there; then it goes.
"""

from __future__ import annotations

from dumper.format.names import dollar_quote, qualify, quote_ident, quote_literal, set_keywords, table_key

__all__ = ["dollar_quote", "qualify", "quote_ident", "quote_literal", "set_keywords", "table_key"]
