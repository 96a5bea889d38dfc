"""Streaming reader of a plain SQL script: statements and ``COPY ... FROM stdin`` blocks.

The reader works on *bytes*, never on decoded text, for three reasons:

* COPY data dominates a dump and must reach the server untouched, chunk by chunk, with no
  per-row Python work; scanning it as bytes (``bytearray.find`` for the ``\\.`` terminator)
  runs at memory speed;
* every byte that matters to the SQL lexer (quotes, ``$``, ``;``, ``-``, ``/``, ``*``,
  backslash, newline) is ASCII, and in UTF-8 (and every server encoding allowed as client
  encoding) no byte of a multi-byte character is ASCII, so byte-level lexing is exact;
* statements are sent to the server as the very bytes of the script, so the encoding the
  script declares with ``SET client_encoding`` is honoured by the server, not guessed by us.

Lexing follows PostgreSQL's scanner (``scan.l``) as far as statement splitting needs it:
``'...'`` with ``''`` (no backslash escapes: dumps set ``standard_conforming_strings = on``),
``E'...'`` with backslash escapes, ``"..."`` with ``""``, dollar quoting ``$tag$...$tag$``
(a ``$`` right after an identifier character belongs to the identifier, ``$1`` is a
parameter), ``--`` comments to end of line, nested ``/* */`` comments. A ``;`` outside all of
those ends a statement.

The ``-- pydump-entry: N`` comment lines between statements set the TOC entry of the items
that follow. Memory is bounded by the largest single statement plus one read chunk, whatever
the size of the script or of a table.

This module is pyrestore's one SQL lexer: besides splitting the stream, it tokenizes one
statement (:func:`tokenize`, for ``--role-map``), blanks quoted text (:func:`without_quoted`,
for keyword tests that names and strings must not fool) and reads a COPY statement's table
(:func:`copy_table`, for ``--check``), all with the same quoting rules.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from dumper.errors import ScriptError
from dumper.format.layout import ENTRY_MARKER_RE
from dumper.format.names import table_key
from restore.streams import ByteSource, open_source

#: Decompressed bytes requested from the source per refill; also the upper bound of a COPY chunk.
READ_SIZE = 1 << 20

MetaMode = Literal["error", "skip", "yield"]

_WS = re.compile(rb"[ \t\r\n\f\v]*")
_ENTRY = ENTRY_MARKER_RE
_SPECIAL = re.compile(rb"[;'\"$/-]")
_SQ_ESC = re.compile(rb"['\\]")
_BLOCK = re.compile(rb"/\*|\*/")
_DOLLAR_TAG = re.compile(rb"\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$")
_DOLLAR_PARTIAL = re.compile(rb"\$[A-Za-z0-9_\x80-\xff]*\Z")
_COPY_START = re.compile(rb"\s*COPY\b", re.IGNORECASE)
_FROM_STDIN = re.compile(rb"\bFROM\s+STDIN\b", re.IGNORECASE)
_QUOTED = re.compile(rb'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'')
_IDENT_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$") | frozenset(range(0x80, 0x100))

_COPY_END = b"\n\\.\n"
#: Statements whose body may be SQL-standard (``BEGIN ATOMIC ... END``): ``;`` inside does not end them.
_ROUTINE_START = re.compile(rb"CREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|PROCEDURE)\b", re.IGNORECASE)
#: The next token of a routine's statement that matters, found by one ``match``: the bytes
#: that are no token and the words other than BEGIN/CASE/END are skipped inside the regex
#: engine (a word as a whole: lookahead + backreference, Python's atomic group), so Python sees
#: ``;``, a quote, ``$``, ``-``, ``/``, a parenthesis (group 2) or one of the three words
#: (group 3), else neither at the end of the buffer. A word starts with a letter, ``_`` or a
#: non-ASCII byte and goes on with those, digits and ``$``: ``1begin`` holds the word
#: ``begin``, ``x1begin`` none.
_ROUTINE_TOKEN = re.compile(rb"""
    (?: [^;'"$/()\-A-Za-z_\x80-\xff]
      | (?=((?!(?:begin|case|end)(?![A-Za-z0-9_$\x80-\xff]))[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*))\1
    )*
    (?: ([;'"$/()-]) | ([A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*) )?
""", re.VERBOSE | re.IGNORECASE)


def _find_copy_end(buf: bytearray, start: int) -> int:
    """``buf.find(b"\\n\\.\\n", start)``, faster on COPY text, where a backslash is rare.

    ``find`` of the four bytes stops at every newline (every row); ``find`` of one byte is
    ``memchr``, ~8x faster here, so the backslashes are visited and each is checked for the
    terminator around it. A block dense with backslashes (escaped text, ``bytea``) goes back
    to the four-byte ``find`` once the visits would cost more than it does (issue 11: 0.14 s
    against 0.25 s for the benchmark's 120 MB of COPY text)."""
    find = buf.find
    i = find(b"\\", start + 1)
    misses = 0
    while i >= 0:
        if buf[i - 1] == 0x0A and buf[i + 1:i + 3] == b".\n":
            return i - 1
        misses += 1
        if misses > 16 and misses * 128 > i - start:
            return find(_COPY_END, i - 1)  # every backslash before i is no terminator
        i = find(b"\\", i + 1)
    return -1


def _block_depth(word: bytes, depth: int) -> int:
    """The BEGIN ... END nesting after ``word`` (psqlscan.l: CASE nests only inside a BEGIN)."""
    w = word.lower()
    if w == b"begin" or w == b"case" and depth >= 1:
        return depth + 1
    if w == b"end" and depth > 0:
        return depth - 1
    return depth


@dataclass(frozen=True, slots=True)
class Statement:
    """One SQL statement, terminating ``;`` included, as the script's bytes."""

    raw: bytes
    entry_id: int | None
    line: int

    @property
    def text(self) -> str:
        """Decoded text for display and filtering (the server gets ``raw``)."""
        return self.raw.decode("utf-8", errors="replace")


@dataclass(slots=True)
class CopyBlock:
    """A ``COPY ... FROM stdin;`` statement and its data, streamed in bounded chunks.

    ``chunks`` shares the reader's buffer: consume it (or not) before asking the reader for the
    next item; the reader drains whatever is left. Chunks are not aligned to rows (the COPY
    protocol does not need that), but every row ends with ``\\n`` so counting newlines over the
    chunks counts rows.
    """

    raw: bytes
    entry_id: int | None
    line: int
    chunks: Iterator[bytes]

    @property
    def statement_text(self) -> str:
        """The COPY statement, decoded for display."""
        return self.raw.decode("utf-8", errors="replace")

    text = statement_text


@dataclass(frozen=True, slots=True)
class MetaCommand:
    """A psql backslash command line (pg_dump writes ``\\connect``, ``\\restrict``); pydump never does."""

    raw: bytes
    entry_id: int | None
    line: int

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", errors="replace")


Item = Statement | CopyBlock | MetaCommand


def without_quoted(raw: bytes) -> bytes:
    """The statement with every quoted identifier and string literal blanked (``""``), so that a
    keyword search cannot be fooled by a name or a value."""
    return _QUOTED.sub(b'""', raw)


def is_copy_from_stdin(raw: bytes) -> bool:
    """True for ``COPY ... FROM stdin`` (quoted names cannot fake the ``FROM stdin`` words)."""
    if not _COPY_START.match(raw):
        return False
    return _FROM_STDIN.search(without_quoted(raw)) is not None


# -- tokens of one statement -----------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*(?:[^*]|\*(?!/))*\*/)
  | (?P<estr>[Ee]'(?:[^'\\]|\\.|'')*')
  | (?P<str>'(?:[^']|'')*')
  | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*)?\$[\s\S]*?\$(?P=tag)?\$)
  | (?P<qident>"(?:[^"]|"")*")
  | (?P<word>[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)

#: Token kinds that carry no meaning between the others.
BLANK_TOKENS = frozenset({"ws", "comment"})


def tokenize(text: str) -> Iterator[tuple[str, str]]:
    """``(kind, text)`` for each token of one statement; the texts concatenate back to ``text``.

    Kinds: ``ws``, ``comment``, ``estr``/``str`` (string literals), ``dollar`` (a dollar-quoted
    body), ``qident`` (a quoted identifier, quotes included), ``word``, ``other`` (one character).
    """
    for m in _TOKEN.finditer(text):
        yield m.lastgroup or "other", m.group()


def ident_text(kind: str, text: str) -> str | None:
    """The name a ``word`` or ``qident`` token denotes, as written (no case folding), else None."""
    if kind == "word":
        return text
    if kind == "qident":
        return text[1:-1].replace('""', '"')
    return None


def copy_table(raw: bytes) -> str | None:
    """The canonical key of the table a ``COPY schema.table ...`` statement names, else None."""
    toks = [t for t in tokenize(raw.decode("utf-8", "replace")) if t[0] not in BLANK_TOKENS]
    if len(toks) < 4 or toks[0][0] != "word" or toks[0][1].lower() != "copy" or toks[2] != ("other", "."):
        return None
    schema, name = ident_text(*toks[1]), ident_text(*toks[3])
    return table_key(schema, name) if schema is not None and name is not None else None


class ScriptReader:
    """Iterate over the items of a script read from a ``ByteSource``.

    ``meta`` says what to do with psql backslash lines between statements: ``"error"`` for
    pydump scripts (FORMAT.md promises there are none, so one means a corrupt or foreign file),
    ``"skip"`` or ``"yield"`` for pg_dump's plain output.
    """

    def __init__(self, source: ByteSource, *, meta: MetaMode = "error", read_size: int = READ_SIZE,
                 name: str = "script") -> None:
        self._src = source
        self._meta = meta
        self._read_size = read_size
        self._name = name
        self._buf = bytearray()
        self._eof = False
        self._line = 1  # line number of _buf[0]
        self.entry_id: int | None = None
        self.statements = 0
        self.copy_blocks = 0

    # -- buffer management -------------------------------------------------------------------
    def _fill(self) -> bool:
        """Append one read to the buffer; False at end of input."""
        if self._eof:
            return False
        data = self._src.read(self._read_size)
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _drop(self, n: int) -> None:
        """Discard the first n bytes (consumed), keeping the line counter right."""
        if n:
            self._line += self._buf.count(b"\n", 0, n)
            del self._buf[:n]

    def _find(self, needle: bytes, start: int) -> int:
        """Find needle at or after start, reading more as needed; -1 at end of input."""
        buf = self._buf
        while True:
            j = buf.find(needle, start)
            if j >= 0:
                return j
            start = max(start, len(buf) - len(needle) + 1)
            if not self._fill():
                return -1

    def _fail(self, what: str, offset: int = 0) -> ScriptError:
        line = self._line + self._buf.count(b"\n", 0, offset)
        return ScriptError(f"{self._name}: {what} (line {line}); the script is truncated or corrupt")

    # -- lexing --------------------------------------------------------------------------------
    def _skip_gap(self) -> bool:
        """Consume whitespace and comments between statements; False at a clean end of input.

        Entry markers are only honoured here, between statements, so a ``-- pydump-entry``
        inside a function body or a string can never re-label anything.
        """
        buf = self._buf
        while True:
            self._drop(_WS.match(buf).end())
            if not buf:
                if not self._fill():
                    return False
                continue
            c = buf[0]
            if c in b"-/" and len(buf) < 2 and self._fill():
                continue
            if buf.startswith(b"--"):
                nl = self._find(b"\n", 2)
                end = len(buf) if nl < 0 else nl + 1
                m = _ENTRY.match(bytes(buf[: end - 1 if nl >= 0 else end]))
                if m:
                    self.entry_id = int(m.group(1))
                self._drop(end)
                continue
            if buf.startswith(b"/*"):
                self._drop(self._block_comment(2))
                continue
            return True

    def _quoted(self, i: int, quote: int, escapes: bool) -> int:
        """Index after the closing quote of a string/identifier whose body starts at i."""
        buf = self._buf
        q = bytes((quote,))
        start = i
        while True:
            if escapes:
                m = _SQ_ESC.search(buf, i)
                j = m.start() if m else -1
            else:
                j = buf.find(q, i)
            if j < 0:
                i = len(buf)
                if not self._fill():
                    raise self._fail("unterminated quoted string or identifier", start)
                continue
            if buf[j] == 0x5C:  # backslash: skip the escaped byte (E'' strings only)
                if j + 1 >= len(buf):
                    if not self._fill():
                        raise self._fail("unterminated E'' string", start)
                    i = j
                    continue
                i = j + 2
                continue
            if j + 1 >= len(buf) and self._fill():
                i = j  # need one byte of lookahead to tell '' from the end
                continue
            if j + 1 < len(buf) and buf[j + 1] == quote:
                i = j + 2
                continue
            return j + 1

    def _block_comment(self, i: int) -> int:
        """Index after the ``*/`` closing a (nested) block comment whose body starts at i."""
        buf = self._buf
        depth = 1
        start = i
        while True:
            m = _BLOCK.search(buf, i)
            if not m:
                i = max(i, len(buf) - 1)
                if not self._fill():
                    raise self._fail("unterminated /* comment", start)
                continue
            depth += 1 if m.group() == b"/*" else -1
            i = m.end()
            if depth == 0:
                return i

    def _is_routine(self) -> bool:
        """Does the statement at offset 0 start with CREATE [OR REPLACE] FUNCTION|PROCEDURE?"""
        while len(self._buf) < 64 and self._fill():
            pass
        return _ROUTINE_START.match(self._buf) is not None

    def _statement_end(self) -> int:
        """Index just after the ``;`` ending the statement that starts at buffer offset 0.

        The fast path: one regex search to the next byte that can matter (``;``, a quote, ``$``,
        ``-``, ``/``), so the bytes between cost nothing in Python. ``CREATE FUNCTION`` and
        ``PROCEDURE`` go to :meth:`_routine_end`, which also looks at words.
        """
        if self._is_routine():
            return self._routine_end()
        buf = self._buf
        search = _SPECIAL.search
        i = 0
        while True:
            m = search(buf, i)
            if m is None:
                i = len(buf)
                if not self._fill():
                    raise self._fail("statement without terminating ';'")
                continue
            j = m.start()
            c = buf[j]
            if c == 0x3B:  # ;
                return j + 1
            i = self._skip_special(j, c)

    def _routine_end(self) -> int:
        """:meth:`_statement_end` for ``CREATE FUNCTION``/``PROCEDURE``: the words BEGIN/CASE/END
        outside parentheses are counted as psql's lexer counts them (psqlscan.l), so the ``;``
        of a SQL-standard body (``BEGIN ATOMIC ...; ...; END``) do not end the statement."""
        buf = self._buf
        match = _ROUTINE_TOKEN.match
        i = 0
        begin_depth = 0
        paren_depth = 0
        while True:
            m = match(buf, i)
            j = m.start(3)
            if j >= 0:  # BEGIN, CASE or END
                if m.end() >= len(buf) and self._fill():
                    i = j  # the word may continue in the next read
                    continue
                if paren_depth == 0:
                    begin_depth = _block_depth(m.group(3), begin_depth)
                i = m.end()
                continue
            j = m.start(2)
            if j < 0:  # no token up to the end of the buffer: read on, from the start of a last word
                k = len(buf)
                while k > i and buf[k - 1] in _IDENT_BYTES:
                    k -= 1
                i = k
                if not self._fill():
                    raise self._fail("statement without terminating ';'")
                continue
            c = buf[j]
            if c == 0x3B:  # ;
                if begin_depth == 0 and paren_depth == 0:
                    return j + 1
                i = j + 1
            elif c == 0x28:  # (
                paren_depth += 1
                i = j + 1
            elif c == 0x29:  # )
                paren_depth = max(paren_depth - 1, 0)
                i = j + 1
            else:
                i = self._skip_special(j, c)

    def _skip_special(self, j: int, c: int) -> int:
        """Where to scan on from the quote, ``$``, ``-`` or ``/`` at ``j``: after the quoted text
        or comment it opens, after the byte itself, or ``j`` again once more input is read."""
        buf = self._buf
        if c == 0x27:  # '
            escapes = j > 0 and buf[j - 1] in b"Ee" and (j == 1 or buf[j - 2] not in _IDENT_BYTES)
            return self._quoted(j + 1, c, escapes)
        if c == 0x22:  # "
            return self._quoted(j + 1, c, False)
        if c == 0x24:  # $
            return self._dollar(j)
        if j + 1 >= len(buf) and self._fill():
            return j  # need the next byte: -- and /* are two
        nxt = buf[j + 1] if j + 1 < len(buf) else -1
        if c == 0x2D and nxt == 0x2D:
            nl = self._find(b"\n", j + 2)
            if nl < 0:
                raise self._fail("statement without terminating ';'")
            return nl + 1
        if c == 0x2F and nxt == 0x2A:
            return self._block_comment(j + 2)
        return j + 1

    def _dollar(self, j: int) -> int:
        """After the dollar-quoted string opening at ``j``; ``j + 1`` for ``$1``, a lone ``$``
        or one inside an identifier (``a$b``); ``j`` once more input is needed for the tag."""
        buf = self._buf
        if j > 0 and buf[j - 1] in _IDENT_BYTES:
            return j + 1
        tag = _DOLLAR_TAG.match(buf, j)
        if tag is None:
            if _DOLLAR_PARTIAL.match(buf, j) and self._fill():
                return j
            return j + 1
        t = tag.group()
        close = self._find(t, tag.end())
        if close < 0:
            raise self._fail(f"unterminated dollar-quoted string {t.decode('ascii', 'replace')}", j)
        return close + len(t)

    def _copy_chunks(self, where: int) -> Iterator[bytes]:
        """Yield COPY data in chunks up to (excluding) the ``\\.`` line.

        Invariant: ``_buf[p-1]`` is the byte before the unsent data, so searching
        ``\\n\\.\\n`` from ``p-1`` finds the terminator exactly at a line start, including when
        the data is empty. The last 3 bytes are held back because they may be the beginning
        of the terminator.
        """
        buf = self._buf
        p = 1
        while True:
            k = _find_copy_end(buf, p - 1)
            if k >= 0:
                if k + 1 > p:
                    yield bytes(buf[p:k + 1])
                self._drop(k + len(_COPY_END))
                return
            q = len(buf) - 3
            if q > p:
                yield bytes(buf[p:q])
                self._drop(q - 1)
                p = 1
            if not self._fill():
                if buf.endswith(b"\n\\.") and len(buf) - 3 >= p - 1:  # terminator is the last line, no newline
                    if len(buf) - 2 > p:
                        yield bytes(buf[p:len(buf) - 2])
                    self._drop(len(buf))
                    return
                raise ScriptError(f"{self._name}: COPY data starting at line {where} has no terminating \\. line; "
                                  "the script is truncated or corrupt")

    # -- items -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Item]:
        buf = self._buf
        while self._skip_gap():
            line = self._line
            if buf[0] == 0x5C:  # backslash at statement start: psql meta-command
                nl = self._find(b"\n", 0)
                end = len(buf) if nl < 0 else nl + 1
                meta = MetaCommand(bytes(buf[:end]).rstrip(b"\r\n"), self.entry_id, line)
                self._drop(end)
                if self._meta == "error":
                    raise ScriptError(f"{self._name}: unexpected psql meta-command {meta.text[:40]!r} at line {line}; "
                                      "not a pydump script (use the pg_dump reader) or corrupt")
                if self._meta == "yield":
                    yield meta
                continue
            end = self._statement_end()
            raw = bytes(buf[:end])
            self._drop(end)
            if not is_copy_from_stdin(raw):
                self.statements += 1
                yield Statement(raw, self.entry_id, line)
                continue
            # The data starts on the line after the COPY statement.
            nl = self._find(b"\n", 0)
            if nl < 0:
                raise ScriptError(f"{self._name}: COPY at line {line} has no data (end of script)")
            if buf[:nl].strip():
                raise ScriptError(f"{self._name}: unexpected text after the COPY statement at line {line}")
            self._drop(nl)  # keep the newline: _copy_chunks relies on it
            self.copy_blocks += 1
            chunks = self._copy_chunks(line + 1)
            yield CopyBlock(raw, self.entry_id, line, chunks)
            for _ in chunks:  # drain what the consumer left
                pass


def iter_script(path: str | os.PathLike[str], *, meta: MetaMode = "error",
                read_size: int = READ_SIZE) -> Iterator[Item]:
    """Open a script file (compression by file name) and yield its items; closes the file."""
    source = open_source(path)
    try:
        yield from ScriptReader(source, meta=meta, read_size=read_size, name=os.path.basename(os.fspath(path)))
    finally:
        source.close()


def iter_pg_dump_script(path: str | os.PathLike[str], *, read_size: int = READ_SIZE) -> Iterator[Item]:
    """Items of pg_dump's plain output (same syntax; its ``\\restrict``/``\\connect`` lines skipped)."""
    return iter_script(path, meta="skip", read_size=read_size)


def iter_source(source: ByteSource, *, meta: MetaMode = "error", read_size: int = READ_SIZE,
                name: str = "script") -> Iterator[Item]:
    """Items of an already opened source (the caller keeps ownership of it)."""
    return iter(ScriptReader(source, meta=meta, read_size=read_size, name=name))
