"""Dates (spaCy component `newsmon_dates`): DATE mentions resolved against the publication date.

- weekday names: the most recent such day on or before publication ("late on Saturday"), or after it
  with "next"/"coming";
- "January 23", "on January 8", "23 January": that day in the publication year, or in the year before or
  after when that is closer to the publication date; an explicit year wins ("September 30, 2015");
- "August", "in August last year", "December 2016": the month (granularity "month", first day);
- "today", "yesterday", "tomorrow", "last year", "2015" (granularity "year").

The component needs `doc._.published` (set by `extract_texts`); without it only explicit dates resolve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from spacy.language import Language
from spacy.tokens import Doc

__all__ = ["DateRef", "resolve_date", "DateResolver"]

if not Doc.has_extension("dates"):
    Doc.set_extension("dates", default=None)
if not Doc.has_extension("published"):
    Doc.set_extension("published", default=None)

MONTHS = {m: i for i, names in enumerate(
    [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
     ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
     ("december", "dec")], start=1) for m in names}
WEEKDAYS = {d: i for i, d in enumerate(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])}
_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<year>(?:1[89]|20)\d\d)"
MONTH_DAY = re.compile(r"\b" + _MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+" + _YEAR + r")?", re.I)
DAY_MONTH = re.compile(r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"(?:,?\s+" + _YEAR + r")?", re.I)
MONTH_ONLY = re.compile(r"\b" + _MONTH + r"(?:,?\s+" + _YEAR + r")?\b", re.I)
ISO = re.compile(r"\b(?P<year>\d{4})-(?P<month>\d\d)-(?P<day>\d\d)\b")
WEEKDAY = re.compile(r"\b(?P<rel>last|next|coming|this|past)?\s*(?P<wd>" + "|".join(WEEKDAYS) + r")\b", re.I)
YEAR_ONLY = re.compile(r"^\s*(?:in\s+)?" + _YEAR + r"\s*$", re.I)


@dataclass(frozen=True)
class DateRef:
    """A resolved date: the day (first of the month or year for coarser ones) and its granularity."""

    date: date
    granularity: str  # day, month, year


def resolve_date(text: str, published: date | None) -> DateRef | None:
    """Resolve a date expression against the publication date; None when it cannot be resolved."""
    t = text.strip().lower()
    if (m := ISO.search(t)) is not None:
        return _day(int(m["year"]), int(m["month"]), int(m["day"]))
    for rx in (MONTH_DAY, DAY_MONTH):
        if (m := rx.search(t)) is not None:
            month, day = MONTHS[m["month"].lower()], int(m["day"])
            if m["year"]:
                return _day(int(m["year"]), month, day)
            if published is None:
                return None
            year = _year_for(t, published)
            if year is not None:
                return _day(year, month, day)
            years = (published.year - 1, published.year, published.year + 1)
            options = [d for y in years if (d := _date(y, month, day))]
            return DateRef(min(options, key=lambda d: abs((d - published).days)), "day") if options else None
    if (m := MONTH_ONLY.search(t)) is not None and not (m["month"].lower() == "may" and text.strip()[:1] != "M"):
        month = MONTHS[m["month"].lower()]
        if m["year"]:
            return DateRef(date(int(m["year"]), month, 1), "month")
        if published is None:
            return None
        year = _year_for(t, published)
        if year is None:
            year = published.year if month <= published.month else published.year - 1
        return DateRef(date(year, month, 1), "month")
    if published is None:
        if (m := YEAR_ONLY.match(t)) is not None:
            return DateRef(date(int(m["year"]), 1, 1), "year")
        return None
    if (m := WEEKDAY.search(t)) is not None:
        back = (published.weekday() - WEEKDAYS[m["wd"].lower()]) % 7
        if (m["rel"] or "").lower() in ("next", "coming"):
            return DateRef(published + timedelta(days=(7 - back) % 7 or 7), "day")
        if (m["rel"] or "").lower() == "last" and back == 0:
            back = 7
        return DateRef(published - timedelta(days=back), "day")
    for word, delta in (("yesterday", -1), ("today", 0), ("tonight", 0), ("tomorrow", 1)):
        if re.search(rf"\b{word}\b", t):
            return DateRef(published + timedelta(days=delta), "day")
    if (m := YEAR_ONLY.match(t)) is not None:
        return DateRef(date(int(m["year"]), 1, 1), "year")
    year = _year_for(t, published)
    if year is not None:
        return DateRef(date(year, 1, 1), "year")
    return None


def _year_for(text: str, published: date) -> int | None:
    if re.search(r"\b(last|past|previous) year\b", text):
        return published.year - 1
    if re.search(r"\b(this|current) year\b", text):
        return published.year
    if re.search(r"\bnext year\b", text):
        return published.year + 1
    return None


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _day(year: int, month: int, day: int) -> DateRef | None:
    d = _date(year, month, day)
    return DateRef(d, "day") if d else None


@Language.factory("newsmon_dates", default_config={}, requires=["doc.ents"], assigns=["doc._.dates"])
def make_dates(nlp: Language, name: str) -> DateResolver:
    """The `newsmon_dates` component: sets `doc._.dates`, {(start_char, end_char): DateRef} of DATE entities."""
    return DateResolver()


class DateResolver:
    """Resolves the doc's DATE entities against `doc._.published`."""

    def __call__(self, doc: Doc) -> Doc:
        published = doc._.published
        out = {}
        for e in doc.ents:
            if e.label_ == "DATE":
                ref = resolve_date(e.text, published)
                if ref is not None:
                    out[(e.start_char, e.end_char)] = ref
        doc._.dates = out
        return doc
