"""The processor: batch decoding/extraction with dead letters, and the Faust worker on the local broker."""

from __future__ import annotations

import json
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer

from newsmon.records import Article, RawArticle, Span, Speaker, Statement
from newsmon.stack import spawn_processor, stop_processor
from newsmon.streams import ARTICLES, DEAD_LETTER, EVENTS, RAW, STATEMENTS, UNATTRIBUTED_KEY, Stream, statement_key
from newsmon.topics import ensure_topics
from newsmon.worker import create_app
from newsmon.processors import agents
from newsmon.processors.agents import Message, process_batch, records_out
from newsmon.processors.extraction import load_pipeline


@pytest.fixture(scope="module")
def nlp():
    return load_pipeline()


def raw(num: str, text: str) -> RawArticle:
    title, _, body = text.partition("\n")
    return RawArticle(id=f"seed-{num}", feed="seeds", url=f"http://news.test/{num}", title=title, content=body)


def message(value: bytes | None, key: bytes | None = b"k", offset: int = 0) -> Message:
    return Message(key, value, "t.raw", 0, offset)


def test_batch_extracts_good_records_and_dead_letters_bad_ones(nlp, seed_texts):
    good = [raw(num, text) for num, text in seed_texts.items()]
    batch = [message(r.model_dump_json().encode(), r.id.encode(), i) for i, r in enumerate(good)]
    batch += [message(b"{not json", b"bad-json", 10), message(json.dumps({"id": "x"}).encode(), b"no-fields", 11),
              message(None, b"tombstone", 12)]
    out = process_batch(nlp, batch)
    assert [a.id for a, _, _ in out.extracted] == [r.id for r in good]
    mentions = {n for a, _, _ in out.extracted for e in a.entities if e.label == "PERSON" for n in (e.text, e.name)}
    assert {"Vladimir Putin", "Hassan Rouhani", "Sergei Lavrov"} <= mentions
    by_key = {d.key: d for d in out.dead}
    assert set(by_key) == {"bad-json", "no-fields", "tombstone"}
    assert by_key["bad-json"].payload == "{not json" and by_key["bad-json"].offset == 10
    assert by_key["no-fields"].payload == {"id": "x"} and "feed" in by_key["no-fields"].error
    assert all(d.stage == "process" and d.error for d in out.dead)


def test_extraction_error_is_isolated_to_its_record(nlp, seed_texts, monkeypatch):
    real = agents.extract_articles

    def failing(nlp, raws):
        if any(r.title == "boom" for r in raws):
            raise RuntimeError("extractor crashed on this article")
        return real(nlp, raws)

    monkeypatch.setattr(agents, "extract_articles", failing)
    boom = RawArticle(id="boom", feed="seeds", url="http://news.test/boom", title="boom", content="x")
    good = raw("000", seed_texts["000"])
    out = process_batch(nlp, [message(good.model_dump_json().encode(), b"seed-000"),
                              message(boom.model_dump_json().encode(), b"boom", 1)])
    assert [a.id for a, _, _ in out.extracted] == ["seed-000"]
    assert len(out.dead) == 1 and out.dead[0].key == "boom"
    assert out.dead[0].error_type == "RuntimeError" and out.dead[0].payload["title"] == "boom"


def test_records_are_keyed_for_partitioning():
    span = Span(start=0, end=3, text="abc")
    base = dict(article_id="a", timestamp="2016-12-25T00:00:00Z", url="u", feed="f", content=span, kind="direct")
    named = Statement(id="s1", speaker=Speaker(start=0, end=5, text="Putin", name="Vladimir Putin", id="Q7747"), **base)
    unresolved = Statement(id="s2", speaker=Speaker(start=0, end=5, text="he"), **base)
    anonymous = Statement(id="s3", **base)
    assert [statement_key(s) for s in (named, unresolved, anonymous)] == ["Q7747", "he", UNATTRIBUTED_KEY]
    article = Article(id="a", timestamp="2016-12-25T00:00:00Z", feed="f", url="u", title="t", fetched="2016-12-25T00:00:00Z")
    out = records_out(agents.Processed(extracted=[(article, [named, anonymous], [])]))
    assert [(stream.name, key.decode()) for stream, key, _ in out] == [("articles", "a"), ("statements", "Q7747"),
                                                                        ("statements", UNATTRIBUTED_KEY)]
    assert json.loads(out[0][2])["@timestamp"].startswith("2016-12-25")


def test_create_app_uses_settings(stack_settings):
    settings = stack_settings.model_copy(update={"partitions": 3})
    app = create_app(settings)
    assert app.conf.broker_rebalance_timeout == settings.broker_rebalance_timeout_s
    assert app.conf.broker_session_timeout == settings.broker_session_timeout_s
    assert app.conf.topic_partitions == 3 and not app.conf.topic_allow_declare
    assert not app.conf.web_enabled
    assert str(app.conf.datadir).startswith(str(settings.data_dir))
    assert RAW.topic(settings) in {t for agent in app.agents.values() for t in agent.channel.topics}


@pytest.mark.integration
def test_worker_writes_outputs_keyed_by_id_and_keeps_running(stack_settings, seed_texts):
    settings = stack_settings
    ensure_topics(settings)
    proc = spawn_processor(settings, "warning")
    try:
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
        producer.send(RAW.topic(settings), key=b"bad", value=b"\xff\xfe not a record")
        for num, text in seed_texts.items():
            r = raw(num, text)
            producer.send(RAW.topic(settings), key=r.id.encode(), value=r.model_dump_json().encode())
        producer.flush()
        consumer = KafkaConsumer(ARTICLES.topic(settings), DEAD_LETTER.topic(settings),
                                 bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest")
        got: dict[str, list] = {"articles": [], "dead-letter": []}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (len(got["articles"]) < 3 or not got["dead-letter"]):
            for tp, records in consumer.poll(timeout_ms=1000).items():
                got[tp.topic.rsplit(".", 1)[1]] += records
        consumer.close()
        assert sorted(r.key.decode() for r in got["articles"]) == ["seed-000", "seed-001", "seed-002"]
        assert all(json.loads(r.value)["id"] == r.key.decode() for r in got["articles"])
        letter = json.loads(got["dead-letter"][0].value)
        assert letter["key"] == "bad" and letter["stage"] == "process" and "not a record" in letter["payload"]
        assert proc.poll() is None, "the worker keeps running"
    finally:
        assert stop_processor(proc) == 0


@pytest.mark.integration
def test_create_app_adds_the_alert_agents_when_rules_are_set(stack_settings):
    from pathlib import Path

    rules = Path(__file__).resolve().parent.parent / "alerts" / "rules.example.yaml"
    settings = stack_settings.model_copy(update={"rules_file": rules})
    ensure_topics(settings)
    app = create_app(settings)
    topics = {t for agent in app.agents.values() for t in agent.channel.topics}
    assert {RAW.topic(settings), STATEMENTS.topic(settings), EVENTS.topic(settings)} <= topics


@pytest.mark.integration
def test_novelty_runs_without_rules(stack_settings):
    ensure_topics(stack_settings)
    app = create_app(stack_settings)  # no rules file: repeats are still recorded, nothing alerts
    topics = {t for agent in app.agents.values() for t in agent.channel.topics}
    assert settings_topics(stack_settings, RAW, STATEMENTS, EVENTS) == topics  # statements and events: novelty


def settings_topics(settings, *streams: Stream) -> set[str]:
    return {s.topic(settings) for s in streams}


def test_oversized_output_becomes_a_bounded_dead_letter():
    letter = agents.oversized("articles", "a1", "x" * 2_000_000, ValueError("too big"))
    assert letter.key == "a1" and letter.topic == "articles" and "2000000 bytes" in letter.error
    assert len(letter.payload) == 20_000 and len(letter.model_dump_json()) < 100_000
