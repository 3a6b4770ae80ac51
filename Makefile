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

# Debian packages the tests need, as package:command-or-file (installed when root):
# chromium for the browser tests (never `playwright install`: no downloads here), influxdb
# for the InfluxDB sink's tests (the tests start the server), the PostgreSQL JDBC jar for
# Spark (Java 17 is on these machines).
DEBIAN_TEST_PACKAGES := chromium:chromium influxdb:influxd \
	libpostgresql-jdbc-java:/usr/share/java/postgresql.jar openjdk-17-jre-headless:java
system-deps:
	@missing=""; for entry in $(DEBIAN_TEST_PACKAGES); do \
	  need="$${entry#*:}"; \
	  command -v "$$need" >/dev/null 2>&1 || [ -e "$$need" ] || missing="$$missing $${entry%%:*}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; their tests will be skipped"; \
	  else echo "note: missing$$missing and not root; run 'sudo apt-get install$$missing' for their tests"; fi; \
	fi

# The class archive Spark's JVM starts from in about half the time (once per JDK/pyspark).
SPARK_PREPARE := $(VENV)/bin/streamdash spark prepare || echo "note: Spark's JVM starts without a class archive"

test: $(STAMP) system-deps
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy
	@$(SPARK_PREPARE)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench: $(STAMP)
	@$(SPARK_PREPARE)
	$(VENV)/bin/streamdash bench

clean:
	rm -rf $(VENV) .streamdash .pytest_cache .mypy_cache .ruff_cache
