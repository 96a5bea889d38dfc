"""``python -m tests.soak --seconds N``: run the soak, print the report, exit 1 on any finding."""

from __future__ import annotations

import argparse
import sys

from tests.soak.harness import run_soak


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    ap.add_argument("--seconds", type=float, default=600, help="how long to keep starting runs (default 600)")
    ap.add_argument("--seed", type=int, default=14, help="random seed: the same seed draws the same faults")
    args = ap.parse_args(argv)
    report = run_soak(args.seconds, args.seed, log=lambda s: print(s, flush=True))
    print(report.render(), flush=True)
    return 1 if report.findings or report.lost else 0


if __name__ == "__main__":
    sys.exit(main())
