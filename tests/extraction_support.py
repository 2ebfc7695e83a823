"""Shared helpers of the extraction tests: one pipeline per test session, seed publication dates."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

SEED_PUBLISHED = {"000": date(2016, 3, 29), "001": date(2017, 1, 10), "002": date(2016, 12, 25)}


@lru_cache(maxsize=1)
def pipeline():
    """The extraction pipeline with default settings, loaded once for all extraction tests."""
    from newsmon.processors.extraction import load_pipeline

    return load_pipeline()
