"""Issue 14: a short run of the soak harness (tests/soak) inside ``make test``.

``make soak SOAK_S=600`` is the long run; this one (``PYDUMP_SOAK_S``, default 30 s) proves
the harness still works and that one shuffled cycle of every scenario — dumps under live
writers and concurrent DDL with ``-j1``/``-j2``, gzip/zstd and ``--lock-batches``, dumps and
restores through a flaky proxy, SIGKILLed pydump and pyrestore — finds nothing.
"""

from __future__ import annotations

import os

import pytest

from tests.soak.harness import SCENARIOS, run_soak

pytestmark = pytest.mark.slow  # 30 s of soak and its server: `make test-slow`


def test_short_soak_finds_nothing() -> None:
    if os.environ.get("PYDUMP_TEST_DSN"):
        pytest.skip("the soak starts its own server")
    report = run_soak(float(os.environ.get("PYDUMP_SOAK_S", "30")), seed=14, log=lambda _s: None)
    text = report.render()
    assert report.findings == [] and report.lost == 0, text
    assert report.complete >= 1 and report.verified == report.complete, text
    assert report.restores_verified >= 1, text
    assert sum(report.runs.values()) >= min(5, len(SCENARIOS)), text
    assert report.writer_commits > 0 and report.ddl_statements > 0, text
