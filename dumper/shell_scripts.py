"""The two shell scripts each backup carries: ``restore.sh`` (quick) and ``restore-full.sh``.

They must be safe whatever the table names and paths: every expansion is quoted, nothing is
``eval``ed, and table names only ever appear inside SQL (as quoted identifiers, in a heredoc
whose terminator is checked not to occur in it) — never as shell words.
"""

from __future__ import annotations

import secrets

from dumper.format.layout import RESTORE_FULL_SH, RESTORE_SH
from dumper.format.names import quote_literal

#: the PyPI distribution that brings ``pyrestore`` (the name ``pydump`` belongs to another project)
DISTRIBUTION = "pydump-pg"

_PRELUDE = """#!/usr/bin/env bash
# {title} of a pydump backup.
# Usage: ./{name} [TARGET_DSN]
#   The target is TARGET_DSN, else $DATABASE_URL, else libpq's PG* variables (PGHOST, PGPORT,
#   PGUSER, PGDATABASE, PGPASSWORD or ~/.pgpass). Prefer the variables to a DSN with a password
#   on the command line: a command line is visible to every user of the machine (ps).
# Uses pyrestore when it is installed (pip install {dist}), else psql.
set -euo pipefail
case "${{1:-}}" in
    -h|--help) sed -n '2,7s/^# //p' "${{BASH_SOURCE[0]}}"; exit 0 ;;
esac
here="$(cd -- "$(dirname -- "${{BASH_SOURCE[0]}}")" && pwd -P)"
target="${{1:-${{DATABASE_URL:-}}}}"
dump="$here/{dump}"
case "${{1:-}}" in
    *password=*|*://*:*@*) echo "{name}: warning: a password on the command line is visible in ps; prefer PGPASSWORD, ~/.pgpass or DATABASE_URL" >&2 ;;
esac
"""

_REPLAY = """decompress() {{
    case "$dump" in
        *.gz) gzip -dc -- "$dump" ;;
        *.zst) zstd -dcq -- "$dump" ;;
        *) cat -- "$dump" ;;
    esac
}}
psql_target() {{
    if [ -n "$target" ]; then psql -X -q -v ON_ERROR_STOP=1 -d "$target" "$@"; else psql -X -q -v ON_ERROR_STOP=1 "$@"; fi
}}
require_empty_target() {{
    # psql replays everything or stops half-way: into a database that already has tables (a
    # Supabase project has auth.*, storage.*) it would stop at the first CREATE, after changing
    # things. Refuse before changing anything, as pyrestore does (which can restore into one).
    local found
    found="$(psql_target -tA -c "SELECT pg_catalog.string_agg(t, ', ') FROM (SELECT n.nspname || '.' || c.relname AS t FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p','v','m','S','f') AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1 LIMIT 3) s")"
    if [ -n "$found" ]; then
        echo "{name}: the target is not empty ($found ...); psql cannot restore into it without stopping half-way: install pyrestore (pip install {dist}), which restores into an existing project; nothing was changed" >&2
        exit 11
    fi
}}
"""


def restore_sh(dump_name: str) -> str:
    return (
        _PRELUDE.format(title="Quick restore", name=RESTORE_SH, dump=dump_name, dist=DISTRIBUTION)
        + _REPLAY.format(name=RESTORE_SH, dist=DISTRIBUTION)
        + """if command -v pyrestore >/dev/null 2>&1; then
    if [ -n "$target" ]; then exec pyrestore --no-verify -- "$here" "$target"; else exec pyrestore --no-verify -- "$here"; fi
fi
command -v psql >/dev/null 2>&1 || { echo "restore.sh: neither pyrestore nor psql is installed" >&2; exit 2; }
require_empty_target
decompress | psql_target >/dev/null
echo "restored $dump"
"""
    )


def restore_full_sh(dump_name: str, row_counts: dict[str, int], encoding: str = "UTF8") -> str:
    """``encoding``: the dump's; the file is written in it and the check says so to psql, so the
    table names in it reach the server as the bytes the backup's script uses."""
    values = ",\n".join(
        f"  ({quote_literal(key)}, {n}::bigint, (SELECT count(*) FROM ONLY {key}))" for key, n in sorted(row_counts.items())
    )
    check_sql = f"SET client_encoding = {quote_literal(encoding)};\n" + (
        "SELECT 'row count mismatch: ' || t || ' expected ' || e || ' found ' || a FROM (VALUES\n"
        + values
        + "\n) AS v(t, e, a) WHERE e <> a;\n"
        if row_counts
        else "SELECT NULL WHERE false;\n"
    )
    tag = "PYDUMP_VERIFY_" + secrets.token_hex(8)
    while tag in check_sql:
        tag = "PYDUMP_VERIFY_" + secrets.token_hex(8)
    return (
        _PRELUDE.format(title="Full restore (replay, then verify row counts)", name=RESTORE_FULL_SH, dump=dump_name,
                        dist=DISTRIBUTION)
        + _REPLAY.format(name=RESTORE_FULL_SH, dist=DISTRIBUTION)
        + """if command -v pyrestore >/dev/null 2>&1; then
    if [ -n "$target" ]; then exec pyrestore -- "$here" "$target"; else exec pyrestore -- "$here"; fi
fi
command -v psql >/dev/null 2>&1 || { echo "restore-full.sh: neither pyrestore nor psql is installed" >&2; exit 2; }
require_empty_target
decompress | psql_target >/dev/null
mismatches="$(psql_target -tA <<'"""
        + tag
        + "'\n"
        + check_sql
        + tag
        + """
)"
if [ -n "$mismatches" ]; then
    printf '%s\\n' "$mismatches" >&2
    echo "restore-full.sh: verification FAILED" >&2
    exit 8
fi
echo "restored $dump; row counts verified against row_counts.json"
"""
    )
