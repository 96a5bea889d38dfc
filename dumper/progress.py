"""Progress a person can watch: a tqdm bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Progress:
    def __init__(self, *, enabled: bool, stream: TextIO | None = None, interval_s: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self.interval = interval_s
        self._bar: Any = None
        self._tables = 0
        self._done = 0
        self._bytes = 0
        self._t0 = time.monotonic()
        self._last = self._t0

    def start_tables(self, count: int, estimated_bytes: int) -> None:
        self._tables = count
        self._t0 = self._last = time.monotonic()
        if self.tty and count:
            from tqdm import tqdm

            self._bar = tqdm(total=max(estimated_bytes, 1), unit="B", unit_scale=True, unit_divisor=1024,
                             desc=f"tables 0/{count}", file=self.stream, leave=False, dynamic_ncols=True)

    def bytes_done(self, n: int) -> None:
        self._bytes += n
        if self._bar is not None:
            if self._bar.n + n > self._bar.total:
                self._bar.total = self._bar.n + n
            self._bar.update(n)
        elif self.enabled:
            self._maybe_line()

    def table_done(self, name: str, rows: int) -> None:
        self._done += 1
        if self._bar is not None:
            self._bar.set_description(f"tables {self._done}/{self._tables}", refresh=False)
        elif self.enabled:
            self._maybe_line()

    def _maybe_line(self) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            rate = self._bytes / max(now - self._t0, 1e-9) / 1e6
            print(f"pydump: {self._done}/{self._tables} tables, {self._bytes / 1e6:.1f} MB, {rate:.1f} MB/s",
                  file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
