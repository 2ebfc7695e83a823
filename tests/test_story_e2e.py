"""Acceptance, one alert per story: one strike story and four copies of it (verbatim, rewritten headline,
another outlet, a day later), each from its own feed on 127.0.0.1, through producer -> broker -> Faust
worker (extraction, novelty, rules) -> sink -> Elasticsearch, with one statement rule and one event rule.

Each rule alerts once, on the first article; every statement and event of the copies is recorded as a
source of the first one (its `sources`) and indexed as a repeat (`novel: false`), and `newsmon search`
shows the story once unless asked for every copy.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

import pytest

from newsmon.indices import make_client
from newsmon.producers.config import FeedConfig
from newsmon.producers.demo import rss_xml
from newsmon.producers.poller import poll_once
from newsmon.search import search
from newsmon.streams import ALERTS, ARTICLES, SIGHTINGS
from tests.support import running_pipeline, topic_records, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

HEADLINE = "Russian air strikes kill 12 in Idlib"
# a rewritten headline that is no attribution: one that is ("Kremlin vows to press on ...") is a statement of
# its own, by a speaker the first article does not have, so it is new (README, "a rewritten headline")
REWRITTEN = "Idlib death toll rises after Russian air strikes"
BODY = ("IDLIB, Syria ({wire}) - Russian warplanes bombed rebel positions in Idlib on Tuesday, killing at least "
        "12 people, a war monitor said.\n"
        "Kremlin spokesman Dmitry Peskov said Russia would keep up the campaign. “Russia will continue to strike "
        "terrorists in Syria wherever they hide, and nobody should doubt our resolve,” Peskov told reporters in "
        "Moscow.\n"
        "The Syrian Observatory for Human Rights said the dead included fighters of Hayat Tahrir al-Sham.\n"
        "({credit})")
REUTERS = {"wire": "Reuters", "credit": "Reporting by Tom Perry; Editing by Alison Williams"}
AFP = {"wire": "AFP", "credit": "Writing by Layal Abou Rahal"}

# feed name -> (headline, body, published): the first article, then its four copies
STORY = {
    "reuters": (HEADLINE, BODY.format(**REUTERS), datetime(2017, 1, 10, 9, tzinfo=timezone.utc)),
    "syndicate": (HEADLINE, BODY.format(**REUTERS), datetime(2017, 1, 10, 10, tzinfo=timezone.utc)),  # verbatim
    "reuters-world": (REWRITTEN, BODY.format(**REUTERS), datetime(2017, 1, 10, 11, tzinfo=timezone.utc)),
    "afp": (HEADLINE, BODY.format(**AFP), datetime(2017, 1, 10, 12, tzinfo=timezone.utc)),  # another outlet
    "digest": (HEADLINE, BODY.format(**REUTERS), datetime(2017, 1, 11, 8, tzinfo=timezone.utc)),  # a day later
}
FIRST, COPIES = "reuters", ["syndicate", "reuters-world", "afp", "digest"]

# the statement rule matches the lead (the war monitor's report, headline and dateline left out), the event
# rule every copy's strike
RULES = {"Idlib strike": ("statements", "content.text:warplanes AND about:SY"),
         "Strikes in Syria": ("events", "type:assault AND countries:SY")}


@pytest.fixture
def feeds(httpserver) -> dict[str, FeedConfig]:
    out = {}
    for name, (title, body, published) in STORY.items():
        item = {"title": title, "link": httpserver.url_for(f"/{name}/idlib.html"), "guid": f"{name}-idlib",
                "published": published, "summary": body.split("\n")[0], "text": body}
        httpserver.expect_request(f"/{name}.xml").respond_with_data(
            rss_xml([item], title=name, link=httpserver.url_for(f"/{name}/"), full_content=True),
            content_type="application/rss+xml")
        out[name] = FeedConfig(name=name, url=httpserver.url_for(f"/{name}.xml"), fetch_pages=False)
    return out


@pytest.fixture
def pipeline(stack_settings, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n" + "".join(f"  - name: {name}\n    kind: {kind}\n    query: '{query}'\n"
                                          for name, (kind, query) in RULES.items()))
    settings = stack_settings.model_copy(update={"rules_file": rules, "processor_batch_size": 4,
                                                 "sink_max_wait_s": 0.3})
    with running_pipeline(settings):
        yield settings


def docs(client, settings, kind: str) -> dict[str, dict]:
    """Every document of an index, by id."""
    index = settings.index(kind)
    client.indices.refresh(index=index, ignore_unavailable=True)
    hits = client.search(index=index, query={"match_all": {}}, size=1000, ignore_unavailable=True,
                         allow_no_indices=True)["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


def by_feed(found: dict[str, dict], feed: str) -> dict[str, dict]:
    return {i: d for i, d in found.items() if d.get("feed") == feed}


def test_four_copies_of_a_story_alert_once_per_rule_and_become_sources(pipeline, feeds):
    settings = pipeline
    client = make_client(settings)

    # the first article: both rules fire
    assert poll_once(settings, [feeds[FIRST]]).published == 1
    assert wait_for(lambda: len(docs(client, settings, "alerts")) == len(RULES), 180), "the first article alerts"
    first_statements = by_feed(docs(client, settings, "statements"), FIRST)
    first_events = by_feed(docs(client, settings, "events"), FIRST)
    assert first_statements and first_events

    # its four copies, at once
    assert poll_once(settings, [feeds[name] for name in COPIES]).published == len(COPIES)

    def settled() -> bool:
        """Every copy's statements and events indexed as repeats, and the first ones with every source."""
        statements, events = docs(client, settings, "statements"), docs(client, settings, "events")
        copies = [d for d in [*statements.values(), *events.values()] if d.get("feed") in COPIES]
        return (len({d["feed"] for d in copies}) == len(COPIES) and all(d.get("novel") is False for d in copies)
                and all(statements[i].get("source_count") == len(STORY) for i in first_statements)
                and all(events[i].get("source_count") == len(STORY) for i in first_events))

    assert wait_for(settled, 180), "every copy is folded into the first article's records"
    assert len(topic_records(settings, ARTICLES, idle_ms=1500)) == len(STORY)

    # exactly one alert per rule, on the first article's records (every alert the worker ever produced)
    alerts = [json.loads(r.value) for r in topic_records(settings, ALERTS, idle_ms=2000)]
    assert Counter(a["rule"] for a in alerts) == {name: 1 for name in RULES}, \
        [(a["rule"], a["record"].get("feed")) for a in alerts]
    assert {a["record"]["feed"] for a in alerts} == {FIRST}
    assert {a["record_id"] for a in alerts} <= set(first_statements) | set(first_events)

    # the other copies are sources of the first records, and each copy's record names the one it repeats
    statements, events = docs(client, settings, "statements"), docs(client, settings, "events")
    for first, kind_docs in ((first_statements, statements), (first_events, events)):
        for doc_id in first:
            assert sorted(kind_docs[doc_id]["sources"]) == sorted(STORY), doc_id
            assert kind_docs[doc_id].get("novel") is not False
        for doc in kind_docs.values():
            if doc["feed"] in COPIES:
                assert doc["first_id"] in first, doc
    sightings = [json.loads(r.value) for r in topic_records(settings, SIGHTINGS, idle_ms=1500)]
    assert {s["kind"] for s in sightings} == {"statements", "events"}
    assert {s["source"] for s in sightings} == set(COPIES)

    # search shows the story once, folded into its first sighting; --all shows every copy
    for kind, query in (("statements", "content.text:warplanes"), ("events", "type:assault")):
        total, folded = search(settings, query, kind=kind, client=client)
        assert total == 1 and folded[0]["feed"] == FIRST and folded[0]["source_count"] == len(STORY), folded
        total, unfolded = search(settings, query, kind=kind, client=client, folded=False)
        assert total == len(STORY) and {d["feed"] for d in unfolded} == set(STORY)
