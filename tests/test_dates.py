"""Relative dates resolved against the publication date."""

from __future__ import annotations

from datetime import date

import pytest

from newsmon.processors.extraction.dates import resolve_date

PUB = date(2017, 1, 10)  # a Tuesday


@pytest.mark.parametrize("text,expected,granularity", [
    ("January 23", date(2017, 1, 23), "day"),
    ("on January 8", date(2017, 1, 8), "day"),
    ("23 January", date(2017, 1, 23), "day"),
    ("December 31", date(2016, 12, 31), "day"),  # closer in the previous year
    ("September 30, 2015", date(2015, 9, 30), "day"),
    ("Monday", date(2017, 1, 9), "day"),
    ("Tuesday", date(2017, 1, 10), "day"),  # on or before publication
    ("late on Wednesday", date(2017, 1, 4), "day"),
    ("last Tuesday", date(2017, 1, 3), "day"),
    ("next Monday", date(2017, 1, 16), "day"),
    ("yesterday", date(2017, 1, 9), "day"),
    ("in August last year", date(2016, 8, 1), "month"),
    ("December", date(2016, 12, 1), "month"),
    ("January 2016", date(2016, 1, 1), "month"),
    ("2015", date(2015, 1, 1), "year"),
    ("2016-12-24", date(2016, 12, 24), "day"),
])
def test_resolves_against_publication(text, expected, granularity):
    ref = resolve_date(text, PUB)
    assert ref is not None and (ref.date, ref.granularity) == (expected, granularity)


def test_saturday_before_a_sunday_publication():
    assert resolve_date("late on Saturday", date(2016, 12, 25)).date == date(2016, 12, 24)


def test_unresolvable_or_relative_without_publication():
    assert resolve_date("the past almost six years", PUB) is None
    assert resolve_date("five-year-old", PUB) is None
    assert resolve_date("Monday", None) is None
    assert resolve_date("February 30", PUB) is None
    assert resolve_date("March 3, 2016", None).date == date(2016, 3, 3)
