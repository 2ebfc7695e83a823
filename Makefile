# Two entry points (see README): `make up` runs the pipeline on the embedded local stack with the demo
# feed; `make test` runs the test suite. Both create .venv and install everything on first use.
PYTHON ?= python3
VENV   ?= .venv
STAMP  := $(VENV)/.installed-stamp

.PHONY: up test lint faults bench clean

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
# wheel installs it (`newsmon.sinks` ...), laid out from links by .ci/import_tree.py.
IMPORT_TREE := build/imports
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python .ci/import_tree.py $(IMPORT_TREE)
	cd $(IMPORT_TREE) && $(abspath $(VENV))/bin/mypy --config-file $(CURDIR)/pyproject.toml \
	    --cache-dir $(CURDIR)/build/mypy-cache -p newsmon
	cd $(IMPORT_TREE) && PYTHONPATH=. $(abspath $(VENV))/bin/lint-imports --no-cache $(CURDIR)/pyproject.toml

# The fault suite: stages killed with SIGKILL mid-run, every acknowledged id accounted for (minutes).
faults: $(STAMP)
	$(VENV)/bin/python -m pytest -m faults -s tests/faults

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build/imports
