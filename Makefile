# Two commands on a fresh machine: `make demo` and `make test`. Both create the virtualenv
# and install what they need (Debian packages too, when run as root).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck bench clean system-deps

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
	$(PY) -m pip install --quiet -e '.[dev,kafka]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/streamdash demo

# Browser tests need Debian's chromium (never `playwright install`: no downloads here);
# the InfluxDB sink's tests need Debian's influxdb (the server is started by the tests).
DEBIAN_TEST_PACKAGES := chromium:chromium influxdb:influxd
system-deps:
	@missing=""; for entry in $(DEBIAN_TEST_PACKAGES); do \
	  command -v "$${entry#*:}" >/dev/null 2>&1 || missing="$$missing $${entry%%:*}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; their tests will be skipped"; \
	  else echo "note: missing$$missing and not root; run 'sudo apt-get install$$missing' for their tests"; fi; \
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
