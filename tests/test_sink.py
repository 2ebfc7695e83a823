"""The Elasticsearch sink on the real local search server (noida-db) and broker (Tansu)."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import pytest
from kafka import KafkaConsumer, KafkaProducer

from newsmon.servers.lite import LocalSearch
from newsmon.records import Article, Entity, Event, Place, Sighting, Span, Speaker, Statement
from newsmon.streams import ARTICLES, DEAD_LETTER, EVENTS, SIGHTINGS, STATEMENTS, Stream
from newsmon.topics import ensure_topics
from newsmon.sinks.consumer import run as run_sink
from newsmon.indices import ensure_templates, make_client, template
from newsmon.sinks.elasticsearch import bulk_index, record_actions
from tests.support import wait_for

pytestmark = pytest.mark.integration

T0 = datetime(2016, 12, 25, 12, 0, tzinfo=timezone.utc)


def article(i: int) -> Article:
    return Article(id=f"art{i}", timestamp=T0, feed="seed", url=f"http://news.test/{i}", title=f"Title {i}",
                   fetched=T0, countries=["RU"], persons=["Vladimir Putin"], entity_names=["Vladimir Putin"],
                   entities=[Entity(start=0, end=14, text="Vladimir Putin", label="PERSON", name="Vladimir Putin",
                                    country="RU")],
                   locations=[{"lat": 36.2, "lon": 37.16}])


def statement(i: int, feed: str = "seed") -> Statement:
    return Statement(id=f"st{i}", article_id=f"art{i}", timestamp=T0, url=f"http://news.test/{i}", feed=feed,
                     content=Span(start=10, end=30, text=f"We will not allow it {i}"), kind="direct",
                     speaker=Speaker(start=0, end=14, text="Putin", name="Vladimir Putin", country="RU"),
                     about=["SY"], countries=["RU", "SY"])


def event(i: int) -> Event:
    return Event(id=f"ev{i}", article_id=f"art{i}", timestamp=T0, url=f"http://news.test/{i}", feed="seed",
                 type="assault", trigger=Span(start=0, end=6, text="attack"),
                 location=Place(name="Aleppo", country="SY", lat=36.2, lon=37.16), countries=["SY"])


def actions(settings, records) -> list[dict]:
    kinds = {Article: ARTICLES, Statement: STATEMENTS, Event: EVENTS, Sighting: SIGHTINGS}
    return [a for r in records for a in record_actions(settings, kinds[type(r)], r.model_dump_json(by_alias=True))]


def counts(client, settings) -> dict[str, int]:
    client.indices.refresh(index=",".join(settings.index(k) for k in ("articles", "statements", "events")))
    return {k: client.count(index=settings.index(k))["count"] for k in ("articles", "statements", "events")}


def test_templates_give_kibana_mappings(stack_settings):
    client = make_client(stack_settings)
    ensure_templates(stack_settings, client)
    mapping = client.indices.get_mapping(index=stack_settings.index("articles"))
    props = next(iter(mapping.values()))["mappings"]["properties"]
    assert props["@timestamp"]["type"] == "date"
    assert props["locations"]["type"] == "geo_point"
    assert props["persons"]["type"] == "keyword"
    assert props["title"]["fields"]["keyword"]["type"] == "keyword"
    events = template("events")["mappings"]["properties"]
    assert events["location"]["properties"]["point"]["type"] == "geo_point"
    statements = template("statements")["mappings"]["properties"]
    assert statements["speaker"]["properties"]["name"]["type"] == "keyword"
    assert statements["content"]["properties"]["text"]["fields"]["keyword"]["type"] == "keyword"
    ensure_templates(stack_settings, client)  # idempotent


def test_bulk_index_replay_never_duplicates(stack_settings):
    client = make_client(stack_settings)
    ensure_templates(stack_settings, client)
    records = [article(1), article(2), statement(1), statement(2), event(1)]
    first = bulk_index(client, actions(stack_settings, records))
    again = bulk_index(client, actions(stack_settings, records))
    assert (first.indexed, again.indexed) == (5, 5)
    assert not first.rejected and not again.rejected
    assert counts(client, stack_settings) == {"articles": 2, "statements": 2, "events": 1}
    doc = client.get(index=stack_settings.index("events"), id="ev1")["_source"]
    assert doc["location"]["point"] == {"lat": 36.2, "lon": 37.16}
    hits = client.search(index=stack_settings.index("statements"), q='speaker.name:"Vladimir Putin" AND about:SY')
    assert hits["hits"]["total"]["value"] == 2


def test_sightings_merge_into_the_first_statement(stack_settings):
    client = make_client(stack_settings)
    ensure_templates(stack_settings, client)
    index = stack_settings.index("statements")
    later = Sighting(statement_id="st1", source="reuters", url="http://reuters.test/1", article_id="artR")
    bulk_index(client, actions(stack_settings, [statement(1, feed="tass"), later]))
    bulk_index(client, actions(stack_settings, [later, statement(1, feed="tass")]))  # replay, any order
    doc = client.get(index=index, id="st1")["_source"]
    assert sorted(doc["sources"]) == ["reuters", "tass"] and doc["source_count"] == 2
    assert doc["content"]["text"] == "We will not allow it 1"
    # a sighting that arrives before its statement is kept, and completed when the statement lands
    early = Sighting(statement_id="st2", source="bbc", url="http://bbc.test/2", article_id="artB")
    bulk_index(client, actions(stack_settings, [early]))
    bulk_index(client, actions(stack_settings, [statement(2, feed="tass")]))
    doc = client.get(index=index, id="st2")["_source"]
    assert sorted(doc["sources"]) == ["bbc", "tass"] and doc["source_count"] == 2
    assert doc["speaker"]["name"] == "Vladimir Putin"
    # the later duplicate is indexed too, marked as not novel and pointing to the first
    repeat = Sighting(statement_id="st1", source="afp", url="http://afp.test/3", article_id="art3", duplicate_id="st3")
    bulk_index(client, actions(stack_settings, [statement(3, feed="afp"), repeat]))
    dup = client.get(index=index, id="st3")["_source"]
    assert dup["novel"] is False and dup["first_id"] == "st1" and dup["sources"] == ["afp"]
    first = client.get(index=index, id="st1")["_source"]
    assert sorted(first["sources"]) == ["afp", "reuters", "tass"] and first["source_count"] == 3


def test_rejected_document_is_reported_not_dropped(stack_settings):
    client = make_client(stack_settings)
    ensure_templates(stack_settings, client)
    [bad] = record_actions(stack_settings, ARTICLES, article(3).model_dump_json(by_alias=True))
    bad["_source"]["@timestamp"] = "not a date"
    result = bulk_index(client, [bad] + actions(stack_settings, [article(4)]))
    assert result.indexed == 1
    assert len(result.rejected) == 1 and result.rejected[0].key == "art3" and result.rejected[0].error


def test_record_action_rejects_malformed_records(stack_settings):
    with pytest.raises(ValueError):
        record_actions(stack_settings, ARTICLES, b"{not json")
    with pytest.raises(ValueError):
        record_actions(stack_settings, STATEMENTS, json.dumps({"id": "x"}))


def _publish(settings, stream: Stream, records) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    for key, value in records:
        producer.send(stream.topic(settings), key=key.encode(), value=value)
    producer.flush()
    producer.close()


def test_sink_survives_elasticsearch_outage_and_dead_letters_bad_records(broker, tmp_path, stack_settings):
    search = LocalSearch(tmp_path / "es").start()  # our own server, to stop and restart it
    settings = stack_settings.model_copy(update={"elasticsearch_url": search.url, "sink_max_wait_s": 0.3})
    ensure_topics(settings)
    client = make_client(settings, request_timeout=5)
    stop = threading.Event()
    sink = threading.Thread(target=run_sink, args=(settings, stop), daemon=True)
    try:
        sink.start()
        first = [article(i) for i in range(5)]
        _publish(settings, ARTICLES, [(a.id, a.model_dump_json(by_alias=True).encode()) for a in first])
        _publish(settings, ARTICLES, [("junk", b"{not json")])
        assert wait_for(lambda: counts(client, settings)["articles"] == 5)

        search.stop()  # Elasticsearch goes away while records keep coming
        more = [article(i) for i in range(5, 25)] + [statement(i) for i in range(10)]
        _publish(settings, ARTICLES, [(a.id, a.model_dump_json(by_alias=True).encode()) for a in more[:20]])
        _publish(settings, STATEMENTS, [(s.id, s.model_dump_json(by_alias=True).encode()) for s in more[20:]])
        time.sleep(8)  # longer than max_poll_interval: the sink must stay in its group and keep the records
        search.start()
        assert wait_for(lambda: counts(client, settings) == {"articles": 25, "statements": 10, "events": 0}, 90)
    finally:
        stop.set()
        sink.join(30)
        search.stop()
    assert not sink.is_alive()
    dead = KafkaConsumer(DEAD_LETTER.topic(settings), bootstrap_servers=settings.kafka_bootstrap_servers,
                         auto_offset_reset="earliest", consumer_timeout_ms=3000)
    letters = [json.loads(m.value) for m in dead]
    dead.close()
    assert len(letters) == 1
    assert letters[0]["stage"] == "sink" and letters[0]["payload"] == "{not json" and letters[0]["key"] == "junk"
    # every offset was committed: a new sink run over the same group finds nothing left to do
    search.start()
    try:
        stats = run_sink(settings, threading.Event(), idle_exit_s=15)
    finally:
        search.stop()
    assert stats.indexed == 0


def test_sink_dead_letters_what_elasticsearch_rejects_with_its_kafka_origin(stack_settings):
    settings = stack_settings.model_copy(update={"sink_max_wait_s": 0.3})
    ensure_topics(settings)
    client = make_client(settings)
    # an index someone created by hand with a conflicting mapping: its documents are rejected, not lost
    client.indices.create(index=settings.index("articles"), mappings={"properties": {"title": {"type": "integer"}}})
    a = article(7)
    _publish(settings, ARTICLES, [(a.id, a.model_dump_json(by_alias=True).encode())])
    st = statement(7)
    _publish(settings, STATEMENTS, [(st.id, st.model_dump_json(by_alias=True).encode())])
    stats = run_sink(settings, threading.Event(), idle_exit_s=10)
    assert stats.dead_letters == 1 and stats.indexed == 2  # the statement, then the dead letter itself
    dead = KafkaConsumer(DEAD_LETTER.topic(settings), bootstrap_servers=settings.kafka_bootstrap_servers,
                         auto_offset_reset="earliest", consumer_timeout_ms=3000)
    [letter] = [json.loads(m.value) for m in dead]
    dead.close()
    assert letter["topic"] == ARTICLES.topic(settings) and letter["offset"] == 0 and letter["key"] == "art7"
    assert letter["payload"]["id"] == "art7" and letter["error"]
    assert client.get(index=settings.index("statements"), id="st7")["found"]
    client.indices.refresh(index=settings.index("dead-letters"))
    [hit] = client.search(index=settings.index("dead-letters"), q="stage:sink AND key:art7")["hits"]["hits"]
    assert hit["_source"]["payload"]["id"] == "art7" and hit["_source"]["offset"] == 0


def test_bulk_requests_are_cut_by_size(stack_settings):
    client = make_client(stack_settings)
    ensure_templates(stack_settings, client)
    records = [article(i) for i in range(30)]
    result = bulk_index(client, actions(stack_settings, records), max_bytes=4000)
    assert result.indexed == 30 and result.attempts > 5
    assert counts(client, stack_settings)["articles"] == 30


# --- merges without server-side scripts: read, merge in Python, write back only if nobody wrote in between ---
# noida-db (the stand-in) returns `_seq_no` / `_primary_term` from mget, honours `if_seq_no` /
# `if_primary_term` on bulk `index` and answers 409 on a stale one (and on `create` of an existing id), like
# Elasticsearch 8.19, so these tests exercise the conflict path for real on both servers.


class WritesBetween:
    """The real client, but another writer gets in between our read (mget) and our write, `times` times."""

    def __init__(self, client, write, times: int = 1):
        self._client, self._write, self.times, self.reads = client, write, times, 0

    def mget(self, **kwargs):
        response = self._client.mget(**kwargs)
        self.reads += 1
        if self.reads <= self.times:
            self._write(self.reads)
        return response

    def __getattr__(self, name):
        return getattr(self._client, name)


def sighting(statement_id: str, source: str) -> Sighting:
    return Sighting(statement_id=statement_id, source=source, url=f"http://{source}.test/x", article_id="artX")


def test_a_statement_and_its_sightings_are_written_once(stack_settings):
    client = make_client(stack_settings)
    ensure_templates(stack_settings, client)
    records = [sighting("st4", "bbc"), statement(4, feed="tass"), sighting("st4", "reuters"), sighting("st4", "bbc")]
    result = bulk_index(client, actions(stack_settings, records))
    assert (result.indexed, result.attempts, result.rejected) == (4, 1, [])  # folded: one write of st4
    doc = client.get(index=stack_settings.index("statements"), id="st4")
    assert doc["_source"]["sources"] == ["bbc", "tass", "reuters"] and doc["_source"]["source_count"] == 3
    assert doc["_source"]["speaker"]["name"] == "Vladimir Putin" and doc["_version"] == 1


def test_only_the_bad_merge_of_a_document_is_rejected(stack_settings):
    client = make_client(stack_settings)
    ensure_templates(stack_settings, client)
    bad, *sightings = actions(stack_settings, [statement(5), sighting("st5", "bbc"), sighting("st5", "reuters")])
    bad["doc"]["@timestamp"] = "not a date"
    result = bulk_index(client, [bad, *sightings])
    assert result.indexed == 2 and result.rejected_actions == [bad]
    assert result.rejected[0].key == "st5" and result.rejected[0].error
    assert result.rejected[0].payload["doc"]["@timestamp"] == "not a date"
    doc = client.get(index=stack_settings.index("statements"), id="st5")["_source"]
    assert doc == {"id": "st5", "sources": ["bbc", "reuters"], "source_count": 2}


def test_a_concurrent_write_is_merged_not_overwritten(stack_settings):
    client = make_client(stack_settings)
    ensure_templates(stack_settings, client)
    index = stack_settings.index("statements")
    bulk_index(client, actions(stack_settings, [statement(8, feed="tass")]))
    # another sink instance adds a source between our read and our write: our write gets a 409, re-reads
    other = WritesBetween(client, lambda _: bulk_index(client, actions(stack_settings, [sighting("st8", "interfax")])))
    result = bulk_index(other, actions(stack_settings, [sighting("st8", "reuters")]))
    assert (result.indexed, result.attempts, other.reads) == (1, 2, 2)
    doc = client.get(index=index, id="st8")["_source"]
    assert doc["sources"] == ["tass", "interfax", "reuters"] and doc["source_count"] == 3
    # the same when the document did not exist yet: our `create` conflicts with theirs
    other = WritesBetween(client, lambda _: bulk_index(client, actions(stack_settings, [statement(9, feed="tass")])))
    result = bulk_index(other, actions(stack_settings, [sighting("st9", "reuters")]))
    assert (result.indexed, result.attempts, other.reads) == (1, 2, 2)
    doc = client.get(index=index, id="st9")["_source"]
    assert doc["sources"] == ["tass", "reuters"] and doc["speaker"]["name"] == "Vladimir Putin"


def test_endless_conflicts_back_off_and_drop_nothing(stack_settings):
    from newsmon.sinks.elasticsearch import CONFLICT_ROUNDS

    client = make_client(stack_settings)
    ensure_templates(stack_settings, client)
    times = CONFLICT_ROUNDS + 3  # more than the immediate rounds: the rest goes through the backoff loop
    other = WritesBetween(client, lambda n: bulk_index(client, actions(stack_settings, [sighting("st10", f"o{n}")])),
                          times=times)
    waits = []
    result = bulk_index(other, actions(stack_settings, [sighting("st10", "reuters")]), initial_backoff_s=0.01,
                        on_retry=lambda: waits.append(1))
    assert result.indexed == 1 and not result.rejected and waits and other.reads == times + 1
    doc = client.get(index=stack_settings.index("statements"), id="st10")["_source"]
    assert doc["sources"] == [f"o{n}" for n in range(1, times + 1)] + ["reuters"]


def test_concurrent_sinks_lose_no_source(stack_settings):
    ensure_templates(stack_settings, make_client(stack_settings))
    bulk_index(make_client(stack_settings), actions(stack_settings, [statement(11, feed="tass")]))
    errors = []

    def sink(n: int) -> None:
        client = make_client(stack_settings)
        try:
            for i in range(10):
                result = bulk_index(client, actions(stack_settings, [sighting("st11", f"s{n}-{i}")]))
                assert result.indexed == 1 and not result.rejected
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=sink, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    doc = make_client(stack_settings).get(index=stack_settings.index("statements"), id="st11")["_source"]
    assert sorted(doc["sources"]) == sorted(["tass"] + [f"s{n}-{i}" for n in range(4) for i in range(10)])
    assert doc["source_count"] == 41 and doc["speaker"]["name"] == "Vladimir Putin"
