"""Acceptance, alerts: the seed feed on 127.0.0.1 -> producer -> broker -> Faust worker (extraction, novelty,
rules) -> alerts topic -> notifier -> a local HTTP receiver (apprise json://) and a local SMTP server.

The expected alerts are computed independently: the statements the sink indexed, searched on the
ES-API server with each rule's query (`query_string`), minus the statements marked as repeats."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import pytest

from newsmon.records import stable_id
from newsmon.stack import spawn_processor, stop_processor
from newsmon.streams import SIGHTINGS, Stream
from newsmon.topics import ensure_topics
from newsmon.producers.config import FeedConfig
from newsmon.producers.demo import page_html, rss_xml, seed_items
from newsmon.producers.poller import poll_once
from newsmon.sinks.consumer import run as run_sink
from newsmon.indices import ensure_templates, make_client
from tests.support import topic_records, wait_for
from tests.receivers import Receiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

RULES = {
    "Putin": 'speaker.name:"Vladimir Putin" AND about:(SY OR IR)',
    "Rouhani": 'speaker.name:"Hassan Rouhani"',
}
WIRE_TEXT = ("Russian President Vladimir Putin said on Saturday: “Tehran and Moscow’s consultation and cooperation, "
             "which has so far been in line with a constructive policy in the international stage, will continue.” "
             "The Kremlin gave no further details of the call.")


def topic_values(settings, stream: Stream) -> list[dict]:
    return [json.loads(r.value) for r in topic_records(settings, stream, idle_ms=2000)]


@pytest.fixture
def feeds(httpserver):
    base = httpserver.url_for("/").rstrip("/")
    items = seed_items(base)
    httpserver.expect_request("/feed.xml").respond_with_data(rss_xml(items), content_type="application/rss+xml")
    for item in items:
        httpserver.expect_request(item["path"]).respond_with_data(page_html(item), content_type="text/html")
    wire = [{"id": "w1", "title": "Moscow and Tehran keep in contact", "link": f"{base}/wire/w1.html",
             "guid": "wire-w1", "path": "/wire/w1.html", "published": datetime(2016, 12, 25, 12, tzinfo=timezone.utc),
             "summary": WIRE_TEXT, "text": WIRE_TEXT}]
    httpserver.expect_request("/wire.xml").respond_with_data(rss_xml(wire, title="wire", full_content=True),
                                                             content_type="application/rss+xml")
    return (FeedConfig(name="seeds", url=httpserver.url_for("/feed.xml")),
            FeedConfig(name="wire", url=httpserver.url_for("/wire.xml"), fetch_pages=False))


@pytest.fixture
def pipeline(stack_settings, tmp_path, httpserver, mailbox):
    receiver = Receiver(httpserver)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"destinations:\n  desk: '{receiver.url}'\n  mail: '{mailbox.url}'\nrules:\n"
        + "".join(f"  - name: {name}\n    query: '{q}'\n    destinations: [desk, mail]\n" for name, q in RULES.items()))
    settings = stack_settings.model_copy(update={"rules_file": rules, "processor_batch_size": 4,
                                                 "sink_max_wait_s": 0.3})
    ensure_topics(settings)
    ensure_templates(settings)
    stop = threading.Event()
    from newsmon.alerts.notify import run as run_notifier

    threads = [threading.Thread(target=run_sink, args=(settings, stop), daemon=True),
               threading.Thread(target=run_notifier, args=(settings, stop), kwargs={"backoff_s": 0.5,
                                                                                   "max_backoff_s": 2.0},
                                daemon=True)]
    for t in threads:
        t.start()
    proc = spawn_processor(settings, "warning")
    yield settings, receiver
    stop_processor(proc)
    stop.set()
    for t in threads:
        t.join(30)


def expected_alert_ids(settings, client) -> set[str]:
    """Alert ids per the ES-API server: each rule's query over the indexed statements, repeats excluded."""
    index = settings.index("statements")
    client.indices.refresh(index=index)
    repeats = {s["duplicate_id"] for s in topic_values(settings, SIGHTINGS) if s.get("duplicate_id")}
    ids = set()
    for name, query in RULES.items():
        hits = client.search(index=index, query={"query_string": {"query": query}}, size=1000)["hits"]["hits"]
        ids |= {stable_id(name, h["_id"]) for h in hits if h["_id"] not in repeats}
    return ids


def test_seed_feed_alerts_arrive_once_through_an_outage_and_repeats_only_add_sources(pipeline, feeds, mailbox):
    settings, receiver = pipeline
    seeds, wire = feeds
    client = make_client(settings)
    receiver.down = True  # the HTTP receiver is down while the first alerts are produced

    assert poll_once(settings, [seeds]).published == 3
    alerts_index = settings.index("alerts")

    def indexed_alerts() -> dict[str, dict]:
        client.indices.refresh(index=alerts_index)
        hits = client.search(index=alerts_index, query={"match_all": {}}, size=1000)["hits"]["hits"]
        return {h["_id"]: h["_source"] for h in hits}

    expected = wait_for(lambda: (e := expected_alert_ids(settings, client)) and set(indexed_alerts()) == e and e)
    assert expected, "the seed articles fire alerts"
    alerts = indexed_alerts()
    assert {a["rule"] for a in alerts.values()} == set(RULES)
    assert wait_for(lambda: receiver.refused >= 2, 60), "deliveries were attempted while the receiver was down"
    assert receiver.posts == []

    receiver.down = False  # back: every alert arrives, once, at both destinations
    assert wait_for(lambda: len(receiver.posts) >= len(expected) and len(mailbox.messages) >= len(expected), 120)
    time.sleep(3)
    want = sorted(a["message"] for a in alerts.values())
    assert sorted(p["message"] for p in receiver.posts) == want
    mails = sorted(m.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() for m in mailbox.messages)
    assert mails == want
    putin = [a for a in alerts.values() if a["rule"] == "Putin"]
    assert putin and all(a["record"]["speaker"]["name"] == "Vladimir Putin" for a in putin)
    consult = next(a for a in putin if "consultation and cooperation" in a["record"]["content"]["text"])

    # the same Putin quote through a second feed: no second alert, one more source on the first statement
    assert poll_once(settings, [wire]).published == 1
    first_id = consult["record_id"]
    statements = settings.index("statements")

    def first_statement() -> dict:
        client.indices.refresh(index=statements)
        return client.get(index=statements, id=first_id)["_source"]

    assert wait_for(lambda: first_statement().get("source_count") == 2, 120)
    assert sorted(first_statement()["sources"]) == ["seeds", "wire"]
    sightings = [s for s in topic_values(settings, SIGHTINGS) if s["statement_id"] == first_id]
    assert [s["source"] for s in sightings] == ["wire"]
    duplicate = sightings[0]["duplicate_id"]
    assert wait_for(lambda: client.get(index=statements, id=duplicate)["_source"].get("novel") is False, 60), \
        "the later copy is indexed, marked as not new"
    time.sleep(5)  # a second alert would have been delivered by now
    assert len(receiver.posts) == len(expected) and len(mailbox.messages) == len(expected)
    assert set(indexed_alerts()) == expected == expected_alert_ids(settings, client)
