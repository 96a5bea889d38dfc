"""What the user reads at the end: the spec's summary, or one JSON object with ``--json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


def human_size(n: int) -> str:
    """Sizes the way ``du -h`` prints them (1024-based, rounded up, one decimal below 10)."""
    units = ["B", "K", "M", "G", "T", "P"]
    size = float(n)
    unit = 0
    while size >= 1024 and unit < len(units) - 1:
        size /= 1024
        unit += 1
    if unit == 0:
        return f"{n}B"
    if size < 10:
        tenths = -(-int(size * 10 * 1000) // 1000)  # ceil to one decimal
        return f"{tenths / 10:.1f}{units[unit]}"
    return f"{-(-int(size * 1000) // 1000)}{units[unit]}"


@dataclass
class Summary:
    backup_dir: str
    dump_file: str
    dump_bytes: int
    size_bytes: int
    duration_s: float
    mode: str
    created: str
    tables: int
    rows: int
    csv_files: int
    warnings: list[str] = field(default_factory=list)
    ok: bool = True
    #: (label, tables left out) per category the run excluded (``--prod``, ``--no-auth``, ...)
    excluded: list[tuple[str, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` object (and :func:`dumper.api.backup`'s return value)."""
        return {
            "ok": self.ok, "backup_dir": self.backup_dir, "dump_file": self.dump_file,
            "dump_bytes": self.dump_bytes, "size_bytes": self.size_bytes, "duration_s": self.duration_s,
            "mode": self.mode, "created": self.created, "tables": self.tables, "rows": self.rows,
            "csv_files": self.csv_files, "warnings": self.warnings,
            "excluded_categories": [{"label": label, "tables": n} for label, n in self.excluded],
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.as_dict())

    def render(self) -> str:
        """The spec's summary, plus what none of its lines says: the categories left out and
        how many warnings there were. The warnings themselves were printed on stderr as they
        happened; repeating them here printed each one twice."""
        csv_line = (
            "   ✅ data/*.csv (critical tables)" if self.csv_files else "   ➖ data/*.csv (no critical tables selected)"
        )
        lines = [
            "✅ Database Backup Created Successfully",
            "",
            "📦 Backup Location:",
            f"   {self.backup_dir.rstrip('/')}/",
            "",
            "📊 Backup Contents:",
            f"   ✅ {self.dump_file} (database dump)",
            csv_line,
            "   ✅ restore.sh (quick restore)",
            "   ✅ restore-full.sh (full restore)",
            "   ✅ metadata.json (backup info)",
            "   ✅ row_counts.json (verification)",
            "",
            "📈 Backup Details:",
            f"   Size: {human_size(self.dump_bytes)} ({'compressed' if not self.dump_file.endswith('.sql') else 'uncompressed'})",
            f"   Duration: {duration_text(self.duration_s)}",
            f"   Mode: {self.mode}",
        ]
        if self.excluded:
            lines.append("   Excluded: " + ", ".join(
                f"{label} ({n} table{'s' if n != 1 else ''})" for label, n in self.excluded))
        if self.warnings:
            n = len(self.warnings)
            lines.append(f"   Warnings: {n} (printed above on stderr)")
        lines += ["", f"🕐 Created: {self.created}"]
        return "\n".join(lines) + "\n"


def duration_text(seconds: float) -> str:
    """``0.4 s`` under 10 s (a whole-second rounding said "0 seconds" for most runs), the
    spec's ``7 seconds`` style above."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    secs = round(seconds)
    return f"{secs} seconds"
