"""The two shell scripts each backup carries: ``restore.sh`` (quick) and ``restore-full.sh``.

They must be safe whatever the table names and paths: every expansion is quoted, nothing is
``eval``ed, and table names only ever appear inside SQL (as quoted identifiers, in a heredoc
whose terminator is checked not to occur in it) — never as shell words.
"""

from __future__ import annotations

import secrets

from dumper.ident import quote_literal

_PRELUDE = """#!/usr/bin/env bash
# {title} of a pydump backup.
# Usage: ./{name} [TARGET_DSN]      (default: $DATABASE_URL, then libpq's PG* variables)
# Uses pyrestore when it is installed, else psql.
set -euo pipefail
here="$(cd -- "$(dirname -- "${{BASH_SOURCE[0]}}")" && pwd -P)"
target="${{1:-${{DATABASE_URL:-}}}}"
dump="$here/{dump}"
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
"""


def restore_sh(dump_name: str) -> str:
    return (
        _PRELUDE.format(title="Quick restore", name="restore.sh", dump=dump_name)
        + _REPLAY.format()
        + """if command -v pyrestore >/dev/null 2>&1; then
    if [ -n "$target" ]; then exec pyrestore --no-verify -- "$here" "$target"; else exec pyrestore --no-verify -- "$here"; fi
fi
command -v psql >/dev/null 2>&1 || { echo "restore.sh: neither pyrestore nor psql is installed" >&2; exit 2; }
decompress | psql_target
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
        _PRELUDE.format(title="Full restore (replay, then verify row counts)", name="restore-full.sh", dump=dump_name)
        + _REPLAY.format()
        + """if command -v pyrestore >/dev/null 2>&1; then
    if [ -n "$target" ]; then exec pyrestore -- "$here" "$target"; else exec pyrestore -- "$here"; fi
fi
command -v psql >/dev/null 2>&1 || { echo "restore-full.sh: neither pyrestore nor psql is installed" >&2; exit 2; }
decompress | psql_target
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
