"""pg_dump and psql as an oracle: used in tests only, never by pydump itself.

- ``schema_dump``: ``pg_dump --schema-only`` (owners and ACLs kept) with the server's own pg_dump.
- ``statements`` / ``diff_statements``: a pg_dump plain script as a multiset of statements.
- ``table_hashes`` / ``sequence_values``: exact server-side content of every user table/sequence.
- ``psql_replay``: ``gunzip -c script | psql -v ON_ERROR_STOP=1 -X -q -d dsn``.
- ``assert_same_database``: schema, rows and sequences of two databases are the same.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
from pathlib import Path

from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from dumper.format.names import quote_ident, table_key
from tests.support.pgtest import PgServer, connect

_CLIENT_ENV_DROP = ("PGPASSWORD", "PGSERVICE", "PGOPTIONS", "PGDATABASE", "PGHOST", "PGPORT",
                    "PGUSER")


def _client_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in _CLIENT_ENV_DROP:
        env.pop(var, None)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    env["PGTZ"] = "UTC"
    return env


# --------------------------------------------------------------------------- pg_dump

def pg_dump_script(server: PgServer, dsn: str, *extra_args: str) -> bytes:
    """``pg_dump -Fp`` of ``dsn`` with the oracle's pg_dump (18), replayable on ``server``:
    pg_dump 18 writes ``SET transaction_timeout = 0`` (a 17+ setting) into its header, which
    an older server rejects, so that one line is dropped for servers before 17."""
    cmd = [str(server.pg_dump_path), "-Fp", "--no-password", *extra_args, "-d", dsn]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, env=_client_env(),
                          timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"pg_dump failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    if server.version < 17:
        return re.sub(rb"(?m)^SET transaction_timeout = 0;\n", b"", proc.stdout)
    return proc.stdout


def schema_dump(server: PgServer, dsn: str, *extra_args: str) -> str:
    """``pg_dump --schema-only`` of ``dsn`` with the server's pg_dump (owners and ACLs kept)."""
    cmd = [str(server.pg_dump_path), "--schema-only", "--no-password", *extra_args, "-d", dsn]
    # pg_dump writes in the database's encoding (LATIN1, EUC_JP, SQL_ASCII's raw bytes):
    # surrogateescape keeps every byte distinct, so the comparison stays byte for byte.
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          errors="surrogateescape", env=_client_env(), timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"pg_dump failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


# --------------------------------------------------------------------------- statements

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")


def split_script(text: str) -> list[str]:
    """Split a plain SQL script into statements, the way psql does it: ``;`` outside quotes,
    dollar quotes, double-quoted identifiers and comments ends a statement; a
    ``COPY ... FROM stdin;`` statement carries its data lines up to ``\\.``.

    Whitespace outside literals is normalised to single spaces, ``--`` comments outside
    literals are dropped, backslash meta-command lines (``\\restrict``, ``\\connect``, ...)
    outside statements are dropped. Literal contents are kept byte for byte.
    """
    out: list[str] = []
    buf: list[str] = []  # pieces of the current statement
    pending_space = False
    i, n = 0, len(text)

    def emit(piece: str) -> None:
        nonlocal pending_space
        if pending_space and buf:
            buf.append(" ")
        pending_space = False
        buf.append(piece)

    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and not buf and c == "\\":
            # psql meta-command outside a statement
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        at_line_start = False
        if c in " \t\r\n\f":
            pending_space = True
            if c == "\n":
                at_line_start = True
            i += 1
            continue
        if c == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            pending_space = True
            continue
        if c == "/" and text.startswith("/*", i):
            depth, j = 0, i
            while j < n:
                if text.startswith("/*", j):
                    depth += 1
                    j += 2
                elif text.startswith("*/", j):
                    depth -= 1
                    j += 2
                    if depth == 0:
                        break
                else:
                    j += 1
            i = j
            pending_space = True
            continue
        if c in "'\"":
            # E'' strings: backslash escapes; standard strings: '' doubling only
            escape = c == "'" and not pending_space and buf and buf[-1][-1:] in "eE" and (
                len(buf[-1]) == 1 or not (buf[-1][-2].isalnum() or buf[-1][-2] == "_"))
            j = i + 1
            while j < n:
                if escape and text[j] == "\\":
                    j += 2
                    continue
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            emit(text[i:j + 1])
            i = j + 1
            continue
        if c == "$":
            m = _DOLLAR_TAG.match(text, i)
            prev = buf[-1][-1:] if buf and not pending_space else ""
            if m and not (prev.isalnum() or prev == "_"):
                tag = m.group(0)
                j = text.find(tag, m.end())
                j = n if j < 0 else j + len(tag)
                emit(text[i:j])
                i = j
                continue
        if c == ";":
            emit(";")
            stmt = "".join(buf)
            buf.clear()
            pending_space = False
            if re.match(r"COPY\s.*\sFROM\s+stdin\s*;$", stmt, re.I | re.S):
                # data lines follow up to a line "\."
                nl = text.find("\n", i)
                start = n if nl < 0 else nl + 1
                end = start
                while end < n:
                    e = text.find("\n", end)
                    line = text[end:n if e < 0 else e]
                    if line == "\\.":
                        break
                    end = n if e < 0 else e + 1
                data = text[start:end]
                stmt = stmt + "\n" + data + "\\."
                e = text.find("\n", end)
                i = n if e < 0 else e + 1
                at_line_start = True
            else:
                i += 1
            out.append(stmt)
            continue
        # ordinary token: copy a run of characters that are not special
        j = i + 1
        while j < n and text[j] not in " \t\r\n\f'\";$-/\\":
            j += 1
        emit(text[i:j])
        i = j
    rest = "".join(buf).strip()
    if rest:
        out.append(rest)
    return out


_SKIP = re.compile(
    r"^(SET\s|RESET\s|SELECT pg_catalog\.set_config\('search_path'|BEGIN;|COMMIT;)", re.I)


def statements(text: str, dbname: str | None = None) -> collections.Counter:
    """A pg_dump plain script as a Counter of normalised statements (SET / set_config header
    lines, comments, blank lines and psql meta-commands dropped). With ``dbname``, that
    database's name in ``... DATABASE <name>`` statements becomes ``:DBNAME``."""
    result: collections.Counter = collections.Counter()
    db_pat = None
    if dbname is not None:
        q = quote_ident(dbname)
        db_pat = re.compile(r"(\bDATABASE\s+)" + re.escape(q) + r"(?=[\s;])")
    for stmt in split_script(text):
        if _SKIP.match(stmt):
            continue
        if db_pat is not None:
            stmt = db_pat.sub(r"\1:DBNAME", stmt)
        result[stmt] += 1
    return result


def diff_statements(a_text: str, b_text: str, a_dbname: str | None = None,
                    b_dbname: str | None = None, a_label: str = "A", b_label: str = "B") -> str:
    """'' when the two scripts have the same statements (any order), else a readable list."""
    a = statements(a_text, a_dbname)
    b = statements(b_text, b_dbname)
    only_a = a - b
    only_b = b - a
    if not only_a and not only_b:
        return ""
    lines = []
    if only_a:
        lines.append(f"--- only in {a_label} ({sum(only_a.values())}):")
        for s, k in sorted(only_a.items()):
            lines.append(f"  {'%dx ' % k if k > 1 else ''}{_shorten(s)}")
    if only_b:
        lines.append(f"+++ only in {b_label} ({sum(only_b.values())}):")
        for s, k in sorted(only_b.items()):
            lines.append(f"  {'%dx ' % k if k > 1 else ''}{_shorten(s)}")
    return "\n".join(lines)


def _shorten(s: str, limit: int = 2000) -> str:
    return s if len(s) <= limit else s[:limit] + f"... [{len(s) - limit} more chars]"


# --------------------------------------------------------------------------- content

_USER_REL = """
    SELECT n.nspname, c.relname, c.relkind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = ANY(%s)
      AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
      AND c.relpersistence <> 't'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                        AND d.deptype = 'e')
    ORDER BY 1, 2
"""


def _connect_text(dsn: str):
    """A connection whose text results are ``str`` for every database encoding: psycopg
    returns ``bytes`` under SQL_ASCII, so there it asks for LATIN1, which the server passes
    through unconverted (one character per byte, injective)."""
    conn = connect(dsn)
    if conn.info.parameter_status("server_encoding") == "SQL_ASCII":
        conn.execute("SET client_encoding = 'LATIN1'")
    return conn


def table_hashes(dsn: str) -> dict[str, tuple[int, str]]:
    """``{"schema.table": (rows, md5)}`` for every populated user table and materialized view
    (keys quoted like ``row_counts.json``); md5 over the sorted per-row md5s of the rows' text
    representation, computed server-side (exact, order-independent; over the bytes in the
    database's encoding)."""
    out: dict[str, tuple[int, str]] = {}
    with _connect_text(dsn) as conn:
        rels = conn.execute(_USER_REL + "", (["r", "m"],)).fetchall()
        for schema, name, kind in rels:
            if kind == "m":
                populated = conn.execute(
                    "SELECT relispopulated FROM pg_class WHERE oid = %s::regclass",
                    (f"{quote_ident(schema)}.{quote_ident(name)}",)).fetchone()[0]
                if not populated:
                    out[table_key(schema, name)] = (-1, "not populated")
                    continue
            q = sql.SQL(
                "SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h COLLATE \"C\")), '') "
                "FROM (SELECT md5(t::text) AS h FROM ONLY {} t) s"
            ).format(sql.Identifier(schema, name))
            count, digest = conn.execute(q).fetchone()
            out[table_key(schema, name)] = (count, digest)
    return out


def sequence_values(dsn: str) -> dict[str, tuple[int, bool]]:
    """``{"schema.seq": (last_value, is_called)}`` for every user sequence."""
    out: dict[str, tuple[int, bool]] = {}
    with _connect_text(dsn) as conn:
        for schema, name, _ in conn.execute(_USER_REL, (["S"],)).fetchall():
            q = sql.SQL("SELECT last_value, is_called FROM {}").format(
                sql.Identifier(schema, name))
            last, called = conn.execute(q).fetchone()
            out[table_key(schema, name)] = (last, called)
    return out


# --------------------------------------------------------------------------- psql replay

def psql_replay(server: PgServer, dsn: str, script_path: str | os.PathLike,
                check: bool = True, extra_args: tuple[str, ...] = ()) -> tuple[int, str]:
    """Replay a script with the server's psql, exactly as a user would:
    ``gunzip -c FILE | psql -v ON_ERROR_STOP=1 -X -q -d DSN`` (``.zst``: ``zstd -dc``; other
    names: the file itself). Returns ``(returncode, stderr)``; with ``check`` a non-zero exit
    raises AssertionError showing stderr."""
    path = Path(script_path)
    psql = [str(server.psql_path), "-v", "ON_ERROR_STOP=1", "-X", "-q", *extra_args, "-d", dsn]
    env = _client_env()
    if path.suffix == ".gz":
        decomp = ["gunzip", "-c", str(path)]
    elif path.suffix == ".zst":
        decomp = ["zstd", "-dcq", str(path)] if shutil.which("zstd") else None
    else:
        decomp = []
    if decomp is None:  # no zstd CLI: decompress in Python
        import zstandard

        with open(path, "rb") as fh:
            reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
            proc = subprocess.Popen(psql, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, env=env)
            import threading

            def feed():
                try:
                    while chunk := reader.read(1 << 16):
                        proc.stdin.write(chunk)
                except BrokenPipeError:
                    pass
                finally:
                    try:
                        proc.stdin.close()
                    except BrokenPipeError:
                        pass

            t = threading.Thread(target=feed, daemon=True)
            t.start()
            err = proc.stderr.read().decode(errors="replace")
            t.join()
            rc = proc.wait()
    elif decomp:
        d = subprocess.Popen(decomp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        p = subprocess.run(psql, stdin=d.stdout, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, env=env, timeout=1800)
        d.stdout.close()
        derr = d.stderr.read().decode(errors="replace")
        drc = d.wait()
        rc = p.returncode or drc
        err = p.stderr.decode(errors="replace") + derr
    else:
        with open(path, "rb") as fh:
            p = subprocess.run(psql, stdin=fh, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env=env, timeout=1800)
        rc, err = p.returncode, p.stderr.decode(errors="replace")
    if check and rc != 0:
        raise AssertionError(f"psql replay of {path} failed (exit {rc}):\n{err[-8000:]}")
    return rc, err


# --------------------------------------------------------------------------- comparison

def _dbname(dsn: str) -> str | None:
    return conninfo_to_dict(dsn).get("dbname")


def assert_same_database(server: PgServer, src_dsn: str, dst_dsn: str,
                         *dump_args: str, schema: bool = True) -> None:
    """Schema (pg_dump --schema-only statements), rows (per-table content hashes) and
    sequence values of the two databases are identical; raises AssertionError naming every
    difference."""
    problems: list[str] = []
    if schema:
        a = schema_dump(server, src_dsn, *dump_args)
        b = schema_dump(server, dst_dsn, *dump_args)
        d = diff_statements(a, b, _dbname(src_dsn), _dbname(dst_dsn), "source", "copy")
        if d:
            problems.append("schema differs (pg_dump --schema-only):\n" + d)
    for what, read in (("table contents", table_hashes), ("sequence values", sequence_values)):
        a_map, b_map = read(src_dsn), read(dst_dsn)
        if a_map != b_map:
            lines = [f"  {key}: source {a_map.get(key)} / copy {b_map.get(key)}"
                     for key in sorted(set(a_map) | set(b_map)) if a_map.get(key) != b_map.get(key)]
            problems.append(f"{what} differ:\n" + "\n".join(lines))
    if problems:
        raise AssertionError("databases differ\n" + "\n\n".join(problems))
