"""pydump's test suite as a package, so ``tests.support`` imports the same way from every test
module, from ``tests/unit`` and from ``benchmarks/`` (``python -m benchmarks.run`` from the repo
root): no ``sys.path`` edits anywhere. pytest (rootdir-based "prepend" import mode) puts the repo
root on ``sys.path`` because this directory is a package."""
