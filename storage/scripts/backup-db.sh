#!/usr/bin/env bash
# Compatibility wrapper for the old script path: every argument goes to pydump.
#   storage/scripts/backup-db.sh [--prod|--no-transient|--no-org-data|--no-auth|--no-storage] [DSN]
# As the spec's script did, it writes the project's own storage/backups from any directory
# (unless PYDUMP_BACKUP_DIR or --out says otherwise).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PYDUMP_BACKUP_DIR="${PYDUMP_BACKUP_DIR:-$repo/storage/backups}"
if [ -x "$repo/.venv/bin/pydump" ]; then
    exec "$repo/.venv/bin/pydump" "$@"
fi
if command -v pydump >/dev/null 2>&1; then
    exec pydump "$@"
fi
echo "backup-db.sh: pydump not found (run 'make venv' in $repo first)" >&2
exit 127
