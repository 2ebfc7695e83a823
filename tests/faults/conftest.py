"""The fault suite: only with `-m faults` (`make faults`); it kills stages, so it takes minutes."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    if "faults" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="fault suite: run with `make faults` (pytest -m faults)")
    for item in items:
        if "faults" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    """The fault table: one row per scenario that got as far as its figures."""
    from tests.faults.verifiable import ROWS, table

    if ROWS:
        terminalreporter.section("fault table")
        for line in table():
            terminalreporter.write_line(line)


@pytest.fixture
def web(threaded_httpserver):
    """One threaded local HTTP server for feeds and receivers (a slow receiver holds up no feed)."""
    return threaded_httpserver
