"""Where the bytes go: compressed script files and CSV files.

A :class:`CompressedFile` compresses and writes on its own thread behind a bounded queue:
zlib, isal and zstandard release the GIL while they work, so reading COPY data and
compressing it use two cores, and the queue bound keeps memory flat however fast the server
sends. Every file is created ``0600`` and ``O_EXCL`` (backups hold password hashes and
tokens) and fsynced before it is reported written. Compression formats concatenate: many
gzip members are one valid ``.gz`` file and many zstd frames one valid ``.zst`` stream, so
workers can compress independently and their outputs simply be appended.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import re
import threading
import zlib
from pathlib import Path
from typing import Any, Callable, Protocol

from dumper.errors import OutputError

try:  # ISA-L's gzip is several times faster than zlib at similar ratios; optional.
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover
    _isal = None

_QUEUE_CHUNKS = 16  # × ~256 kB chunks: the most a writer may hold in memory


class Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


SUFFIX = {"gzip": ".gz", "zstd": ".zst", "none": ""}


def default_level(method: str) -> int:
    if method == "gzip":
        return 2 if _isal is not None else 1
    if method == "zstd":
        return 3
    return 0


def gzip_engine() -> str:
    return "isal" if _isal is not None else "zlib"


def make_compressor(method: str, level: int) -> Compressor | None:
    if method == "gzip":
        if _isal is not None and level <= 3:
            return _isal.compressobj(level, _isal.DEFLATED, 31)  # type: ignore[no-any-return]
        return zlib.compressobj(level, zlib.DEFLATED, 31)
    if method == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=level).compressobj()  # type: ignore[no-any-return]
    return None


def open_private(path: Path) -> int:
    """Create a new file readable by its owner only; never follow or reuse an existing one."""
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as e:
        raise output_error(e, path) from None


def output_error(e: OSError, path: Path | str) -> OutputError:
    if e.errno == errno.ENOSPC:
        return OutputError(f"no space left on device while writing {path}")
    if e.errno == errno.EDQUOT:
        return OutputError(f"disk quota exceeded while writing {path}")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"cannot write {path}: permission denied")
    return OutputError(f"cannot write {path}: {e.strerror or e}")


class CompressedFile:
    """A file written by a background thread, optionally compressed, hashed as it is written."""

    def __init__(self, path: Path, method: str = "none", level: int = 0, *, threaded: bool = True) -> None:
        self.path = path
        self.fd = open_private(path)
        self.comp = make_compressor(method, level)
        self.sha = hashlib.sha256()
        self.bytes_in = 0
        self.bytes_out = 0
        self.error: BaseException | None = None
        self._q: queue.Queue[bytes | None] | None = None
        self._t: threading.Thread | None = None
        if threaded:
            self._q = queue.Queue(_QUEUE_CHUNKS)
            self._t = threading.Thread(target=self._run, name=f"writer:{path.name}", daemon=True)
            self._t.start()

    # -- producer side --------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.error is not None:
            self._raise()
        self.bytes_in += len(data)
        if self._q is None:
            self._consume(data)
            return
        while True:
            try:
                self._q.put(data, timeout=0.5)
                return
            except queue.Full:
                if self.error is not None or (self._t is not None and not self._t.is_alive()):
                    self._raise()

    def close(self) -> None:
        """Flush, fsync and close; raise the writer's error if it had one."""
        if self._q is not None and self._t is not None:
            while self._t.is_alive():
                try:
                    self._q.put(None, timeout=0.5)
                    break
                except queue.Full:
                    continue
            self._t.join()
        else:
            self._finish()
        if self.error is not None:
            self._raise()

    def abort(self) -> None:
        if self._q is not None and self._t is not None and self._t.is_alive():
            self.error = self.error or OutputError("aborted")
            try:
                while True:
                    self._q.get_nowait()
            except queue.Empty:
                pass
            try:
                self._q.put_nowait(None)
            except queue.Full:
                pass
            self._t.join(timeout=5)
        try:
            os.close(self.fd)
        except OSError:
            pass

    def _raise(self) -> None:
        err = self.error
        if isinstance(err, OutputError):
            raise err
        if isinstance(err, OSError):
            raise output_error(err, self.path)
        raise OutputError(f"cannot write {self.path}: {err}")

    # -- writer side -----------------------------------------------------------------------
    def _run(self) -> None:
        assert self._q is not None
        try:
            while True:
                data = self._q.get()
                if data is None:
                    break
                if self.error is None:
                    self._consume(data)
            if self.error is None:
                self._finish()
        except BaseException as e:  # reported to the producer on its next call
            self.error = e
            try:  # unblock a producer waiting on a full queue
                while True:
                    self._q.get_nowait()
            except queue.Empty:
                pass

    def _consume(self, data: bytes) -> None:
        out = self.comp.compress(data) if self.comp is not None else data
        if out:
            self._write_raw(out)

    def _finish(self) -> None:
        if self.comp is not None:
            tail = self.comp.flush()
            if tail:
                self._write_raw(tail)
        os.fsync(self.fd)
        os.close(self.fd)

    def _write_raw(self, out: bytes | memoryview) -> None:
        self.sha.update(out)
        view = memoryview(out)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.bytes_out += len(out)


# -- COPY text → CSV -------------------------------------------------------------------------
_ESCAPES = {b"\\": b"\\", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"v": b"\v"}
_ESC_RX = re.compile(rb"\\(.)", re.DOTALL)


def _unescape(m: re.Match[bytes]) -> bytes:
    return _ESCAPES.get(m.group(1), m.group(1))


def text_to_csv(chunk: bytes) -> bytes:
    """COPY text format (whole lines) → CSV with every non-NULL field quoted.

    Works on whole chunks with C-level passes (no per-row Python): double the quotes, turn
    tabs and newlines into field and record boundaries, drop the quotes around the ``\\N``
    NULL marker (an unescaped ``\\N`` can only ever be a whole NULL field), then undo the
    text format's backslash escapes.
    """
    if not chunk:
        return b""
    body = chunk.replace(b'"', b'""').replace(b"\t", b'","').replace(b"\n", b'"\n"')
    body = b'"' + body[:-1]  # the last record's trailing '"' opened a record that is not there
    body = body.replace(b'"\\N"', b"")
    if b"\\" in body:
        body = _ESC_RX.sub(_unescape, body)
    return body


def csv_header(columns: list[str]) -> bytes:
    return (",".join('"' + c.replace('"', '""') + '"' for c in columns) + "\n").encode()


class CsvSink:
    """Turns a table's COPY text stream into a CSV file, line-aligned across chunk edges."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.file = CompressedFile(path, "none", threaded=False)
        self.file.write(csv_header(columns))
        self._carry = b""

    def write(self, chunk: bytes) -> None:
        data = self._carry + chunk if self._carry else chunk
        cut = data.rfind(b"\n") + 1
        self._carry = data[cut:]
        if cut:
            self.file.write(text_to_csv(data[:cut]))

    def close(self) -> None:
        if self._carry:
            self.file.write(text_to_csv(self._carry + b"\n"))
            self._carry = b""
        self.file.close()

    def abort(self) -> None:
        self.file.abort()


def sha256_file(path: Path, bufsize: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(bufsize)
            if not b:
                return h.hexdigest()
            h.update(b)


def write_private(path: Path, data: bytes) -> None:
    fd = open_private(path)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except OSError as e:
        raise output_error(e, path) from None
    finally:
        os.close(fd)


Writer = Callable[[bytes], Any]
