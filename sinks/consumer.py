"""The sink stage: consume the output topics, bulk-index into Elasticsearch, then commit the offsets.

Offsets are committed only after Elasticsearch acknowledged every document of the batch (or rejected
it, in which case the record went to the dead-letter topic first). While Elasticsearch is down, the
consumer pauses its partitions and keeps polling so it stays in its group; nothing is skipped.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer

from newsmon import kafka as clients
from newsmon.consume import CommitAfter
from newsmon.deadletter import DeadLetterWriter, dead_letter_limit, decode_payload, from_record
from newsmon import metrics
from newsmon.kafka import consumer_config
from newsmon.retry import retrying
from newsmon.secrets import redact
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




def run(settings: Settings, stop_event: threading.Event | None = None, *, idle_exit_s: float | None = None) -> SinkStats:
    """Run the sink until `stop_event` is set (or, with `idle_exit_s`, after that long without records)."""
    stop_event = stop_event or threading.Event()
    client = make_client(settings)
    _wait_for_templates(settings, client, stop_event)
    step = CommitAfter(lambda: make_consumer(settings), "sink", stop_event)
    producer = clients.make_producer(settings, acks="all", client_id="newsmon-sink-dlq")
    dead_letters = DeadLetterWriter(producer, DEAD_LETTER.topic(settings), dead_letter_limit(settings, "sink"))
    stats = SinkStats()
    log.info("sink: consuming %s into %s", ", ".join(s.topic(settings) for s in SINK_STREAMS),
             redact(str(settings.elasticsearch_url)))
    try:
        step.run(lambda records: _index_batch(settings, client, step, dead_letters, records, stats, stop_event),
                 max_records=settings.sink_batch_size, max_wait_s=settings.sink_max_wait_s, idle_exit_s=idle_exit_s)
    finally:
        producer.close(timeout=10)
        step.close()
        client.close()
    return stats


def _wait_for_templates(settings: Settings, client, stop_event: threading.Event) -> None:
    """Install the index templates, waiting for Elasticsearch to come up (connection refused, 5xx)."""
    try:
        retrying("sink: installing the index templates", stop=stop_event.is_set, logger=log)(
            ensure_templates, settings, client)
    except InterruptedError:
        pass


def _index_batch(settings: Settings, client, step: CommitAfter, dead_letters: DeadLetterWriter, records: list,
                 stats: SinkStats, stop_event: threading.Event) -> None:
    """Index one batch; returns once every document was acknowledged or dead-lettered (acknowledged too)."""
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
            dead.append(from_record("sink", rec, exc))
    if actions:
        started = time.perf_counter()
        result = bulk_index(client, actions, stop=stop_event.is_set, on_retry=step.keep_alive)
        metrics.bulk_seconds(time.perf_counter() - started)
        _count_indexed(settings, actions, result.rejected_actions)
        for letter in result.rejected:
            metrics.bulk_rejection(letter.error_type)
        stats.indexed += result.indexed
        for letter, action in zip(result.rejected, result.rejected_actions, strict=True):
            rec = origin[id(action)]  # point the dead letter at the Kafka record it came from
            letter.topic, letter.partition, letter.offset = rec.topic, rec.partition, rec.offset
            letter.payload = decode_payload(rec.value)
            dead.append(letter)
    dead_letters.write(dead, good=len(records) - len(dead))  # acknowledged before the offsets are committed
    stats.dead_letters += len(dead)
    stats.batches += 1
    log.debug("sink: %d records, %d dead letters", len(records), len(dead))


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

