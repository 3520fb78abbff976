# The two commands of the README, plus benchmarks and lint. Everything installs into .venv.
SHELL := /bin/bash
# The first Python >= 3.11 on PATH (override with `make PYTHON=/path/to/python3.12 ...`).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test bench bench-quick bench-postgres lint clean

$(INSTALLED): pyproject.toml
	@test -n "$(PYTHON)" || { echo "chronik needs Python 3.11 or newer on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,postgres,bench,http,mcp,channels]"
	@touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/chronik demo

test: $(INSTALLED)
	$(BIN)/python -m pytest -q

bench: $(INSTALLED)
	$(BIN)/python benchmarks/bench_sqlite_vs_eventsourcing.py

bench-quick: $(INSTALLED)
	$(BIN)/python benchmarks/bench_sqlite_vs_eventsourcing.py --quick

# Needs a PostgreSQL server: CHRONIK_BENCH_PG_URL, else postgresql://postgres@127.0.0.1:5432/postgres.
bench-postgres: $(INSTALLED)
	$(BIN)/python benchmarks/bench_postgres_vs_eventsourcing.py
	$(BIN)/python benchmarks/bench_postgres_writers.py
	$(BIN)/python benchmarks/bench_postgres_writers.py --batch 100

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache chronik-demo.db chronik-demo.db-wal chronik-demo.db-shm
