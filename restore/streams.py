"""Decompressing readers for the backup script: gzip (many members), zstd (many frames), plain.

Why not ``gzip.open`` / ``zstandard``'s ``stream_reader``:

* the dumper's parallel workers compress independently, so a script is a concatenation of
  gzip members or zstd frames; both formats define that as one valid stream, and we must
  read across the boundaries;
* ``stream_reader(read_across_frames=True)`` silently returns EOF on a truncated last frame,
  and a restore (and ``--check``) must notice truncation. So zstd is read frame by frame with
  ``decompressobj()`` whose ``eof`` tells whether the frame ended;
* zlib's (or ISA-L's, when installed) ``decompressobj(wbits=47)`` (auto-detect gzip/zlib header, 32 KiB window) checks each
  gzip member's CRC-32 and ISIZE trailer and exposes ``unused_data`` (the next member) and
  ``unconsumed_tail`` (so ``max_length`` bounds the output per call: a run of zeros that
  compresses 1000:1 cannot blow up memory).

Every reader offers ``read(n) -> bytes`` (``b""`` only at a verified end of stream) and
``compressed_pos`` (bytes of the file consumed so far, for progress bars whose total is the
file size).
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import BinaryIO, Protocol

from dumper.errors import ScriptError

try:  # ISA-L inflates about twice as fast as zlib and verifies the same CRC-32/ISIZE trailers
    from isal import isal_zlib as _inflate
except ImportError:  # optional dependency (pydump[fast])
    _inflate = zlib  # type: ignore[no-redef]

#: Bytes read from the file per refill. Small enough that a zstd frame's output per call stays
#: modest, big enough that the Python overhead per call is negligible.
INPUT_CHUNK = 64 * 1024


class ByteSource(Protocol):
    """What the script reader needs: bounded reads of decompressed bytes."""

    compressed_pos: int

    def read(self, n: int) -> bytes: ...

    def close(self) -> None: ...


class PlainSource:
    """An uncompressed file."""

    def __init__(self, fh: BinaryIO, name: str) -> None:
        self._fh = fh
        self.name = name
        self.compressed_pos = 0

    def read(self, n: int) -> bytes:
        data = self._fh.read(n)
        self.compressed_pos += len(data)
        return data

    def close(self) -> None:
        self._fh.close()


class GzipSource:
    """Concatenated gzip members, each one's CRC and length checked by zlib."""

    def __init__(self, fh: BinaryIO, name: str) -> None:
        self._fh = fh
        self.name = name
        self.compressed_pos = 0
        self._d = _inflate.decompressobj(wbits=47)
        self._pending = b""      # compressed input not yet handed to the decompressor
        self._in_member = False  # True once a member has started and not yet reached its trailer
        self._eof = False
        self.members = 0

    def _next_input(self) -> bytes:
        data = self._fh.read(INPUT_CHUNK)
        self.compressed_pos += len(data)
        return data

    def read(self, n: int) -> bytes:
        if self._eof:
            return b""
        while True:
            d = self._d
            if d.unconsumed_tail:
                src = d.unconsumed_tail
            elif self._pending:
                src, self._pending = self._pending, b""
            else:
                src = self._next_input()
                if not src:
                    if self._in_member:
                        raise ScriptError(f"{self.name}: truncated gzip stream (member {self.members + 1} has no end)")
                    if self.members == 0:
                        raise ScriptError(f"{self.name}: empty file, not a gzip stream")
                    self._eof = True
                    return b""
            self._in_member = True
            try:
                out = d.decompress(src, n)
            except (_inflate.error, zlib.error) as exc:
                raise ScriptError(f"{self.name}: corrupt gzip data in member {self.members + 1}: {exc}") from None
            if d.eof:
                # Member complete and its trailer verified; what follows may be another member.
                self.members += 1
                self._in_member = False
                rest = d.unused_data
                self._d = _inflate.decompressobj(wbits=47)
                if rest:
                    self._pending = rest
            if out:
                return out

    def close(self) -> None:
        self._fh.close()


class ZstdSource:
    """Concatenated zstd frames, read one frame at a time so truncation is detectable."""

    def __init__(self, fh: BinaryIO, name: str) -> None:
        import zstandard

        self._zstd = zstandard
        self._dctx = zstandard.ZstdDecompressor()
        self._fh = fh
        self.name = name
        self.compressed_pos = 0
        self._d = self._dctx.decompressobj()
        self._pending = b""
        self._in_frame = False
        self._out = b""
        self._out_pos = 0
        self._eof = False
        self.frames = 0

    def read(self, n: int) -> bytes:
        while self._out_pos >= len(self._out):
            if self._eof:
                return b""
            self._out, self._out_pos = self._decompress_some(), 0
        start = self._out_pos
        self._out_pos = min(len(self._out), start + n)
        return self._out[start:self._out_pos]

    def _decompress_some(self) -> bytes:
        """Feed at most one input chunk; returns b"" when that produced nothing (loop again)."""
        if self._pending:
            src, self._pending = self._pending, b""
        else:
            src = self._fh.read(INPUT_CHUNK)
            self.compressed_pos += len(src)
            if not src:
                if self._in_frame:
                    raise ScriptError(f"{self.name}: truncated zstd stream (frame {self.frames + 1} has no end)")
                if self.frames == 0:
                    raise ScriptError(f"{self.name}: empty file, not a zstd stream")
                self._eof = True
                return b""
        self._in_frame = True
        try:
            out = self._d.decompress(src)
        except self._zstd.ZstdError as exc:
            raise ScriptError(f"{self.name}: corrupt zstd data in frame {self.frames + 1}: {exc}") from None
        if self._d.eof:
            self.frames += 1
            self._in_frame = False
            rest = self._d.unused_data
            self._d = self._dctx.decompressobj()
            if rest:
                self._pending = rest
        return out

    def close(self) -> None:
        self._fh.close()


def compression_of(path: str | os.PathLike[str]) -> str:
    """Name the compression by file name, as FORMAT.md fixes it: ``.gz``, ``.zst``, else none."""
    name = os.fspath(path)
    if name.endswith(".gz"):
        return "gzip"
    if name.endswith((".zst", ".zstd")):
        return "zstd"
    return "none"


def open_source(path: str | os.PathLike[str]) -> ByteSource:
    """Open a script file for decompressed, bounded reads. Raises ``ScriptError`` if unreadable."""
    p = Path(path)
    try:
        fh: BinaryIO = open(p, "rb")
    except OSError as exc:
        raise ScriptError(f"cannot open {p}: {exc.strerror or exc}") from None
    kind = compression_of(p)
    if kind == "gzip":
        return GzipSource(fh, p.name)
    if kind == "zstd":
        return ZstdSource(fh, p.name)
    return PlainSource(fh, p.name)
