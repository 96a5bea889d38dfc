"""Large objects: metadata statements, and the data as ``lo_put`` chunks streamed at write time.

Each chunk is read with ``lo_get(oid, offset, length)`` inside the dump's snapshot and written
as one ``SELECT pg_catalog.lo_put(oid, offset, '\\x...')``: memory stays at one chunk however
large the object, and the script needs nothing but SQL (no psql ``\\lo_import``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from dumper.catalog.largeobjects import SecurityLabel
from dumper.ddl.common import OBJTYPE_KEYWORD
from dumper.format.names import quote_ident, quote_literal

CHUNK = 512 * 1024  # bytes of object data per lo_put (1 MiB of hex text)


def lo_create(oid: int) -> str:
    return f"SELECT pg_catalog.lo_create('{oid}');\n"


def lo_data(conn: Any, oids: list[int], *, create: bool, on_chunk: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """SQL text for the contents of ``oids``, chunk by chunk (``create``: also ``lo_create`` them)."""
    with conn.cursor() as cur:
        for oid in oids:
            if create:
                yield lo_create(oid).encode()
            off = 0
            while True:
                cur.execute("SELECT pg_catalog.lo_get(%s::oid, %s::bigint, %s)", (oid, off, CHUNK))
                row = cur.fetchone()
                data = bytes(row[0]) if row and row[0] is not None else b""
                if not data:
                    break
                yield b"SELECT pg_catalog.lo_put('%d', %d, '\\x" % (oid, off) + data.hex().encode() + b"');\n"
                if on_chunk is not None:
                    on_chunk(len(data))
                off += len(data)
                if len(data) < CHUNK:
                    break


def security_label(lbl: SecurityLabel) -> str:
    kw = OBJTYPE_KEYWORD.get(lbl.objtype, lbl.objtype.upper())
    return f"SECURITY LABEL FOR {quote_ident(lbl.provider)} ON {kw} {lbl.identity} IS {quote_literal(lbl.label)};\n"
