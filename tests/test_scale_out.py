"""Scale-out, shown: two Faust workers share the 4 partitions; one is killed with SIGKILL mid-stream and the
other takes over its partitions and its share of the novelty table. Every published article is indexed
once, every statement once, and each repeated statement still points at one first sighting (the table
state of the killed worker's partitions was recovered from its changelog, not started afresh)."""

from __future__ import annotations

import signal
import threading
from collections import defaultdict

import pytest
from kafka import KafkaProducer

from newsmon.processors.agents import Message, process_batch
from newsmon.processors.app import app_id
from newsmon.processors.extraction import load_pipeline
from newsmon.records import RawArticle, stable_id
from newsmon.sinks.consumer import run as run_sink
from newsmon.indices import ensure_templates, make_client
from newsmon.stack import spawn_processor, stop_processor
from newsmon.status import group_assignments
from newsmon.streams import RAW
from newsmon.topics import ensure_topics
from tests.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

COPIES = 8  # each seed article is published this many times (distinct ids, same statements)


def assignments(settings) -> dict[str, set[int]]:
    return group_assignments(settings, app_id(settings), RAW)


def all_hits(client, index: str) -> list[dict]:
    client.indices.refresh(index=index)
    return client.search(index=index, query={"match_all": {}}, size=1000)["hits"]["hits"]


def raws_from(seed_texts: dict[str, str]) -> list[RawArticle]:
    texts = list(seed_texts.values())
    return [RawArticle(id=stable_id("scale", str(i)), feed=f"wire-{i % 5}", url=f"http://wire.test/{i}",
                       title=f"Report {i}", content=texts[i % len(texts)], content_source="feed")
            for i in range(COPIES * len(texts))]


def test_two_workers_share_partitions_and_one_takes_over_when_the_other_is_killed(stack_settings, seed_texts):
    settings = stack_settings.model_copy(update={"processor_batch_size": 2, "sink_max_wait_s": 0.3})
    ensure_topics(settings)
    ensure_templates(settings)
    raws = raws_from(seed_texts)
    expected = process_batch(load_pipeline(settings), [Message(r.id.encode(), r.model_dump_json().encode())
                                                        for r in raws])
    want_statements = {s.id for _, statements, _ in expected.extracted for s in statements}
    assert want_statements and not expected.dead

    stop = threading.Event()
    sink = threading.Thread(target=run_sink, args=(settings, stop), daemon=True)
    sink.start()
    workers = [spawn_processor(settings, "warning"), spawn_processor(settings, "warning")]
    try:
        shares = wait_for(lambda: (a := assignments(settings)) and len(a) == 2 and all(a.values()) and a, 180)
        assert sorted(p for ps in shares.values() for p in ps) == list(range(settings.partitions)), shares

        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")

        def publish(batch: list[RawArticle]) -> None:  # each record acknowledged by the broker, or an error here
            futures = [producer.send(RAW.topic(settings), **RAW.message(r))
                       for r in batch]
            for future in futures:
                future.get(60)

        half = len(raws) // 2
        publish(raws[:half])
        client = make_client(settings)
        articles, statements = settings.index("articles"), settings.index("statements")
        assert wait_for(lambda: len(all_hits(client, articles)) >= half // 2, 300, step=0.2)
        workers[0].send_signal(signal.SIGKILL)  # mid-stream, its last batches not yet committed
        workers[0].wait()
        publish(raws[half:])
        producer.close()

        # the survivor alone holds every partition once the group has settled
        assert wait_for(lambda: (a := assignments(settings)) and len(a) == 1
                        and set().union(*a.values()) == set(range(settings.partitions)), 180)
        assert wait_for(lambda: len(all_hits(client, articles)) == len(raws)
                        and len(all_hits(client, statements)) == len(want_statements), 400, step=1)
        assert {h["_id"] for h in all_hits(client, articles)} == {r.id for r in raws}
        docs = all_hits(client, statements)
        assert sorted(h["_id"] for h in docs) == sorted(want_statements)  # once each, none missing

        # novelty: copies of one statement have at most one first sighting (two would mean the survivor took a
        # repeat for new: the table state of the killed worker's partitions was lost); every repeat points at a
        # first sighting that exists (of its own group, or of a near-duplicate statement)
        def settled() -> bool:
            docs = [hit["_source"] for hit in all_hits(client, statements)]
            firsts = {d["id"] for d in docs if d.get("novel") is not False}
            groups = defaultdict(set)
            for d in docs:
                speaker = d.get("speaker") or {}
                if d.get("novel") is not False:
                    groups[(speaker.get("name") or speaker.get("text"), d["content"]["text"])].add(d["id"])
            return (all(len(ids) == 1 for ids in groups.values())
                    and all(d.get("first_id") in firsts for d in docs if d.get("novel") is False))
        assert wait_for(settled, 120, step=1), "a repeat after the takeover was taken for a new statement"
        assert workers[1].poll() is None, "the survivor keeps running"
    finally:
        for proc in workers:
            stop_processor(proc)
        stop.set()
        sink.join(30)
