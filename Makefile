# torrentino: `make run` serves the API, `make test` runs every check.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
STAMP := $(VENV)/.installed

ifdef TORRENTINO_DB_PATH
export TORRENTINO_DB_PATH
endif

.PHONY: run test lint typecheck keys clean check-db

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(STAMP)
	$(BIN)/python tools/local_server.py --host $(HOST) --port $(PORT)

# make keys ARGS="create alice --role admin" | ARGS=list | ARGS="revoke <key id>"
keys: $(STAMP)
	$(BIN)/python -m chalicelib.keys $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

# Verify a database (TORRENTINO_DB_PATH, or the default) against its audit log.
check-db: $(STAMP)
	$(BIN)/python -m chalicelib.check

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
