# Two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# make run PORT=8000: the web server listens there, and links in mail point there.
export PORT ?= 5000
export SPOTCAM_ENV ?= development
# Python caches what it compiles, whatever the shell says: with PYTHONDONTWRITEBYTECODE set
# (as this machine's environment does) every process compiled every module it imported, again:
# an `invites` process started in 5.8 s of CPU instead of 1.9 s, and the suite starts hundreds.
unexport PYTHONDONTWRITEBYTECODE
# make test JOBS=1: the suite in one process; else in this many pytest-xdist workers.
JOBS ?= 3

.PHONY: prepare run test lint bench clean help

help:  ## Show the targets.
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# --no-compile: Python compiles what is imported when it is first imported; compiling
	@# every installed module up front took ten seconds of a fresh `make test`.
	$(BIN)/python -m pip install -q --no-compile -e '.[dev]'
	touch $(STAMP)

prepare: $(STAMP)  ## What make run does first: write instance/settings.env, migrate, keep a demo API key.
	@$(BIN)/invites dev prepare --port $(PORT)

run: prepare  ## Run web + worker + scheduler on embedded defaults (Ctrl-C stops all).
	@# Ctrl-C reaches all three. The worker and the scheduler stop on it (a second signal
	@# within a second would be ignored, so they get no other); the web server, a background
	@# job, ignores SIGINT and gets a SIGTERM. Then stop the embedded Redis they shared: each
	@# saw the others still connected when it exited, so none of them did. The banner (URLs,
	@# the demo key) waits for the web server, so it comes after the start-up lines.
	@stop_redis() { $(BIN)/python -c 'from invites.core.queue import stop_embedded as s; s("instance")'; }; \
	  trap 'trap - INT TERM EXIT; kill $$web 2>/dev/null; wait; stop_redis' INT; \
	  trap 'trap - INT TERM EXIT; kill $$web $$others 2>/dev/null; wait; stop_redis' TERM EXIT; \
	  $(BIN)/invites worker & others="$$!"; \
	  $(BIN)/invites scheduler & others="$$others $$!"; \
	  $(BIN)/invites run --port $(PORT) & web="$$!"; \
	  $(BIN)/invites dev banner --wait 60; \
	  wait

test: $(STAMP)  ## Run the test suite on embedded defaults (SQLite, embedded Redis), in JOBS processes.
	SPOTCAM_ENV=test $(BIN)/python -m pytest -q -n $(JOBS)

lint: $(STAMP)  ## ruff, mypy and the layer contracts (lint-imports).
	$(BIN)/ruff check .
	$(BIN)/ruff format --check invites mailer tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)  ## Benchmark the invitation API (needs PostgreSQL and Redis; see README).
	$(BIN)/python bench/invitations.py

clean:  ## Remove the virtualenv and local state.
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
