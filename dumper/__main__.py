"""``python -m dumper``: the same as the ``pydump`` console script."""

from dumper.cli import main

if __name__ == "__main__":  # parallel workers are spawned processes that import this module
    raise SystemExit(main())
