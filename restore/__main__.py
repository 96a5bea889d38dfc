"""``python -m restore``: the same as the ``pyrestore`` console script."""
from __future__ import annotations

from restore.cli import main

raise SystemExit(main())
