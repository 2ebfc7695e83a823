"""The watchlist gate: keyword automaton over gazetteer aliases, country names, demonyms and cities."""

from __future__ import annotations

from newsmon.processors.extraction import extract_texts
from newsmon.processors.extraction.relevance import RelevanceGate
from tests.extraction_support import pipeline


def gate(watchlist=("SY", "IR", "RU")) -> RelevanceGate:
    return RelevanceGate(list(watchlist))


def test_terms_of_each_kind_count_for_their_country():
    g = gate()
    for text, country in [("Talks in Damascus.", "SY"), ("An Iranian official.", "IR"), ("Putin spoke.", "RU"),
                          ("Shelling near Aleppo.", "SY"), ("The Kremlin denied it.", "RU"),
                          ("The IRGC said so.", "IR"), ("Fighting in Palmyra.", "SY")]:
        scores, relevant = g.assess(text)
        assert relevant and list(scores) == [country], text


def test_whole_words_case_sensitive_and_news_agencies_do_not_count():
    g = gate()
    for text in ["Syriana, Persiana, Putinism, iran and putin", "IRNA and TASS reported the vote.",
                 "The senator from Georgia spoke in Ohio."]:
        scores, relevant = g.assess(text)
        assert not relevant and scores == {}, text


def test_longest_match_counts_once():
    g = gate()
    assert g.mentions("Title\n\nThe Russian Foreign Ministry said.") == {"RU": 1.0}
    assert g.mentions("The Russian Foreign Ministry said.") == {"RU": 2.0}  # a one-line text is all title


def test_scores_rank_countries_and_title_counts_more():
    g = gate()
    scores, relevant = g.assess("Syria talks\n\nSyria, Syria and Damascus. Iran was mentioned once.")
    assert relevant and list(scores) == ["SY", "IR"]
    assert 0 < scores["IR"] < scores["SY"] <= 1
    in_title, _ = g.assess("Iran\n\n" + "word " * 100)
    in_body, _ = g.assess("Title\n\n" + "word " * 100 + "Iran")
    assert in_title["IR"] > in_body["IR"]


def test_watchlist_is_configurable():
    g = gate(("TR",))
    scores, relevant = g.assess("Erdogan visited Ankara; Iran was not on the list.")
    assert relevant and list(scores) == ["TR"]


def test_irrelevant_texts_skip_the_parse_but_keep_basic_fields():
    nlp = pipeline()
    texts = [("The senator won the primary in Ohio on Tuesday, Clinton said.", None),
             ("Lavrov said Russia would keep talking.", None)]
    plain, relevant = list(extract_texts(nlp, texts))
    assert (plain.relevant, plain.entities, plain.statements, plain.countries) == (False, [], [], [])
    assert relevant.relevant and relevant.countries == ["RU"] and relevant.statements
    ungated = list(extract_texts(nlp, texts, gate=False))
    assert ungated[0].statements and ungated[0].entities  # parsed anyway when asked
    assert (ungated[0].relevant, ungated[0].countries) == (False, [])  # still not about the watchlist


def test_a_plain_spacy_pipeline_is_refused_clearly():
    import spacy
    import pytest

    with pytest.raises(ValueError, match="load_pipeline"):
        list(extract_texts(spacy.blank("en"), [("Putin spoke.", None)]))
