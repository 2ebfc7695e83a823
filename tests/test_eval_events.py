"""`newsmon eval events`: the scorer on constructed cases (numbers worked out by hand), then the pipeline on
the annotated sample (tests/data/events_en.yaml) with floors at the figures it reaches."""

from __future__ import annotations

import json
from datetime import date

import pytest
from typer.testing import CliRunner

from newsmon.cli import app
from newsmon.processors.extraction.evaluate_events import (DEFAULT_EVENT_SAMPLE, FIELDS, ExpectedEvent, Sentence,
                                                           evaluate_event_sample, load_event_sample, score_sentence)
from newsmon.records import Entity, ExtractedEvent, Span
from tests.extraction_support import pipeline

TEXT = "Russia bombed Aleppo on Monday and Turkey condemned it."


def entity(name: str) -> Entity:
    return Entity(start=0, end=1, text=name, label="GPE", name=name)


def predicted(kind: str, trigger: str, actors=(), targets=(), day=None) -> ExtractedEvent:
    at = TEXT.index(trigger)
    return ExtractedEvent(type=kind, trigger=Span(start=at, end=at + len(trigger), text=trigger),
                          actors=[entity(a) for a in actors], targets=[entity(t) for t in targets], date=day)


def test_scorer_pairs_by_type_and_counts_each_field():
    sentence = Sentence("s", TEXT, date(2016, 12, 6), (
        ExpectedEvent("assault", "bombed", frozenset({"Russia"}), frozenset(), date(2016, 12, 5)),
        ExpectedEvent("condemn", "condemned", frozenset({"Turkey"}), frozenset({"Russia"}), None)))
    scores = score_sentence(sentence, [
        predicted("assault", "bombed", actors=["russia", "Syria"], day=date(2016, 12, 5)),  # names: any case
        predicted("condemn", "condemned", actors=["Turkey"], targets=[], day=date(2016, 12, 5)),
        predicted("praise", "condemned", actors=["Turkey"])])  # a type the sentence does not report
    f = scores.fields
    assert (f["type"].predicted, f["type"].expected, f["type"].right) == (3, 2, 2)
    assert (f["actor"].predicted, f["actor"].expected, f["actor"].right) == (4, 2, 2)  # Syria and praise's Turkey wrong
    assert (f["target"].predicted, f["target"].expected, f["target"].right) == (0, 1, 0)
    assert (f["date"].predicted, f["date"].expected, f["date"].right) == (2, 1, 1)
    assert f["actor"].precision == 0.5 and f["actor"].recall == 1.0 and f["target"].recall == 0.0
    assert [e["id"] for e in scores.errors] == ["s"]


def test_scorer_pairs_events_of_one_type_by_the_nearest_trigger():
    sentence = Sentence("s", TEXT, None, (ExpectedEvent("assault", "condemned", frozenset({"Turkey"})),
                                          ExpectedEvent("assault", "bombed", frozenset({"Russia"}))))
    scores = score_sentence(sentence, [predicted("assault", "bombed", actors=["Russia"]),
                                       predicted("assault", "condemned", actors=["Turkey"])])
    assert scores.fields["actor"].right == 2 and scores.errors == []


def test_the_sample_is_fifty_annotated_sentences_of_every_type():
    from newsmon.processors.extraction.events import load_ontology

    sentences = load_event_sample(DEFAULT_EVENT_SAMPLE)
    assert len(sentences) == 50 and len({s.id for s in sentences}) == 50
    types = {e.type for s in sentences for e in s.expected}
    assert types == set(load_ontology())
    for s in sentences:
        assert s.published is not None and s.expected
        for e in s.expected:
            assert e.trigger in s.text, (s.id, e.trigger)


@pytest.fixture(scope="module")
def sample_scores():
    return evaluate_event_sample(load_event_sample(DEFAULT_EVENT_SAMPLE), nlp=pipeline())


# what the extraction reaches on the sample (P, R per field: type 1.000/0.984, actor 0.966/0.934, target
# 0.972/1.000, date 1.000/0.971), with one or two items of slack, so that a regression fails
FLOORS = {"type": (0.98, 0.96), "actor": (0.93, 0.90), "target": (0.94, 0.97), "date": (0.97, 0.94)}


def test_sample_scores_are_computed_and_hold_their_floors(sample_scores):
    expected = load_event_sample(DEFAULT_EVENT_SAMPLE)
    f = sample_scores.fields
    assert sample_scores.sentences == 50
    assert f["type"].expected == sum(len(s.expected) for s in expected)
    assert f["actor"].expected == sum(len(e.actors) for s in expected for e in s.expected)
    assert f["date"].expected == sum(e.date is not None for s in expected for e in s.expected)
    for name in FIELDS:
        c = f[name]
        assert 0 <= c.right <= min(c.predicted, c.expected)
        assert c.precision == pytest.approx(c.right / c.predicted) and c.recall == pytest.approx(c.right / c.expected)
        p, r = FLOORS[name]
        assert c.precision >= p and c.recall >= r, (name, c)


def test_eval_events_command_json(tmp_path):
    sample = tmp_path / "sample.yaml"
    sample.write_text("sentences:\n- id: a\n  text: Russian warplanes bombed Aleppo on Monday.\n"
                      "  published: 2016-12-06\n  expected:\n"
                      "  - {type: assault, trigger: bombed, actors: [Russia], targets: [], date: 2016-12-05}\n",
                      encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "events", "--sample", str(sample), "--json", "--errors"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["sentences"] == 1 and set(FIELDS) <= set(out)
    assert out["type"] == {"predicted": 1, "expected": 1, "right": 1, "p": 1.0, "r": 1.0, "f1": 1.0}
    assert out["actor"]["right"] == 1 and out["date"]["right"] == 1 and out["errors"] == []


def test_eval_events_command_missing_sample(tmp_path):
    result = CliRunner().invoke(app, ["eval", "events", "--sample", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
