"""Odd texts through extraction: cleaned at the boundary (offsets unchanged), never an exception.

Speed on the worst cases is measured by `newsmon bench hostile` (doubling ratios), not timed here.
"""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings, strategies as st

from newsmon.processors.extraction import extract_texts
from newsmon.processors.extraction.textclean import MAX_PUNCT_RUN, clean_text
from tests.extraction_support import pipeline

ODD = ["\ud800", "\udfff", "\ufeff", "\u202e", "\x00", '"', "“", "”", "'", "«", "»", "—", "\n", " ", ":", "Putin",
       "said", "Syria", "Iran", "Mr.", "according to", "(", ")", "...", "\u200b", "\U0001F600", "e\u0301"]


def test_clean_text_keeps_every_offset():
    text = "Putin said \ud800 \"" + '"' * 1_000 + "\" in Damascus \udfff."
    clean = clean_text(text)
    assert len(clean) == len(text) and "\ud800" not in clean and "\udfff" not in clean
    assert clean.index("in Damascus") == text.index("in Damascus")
    assert '"' * (MAX_PUNCT_RUN + 1) not in clean
    assert clean_text("He said: \"Yes!\" -- and left...") == "He said: \"Yes!\" -- and left..."


def test_lone_surrogates_and_punctuation_floods_are_extracted():
    nlp = pipeline()
    texts = ["Putin said \ud800 he would visit Syria.", "Putin said " + '"' * 20_000 + " about Syria.",
             'Putin said "Syria"\n' * 50]
    results = list(extract_texts(nlp, [(t, None) for t in texts], gate=False))
    assert len(results) == 3
    assert any(e.text == "Putin" for e in results[0].entities)


def test_odd_texts_never_raise():
    nlp = pipeline()
    seen = {"texts": 0, "slowest": 0.0}

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.lists(st.one_of(st.sampled_from(ODD), st.text(max_size=8)), max_size=40).map("".join))
    def one(text):
        started = time.monotonic()
        (result,) = extract_texts(nlp, [(text, None)], gate=False)
        result.model_dump_json()  # serialisable for the broker (no surrogate left in any field)
        seen["texts"] += 1
        seen["slowest"] = max(seen["slowest"], time.monotonic() - started)

    one()
    print(f"\nodd texts: {seen['texts']} texts, 0 exceptions, slowest {seen['slowest']:.2f}s")
    assert seen["texts"] >= 300 and seen["slowest"] < 10
