"""SIGKILL of each stage mid-run: every acknowledged id indexed exactly once, every alert delivered
(duplicates only from an attempt cut off by a kill, counted by the alert's idempotency key)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from newsmon.alerts.message import make_alert
from newsmon.processors.agents import Message, process_batch
from newsmon.processors.extraction import load_pipeline
from newsmon.producers.demo import seed_texts
from newsmon.records import Article, RawArticle
from newsmon.sinks.consumer import run as run_sink
from newsmon.indices import ensure_templates, make_client
from newsmon.topics import ensure_topics
from tests.faults.verifiable import Killer, VerifiableProducer, report, stage, wait_for
from tests.receivers import Receiver

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(900)]

START = datetime(2016, 12, 1, tzinfo=timezone.utc)


def ids(client, index: str) -> list[str]:
    """Every document id of `index` (a list: a duplicate would show twice)."""
    if not client.indices.exists(index=index):
        return []
    client.indices.refresh(index=index)
    hits = client.search(index=index, size=10_000, source=False, query={"match_all": {}})["hits"]["hits"]
    return [h["_id"] for h in hits]


def count(client, index: str) -> int:
    if not client.indices.exists(index=index):
        return 0
    client.indices.refresh(index=index)
    return client.count(index=index)["count"]


def article(i: int) -> tuple[str, bytes]:
    a = Article(id=f"fault-{i}", timestamp=START + timedelta(minutes=i), feed="faults", url=f"http://x.test/{i}",
                title=f"Article {i}", fetched=START)
    return a.id, a.model_dump_json(by_alias=True).encode()


@pytest.mark.ci
def test_sink_killed_mid_run_indexes_every_acknowledged_id_once(stack_settings, tmp_path):
    settings = stack_settings.model_copy(update={"sink_max_wait_s": 0.3, "sink_batch_size": 50})
    ensure_topics(settings)
    ensure_templates(settings)
    producer = VerifiableProducer(settings, "articles", [article(i) for i in range(1200)], rate_per_s=60).start()
    killer = Killer(lambda: stage(settings, "sink", "--loglevel", "warning", log=tmp_path / "sink.log"),
                    interval_s=(2.0, 5.0), max_kills=6)
    started = time.monotonic()
    try:
        killer.run_while(lambda: producer.finished_at is None)
        producer.join()
        client = make_client(settings)
        index = settings.index("articles")
        converged = wait_for(lambda: count(client, index) >= len(producer.acked), 240)
        converge_s = time.monotonic() - producer.finished_at
        time.sleep(3)  # a batch re-read after the last kill has landed
        got = ids(client, index)
    finally:
        killer.stop()
    assert converged, (tmp_path / "sink.log").read_text()[-3000:]
    missing, extra = set(producer.acked) - set(got), set(got) - set(producer.acked)
    duplicated = len(got) - len(set(got))
    report("sink SIGKILL", kills=killer.kills, published=len(producer.acked), indexed=len(set(got)),
           missing=len(missing), duplicated=duplicated, unexpected=len(extra), convergence_s=round(converge_s, 1),
           run_s=round(time.monotonic() - started, 1))
    assert killer.kills >= 3 and not producer.failed
    assert not missing and not extra and duplicated == 0


def statement(i: int) -> dict:
    return {"id": f"st{i}", "@timestamp": "2016-12-24T21:00:00Z", "feed": "mehr", "kind": "direct",
            "url": f"https://en.mehrnews.com/news/{i}", "title": "Presidents of Iran and Russia spoke on phone",
            "content": {"start": 0, "end": 10, "text": f"Quote number {i} about the peace process"},
            "speaker": {"start": 0, "end": 5, "text": "Vladimir Putin", "name": "Vladimir Putin", "country": "RU"}}


def test_notifier_killed_mid_run_delivers_every_alert(stack_settings, tmp_path, web):
    ensure_topics(stack_settings)
    desk = Receiver(web, "/desk", delay_s=0.1)  # a window between the answer and the ledger write
    ops = Receiver(web, "/ops")
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"destinations:\n  desk: '{desk.url}'\n  ops: '{ops.url}'\nrules:\n  - name: Putin\n"
                     f"    query: 'speaker.name:\"Vladimir Putin\"'\n    destinations: [desk, ops]\n")
    alerts = [make_alert("Putin", "statements", statement(i), ["desk", "ops"]) for i in range(300)]
    producer = VerifiableProducer(stack_settings, "alerts", [(a.id, a.model_dump_json().encode()) for a in alerts],
                                  rate_per_s=30).start()

    def delivered() -> bool:
        return producer.finished_at is not None and {*desk.keys} >= producer.acked and {*ops.keys} >= producer.acked

    killer = Killer(lambda: stage(stack_settings, "alerts", "notify", "--rules", str(rules), "--loglevel", "warning",
                                  log=tmp_path / "notify.log"), interval_s=(1.5, 4.0), max_kills=8)
    started = time.monotonic()
    try:
        killer.run_while(lambda: not delivered())
        producer.join()
        converged = wait_for(delivered, 240)
        converge_s = time.monotonic() - producer.finished_at
        time.sleep(2)
    finally:
        killer.stop()
    assert converged, (tmp_path / "notify.log").read_text()[-3000:]
    for name, receiver in (("desk", desk), ("ops", ops)):
        report(f"notifier SIGKILL ({name})", kills=killer.kills, alerts_expected=len(producer.acked),
               delivered=len(set(receiver.keys)), duplicate_deliveries=receiver.duplicates(),
               convergence_s=round(converge_s, 1), run_s=round(time.monotonic() - started, 1))
        assert set(receiver.keys) == producer.acked, "every alert at least once, nothing else"
        # a kill can cut off at most the one attempt in flight per destination: re-sent with the same key
        assert receiver.duplicates() <= killer.kills
    assert killer.kills >= 3


def raws(n: int) -> list[RawArticle]:
    texts = list(seed_texts().values())
    return [RawArticle(id=f"fault-raw-{i}", feed=f"wire{i % 4}", url=f"http://x.test/raw/{i}",
                       title=f"Report {i}: Iran, Russia and Syria", published=START + timedelta(hours=i),
                       content=texts[i % 3] + f"\n\nReport number {i}.", content_source="feed")
            for i in range(n)]


def test_processor_killed_mid_run_indexes_every_article_and_statement_once(stack_settings, tmp_path):
    settings = stack_settings.model_copy(update={"processor_batch_size": 4, "sink_max_wait_s": 0.3})
    ensure_topics(settings)
    ensure_templates(settings)
    batch = raws(60)
    expected = process_batch(load_pipeline(settings), [Message(r.id.encode(), r.model_dump_json().encode())
                                                       for r in batch])  # offline, the same extraction
    want_statements = {s.id for _, statements, _ in expected.extracted for s in statements}
    stop = threading.Event()
    sink = threading.Thread(target=run_sink, args=(settings, stop), daemon=True)
    sink.start()
    producer = VerifiableProducer(settings, "raw", [(r.id, r.model_dump_json().encode()) for r in batch],
                                  rate_per_s=1.0).start()
    client = make_client(settings)
    articles, statements = settings.index("articles"), settings.index("statements")
    killer = Killer(lambda: stage(settings, "process", "--loglevel", "warning", log=tmp_path / "process.log"),
                    interval_s=(15.0, 25.0), max_kills=3)
    started = time.monotonic()
    try:
        killer.run_while(lambda: producer.finished_at is None or count(client, articles) < len(batch))
        producer.join()
        converged = wait_for(lambda: count(client, articles) >= len(producer.acked)
                             and count(client, statements) >= len(want_statements), 400, step=1)
        converge_s = time.monotonic() - producer.finished_at
        time.sleep(3)
        got_articles, got_statements = ids(client, articles), ids(client, statements)
    finally:
        killer.stop()
        stop.set()
        sink.join(30)
    assert converged, (tmp_path / "process.log").read_text()[-3000:]
    report("processor SIGKILL", kills=killer.kills, published=len(producer.acked), indexed=len(set(got_articles)),
           missing=len(producer.acked - set(got_articles)), duplicated=len(got_articles) - len(set(got_articles)),
           statements_expected=len(want_statements), statements_indexed=len(set(got_statements)),
           convergence_s=round(converge_s, 1), run_s=round(time.monotonic() - started, 1))
    assert killer.kills >= 2
    assert sorted(got_articles) == sorted(producer.acked)
    assert sorted(got_statements) == sorted(want_statements)
