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
