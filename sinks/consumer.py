"""The sink stage: consume the output topics, bulk-index into Elasticsearch, then commit the offsets.

Offsets are committed only after Elasticsearch acknowledged every document of the batch (or rejected
it, in which case the record went to the dead-letter topic first). While Elasticsearch is down, the
consumer pauses its partitions and keeps polling so it stays in its group; nothing is skipped.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import CommitFailedError

from newsmon import kafka as clients
from newsmon import metrics
from newsmon.kafka import consumer_config
from newsmon.records import DeadLetter
from newsmon.settings import Settings
from newsmon.streams import DEAD_LETTER, stream_of
from newsmon.indices import ensure_templates, make_client
from newsmon.sinks.elasticsearch import STREAM_ACTIONS, bulk_index, record_actions

log = logging.getLogger(__name__)

SINK_STREAMS = tuple(STREAM_ACTIONS)  # articles, statements, events, alerts, sightings, dead-letter


def group_id(settings: Settings) -> str:
    """The sink's consumer group (one per topic prefix; run more `newsmon sink` to scale out)."""
    return f"{settings.topic_prefix}-sink"


def make_consumer(settings: Settings, group: str | None = None, **options: Any) -> KafkaConsumer:
    """A manually-committing consumer over the sink topics, tuned to rejoin within seconds."""
    consumer = clients.make_consumer(settings, **consumer_config(settings, group or group_id(settings), "newsmon-sink",
                                                                 max_poll_records=settings.sink_batch_size, **options))
    consumer.subscribe([s.topic(settings) for s in SINK_STREAMS])
    return consumer


@dataclass
class SinkStats:
    batches: int = 0
    indexed: int = 0
    dead_letters: int = 0


def _decode(value: bytes | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value.decode("utf-8", "replace")


def run(settings: Settings, stop_event: threading.Event | None = None, *, idle_exit_s: float | None = None) -> SinkStats:
    """Run the sink until `stop_event` is set (or, with `idle_exit_s`, after that long without records)."""
    stop_event = stop_event or threading.Event()
    client = make_client(settings)
    _wait_for_templates(settings, client, stop_event)
    consumer = make_consumer(settings)
    producer = clients.make_producer(settings, acks="all", client_id="newsmon-sink-dlq")
    stats = SinkStats()
    last_record = time.monotonic()
    log.info("sink: consuming %s into %s", ", ".join(s.topic(settings) for s in SINK_STREAMS),
             settings.elasticsearch_url)
    try:
        while not stop_event.is_set():
            records = _poll_batch(settings, consumer, stop_event)
            if not records:
                if idle_exit_s is not None and time.monotonic() - last_record > idle_exit_s:
                    break
                continue
            last_record = time.monotonic()
            try:
                _index_batch(settings, client, consumer, producer, records, stats, stop_event)
            except InterruptedError:
                break  # stopped during an outage: nothing committed, the batch is re-read on restart
            try:
                consumer.commit()
            except CommitFailedError as exc:  # group rebalanced meanwhile: the batch is re-delivered, ids dedupe
                log.warning("sink: offset commit failed (%s); records will be re-read and overwritten", exc)
    finally:
        producer.close(timeout=10)
        consumer.close(autocommit=False)
        client.close()
    return stats


def _wait_for_templates(settings: Settings, client, stop_event: threading.Event) -> None:
    backoff = 0.5
    while not stop_event.is_set():
        try:
            ensure_templates(settings, client)
            return
        except Exception as exc:  # connection refused, 5xx: Elasticsearch not up yet
            log.warning("sink: cannot install index templates yet (%s); retrying in %.1fs", exc, backoff)
            stop_event.wait(backoff)
            backoff = min(backoff * 2, 30.0)


def _poll_batch(settings: Settings, consumer: KafkaConsumer, stop_event: threading.Event) -> list:
    """Up to `sink_batch_size` records: waits up to `sink_max_wait_s` for the first, then takes what keeps
    arriving, and flushes as soon as nothing more is immediately there (or the wait is over)."""
    records: list = []
    deadline = time.monotonic() + settings.sink_max_wait_s
    while len(records) < settings.sink_batch_size and not stop_event.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            break
        wait = left if not records else min(left, 0.05)
        polled = consumer.poll(timeout_ms=int(wait * 1000), max_records=settings.sink_batch_size - len(records))
        if not polled and records:
            break
        for batch in polled.values():
            records.extend(batch)
    return records


def _index_batch(settings: Settings, client, consumer: KafkaConsumer, producer: KafkaProducer, records: list,
                 stats: SinkStats, stop_event: threading.Event) -> None:
    actions, dead, origin = [], [], {}
    for rec in records:
        stream = stream_of(settings, rec.topic)
        metrics.records_in("sink", stream.name if stream is not None else rec.topic)
        try:
            for action in record_actions(settings, stream, rec.value):
                actions.append(action)
                origin[id(action)] = rec
                if stream is DEAD_LETTER:  # every stage's dead letters pass here: counted once, here
                    metrics.dead_letter(action["_source"].get("stage", "unknown"),
                                        action["_source"].get("error_type", ""))
        except ValueError as exc:
            dead.append(DeadLetter(stage="sink", error=str(exc), error_type=type(exc).__name__,
                                   payload=_decode(rec.value), topic=rec.topic, partition=rec.partition,
                                   offset=rec.offset, key=rec.key.decode("utf-8", "replace") if rec.key else None))
    if actions:
        started = time.perf_counter()
        try:
            result = bulk_index(client, actions, stop=stop_event.is_set, on_retry=lambda: _keep_alive(consumer))
        finally:
            if consumer.paused():
                consumer.resume(*consumer.paused())
        metrics.bulk_seconds(time.perf_counter() - started)
        _count_indexed(settings, actions, result.rejected_actions)
        for letter in result.rejected:
            metrics.bulk_rejection(letter.error_type)
        stats.indexed += result.indexed
        for letter, action in zip(result.rejected, result.rejected_actions, strict=True):
            rec = origin[id(action)]  # point the dead letter at the Kafka record it came from
            letter.topic, letter.partition, letter.offset = rec.topic, rec.partition, rec.offset
            letter.payload = _decode(rec.value)
            dead.append(letter)
    sent = []
    dead_letter_topic = DEAD_LETTER.topic(settings)
    for letter in dead:
        if letter.topic == dead_letter_topic:  # a dead letter that cannot be indexed: logged, never looped
            log.error("sink: dead letter at %s[%s]@%s not indexed: %s", letter.topic, letter.partition,
                      letter.offset, letter.error)
            continue
        log.error("sink: dead-letter %s: %s", letter.key, letter.error)
        sent.append(producer.send(dead_letter_topic, **DEAD_LETTER.message(letter)))
    for future in sent:  # acknowledged before the offsets are committed
        future.get(timeout=60)
    stats.dead_letters += len(dead)
    stats.batches += 1
    log.info("sink: %d records, %d dead letters", len(records), len(dead))


PARTITION = re.compile(r"-\d{4}\.\d{2}$")  # the month suffix of a partitioned index


def _count_indexed(settings: Settings, actions: list, rejected: list) -> None:
    """`newsmon_records_out{stage="sink"}` per index (short name), rejected actions left out."""
    left_out = {id(a) for a in rejected}
    counts: dict[str, int] = {}
    for action in actions:
        if id(action) not in left_out:
            short = PARTITION.sub("", action["_index"].removeprefix(settings.index_prefix + "-"))
            counts[short] = counts.get(short, 0) + 1
    for short, n in counts.items():
        metrics.records_out("sink", short, n)


def _keep_alive(consumer: KafkaConsumer) -> None:
    """Poll without taking records, so the consumer stays in its group while Elasticsearch is away."""
    consumer.pause(*consumer.assignment())
    polled = consumer.poll(timeout_ms=0)
    for tp, batch in polled.items():  # partitions assigned by a rebalance during the poll: give them back
        consumer.seek(tp, batch[0].offset)
        consumer.pause(tp)
