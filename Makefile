# Two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# make run PORT=8000: the web server listens there, and links in mail point there.
export PORT ?= 5000
export SPOTCAM_ENV ?= development

.PHONY: run test lint bench clean help

help:  ## Show the targets.
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## Migrate, then run web + worker + scheduler on embedded defaults (Ctrl-C stops all).
	$(BIN)/invites db upgrade
	@$(BIN)/invites api-keys ensure-demo
	@echo "Web:    http://127.0.0.1:$(PORT)/"
	@echo "Outbox: http://127.0.0.1:$(PORT)/dev/outbox"
	@echo "API:    http://127.0.0.1:$(PORT)/api/v1/openapi.json"
	@echo "Console: http://127.0.0.1:$(PORT)/console/ (first: $(BIN)/invites users create EMAIL --role admin)"
	@# Ctrl-C reaches all three. The worker and the scheduler stop on it (a second signal
	@# within a second would be ignored, so they get no other); the web server, a background
	@# job, ignores SIGINT and gets a SIGTERM. Then stop the embedded Redis they shared: each
	@# saw the others still connected when it exited, so none of them did.
	@stop_redis() { $(BIN)/python -c 'from invites.core.queue import stop_embedded as s; s("instance")'; }; \
	  trap 'trap - INT TERM EXIT; kill $$web 2>/dev/null; wait; stop_redis' INT; \
	  trap 'trap - INT TERM EXIT; kill $$web $$others 2>/dev/null; wait; stop_redis' TERM EXIT; \
	  $(BIN)/invites worker & others="$$!"; \
	  $(BIN)/invites scheduler & others="$$others $$!"; \
	  $(BIN)/invites run --port $(PORT) & web="$$!"; \
	  wait

test: $(STAMP)  ## Run the test suite on embedded defaults (SQLite, embedded Redis).
	SPOTCAM_ENV=test $(BIN)/python -m pytest -q

lint: $(STAMP)  ## ruff, mypy and the layer contracts (lint-imports).
	$(BIN)/ruff check .
	$(BIN)/ruff format --check invites mailer tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)  ## Benchmark the invitation API (needs PostgreSQL and Redis; see README).
	$(BIN)/python bench/invitations.py

clean:  ## Remove the virtualenv and local state.
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
