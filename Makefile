# The two commands of the README, plus benchmarks and lint. Everything installs into .venv.
SHELL := /bin/bash
# The first Python >= 3.11 on PATH (override with `make PYTHON=/path/to/python3.12 ...`).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The browser of the web UI tests (tests/http/test_http_ui.py): Debian's, installed when missing.
CHROMIUM := /usr/bin/chromium
# pdftotext/pdftoppm of the PDF report tests (tests/workflows/test_workflows_report.py).
POPPLER := /usr/bin/pdftotext

.PHONY: demo test bench bench-quick bench-postgres bench-http bench-sessions lint clean

$(INSTALLED): pyproject.toml
	@test -n "$(PYTHON)" || { echo "chronik needs Python 3.11 or newer on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,postgres,bench,http,mcp,channels,reports,workflows]"
	@touch $(INSTALLED)

$(CHROMIUM):
	@test "$$(id -u)" = 0 || { echo "the UI tests need $(CHROMIUM): apt-get install chromium (as root)" >&2; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

$(POPPLER):
	@test "$$(id -u)" = 0 || { echo "the report tests need $(POPPLER): apt-get install poppler-utils (as root)" >&2; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils

demo: $(INSTALLED)
	$(BIN)/chronik demo

test: $(INSTALLED) $(CHROMIUM) $(POPPLER)
	$(BIN)/python -m pytest -q

bench: $(INSTALLED)
	$(BIN)/python benchmarks/bench_sqlite_vs_eventsourcing.py
	$(BIN)/python benchmarks/bench_writers.py

bench-quick: $(INSTALLED)
	$(BIN)/python benchmarks/bench_sqlite_vs_eventsourcing.py --quick

# Needs a PostgreSQL server: CHRONIK_BENCH_PG_URL, else postgresql://postgres@127.0.0.1:5432/postgres.
bench-postgres: $(INSTALLED)
	$(BIN)/python benchmarks/bench_postgres_vs_eventsourcing.py
	$(BIN)/python benchmarks/bench_postgres_writers.py
	$(BIN)/python benchmarks/bench_postgres_writers.py --batch 100
	$(BIN)/python benchmarks/bench_writers.py --postgres-only

# HTTP appends/s with 1 and 16 clients vs the Python API, and SSE fan-out to 100 clients.
bench-http: $(INSTALLED)
	$(BIN)/python benchmarks/bench_http.py

# Agent sessions: the plan's targets (emit, last 100, replay, query, bytes per event) on SQLite and
# PostgreSQL, beside the real system's design in the same run; needs the server of bench-postgres.
bench-sessions: $(INSTALLED)
	$(BIN)/python benchmarks/bench_sessions.py

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/mypy

# What `make demo` writes (its ledger; ext-logs/ is where demos before issue 10 left install logs).
DEMO_FILES := chronik-demo.db chronik-demo.db-wal chronik-demo.db-shm ext-logs

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache $(DEMO_FILES)
