"""The spec's data categories, and which tables fall into which.

The map is data, not code: ``dumper/categories.toml`` holds the spec's table, and
``--categories FILE.toml`` replaces it whole. A table is claimed by the category whose
matching pattern is most specific (a pattern naming the table beats one naming only the
schema; then fewer wildcards; then the longer pattern; then file order), so ``*.tasks`` (Transient) beats ``agents.*`` (Core) for
``agents.tasks``; unclaimed tables are Core, as the spec's "everything else is core" implies.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from dumper.errors import UsageError

DEFAULT_FILE = Path(__file__).with_name("categories.toml")
FALLBACK = "core"
_KEYS = {"label", "description", "patterns", "csv", "prod", "flag"}


@dataclass(frozen=True)
class Category:
    name: str
    label: str
    patterns: tuple[str, ...]
    csv: bool
    prod: bool
    description: str = ""
    flag: str | None = None


@dataclass
class CategoryMap:
    categories: dict[str, Category]
    source: str
    _compiled: list[tuple[tuple[int, int, int], re.Pattern[str], str, str]] = field(default_factory=list)
    _memo: dict[tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for cat in self.categories.values():
            for pat in cat.patterns:
                schema_part, _, table_part = pat.partition(".")
                key = (_wild(table_part), _wild(schema_part), -len(pat))
                rx = re.compile(fnmatch.translate(pat), re.DOTALL)
                self._compiled.append((key, rx, cat.name, pat))
        self._compiled.sort(key=lambda c: c[0])  # stable: file order breaks ties

    def classify(self, schema: str, table: str) -> str:
        hit = self._memo.get((schema, table))
        if hit is None:
            hit = self._memo[(schema, table)] = self._classify(f"{schema}.{table}")
        return hit

    def _classify(self, name: str) -> str:
        for _, rx, cat, _pat in self._compiled:
            if rx.match(name):
                return cat
        return FALLBACK if FALLBACK in self.categories else next(iter(self.categories))

    def unmatched_patterns(self, names: list[tuple[str, str]]) -> list[str]:
        """Patterns that match no table: worth a warning, since a typo silently moves data."""
        joined = [f"{s}.{t}" for s, t in names]
        return [p for _, rx, _c, p in self._compiled if not any(rx.match(n) for n in joined)]


def _wild(part: str) -> int:
    return sum(part.count(c) for c in "*?[")


def load(path: str | Path | None = None) -> CategoryMap:
    src = Path(path) if path else DEFAULT_FILE
    try:
        raw = tomllib.loads(src.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"category file not found: {src}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read category file {src}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"category file {src} is not valid TOML: {e}") from None
    cats: dict[str, Category] = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            raise UsageError(f"category file {src}: '{name}' must be a table like [{name}]")
        unknown = set(spec) - _KEYS
        if unknown:
            raise UsageError(f"category file {src}: unknown key(s) {', '.join(sorted(unknown))} in [{name}]")
        pats = spec.get("patterns", [])
        if not isinstance(pats, list) or not all(isinstance(p, str) and "." in p for p in pats):
            raise UsageError(f"category file {src}: [{name}] patterns must be a list of 'schema.table' strings")
        for key in ("csv", "prod"):
            if key in spec and not isinstance(spec[key], bool):
                raise UsageError(f"category file {src}: [{name}] {key} must be true or false")
        cats[name] = Category(
            name=name,
            label=str(spec.get("label", name)),
            patterns=tuple(pats),
            csv=bool(spec.get("csv", False)),
            prod=bool(spec.get("prod", True)),
            description=str(spec.get("description", "")),
            flag=spec.get("flag"),
        )
    if not cats:
        raise UsageError(f"category file {src} defines no category")
    return CategoryMap(cats, str(src))
