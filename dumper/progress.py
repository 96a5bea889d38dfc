"""Progress a person can watch: a tqdm bar on a terminal, plain periodic lines otherwise.

The bar counts bytes read from the server against the tables' on-disk size (an estimate:
COPY text is usually a little smaller than the heap and TOAST it comes from), so tqdm's
rate and ETA are meaningful; the description counts finished tables. Parallel workers
report from their own threads, hence the lock. ``enabled=False`` (``--quiet``, ``--json``)
prints nothing at all: stdout then carries only the JSON summary, stderr only errors.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, TextIO


class Progress:
    def __init__(self, *, enabled: bool, stream: TextIO | None = None, interval_s: float | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        if interval_s is None:  # PYDUMP_PROGRESS_INTERVAL: seconds between plain lines (tests use 0)
            try:
                interval_s = float(os.environ.get("PYDUMP_PROGRESS_INTERVAL", "10"))
            except ValueError:
                interval_s = 10.0
        self.interval = interval_s
        self._bar: Any = None
        self._tables = 0
        self._done = 0
        self._bytes = 0
        self._estimate = 0
        self._t0 = time.monotonic()
        self._last = self._t0
        self._lock = threading.Lock()

    def start_tables(self, count: int, estimated_bytes: int) -> None:
        self._tables = count
        self._estimate = estimated_bytes
        self._t0 = self._last = time.monotonic()
        if self.tty and count:
            from tqdm import tqdm

            self._bar = tqdm(total=max(estimated_bytes, 1), unit="B", unit_scale=True, unit_divisor=1024,
                             desc=f"tables 0/{count}", file=self.stream, leave=False, dynamic_ncols=True,
                             mininterval=0.5)

    def bytes_done(self, n: int) -> None:
        with self._lock:
            self._bytes += n
            if self._bar is not None:
                if self._bar.n + n > self._bar.total:
                    self._bar.total = self._bar.n + n
                self._bar.update(n)
            elif self.enabled:
                self._maybe_line()

    def table_done(self, name: str, rows: int) -> None:
        with self._lock:
            self._done += 1
            if self._bar is not None:
                self._bar.set_description(f"tables {self._done}/{self._tables}", refresh=False)
            elif self.enabled:
                self._maybe_line()

    def _maybe_line(self) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            elapsed = max(now - self._t0, 1e-9)
            rate = self._bytes / elapsed
            left = max(self._estimate - self._bytes, 0)
            eta = f", ETA {left / rate:.0f} s" if rate > 0 and left else ""
            print(f"pydump: {self._done}/{self._tables} tables, {self._bytes / 1e6:.1f} MB, {rate / 1e6:.1f} MB/s{eta}",
                  file=self.stream, flush=True)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None


def peak_rss_mb() -> float | None:
    """This process's peak resident set size in MiB (``VmHWM``), for metadata.json.

    ``/proc/self/status`` is read rather than ``getrusage``: after ``exec`` Linux seeds
    ``ru_maxrss`` with the parent's peak (a pytest or benchmark driver of 100+ MB), while
    ``VmHWM`` belongs to the new address space only.
    """
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    try:
        import resource
        import sys as _sys

        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(r / (1024 * 1024 if _sys.platform == "darwin" else 1024), 1)
    except (ImportError, OSError):
        return None
