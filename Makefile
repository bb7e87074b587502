# Quick start: `make train` runs the main job, `make test` runs the tests (both install first).
PYTHON ?= python3
# pytest-xdist: one worker per CPU, each test file on one worker (its module fixtures run once), files handed out
# in collection order (tests/conftest.py starts the slowest first).
PYTEST = $(PYTHON) -m pytest -q -p no:cacheprovider -n auto --dist loadfile --no-loadscope-reorder
RUN ?= runs/quickstart

.PHONY: setup train test test-unit test-seeds bench

setup:
	PYTHON=$(PYTHON) scripts/setup.sh

train: setup
	$(PYTHON) -m scanfit train --output $(RUN)

test: setup
	$(PYTEST) tests

test-unit: setup
	$(PYTEST) tests/unit

test-seeds: setup
	$(PYTEST) tests/seeds

bench: setup
	$(PYTHON) bench/run.py
