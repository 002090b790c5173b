# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit integration e2e chaos bench clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,ml]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/runner run functions/demo.py

lint: $(STAMP)
	$(BIN)/ruff check runner functions tests bench
	$(BIN)/ruff format --check runner functions tests bench
	$(BIN)/mypy runner
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e

# The fault suite (also part of `make test`); figures in tests/chaos/results/chaos.json.
chaos: $(STAMP)
	$(BIN)/pytest tests/chaos

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .runner .pytest_cache .mypy_cache .ruff_cache build *.egg-info bench/results bench/.venv-kfp tests/chaos/results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
