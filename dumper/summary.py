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

    def to_json(self) -> bytes:
        d: dict[str, Any] = {
            "ok": self.ok, "backup_dir": self.backup_dir, "dump_file": self.dump_file,
            "dump_bytes": self.dump_bytes, "size_bytes": self.size_bytes, "duration_s": self.duration_s,
            "mode": self.mode, "created": self.created, "tables": self.tables, "rows": self.rows,
            "csv_files": self.csv_files, "warnings": self.warnings,
        }
        return orjson.dumps(d)

    def render(self) -> str:
        secs = round(self.duration_s)
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
            f"   Duration: {secs} second{'s' if secs != 1 else ''}",
            f"   Mode: {self.mode}",
            "",
            f"🕐 Created: {self.created}",
        ]
        if self.warnings:
            lines += ["", "⚠️  Warnings:"] + [f"   - {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"
