"""Summary-only feed items: headlines, datelines and wire credits are not statements; such items are marked."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from newsmon.processors.extraction import extract_article
from newsmon.processors.extraction.statements import headline_end
from newsmon.processors.extraction.textclean import blank_datelines, clean_text
from newsmon.records import RawArticle
from tests.extraction_support import pipeline

WHEN = datetime(2016, 3, 29, 12, tzinfo=timezone.utc)


def raw(title: str, body: str, source: str = "summary") -> RawArticle:
    return RawArticle(id="a1", feed="wire", url="https://news.example.org/a1", title=title, content=body,
                      summary=body if source == "summary" else "", content_source=source, published=WHEN)


@pytest.fixture(scope="module")
def nlp():
    return pipeline()


# --- datelines and wire credits ----------------------------------------------------------------------

@pytest.mark.parametrize("line, kept", [
    ("SOCHI, Russia (Reuters) - Russian President Vladimir Putin said", "Russian President Vladimir Putin said"),
    ("HEMPSTEAD, N.Y., Sept. 26 (UPI) — Green Party candidate", "Green Party candidate"),
    ("BEIRUT, Oct 3 (Reuters) -- Syrian troops", "Syrian troops"),
    ("TEHRAN - Presidents of Iran and Russia", "Presidents of Iran and Russia"),
    ("(AP) — The talks failed", "The talks failed"),
    ("MOSCOW, Dec. 25 /TASS/. Putin said", "Putin said"),
])
def test_datelines_and_wire_credits_become_spaces(line, kept):
    out = blank_datelines(line)
    assert len(out) == len(line) and out.strip() == kept and out.endswith(kept)  # offsets unchanged


@pytest.mark.parametrize("line", [
    "Syria: IS destroys ancient temple", "WALLACE: But, Governor Pence", "US — and Russia agreed",
    "The talks - he said - failed", "NATO / EU talks", "He said - (Reuters) - nothing",
])
def test_text_that_is_no_dateline_is_kept(line):
    assert blank_datelines(line) == line


def test_a_dateline_is_blanked_at_any_paragraph_start_only():
    text = "Putin meets Assad\n\nSOCHI, Russia (Reuters) - Putin said the talks were useful.\nMore SOCHI, Russia -"
    out = clean_text(text)
    assert "(Reuters)" not in out and out.endswith("More SOCHI, Russia -") and len(out) == len(text)


def test_a_dateline_is_never_a_speaker_or_content(nlp):
    title = "Putin says talks with Assad were useful"
    body = "SOCHI, Russia (Reuters) - Talks in Sochi on Syria were useful, Russian President Vladimir Putin said."
    _, statements, _ = extract_article(nlp, raw(title, body))
    assert statements, "the reported statement of the body is found"
    for st in statements:
        assert "Reuters" not in st.content.text and "SOCHI" not in st.content.text
        assert st.speaker is None or "SOCHI" not in st.speaker.text
    assert any(st.speaker and st.speaker.name == "Vladimir Putin" and st.content.text.startswith("Talks in Sochi")
               for st in statements)


# --- headlines ------------------------------------------------------------------------------------------

def test_headline_end():
    assert headline_end("Syria: IS destroys temple\n\nThe body.") == len("Syria: IS destroys temple")
    assert headline_end("One paragraph only, no headline.") == 0
    assert headline_end("A lead. Of two sentences.\n\nThe body.") == 0  # a paragraph, not a headline
    assert headline_end("x" * 300 + "\n\nThe body.") == 0


def test_a_place_heading_a_headline_is_no_speaker(nlp):
    title = "Syria: Islamic State destroys ancient temple in Palmyra"
    _, statements, _ = extract_article(nlp, raw(title, "Islamic State fighters blew up the temple on Sunday, residents said."))
    assert not [st for st in statements if st.content.start < len(title)], [st.content.text for st in statements]
    assert [st.content.text for st in statements] == ["Islamic State fighters blew up the temple on Sunday"]
    assert all(st.speaker is None or st.speaker.text != "Syria" for st in statements)


def test_a_headline_summarising_the_story_is_no_statement(nlp):
    _, statements, _ = extract_article(nlp, raw("Russia expects Syria talks to resume soon",
                                                "Talks between the Syrian government and the opposition stalled."))
    assert statements == []


@pytest.mark.parametrize("title, speaker, starts", [
    ("Putin: \"Russia will keep its bases in Syria\"", "Putin", "Russia will keep its bases in Syria"),
    ("Lavrov says Russia will keep its bases in Syria", "Lavrov", "Russia will keep its bases in Syria"),
])
def test_a_headline_that_is_an_attributed_quote_stays(nlp, title, speaker, starts):
    _, statements, _ = extract_article(nlp, raw(title, "The minister spoke to reporters in Moscow on Monday."))
    heads = [st for st in statements if st.content.start < len(title)]
    assert len(heads) == 1, [st.content.text for st in statements]
    assert heads[0].speaker is not None and heads[0].speaker.text == speaker
    assert heads[0].content.text.startswith(starts)


# --- summary-only items ----------------------------------------------------------------------------------

def test_summary_only_items_are_marked(nlp):
    article, _, _ = extract_article(nlp, raw("Putin meets Assad", "Putin met Assad in Sochi.", source="summary"))
    assert article.summary_only and article.content_source == "summary"
    article, _, _ = extract_article(nlp, raw("Putin meets Assad", "Putin met Assad in Sochi. " * 40, source="page"))
    assert not article.summary_only
    assert raw("t", "", source="none").summary_only and not raw("t", "body", source="feed").summary_only
