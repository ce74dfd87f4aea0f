PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install test test-slow lint format bench prepare clean

install:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch pinned in the same command as the package: the CPU wheel. A looser pin, or the
	# package alone, pulls a multi-GB CUDA build.
	$(PY) -m pip install -c constraints.txt torch==2.13.0 -e ".[dev]"

test:
	$(PY) -m pytest

test-slow:
	$(PY) -m pytest -m slow

lint:
	$(VENV)/bin/ruff check src tests benchmarks experiments
	$(VENV)/bin/ruff format --check src tests benchmarks experiments

format:
	$(VENV)/bin/ruff check --fix src tests benchmarks experiments
	$(VENV)/bin/ruff format src tests benchmarks experiments

prepare:
	$(PY) -m ccsnscore.prepare

bench:
	$(PY) benchmarks/run_all.py

clean:
	rm -rf .cache build dist src/*.egg-info
