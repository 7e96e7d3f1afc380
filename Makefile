# Set-up and checks; everything installs into .venv from this repository's own files.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CASE ?= out/case
JOBS ?= 2

.PHONY: venv install dev demo test lint typecheck pytest lab bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

demo: install
	rm -rf $(CASE)
	$(BIN)/iamforensics ingest data/samples/AWSLogs --case $(CASE) --jobs $(JOBS)
	$(BIN)/iamforensics info --case $(CASE)
	$(BIN)/python tools/run_notebooks.py --case $(CASE) --out out/notebooks --jobs $(JOBS)
	$(BIN)/iamforensics report --case $(CASE) --out out/report

lint: dev
	$(BIN)/ruff check iamforensics tests bench tools
	$(BIN)/ruff format --check iamforensics tests bench tools

typecheck: dev
	$(BIN)/mypy

pytest: dev
	tools/ensure_chromium.sh
	$(BIN)/pytest -n $(JOBS) -q

test: lint typecheck pytest

lab: install
	$(BIN)/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
