# Quick start: `make train` runs the main job, `make test` runs the tests (both install first).
PYTHON ?= python3
RUN ?= runs/quickstart

.PHONY: setup train test test-unit test-seeds bench

setup:
	PYTHON=$(PYTHON) scripts/setup.sh

train: setup
	$(PYTHON) -m scanfit train --output $(RUN)

test: setup
	$(PYTHON) -m pytest -q -p no:cacheprovider tests

test-unit: setup
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/unit

test-seeds: setup
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/seeds

bench: setup
	$(PYTHON) bench/run.py
