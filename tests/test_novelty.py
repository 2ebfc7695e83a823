"""Novelty: near-duplicate statements within the window are later sightings; state survives JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from newsmon.alerts.novelty import NoveltyDetector, shingles

T0 = datetime(2016, 12, 24, 21, 0, tzinfo=timezone.utc)
PUTIN = ("Tehran and Moscow's consultation and cooperation, which has so far been in line with a constructive "
         "policy in the international stage, will continue")
# the same quote as another outlet carries it: different punctuation, quote marks, a word changed
PUTIN_SYNDICATED = ("“Tehran and Moscow’s consultation and cooperation, which has so far been in line with a "
                    "constructive policy on the international stage, will continue.”")
OTHER = "We suggest that the peace process be started in Kazakhstan"
SIMILAR_TOPIC = ("Tehran and Moscow will continue their cooperation on Syria and their consultation on the "
                 "peace process")


def _roundtrip(state):
    return json.loads(json.dumps(state))


def test_first_sighting_is_novel_later_ones_are_not():
    nd = NoveltyDetector(threshold=0.8, window=timedelta(days=7))
    v1, state = nd.observe(None, "s1", PUTIN, T0)
    assert v1.novel and v1.first_id == "s1"
    v2, state = nd.observe(_roundtrip(state), "s2", PUTIN_SYNDICATED, T0 + timedelta(hours=3))
    assert not v2.novel and v2.first_id == "s1" and v2.similarity >= 0.8
    v3, state = nd.observe(_roundtrip(state), "s3", OTHER, T0 + timedelta(hours=4))
    assert v3.novel
    v4, state = nd.observe(_roundtrip(state), "s4", SIMILAR_TOPIC, T0 + timedelta(hours=5))
    assert v4.novel, "same topic, different words: a new statement"
    assert [e[0] for e in state] == ["s1", "s2", "s3", "s4"]


def test_replay_gives_the_same_verdict():
    nd = NoveltyDetector()
    _, state = nd.observe(None, "s1", PUTIN, T0)
    _, state = nd.observe(state, "s2", PUTIN_SYNDICATED, T0)
    again1, same = nd.observe(state, "s1", PUTIN, T0)
    again2, same = nd.observe(same, "s2", PUTIN_SYNDICATED, T0)
    assert again1.novel and again1.first_id == "s1"
    assert not again2.novel and again2.first_id == "s1"
    assert same == state


def test_outside_the_window_it_is_new_again():
    nd = NoveltyDetector(window=timedelta(days=7))
    _, state = nd.observe(None, "s1", PUTIN, T0)
    v, state = nd.observe(state, "s2", PUTIN_SYNDICATED, T0 + timedelta(days=8))
    assert v.novel
    assert [e[0] for e in state] == ["s2"], "entries older than the window are pruned"


def test_threshold_is_configurable():
    strict = NoveltyDetector(threshold=1.0)
    _, state = strict.observe(None, "s1", PUTIN, T0)
    assert strict.observe(state, "s2", PUTIN_SYNDICATED, T0)[0].novel
    assert not strict.observe(state, "s3", PUTIN.upper(), T0)[0].novel, "case and punctuation are analysed away"


def test_shingles_and_signature_are_stable():
    assert shingles("Peace, process!") == {"peace", "eace ", "ace p", "ce pr", "e pro", " proc", "proce", "roces",
                                           "ocess"}
    assert shingles("No!") == {"no"}
    assert shingles("") == set()
    a, b = NoveltyDetector(), NoveltyDetector()
    assert (a.signature(PUTIN) == b.signature(PUTIN)).all()
