# Two commands on a fresh machine with Python 3.11+ and make:
#   make run    install and start the server on the embedded default (SQLite in ./data)
#               make run ARGS="--demo" also loads demo users and a demo course
#   make test   install and run the linters, the migration check and the whole test suite
#               (on PostgreSQL too when STUDYHALL_TEST_DATABASE_URL is set)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck migrations-check pytest-sqlite pytest-postgres bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/studyhall serve $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

migrations-check: $(STAMP)
	@tmp=$$(mktemp -d); \
	STUDYHALL_DATA_DIR=$$tmp STUDYHALL_DATABASE_URL=sqlite:///$$tmp/check.db $(BIN)/alembic upgrade heads >/dev/null && \
	STUDYHALL_DATA_DIR=$$tmp STUDYHALL_DATABASE_URL=sqlite:///$$tmp/check.db $(BIN)/alembic check; \
	status=$$?; rm -rf $$tmp; exit $$status

test: lint typecheck migrations-check
	@# With PostgreSQL next, the SQLite run leaves the tests marked `once` to it.
	@STUDYHALL_TEST_POSTGRES_FOLLOWS=$${STUDYHALL_TEST_DATABASE_URL:+1} STUDYHALL_TEST_DATABASE_URL= $(MAKE) --no-print-directory pytest-sqlite
	@# The PostgreSQL run skips the tests that touch no database: the SQLite run just ran them.
	@if [ -n "$$STUDYHALL_TEST_DATABASE_URL" ]; then STUDYHALL_TEST_SKIP_DATABASE_FREE=1 $(MAKE) --no-print-directory pytest-postgres; fi

pytest-sqlite: $(STAMP)
	@echo "== test suite on SQLite"
	STUDYHALL_TEST_DATABASE_URL= $(BIN)/pytest -n 2 --dist loadgroup -q --durations=25 $(PYTEST_ARGS)

pytest-postgres: $(STAMP)
	@echo "== test suite on PostgreSQL ($$STUDYHALL_TEST_DATABASE_URL)"
	$(BIN)/pytest -n 2 --dist loadgroup -q --durations=25 $(PYTEST_ARGS)

bench: $(STAMP)
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
