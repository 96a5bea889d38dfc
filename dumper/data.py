"""The hot path: ``COPY ... TO STDOUT`` streamed into the sinks as byte chunks.

No Python object is made per row beyond the buffer psycopg hands us: messages are joined
into ~256 kB chunks and passed on; rows are counted with ``bytes.count`` on the chunk (the
text format ends every row with a newline and escapes newlines inside values). The data
never goes through Python values, so nothing is lost to type conversion: infinity dates,
'1 mon' intervals, long numerics and array bounds arrive exactly as the server prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import psycopg

from dumper.errors import EncodingError, PermissionDenied, ServerError
from dumper.format.names import quote_ident

CHUNK = 256 * 1024


@dataclass
class CopyResult:
    rows: int
    bytes: int


def copy_statement(table: str, columns: list[str], direction: str = "TO STDOUT", where: str | None = None) -> str:
    cols = f" ({', '.join(quote_ident(c) for c in columns)})" if columns else ""
    if where:
        return f"COPY (SELECT {', '.join(quote_ident(c) for c in columns) or '*'} FROM ONLY {table} WHERE {where}) {direction}"
    return f"COPY {table}{cols} {direction}"


def stream_copy(
    conn: psycopg.Connection[Any],
    statement: str,
    sinks: Iterable[Callable[[bytes], Any]],
    *,
    on_chunk: Callable[[int], None] | None = None,
    transform: Callable[[bytes], bytes] | None = None,
) -> CopyResult:
    """Stream one ``COPY ... TO STDOUT`` into ``sinks``.

    ``transform`` (a redacted table's :class:`dumper.redact.RowRedactor`) rewrites each chunk
    of whole rows before the sinks see it; every other table's bytes pass untouched.
    """
    targets = list(sinks)
    rows = 0
    total = 0
    buf: list[Any] = []
    size = 0
    try:
        with conn.cursor() as cur:
            with cur.copy(statement) as copy:
                for data in copy:
                    buf.append(data)
                    size += len(data)
                    if size >= CHUNK:
                        chunk = b"".join(buf)
                        buf.clear()
                        if transform is not None:
                            chunk = transform(chunk)
                            size = len(chunk)
                        rows += chunk.count(b"\n")
                        total += size
                        size = 0
                        for t in targets:
                            t(chunk)
                        if on_chunk is not None:
                            on_chunk(len(chunk))
                if buf:
                    chunk = b"".join(buf)
                    if transform is not None:
                        chunk = transform(chunk)
                        size = len(chunk)
                    rows += chunk.count(b"\n")
                    total += size
                    for t in targets:
                        t(chunk)
                    if on_chunk is not None:
                        on_chunk(len(chunk))
    except psycopg.errors.InsufficientPrivilege as e:
        raise PermissionDenied(str(e).strip().splitlines()[0]) from None
    except (psycopg.errors.UntranslatableCharacter, psycopg.errors.CharacterNotInRepertoire) as e:
        # --encoding: a value the target encoding cannot hold (the leader names table and column)
        raise EncodingError(str(e).strip().splitlines()[0]) from None
    except psycopg.OperationalError as e:
        raise ServerError(f"lost the server during COPY: {str(e).strip().splitlines()[0] if str(e).strip() else 'connection closed'}") from None
    except psycopg.Error as e:
        raise ServerError(f"COPY failed: {str(e).strip().splitlines()[0]}") from None
    return CopyResult(rows, total)
