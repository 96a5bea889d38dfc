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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from dumper.errors import OutputError

try:  # ISA-L's gzip is several times faster than zlib at similar ratios; optional.
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover
    _isal = None

_QUEUE_BYTES = 4 << 20  # the most a writer holds queued, whatever the chunk (row) sizes


class Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


def default_level(method: str) -> int:
    """Defaults chosen by measurement (benchmarks/RESULTS.md, 2-core x86_64, an 83 MB
    pg_dump-style script of pgbench, jsonb/bytea and md5-text tables), against the size of
    ``gzip -6``: isal 1 compressed at ~200 MB/s to 0.95× (isal 2: 0.96×, isal 3: 0.96× at
    half the speed); zlib 1 at ~80 MB/s to 1.07× (zlib 6: 21 MB/s). zstd 1 ran at ~200 MB/s
    to 0.76×, zstd 3 at ~55 MB/s to 0.73×: the small gain does not pay for 4× the CPU.
    """
    if method == "gzip":
        return 1
    if method == "zstd":
        return 1
    return 0


def gzip_engine(level: int | None = None) -> str:
    """Which library writes gzip at ``level``: ISA-L only has levels 0-3, zlib the rest."""
    return "isal" if _isal is not None and (level is None or level <= 3) else "zlib"


def make_compressor(method: str, level: int) -> Compressor | None:
    if method == "gzip":
        if _isal is not None and level <= 3:
            return _isal.compressobj(level, _isal.DEFLATED, 31)  # type: ignore[no-any-return]
        return zlib.compressobj(level, zlib.DEFLATED, 31)
    if method == "zstd":
        import zstandard

        # write_checksum: a flipped byte must fail decompression, not decode into wrong data.
        return zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()  # type: ignore[no-any-return]
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


@dataclass(frozen=True)
class _Splice:
    """Queue marker: append the finished file ``path`` byte for byte, then delete it."""

    path: Path


class CompressedFile:
    """A file written by a background thread, optionally compressed.

    The compressed output is a sequence of independent gzip members (zstd frames): a new
    one starts lazily after every :meth:`append_file`, because a spliced-in block written by
    a parallel worker is itself a complete member, and concatenated members are one valid
    stream for gunzip, zstd and pyrestore. A member is never started for zero bytes, so
    no empty gzip members (20 bytes each) pile up between spliced blocks.
    """

    def __init__(self, path: Path, method: str = "none", level: int = 0, *, threaded: bool = True,
                 fsync: bool = True) -> None:
        self.path = path
        self.fd = open_private(path)
        self.method = method
        self.level = level
        self.comp: Compressor | None = None
        self.fsync = fsync
        self.bytes_in = 0
        self.bytes_out = 0
        self.sha = hashlib.sha256()  # on the writer thread; hashlib releases the GIL for big buffers
        self.error: BaseException | None = None
        self._q: queue.Queue[bytes | bytearray | _Splice | None] | None = None
        self._t: threading.Thread | None = None
        # The queue is bounded in bytes, not items: one COPY row can be many megabytes, and
        # 16 such "chunks" would be 16 rows' worth of memory.
        self._room = threading.Condition()
        self._queued = 0
        if threaded:
            self._q = queue.Queue()
            self._t = threading.Thread(target=self._run, name=f"writer:{path.name}", daemon=True)
            self._t.start()

    # -- producer side --------------------------------------------------------------------
    def write(self, data: bytes | bytearray) -> None:
        """Queue ``data`` for writing; a ``bytearray`` (a COPY chunk) becomes the writer's and
        must not be changed afterwards."""
        if self.error is not None:
            self._raise()
        self.bytes_in += len(data)
        self._put(data)

    spliced = False

    def digest(self) -> tuple[int, str] | None:
        """(bytes, sha256) of what was written, known without reading the file back, if known."""
        return None if self.spliced else (self.bytes_out, self.sha.hexdigest())

    def append_file(self, path: Path) -> None:
        """Append a finished file (a worker's compressed block) after what was written so far.

        The current member is closed first; the file's bytes are copied in the kernel
        (``copy_file_range``), never recompressed, and the file is removed afterwards.
        """
        if self.error is not None:
            self._raise()
        self._put(_Splice(path))

    def _put(self, item: bytes | bytearray | _Splice) -> None:
        if self._q is None:
            self._consume(item)
            return
        n = 0 if isinstance(item, _Splice) else len(item)
        with self._room:
            # Always admit one item into an empty queue, so a row larger than the budget passes.
            while self._queued and self._queued + n > _QUEUE_BYTES:
                self._room.wait(0.5)
                if self.error is not None or (self._t is not None and not self._t.is_alive()):
                    self._raise()
            self._queued += n
        self._q.put(item)

    def close(self) -> None:
        """Flush, fsync and close; raise the writer's error if it had one."""
        if self._q is not None and self._t is not None:
            self._q.put(None)
            self._t.join()
        elif self.error is None:
            try:
                self._finish()
            except BaseException as e:
                self.error = e
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
            self._q.put(None)
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
                if not isinstance(data, _Splice):
                    with self._room:
                        self._queued -= len(data)
                        self._room.notify()
            if self.error is None:
                self._finish()
        except BaseException as e:  # reported to the producer on its next call
            self.error = e
            with self._room:  # unblock a producer waiting for room
                self._queued = 0
                self._room.notify_all()

    def _consume(self, data: bytes | bytearray | _Splice) -> None:
        if isinstance(data, _Splice):
            self._end_member()
            self.spliced = True  # these bytes bypass self.sha: the in-flight digest is void
            self.bytes_out += append_file(self.fd, data.path)
            os.unlink(data.path)
            return
        if not data:
            return
        if self.method == "none":
            self._write_raw(data)
            return
        if self.comp is None:
            self.comp = make_compressor(self.method, self.level)
            assert self.comp is not None
        out = self.comp.compress(data)
        if out:
            self._write_raw(out)

    def _end_member(self) -> None:
        if self.comp is not None:
            tail = self.comp.flush()
            self.comp = None
            if tail:
                self._write_raw(tail)

    def _finish(self) -> None:
        self._end_member()
        if self.fsync:
            os.fsync(self.fd)
        os.close(self.fd)

    def _write_raw(self, out: bytes | bytearray | memoryview) -> None:
        self.sha.update(out)
        view = memoryview(out)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.bytes_out += len(out)


def append_file(dst_fd: int, src: Path) -> int:
    """Append all of ``src`` at ``dst_fd``'s position; return the byte count.

    ``copy_file_range`` keeps the bytes in the kernel (and may share extents on CoW file
    systems); where it is missing or refuses (old kernels, cross-device, some FUSE/overlay
    file systems) ``sendfile`` and finally a plain 1 MiB read/write loop do the same job.
    """
    total = 0
    with open(src, "rb") as f:
        fin = f.fileno()
        size = os.fstat(fin).st_size
        for how in ("copy_file_range", "sendfile"):
            fn = getattr(os, how, None)
            if fn is None:
                continue
            try:
                while total < size:
                    n = fn(fin, dst_fd, size - total) if how == "copy_file_range" else fn(dst_fd, fin, None, size - total)
                    if n == 0:
                        break
                    total += n
                if total >= size:
                    return total
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF, errno.ETXTBSY):
                    raise
        f.seek(total)
        while True:
            b = f.read(1 << 20)
            if not b:
                return total
            view = memoryview(b)
            while view:
                n = os.write(dst_fd, view)
                view = view[n:]
            total += len(b)


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


def csv_header(columns: list[str], encoding: str = "utf-8") -> bytes:
    """The header row, in the encoding of the rows below it (the dump's, a Python codec name)."""
    return (",".join('"' + c.replace('"', '""') + '"' for c in columns) + "\n").encode(encoding)


class CsvSink:
    """Turns a table's COPY text stream into a CSV file, line-aligned across chunk edges."""

    def __init__(self, path: Path, columns: list[str], *, header: bool = True, fsync: bool = True,
                 encoding: str = "utf-8") -> None:
        """``header=False`` for the later parts of a range-split table: the leader appends
        them, in range order, to the file the first part started, so one header heads it.
        ``encoding``: the Python codec of the session's client_encoding, so the header's names
        are in the same encoding as the COPY rows (which pass through as bytes)."""
        self.path = path
        self.file = CompressedFile(path, "none", threaded=False, fsync=fsync)
        if header:
            self.file.write(csv_header(columns, encoding))
        self._carry = b""

    def write(self, chunk: bytes | bytearray) -> None:
        data = self._carry + chunk if self._carry else bytes(chunk)
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
