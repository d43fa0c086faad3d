# Two commands: `make run` (the service on embedded defaults) and `make test` (the suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check types venv lint format bench

$(STAMP): requirements.txt requirements-dev.txt client/pyproject.toml
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
	$(BIN)/mypy
	DJANGO_SETTINGS_MODULE=config.settings.testing $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest

# The edit loop: lint and every test not marked integration, slow or browser, on both cores,
# keeping the test databases between runs.
check: venv
	scripts/ensure-services.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -n 2 --reuse-db -m "not integration and not slow and not browser"

types: venv
	$(BIN)/mypy

lint:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv
	scripts/ensure-services.sh
	$(BIN)/python -m bench
