# Two entry points (see README): `make up` runs the pipeline on the embedded local stack with the demo
# feed; `make test` runs the test suite. Both create .venv and install everything on first use.
PYTHON ?= python3
VENV   ?= .venv
STAMP  := $(VENV)/.installed-stamp

.PHONY: up test lint faults faults-ci bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[local,test,lint]'
	touch $(STAMP)

up: $(STAMP)
	$(VENV)/bin/newsmon up --demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest

# ruff, mypy and the import contracts (pyproject.toml). mypy and import-linter read the package tree as a
# wheel installs it (`newsmon.sinks` ...), laid out from links by .ci/import_tree.py. Then the deploy files:
# the compose file against the Compose specification's schema (dclint, pinned, from npm) and the
# Dockerfile (hadolint, from PyPI with the lint extras).
IMPORT_TREE := build/imports
DCLINT := build/lint/node_modules/.bin/dclint
$(DCLINT):
	mkdir -p build/lint && npm install --prefix build/lint --no-audit --no-fund --silent dclint@3.1.0

lint: $(STAMP) $(DCLINT)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python .ci/import_tree.py $(IMPORT_TREE)
	cd $(IMPORT_TREE) && $(abspath $(VENV))/bin/mypy --config-file $(CURDIR)/pyproject.toml \
	    --cache-dir $(CURDIR)/build/mypy-cache -p newsmon
	cd $(IMPORT_TREE) && PYTHONPATH=. $(abspath $(VENV))/bin/lint-imports --no-cache $(CURDIR)/pyproject.toml
	$(DCLINT) --quiet deploy/docker-compose.yml
	$(VENV)/bin/hadolint deploy/Dockerfile

# The fault suite: stages killed with SIGKILL mid-run, servers stopped, the broker frozen, the receiver
# down, slow and flapping; every acknowledged id accounted for, one row of the fault table per scenario
# (printed at the end; tens of minutes). `faults-ci`: the reduced set `.ci/run` runs.
faults: $(STAMP)
	$(VENV)/bin/python -m pytest -m "faults or integration" -s tests/faults tests/test_up_recovery.py $(PYTEST_ARGS)

faults-ci: $(STAMP)
	$(VENV)/bin/python -m pytest -m "faults and ci" -s tests/faults $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build/imports
