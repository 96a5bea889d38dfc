# pydump: `make demo` and `make test` work on a fresh clone (they create .venv themselves).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo test test-slow test-versions bench bench-catalog soak clean-venv

# Server majors the suite runs on (tests/registry_servers.py fetches them, cached outside the
# repo). The first is the primary server: tests that do not depend on the server version run
# there only. `make test` runs the version-dependent (fidelity) tests on 15 and 18 (Debian's,
# newest); `make test-versions` runs them on the other majors (12, the oldest, included), plus
# the upgrade matrix. 12 moved there when make test passed 15 minutes on this 2-core machine.
TEST_SERVERS     ?= pg15,pg18
VERSION_SERVERS  ?= pg12,pg13,pg14,pg16,pg17

venv: $(STAMP)

# (re)install only when pyproject.toml changes; the test extras carry pgserver for the demo
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

# make demo ARGS="--prod" passes options to pydump; KEEP=1 leaves the server running
demo: $(STAMP)
	$(if $(KEEP),PYDUMP_DEMO_KEEP=1 )$(PY) storage/scripts/demo.py $(ARGS)

test: $(STAMP)
	PYDUMP_TEST_SERVERS=$(TEST_SERVERS) $(PY) -m pytest -q -p no:cacheprovider -m "not slow" tests

# the tests marked slow (the 30 s soak, 3,000 tables, the fuzzer): ~2 minutes that would push
# make test past 15 minutes on this 2-core machine; CI runs them after make test
test-slow: $(STAMP)
	PYDUMP_TEST_SERVERS=$(TEST_SERVERS) $(PY) -m pytest -q -p no:cacheprovider -m slow tests

test-versions: $(STAMP)
	PYDUMP_TEST_SERVERS=$(VERSION_SERVERS) PYDUMP_TEST_ALL_VERSIONS=0 $(PY) -m pytest -q \
		-p no:cacheprovider -m "all_versions or upgrade" tests

# Issue 14: pydump/pyrestore run after run under live writers, concurrent DDL, a flaky
# 127.0.0.1 proxy and SIGKILLs, against a server it starts itself (tests/soak); SOAK_S seconds.
SOAK_S ?= 600
soak: $(STAMP)
	PYDUMP_TEST_SERVERS=$(TEST_SERVERS) $(PY) -m tests.soak --seconds $(SOAK_S)

bench: $(STAMP) bench-catalog
	$(PY) -m benchmarks.run $(if $(SIZE),--size $(SIZE))

# Issue 18: --schema-only against pg_dump -s at 10,000 and 50,000 tables (own server, ~15 min)
CATALOG_TABLES ?= 10000,50000
bench-catalog: $(STAMP)
	$(PY) -m benchmarks.catalog_bench --tables $(CATALOG_TABLES) --results benchmarks/RESULTS-catalog.md

clean-venv:
	rm -rf $(VENV)
