"""Progress output: a tqdm bar per phase on a terminal, plain periodic lines otherwise.

A bar is only useful to a person watching a terminal; in CI logs and pipes it turns into
carriage-return noise, so there we print a short line every few seconds instead. ``--quiet``
and ``--json`` silence both (``--json`` keeps stderr free for errors and stdout for the one
JSON object).
"""
from __future__ import annotations

import sys
import time
from typing import Literal, TextIO

Mode = Literal["bar", "lines", "off"]

#: Seconds between two plain progress lines.
LINE_INTERVAL = 5.0


def choose_mode(*, quiet: bool, json_output: bool, stream: TextIO | None = None) -> Mode:
    """bar on a TTY, lines otherwise, off with --quiet/--json."""
    if quiet or json_output:
        return "off"
    s = stream or sys.stderr
    try:
        return "bar" if s.isatty() else "lines"
    except (AttributeError, ValueError):
        return "lines"


class Phase:
    """One phase (statements, tables, bytes...): ``update(pos)`` with an absolute position."""

    def __init__(self, progress: "Progress", name: str, total: int | None, unit: str) -> None:
        self._p = progress
        self.name = name
        self.total = total
        self.unit = unit
        self.pos = 0
        self.note = ""
        self._bar = None
        self._last_line = time.monotonic()
        self._started = time.monotonic()
        if progress.mode == "bar":
            from tqdm import tqdm

            scale = unit == "B"
            self._bar = tqdm(total=total, desc=name, unit=unit, unit_scale=scale, unit_divisor=1024 if scale else 1000,
                             file=progress.stream, leave=True, dynamic_ncols=True, mininterval=0.2)

    def update(self, pos: int, note: str | None = None) -> None:
        """Move to absolute position ``pos``; ``note`` names what is being done right now."""
        if note is not None:
            self.note = note
        delta = pos - self.pos
        self.pos = pos
        if self._bar is not None:
            if delta:
                self._bar.update(delta)
            if note is not None:
                self._bar.set_postfix_str(note[:40], refresh=False)
        elif self._p.mode == "lines":
            now = time.monotonic()
            if now - self._last_line >= self._p.interval:
                self._last_line = now
                self._p.line(f"{self.name}: {self._fmt()}" + (f" ({self.note})" if self.note else ""))

    def _fmt(self) -> str:
        def f(v: int) -> str:
            if self.unit == "B":
                return _human_bytes(v)
            return f"{v}"
        if self.total:
            return f"{f(self.pos)}/{f(self.total)} {'' if self.unit == 'B' else self.unit} ({100 * self.pos / self.total:.0f}%)".replace("  ", " ")
        return f"{f(self.pos)} {self.unit}"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._p.mode == "lines":
            took = time.monotonic() - self._started
            self._p.line(f"{self.name}: done, {self._fmt()} in {took:.1f}s")


class Progress:
    """Factory of phases plus plain message lines, honouring the chosen mode."""

    def __init__(self, mode: Mode, stream: TextIO | None = None, interval: float = LINE_INTERVAL) -> None:
        self.mode = mode
        self.stream = stream or sys.stderr
        self.interval = interval

    def phase(self, name: str, total: int | None = None, unit: str = "it") -> Phase:
        return Phase(self, name, total, unit)

    def line(self, text: str) -> None:
        """A progress/info line (not shown with --quiet/--json)."""
        if self.mode == "off":
            return
        if self.mode == "bar":
            from tqdm import tqdm

            tqdm.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
