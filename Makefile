PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# glibc malloc settings that make PyTorch training and MC dropout markedly faster on CPU
export MALLOC_MMAP_THRESHOLD_ = 33554432
export MALLOC_TRIM_THRESHOLD_ = 4294967296
export MALLOC_TOP_PAD_ = 268435456

.PHONY: install test test-slow bench prepare clean

install:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch first, pinned: the CPU wheel. A looser pin pulls a multi-GB CUDA build.
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -c constraints.txt -e ".[dev]"

test:
	$(PY) -m pytest

test-slow:
	$(PY) -m pytest -m slow

prepare:
	$(PY) -m ccsnscore.prepare

bench:
	$(PY) benchmarks/run_all.py

clean:
	rm -rf .cache build dist src/*.egg-info
