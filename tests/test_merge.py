"""The statement (and event) merge the sink does in Python (it replaced a painless script): pure, no server needed.

`hypothesis` is not installed here, so the properties are checked over seeded random sequences.
"""

from __future__ import annotations

import copy
import random
from datetime import datetime, timezone

import pytest

from newsmon.records import Event, Place, Sighting, Span
from newsmon.settings import Settings
from newsmon.sinks.elasticsearch import MERGE_OP, fold_merges, merge_statement, record_actions
from newsmon.streams import EVENTS, SIGHTINGS


def merge(doc=None, sources=(), upsert=None):
    return {"_op_type": MERGE_OP, "_index": "statements", "_id": "st1", "doc": doc or {}, "sources": list(sources),
            "upsert": {} if upsert is None else upsert}


@pytest.mark.parametrize("current, action, expected", [
    # absent: start from the upsert base
    (None, merge({"id": "st1", "feed": "tass"}, ["tass"]),
     {"id": "st1", "feed": "tass", "sources": ["tass"], "source_count": 1}),
    (None, merge({}, ["reuters"], {"id": "st1"}), {"id": "st1", "sources": ["reuters"], "source_count": 1}),
    # a duplicate marked before its own statement arrives: no sources yet, still counted as one
    (None, merge({"novel": False, "first_id": "st0"}, [], {"id": "st1"}),
     {"id": "st1", "novel": False, "first_id": "st0", "sources": [], "source_count": 1}),
    # existing sources first, then the new ones, in order, no duplicates
    ({"id": "st1", "sources": ["reuters"], "source_count": 1}, merge({"feed": "tass"}, ["tass"]),
     {"id": "st1", "feed": "tass", "sources": ["reuters", "tass"], "source_count": 2}),
    ({"sources": ["a", "b"]}, merge({}, ["b", "c", "a", "c"]), {"sources": ["a", "b", "c"], "source_count": 3}),
    ({"sources": ["a", "a"]}, merge({}, []), {"sources": ["a"], "source_count": 1}),
    # the incoming document overwrites fields (shallow, like putAll) and keeps the others
    ({"id": "st1", "novel": False, "speaker": {"name": "x", "country": "RU"}, "sources": ["bbc"]},
     merge({"speaker": {"name": "Vladimir Putin"}, "feed": "tass"}, ["tass"]),
     {"id": "st1", "novel": False, "speaker": {"name": "Vladimir Putin"}, "feed": "tass", "sources": ["bbc", "tass"],
      "source_count": 2}),
    # sources / source_count are always recomputed, whatever the document says
    ({"sources": ["a"], "source_count": 7}, merge({"sources": ["z"], "source_count": 9}, ["b"]),
     {"sources": ["a", "b"], "source_count": 2}),
    # a single value where a list is expected (Elasticsearch accepts both)
    ({"sources": "a"}, merge({}, ["b"]), {"sources": ["a", "b"], "source_count": 2}),
    ({"sources": None}, merge({}, ["b"]), {"sources": ["b"], "source_count": 1}),
])
def test_merge_statement(current, action, expected):
    before = (copy.deepcopy(current), copy.deepcopy(action))
    assert merge_statement(current, action) == expected
    assert (current, action) == before  # pure


def test_existing_document_ignores_the_upsert_base():
    assert merge_statement({"id": "st1"}, merge({}, ["x"], {"id": "other", "extra": 1})) == \
        {"id": "st1", "sources": ["x"], "source_count": 1}


def test_fold_is_the_merges_one_after_the_other():
    statement = merge({"id": "st1", "feed": "tass", "novel": True}, ["tass"])
    sighting = merge({}, ["reuters"], {"id": "st1"})
    marked = merge({"novel": False, "first_id": "st0"}, [], {"id": "st1"})
    assert fold_merges(None, []) is None
    assert fold_merges(None, [sighting, statement]) == \
        {"id": "st1", "feed": "tass", "novel": True, "sources": ["reuters", "tass"], "source_count": 2}
    assert fold_merges(None, [statement, sighting, marked]) == \
        {"id": "st1", "feed": "tass", "novel": False, "first_id": "st0", "sources": ["tass", "reuters"],
         "source_count": 2}
    assert fold_merges({"sources": ["afp"]}, [sighting, sighting]) == {"sources": ["afp", "reuters"], "source_count": 2}


@pytest.mark.parametrize("seed", range(25))
def test_fold_properties(seed):
    rng = random.Random(seed)
    names = ["tass", "reuters", "bbc", "afp", "mehr"]
    current = rng.choice([None, {"id": "st1", "sources": rng.sample(names, rng.randint(0, 3)), "x": 0}])
    actions = [merge({"x": i} if rng.random() < 0.5 else {}, rng.choices(names, k=rng.randint(0, 3)), {"id": "st1"})
               for i in range(rng.randint(1, 6))]
    folded = fold_merges(current, actions)
    every = [*(current or {}).get("sources", []), *(s for a in actions for s in a["sources"])]
    assert folded["sources"] == list(dict.fromkeys(every))  # first-seen order, no duplicates
    assert folded["source_count"] == max(len(folded["sources"]), 1)
    last_x = [a["doc"]["x"] for a in actions if "x" in a["doc"]]
    assert folded.get("x") == (last_x[-1] if last_x else (current or {}).get("x"))  # last writer wins
    assert folded["id"] == "st1"
    # folding in two parts (two chunks, or a re-read after a conflict) gives the same document
    cut = rng.randint(0, len(actions))
    assert fold_merges(fold_merges(current, actions[:cut]), actions[cut:]) == folded


def test_statements_and_sightings_become_merge_actions_without_scripts():
    settings = Settings(index_prefix="t")
    sighting = Sighting(statement_id="st1", source="afp", url="http://afp.test/3", article_id="art3",
                        duplicate_id="st3")
    first, dup = record_actions(settings, SIGHTINGS, sighting.model_dump_json())
    assert first == {"_op_type": MERGE_OP, "_index": settings.index("statements"), "_id": "st1", "doc": {},
                     "sources": ["afp"], "upsert": {"id": "st1"}}
    assert dup == {"_op_type": MERGE_OP, "_index": settings.index("statements"), "_id": "st3",
                   "doc": {"novel": False, "first_id": "st1"}, "sources": [], "upsert": {"id": "st3"}}


def test_events_and_event_sightings_merge_like_statements():
    settings = Settings(index_prefix="t")
    event = Event(id="ev1", article_id="art1", timestamp=datetime(2017, 1, 10, tzinfo=timezone.utc), url="u",
                  feed="reuters", type="assault", trigger=Span(start=0, end=6, text="bombed"), lead="IDLIB - ...",
                  location=Place(name="Idlib", country="SY", lat=35.9, lon=36.6), sources=["reuters"])
    [action] = record_actions(settings, EVENTS, EVENTS.encode(event)[1])
    assert action["_op_type"] == MERGE_OP and action["_id"] == "ev1" and action["sources"] == ["reuters"]
    assert "lead" not in action["doc"] and "sources" not in action["doc"], "the lead is for novelty only"
    assert action["doc"]["location"]["point"] == {"lat": 35.9, "lon": 36.6}
    sighting = Sighting(kind="events", statement_id="ev1", source="afp", url="http://afp.test/3",
                        article_id="art3", duplicate_id="ev3")
    first, dup = record_actions(settings, SIGHTINGS, sighting.model_dump_json())
    assert (first["_index"], first["_id"], first["sources"]) == (settings.index("events"), "ev1", ["afp"])
    assert (dup["_index"], dup["_id"], dup["doc"]) == (settings.index("events"), "ev3",
                                                       {"novel": False, "first_id": "ev1"})
    # the event written again after its sighting keeps the source the sighting added
    assert fold_merges(None, [first, action])["sources"] == ["afp", "reuters"]
