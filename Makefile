# Voronka — the two commands: `make run` and `make test`. Everything else is set-up they call.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export VORONKA_DATA_DIR ?= $(CURDIR)/var
export VORONKA_BASE_URL ?= http://127.0.0.1:$(PORT)

.PHONY: run test setup setup-dev assets messages sysdeps serve worker bench battery lint clean

run: setup
	$(BIN)/voronka migrate --noinput
	$(BIN)/voronka demo
	@PORT=$(PORT) ./scripts/run-all.sh

test: setup-dev sysdeps
	./scripts/test.sh

## Install only: venv, Python packages, npm assets, compiled translations.
setup: $(BIN)/.installed assets messages

setup-dev: $(BIN)/.installed-dev assets messages

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(BIN)/.installed-dev: pyproject.toml $(BIN)/.installed
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

assets: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

messages: $(BIN)/.installed
	$(BIN)/python -m voronka.config.compilemessages

## Debian packages the browser and PostgreSQL tests need (installed when missing and we are root).
sysdeps:
	./scripts/sysdeps.sh

serve: setup
	$(BIN)/voronka serve --port $(PORT)

worker: setup
	$(BIN)/voronka worker

bench: setup-dev sysdeps
	./scripts/bench.sh

## The tier-B reliability rows (pytest -m battery) on SQLite and a throwaway PostgreSQL.
battery: setup-dev sysdeps
	./scripts/battery.sh

lint: setup-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache
	VORONKA_ENV=test $(BIN)/mypy

clean:
	rm -rf $(VENV) node_modules var
