#!/usr/bin/env bash
# Compatibility wrapper for the old script path: every argument goes to pydump.
#   storage/scripts/backup-db.sh [--prod|--no-transient|--no-org-data|--no-auth|--no-storage] [DSN]
set -euo pipefail
if command -v pydump >/dev/null 2>&1; then
    exec pydump "$@"
fi
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -x "$repo/.venv/bin/pydump" ]; then
    exec "$repo/.venv/bin/pydump" "$@"
fi
echo "backup-db.sh: pydump not found (run 'make venv' in $repo first)" >&2
exit 127
