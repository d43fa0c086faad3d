# Two commands: `make run` (the service on embedded defaults) and `make test` (the suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv lint format bench

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(STAMP)

run: venv
	scripts/run-embedded.sh

test: venv
	scripts/ensure-services.sh
	scripts/ensure-browser.sh
	scripts/validate-deploy.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv
	$(BIN)/python -m bench.postprocess
	$(BIN)/python -m bench.watershed_accuracy
	$(BIN)/python -m bench.warm_worker
	$(BIN)/python -m bench.depth_ingest
	$(BIN)/python -m bench.depth_frame
	$(BIN)/python -m bench.tiles
	$(BIN)/python -m bench.tiles_convert
	$(BIN)/python -m bench.load
