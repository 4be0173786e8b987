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

.PHONY: run test bench lint typecheck keys clean check-db

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

# tests/network makes a network namespace with iproute2's `ip` (as root, as CI runs).
test: lint typecheck
	@command -v ip >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -qq iproute2 >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq iproute2; } >/dev/null 2>&1; }
	$(BIN)/pytest

# Verify a database (TORRENTINO_DB_PATH, or the default) against its audit log.
check-db: $(STAMP)
	$(BIN)/python -m chalicelib.check

# The full benchmark (about ten minutes): installs wrk from Debian's packages if it is
# missing (falling back to bench/'s Python load generator if that is not possible),
# prints one table and keeps it in bench/results/latest.md. Then the soak: SOAK_MINUTES
# of mixed load with slow clients (bench/soak.py), kept in bench/results/soak.md.
SOAK_MINUTES ?= 10
bench: $(STAMP)
	@command -v wrk >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -qq wrk >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk; } >/dev/null 2>&1 || \
		echo "wrk could not be installed: using the Python load generator"; }
	$(BIN)/python -m bench --out bench/results/latest.md
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES) --out bench/results/soak.md

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
