"""The soak: many pydump/pyrestore runs under live load, concurrent DDL, a flaky network and
SIGKILLs, against a real server the harness starts itself (issue 14).

``python -m tests.soak --seconds N`` (``make soak SOAK_S=N``); ``tests/test_soak.py`` runs a
short one inside ``make test``. See :mod:`tests.soak.harness` for what each run checks.
"""
