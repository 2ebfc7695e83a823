# Two entry points (see README): `make up` runs the pipeline on the embedded local stack with the demo
# feed; `make test` runs the test suite. Both create .venv and install everything on first use.
PYTHON ?= python3
VENV   ?= .venv
STAMP  := $(VENV)/.installed-stamp

.PHONY: up test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[local,test]'
	touch $(STAMP)

up: $(STAMP)
	$(VENV)/bin/newsmon up --demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
