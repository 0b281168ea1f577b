# Targets a person and CI both use. Python 3.11 and make are all a fresh machine needs.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve install install-all test test-fast lint format typecheck bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Serving install: no torch, no ultralytics.
$(VENV)/.serve: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

# Everything: serving + train extra (torch, ultralytics) + dev tools.
$(VENV)/.all: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[train,dev]'
	touch $@ $(VENV)/.serve

install: $(VENV)/.serve
install-all: $(VENV)/.all

# Plain http on loopback: the workbench's cookies go without Secure there only (the setting
# defaults to Secure, and some browsers drop Secure cookies set over plain http).
run: install
	$(if $(filter 127.0.0.1 localhost,$(HOST)),FRESHPROOF_WEB_SECURE_COOKIES=false) $(VENV)/bin/freshproof serve --host $(HOST) --port $(PORT)

serve: run

test: install-all
	$(PY) -m pytest

test-fast: install-all
	$(PY) -m pytest -m "not slow"

lint: install-all
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install-all
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install-all
	$(VENV)/bin/mypy

bench: install-all
	$(PY) bench/inference.py
	$(PY) bench/inference.py --photo-side 4032
	$(PY) bench/agreement.py
	$(PY) bench/ledger.py
	$(PY) bench/claims.py
	$(PY) bench/responsibility.py
	$(PY) bench/stations.py
	$(PY) bench/reliability.py
	$(PY) bench/load.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
