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
ifdef TORRENTINO_BACKUP_DIR
export TORRENTINO_BACKUP_DIR
endif

.PHONY: run test test-fast bench lint typecheck keys destinations notify clean check-db browser caddy wrk \
	screenshots package backup backups verify-backups restore deploy

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(STAMP)
	$(BIN)/python launcher/local_server.py --host $(HOST) --port $(PORT)

# make keys ARGS="create alice --role admin" | ARGS=list | ARGS="revoke <key id>"
keys: $(STAMP)
	$(BIN)/python -m chalicelib.cli keys $(ARGS)

# make destinations ARGS="add Movies /media/movies --tag movie" | ARGS=list | ARGS="remove <id>"
destinations: $(STAMP)
	$(BIN)/python -m chalicelib.cli destinations $(ARGS)

# make notify ARGS="add ntfy://ntfy.example.com/torrentino" | ARGS=list | ARGS="test <id>"
# (docs/notifications.md)
notify: $(STAMP)
	$(BIN)/python -m chalicelib.cli notify $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# tests/network makes a network namespace with iproute2's `ip` (as root, as CI runs);
# tests/deploy/test_systemd.py checks the systemd unit with systemd-analyze (Debian's systemd).
test: lint typecheck browser caddy wrk
	@command -v ip >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -qq iproute2 >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq iproute2; } >/dev/null 2>&1; }
	@command -v systemd-analyze >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -qq systemd >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq systemd; } >/dev/null 2>&1; }
	$(BIN)/pytest

# The quick loop: the layers that need no server, browser or network (about 20 s).
test-fast: $(STAMP)
	$(BIN)/pytest -q tests/unit tests/store tests/handler

# The browser tests and the page benchmark drive Debian's Chromium (Playwright's own
# browser download cannot work here): install it when it is missing.
browser:
	@test -x /usr/bin/chromium || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -qq chromium >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; } >/dev/null; }

# The load generator of the HTTP benchmarks; tests/bench/test_wrk_script.py checks what its
# script (bench/wrk.lua) sends. Without it, make bench falls back to bench/'s own.
wrk:
	@command -v wrk >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -qq wrk >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk; } >/dev/null 2>&1 || \
		echo "wrk could not be installed: make bench uses the Python load generator"; }

# The proxy tests (tests/proxy, tests/browser/test_behind_a_proxy.py) put Debian's Caddy in
# front of the server, as docs/security.md says: install it when it is missing.
caddy:
	@command -v caddy >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -qq caddy >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq caddy; } >/dev/null; }

# The README's screenshots (docs/screenshots/), made by the browser tests that take them.
screenshots: $(STAMP) browser
	TORRENTINO_SCREENSHOT_DIR=docs/screenshots $(BIN)/pytest -q tests/browser/test_screenshots.py

# Verify a database (TORRENTINO_DB_PATH, or the default) against its audit log.
check-db: $(STAMP)
	$(BIN)/python -m chalicelib.cli check

# Backups (docs/backups.md): take one now, list them, verify them (all, or FILE=...), and
# restore one with the server stopped: make restore FILE=<backup name or path>.
backup: $(STAMP)
	$(BIN)/python -m chalicelib.cli backup create

backups: $(STAMP)
	$(BIN)/python -m chalicelib.cli backup list

verify-backups: $(STAMP)
	$(BIN)/python -m chalicelib.cli backup verify $(FILE)

restore: $(STAMP)
	@test -n "$(FILE)" || { echo "usage: make restore FILE=<backup name or path>" >&2; exit 2; }
	$(BIN)/python -m chalicelib.cli backup restore "$(FILE)"

# The full benchmark (about 30 minutes on two cores, with the soak): installs wrk and strace from Debian's
# packages if missing (falling back to bench/'s Python load generator without wrk, and
# leaving out the system-call table without strace), makes the peer's own virtualenv
# (bench/peer/.venv, FastAPI + uvicorn from bench/peer/requirements.txt) the first time,
# prints one table and keeps it in bench/results/latest.md and docs/benchmarks.md. Then the
# soak: SOAK_MINUTES of mixed load with slow clients (bench/soak.py), in bench/results/soak.md.
SOAK_MINUTES ?= 10
bench: $(STAMP) browser wrk
	@command -v strace >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -qq strace >/dev/null 2>&1 || \
		echo "strace could not be installed: no system-call table"; }
	$(BIN)/python -m bench --out bench/results/latest.md --doc docs/benchmarks.md
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES) --out bench/results/soak.md

# The deployable artifact of a stage (.chalice/config.json): Chalice's own `chalice package`,
# merged with .chalice/template-<stage>.json when there is one, then checked by cfn-lint.
# make package STAGE=efs [PACKAGE_DIR=...]  ->  $(PACKAGE_DIR)/sam.json and deployment.zip
STAGE ?= dev
PACKAGE_DIR ?= build/package/$(STAGE)
MERGE_TEMPLATE = $(wildcard .chalice/template-$(STAGE).json)
# Chalice wants a region to package, but writes none into the template (it uses AWS::Region).
PACKAGE_REGION = $(or $(AWS_REGION),$(AWS_DEFAULT_REGION),us-east-1)

package: $(STAMP)
	rm -f $(PACKAGE_DIR)/sam.json $(PACKAGE_DIR)/deployment.zip
	AWS_DEFAULT_REGION=$(PACKAGE_REGION) $(BIN)/chalice package --stage $(STAGE) \
		$(if $(MERGE_TEMPLATE),--merge-template $(MERGE_TEMPLATE)) $(PACKAGE_DIR)
	$(BIN)/cfn-lint $(PACKAGE_DIR)/sam.json

# Deploy the EFS stage to AWS in one command (docs/deploy.md): package it, then the AWS SAM
# CLI's `sam deploy` uploads the code to a bucket SAM manages and creates or updates the
# stack. Without PARAMETERS the stack makes its own network and file system; with
# PARAMETERS="SubnetIds=... SecurityGroupIds=... FileSystemId=... AccessPointArn=..." it
# uses those.
STACK ?= torrentino
deploy: $(STAMP)
	@command -v sam >/dev/null || { \
		echo "make deploy needs the AWS SAM CLI (sam): see docs/deploy.md" >&2; exit 2; }
	$(MAKE) package STAGE=efs PACKAGE_DIR=build/package/efs
	sam deploy --template-file build/package/efs/sam.json --stack-name $(STACK) \
		--resolve-s3 --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
		$(if $(PARAMETERS),--parameter-overrides $(PARAMETERS))

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build
