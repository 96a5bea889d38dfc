"""The hot path: ``COPY ... TO STDOUT`` streamed into the sinks as byte chunks.

psycopg starts the COPY (it owns the transaction state: BEGIN, the query, the COPY_OUT
result); the rows are then read by a raw libpq loop on the same connection
(:func:`_read_copy`): ``PQgetCopyData`` in async mode drains every row libpq has buffered,
and only when its buffer is empty do we wait on the socket and ``PQconsumeInput``. That is
psql's own loop and reads at psql's speed; psycopg's ``for data in copy`` spends ~1 µs a
row in its generator/wait machinery (issue 11: 0.31 s against 0.74 s for 1M pgbench rows).

No Python object is kept per row: each message libpq hands us is appended to a
``bytearray`` at once (and freed at once), and a ~256 kB chunk is passed on whenever libpq's
buffer runs dry; the row count is the server's, from the ``COPY n`` command tag (counting
newlines in the chunks, as before, cost the reader ~0.2 s of CPU per 400 MB). Keeping the
messages in a list and joining them cost twice the CPU of the read itself (issue 11: ~1,800
live 140-byte objects per chunk, then freed together), more than the whole floor. The data never
goes through Python values, so nothing is lost to type conversion: infinity dates, '1 mon'
intervals, long numerics and array bounds arrive exactly as the server prints them.
"""

from __future__ import annotations

import select
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq

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


def _wait_readable(poller: select.poll) -> None:
    """Block until the socket has input. ``poll`` (not ``select``): any fd number works.

    The wait is in Python, so a signal handler runs during it: SIGINT/SIGTERM become
    :class:`~dumper.errors.Interrupted` here, and psycopg's ``Copy.__exit__`` then cancels
    the query and drains the connection, as it did when psycopg did the waiting.
    """
    while not poller.poll(1000):
        pass


def _read_copy(conn: psycopg.Connection[Any], emit: Callable[[bytearray], None]) -> int:
    """Read the COPY_OUT in progress on ``conn`` to its end; ``emit`` gets ~CHUNK-byte chunks.
    Returns the number of rows the server says it sent (the ``COPY n`` tag).

    Each chunk is a ``bytearray`` of whole rows that ``emit`` owns from then on (it is never
    touched here again). The only per-row Python here is the loop body: one
    ``get_copy_data`` call and one ``+=``; the chunk size is checked only when libpq's buffer
    is empty (it holds at most one network read, or one row larger than that), so a chunk is
    at most CHUNK plus one read. Errors keep psycopg's classes: the final result's SQLSTATE
    becomes the matching ``psycopg.errors`` class (``QueryCanceled``,
    ``InsufficientPrivilege``, ...), and a broken connection an ``OperationalError``, raised
    by ``consume_input`` itself.
    """
    pgconn = conn.pgconn
    get, consume = pgconn.get_copy_data, pgconn.consume_input
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN)
    buf = bytearray()
    while True:
        nbytes, data = get(1)
        if nbytes > 0:
            buf += data
        elif nbytes == 0:  # libpq's buffer is empty: pass a full chunk on, wait for the next read
            if len(buf) >= CHUNK:
                emit(buf)
                buf = bytearray()
            _wait_readable(poller)
            consume()
        elif nbytes == -1:  # the COPY is over: the rows are in, the status follows
            break
        else:
            raise pg_errors.OperationalError(pgconn.get_error_message() or "connection lost during COPY")
    if buf:
        emit(buf)
    failed: pq.abc.PGresult | None = None
    rows: int | None = None
    while True:  # the final result(s): COMMAND_OK, or the error that ended the COPY
        while pgconn.is_busy():
            _wait_readable(poller)
            consume()
        res = pgconn.get_result()
        if res is None:
            break
        if res.status != pq.ExecStatus.COMMAND_OK:
            if failed is None:
                failed = res
        elif rows is None:
            rows = res.command_tuples
    if failed is not None:
        raise pg_errors.error_from_result(failed, encoding=conn.info.encoding)
    if rows is None:  # every server since 8.2 tags a COPY with its row count
        raise psycopg.DatabaseError("the server ended the COPY without a row count")
    return rows


def stream_copy(
    conn: psycopg.Connection[Any],
    statement: str,
    sinks: Iterable[Callable[[bytes], Any]],
    *,
    on_chunk: Callable[[int], None] | None = None,
    transform: Callable[[bytes], bytes] | None = None,
    label: str | None = None,
) -> CopyResult:
    """Stream one ``COPY ... TO STDOUT`` into ``sinks``.

    ``label`` (the table's qualified name) goes into a failure's line: the server's message
    names a relation without its schema (``column "w" of relation "t3" does not exist``).

    ``transform`` (a redacted table's :class:`dumper.redact.RowRedactor`) rewrites each chunk
    of whole rows before the sinks see it; every other table's bytes pass untouched.
    """
    targets = list(sinks)
    total = 0

    def emit(chunk: bytes | bytearray) -> None:
        nonlocal total
        if transform is not None:
            chunk = transform(bytes(chunk))
        total += len(chunk)
        for t in targets:
            t(chunk)
        if on_chunk is not None:
            on_chunk(len(chunk))

    try:
        with conn.cursor() as cur:
            with cur.copy(statement):
                # psycopg's Copy.__exit__ reads nothing more for a COPY TO that ended
                # normally; on an exception it cancels the query and drains the connection.
                rows = _read_copy(conn, emit)
    except psycopg.errors.InsufficientPrivilege as e:
        raise PermissionDenied(str(e).strip().splitlines()[0]) from None
    except (psycopg.errors.UntranslatableCharacter, psycopg.errors.CharacterNotInRepertoire) as e:
        # --encoding: a value the target encoding cannot hold (the leader names table and column)
        raise EncodingError(str(e).strip().splitlines()[0]) from None
    except psycopg.OperationalError as e:
        raise ServerError(f"lost the server during COPY: {str(e).strip().splitlines()[0] if str(e).strip() else 'connection closed'}") from None
    except psycopg.Error as e:
        of = f" of {label}" if label else ""
        raise ServerError(f"COPY{of} failed: {str(e).strip().splitlines()[0]}") from None
    return CopyResult(rows, total)
