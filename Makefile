# Two commands on a fresh machine: `make demo` and `make test`. Both create the virtualenv
# and install what they need (Debian packages too, when run as root).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck bench clean system-deps

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
	$(PY) -m pip install --quiet -e '.[dev,kafka,spark]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/streamdash demo

# Browser tests need Debian's chromium (never `playwright install`: no downloads here).
# Spark tests need a Java runtime and the PostgreSQL JDBC driver (Maven is unreachable).
system-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will be skipped"; \
	  else echo "note: chromium missing and not root; run 'sudo apt-get install chromium' for browser tests"; fi; \
	fi
	@if [ ! -f /usr/share/java/postgresql.jar ] || ! command -v java >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      libpostgresql-jdbc-java openjdk-17-jre-headless >/dev/null) \
	      || echo "warning: could not install Java / the PostgreSQL JDBC driver; Spark tests will fail"; \
	  else echo "note: run 'sudo apt-get install openjdk-17-jre-headless libpostgresql-jdbc-java' for the Spark tests"; fi; \
	fi

test: $(STAMP) system-deps
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(VENV)/bin/streamdash bench

clean:
	rm -rf $(VENV) .streamdash .pytest_cache .mypy_cache .ruff_cache
