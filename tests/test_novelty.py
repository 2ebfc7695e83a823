"""Novelty: near-duplicate statements within the window are later sightings; state survives JSON; the quote
alone is compared; events repeat by who/whom/where or by their story's lead."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from newsmon.alerts.novelty import (NoveltyDetector, event_fingerprint, event_text, novelty_text, shingles,
                                    statement_text)
from newsmon.records import Entity, Event, Place, Span, Speaker, Statement
from newsmon.streams import EVENTS, STATEMENTS, event_key

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


# --- what is compared: the quote alone, the story's lead -------------------------------------------------

HEADLINE = "Russian air strikes kill 12 in Idlib"
REWRITTEN = "Kremlin vows to press on as Idlib death toll rises"
LEAD = ("Russian warplanes bombed rebel positions in Idlib on Tuesday, killing at least 12 people, "
        "a war monitor said.")


def _statement(content: str, title: str, sid: str = "s1", feed: str = "reuters") -> Statement:
    return Statement(id=sid, article_id="a-" + sid, timestamp=T0, url=f"http://{feed}.test/{sid}", feed=feed,
                     title=title, kind="direct", content=Span(start=0, end=len(content), text=content),
                     speaker=Speaker(start=0, end=5, text="a war monitor"))


def test_a_quote_that_took_in_the_headline_and_dateline_is_compared_without_them():
    # what the extractor returns for a quote found at the top of "headline, blank line, body"
    glued = f"{HEADLINE}\n\nIDLIB, Syria (Reuters) - {LEAD[:-21]}"
    rewritten = f"{REWRITTEN}\n\nIDLIB, Syria (AFP) - {LEAD[:-21]}"
    assert statement_text(_statement(glued, HEADLINE)) == LEAD[:-21]
    assert statement_text(_statement(rewritten, REWRITTEN)) == LEAD[:-21]
    nd = NoveltyDetector()
    _, state = nd.observe(None, "s1", statement_text(_statement(glued, HEADLINE)), T0)
    v, _ = nd.observe(state, "s2", statement_text(_statement(rewritten, REWRITTEN, "s2")), T0 + timedelta(hours=2))
    assert not v.novel and v.first_id == "s1" and v.similarity == 1.0
    # the same texts as the quote was compared before: the headline made the repeat look new
    _, state = nd.observe(None, "s1", glued, T0)
    assert nd.observe(state, "s2", rewritten, T0)[0].novel


def test_novelty_text_drops_datelines_and_wire_credits_only():
    assert novelty_text("TEHRAN - Presidents of Iran and Russia spoke") == "Presidents of Iran and Russia spoke"
    assert novelty_text("DAMASCUS, Jan 3 (AFP) \u2014 The army said so") == "The army said so"
    assert novelty_text("We will stay. (Reporting by Tom Perry; Editing by Alison Williams)") == "We will stay."
    assert novelty_text("the end of a headline\n\nMOSCOW (Reuters)", "Kremlin: the end of a headline") == \
        "MOSCOW (Reuters)", "nothing left but framing: the text without its headline"
    kept = "NATO (North Atlantic Treaty Organization) will stay in the region"
    assert novelty_text(kept) == kept, "capitals and brackets inside a sentence are not a dateline"
    assert novelty_text("Putin: Syria talks go on", "Putin: Syria talks go on") == "Putin: Syria talks go on", \
        "a headline that is itself the quote stays"


def _event(eid: str, article: str, *, targets=("Syria",), feed: str = "reuters", title: str = HEADLINE,
           lead: str = f"IDLIB, Syria (Reuters) - {LEAD}", when=T0, day=None) -> Event:
    def ent(name: str) -> Entity:
        return Entity(start=0, end=len(name), text=name, label="GPE", name=name)
    return Event(id=eid, article_id=article, timestamp=when, url=f"http://{feed}.test/{eid}", feed=feed,
                 title=title, type="assault", trigger=Span(start=0, end=6, text="bombed"),
                 actors=[ent("Russia")], targets=[ent(t) for t in targets],
                 location=Place(name="Idlib", country="SY", geonameid=169389), date=day, lead=lead)


def _judge(nd: NoveltyDetector, state, ev: Event):
    return nd.observe(state, ev.id, event_text(ev), ev.timestamp, fingerprint=event_fingerprint(ev),
                      day=ev.date.toordinal() if ev.date else None, group=ev.article_id)


def test_event_key_is_the_type_so_copies_of_a_story_meet_in_one_partition():
    original = _event("e1", "a1")
    rewritten = _event("e2", "a2", targets=("Kremlin", "Syria"), title=REWRITTEN)  # the headline added a target
    assert event_key(original) == event_key(rewritten) == "assault"
    assert EVENTS.encode(original)[0] == EVENTS.encode(rewritten)[0] == b"assault"
    assert event_fingerprint(original) != event_fingerprint(rewritten)
    assert STATEMENTS.key(_statement("x", "")) == "a war monitor"


def test_event_fingerprint_is_who_did_what_to_whom_where():
    a, b = _event("e1", "a1"), _event("e2", "a2", feed="afp", lead="something else entirely")
    assert event_fingerprint(a) == event_fingerprint(b)
    bare = Event(id="e3", article_id="a3", timestamp=T0, url="u", feed="f", type="assault",
                 trigger=Span(start=0, end=7, text="strikes"))
    assert event_fingerprint(bare) is None, "a bare trigger says too little to be matched on"


def test_an_event_repeats_by_fingerprint_or_by_its_story_lead():
    nd = NoveltyDetector()
    day = T0.date()
    v1, state = _judge(nd, None, _event("e1", "a1", day=day))
    assert v1.novel
    # another outlet, another lead: the same who/whom/where a day later is the same event
    v2, state = _judge(nd, _roundtrip(state), _event("e2", "a2", feed="afp", lead="Other words.", day=day,
                                                     when=T0 + timedelta(days=1)))
    assert not v2.novel and v2.first_id == "e1"
    # a rewritten headline changed the parse (a target more): the lead still says it is the same story
    v3, state = _judge(nd, state, _event("e3", "a3", targets=("Kremlin", "Syria"), title=REWRITTEN,
                                         lead=f"IDLIB, Syria (AFP) - {LEAD}", day=day))
    assert not v3.novel and v3.first_id == "e1" and v3.similarity >= 0.8
    # the same who/whom/where on a day a week later, in another story: a new event
    v4, state = _judge(nd, state, _event("e4", "a4", lead="A new attack.", day=day + timedelta(days=5),
                                         when=T0 + timedelta(days=5)))
    assert v4.novel
    # two events of one article are never repeats of each other
    v5, _ = _judge(nd, state, _event("e5", "a4", lead="A new attack.", targets=("Hama",),
                                     when=T0 + timedelta(days=5)))
    assert v5.novel
    again, _ = _judge(nd, state, _event("e2", "a2", feed="afp", lead="Other words.", day=day))
    assert not again.novel and again.first_id == "e1", "a replay gets the same verdict"


def test_state_written_before_events_had_fingerprints_still_reads():
    nd = NoveltyDetector()
    _, state = nd.observe(None, "s1", PUTIN, T0)
    assert len(state[0]) == 4
    v, state = nd.observe(state, "s2", PUTIN_SYNDICATED, T0, fingerprint="f", day=1, group="a2")
    assert not v.novel and v.first_id == "s1" and len(state[1]) == 7
