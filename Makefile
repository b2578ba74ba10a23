# Every target creates .venv on first use, so a fresh machine needs only Python 3.11 and make.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean docs guests

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/x360k run --verbose examples/*.yaml
	@echo
	@echo "== x360k diff on the seed's excerpt: canary (tid 6) against the new emulator (tid 1) =="
	@$(BIN)/x360k diff examples/traces/seed_reference_canary.txt examples/traces/seed_candidate.txt; \
	  status=$$?; test $$status -eq 1 || { echo "expected exit 1 (a divergence), got $$status"; exit 1; }

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -n 2 tests

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache

docs: $(STAMP)
	$(BIN)/python tools/gen_semantics.py

# Guest ELFs (with the cross compiler) and the XEX2 conformance titles with their traces.
guests: $(STAMP)
	$(MAKE) -C guests PYTHON=$(abspath $(BIN))/python
