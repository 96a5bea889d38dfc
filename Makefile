# pydump: `make demo` and `make test` work on a fresh clone (they create .venv themselves).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo test bench clean-venv

venv: $(STAMP)

# (re)install only when pyproject.toml changes; the test extras carry pgserver for the demo
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) storage/scripts/demo.py

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: $(STAMP)
	$(PY) -m benchmarks.run $(if $(SIZE),--size $(SIZE))

clean-venv:
	rm -rf $(VENV)
