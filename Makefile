# Two commands for a newcomer: `make demo` and `make test`. Both build a local
# virtual environment in .venv from PyPI; nothing else needs to be installed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SEED   := protocols/NCT01844063.rules

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The demo needs the core only; the tests also install DuckDB, Spark and the test tools.
$(VENV)/.core-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.core-installed
	$(BIN)/protocol-dsl check $(SEED)
	@for patient in examples/*.json; do \
		echo; echo "== $$patient"; \
		$(BIN)/protocol-dsl eval $(SEED) $$patient || exit 1; \
	done
	@echo; echo "== examples/dated/rising_bilirubin.json (dated values, index date 2026-12-01)"
	$(BIN)/protocol-dsl eval $(SEED) examples/dated/rising_bilirubin.json --as-of 2026-12-01

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest

$(VENV)/.bench-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
