"""Pipeline status: consumer-group lag per topic and document counts per index."""

from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer

from newsmon.settings import Settings
from newsmon.topics import topic_names


@dataclass
class Lag:
    group: str
    topic: str
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(self.end - self.committed, 0)


def topic_lag(settings: Settings) -> list[Lag]:
    """Lag of every consumer group of this deployment (groups named `<topic_prefix>-...`), per topic."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, client_id="newsmon-status",
                             request_timeout_ms=10_000)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, client_id="newsmon-status")
    try:
        ours = set(topic_names(settings))
        groups = sorted(g["group_id"] for g in admin.list_groups())
        rows: list[Lag] = []
        for group in (g for g in groups if g.startswith(settings.topic_prefix + "-")):
            committed = admin.list_group_offsets(group).get(group, {})
            offsets = {tp: max(meta.offset, 0) for tp, meta in committed.items() if tp.topic in ours}
            if not offsets:
                continue
            ends = consumer.end_offsets(list(offsets))
            for topic in sorted({tp.topic for tp in offsets}):
                tps = [tp for tp in offsets if tp.topic == topic]
                # an end offset below the committed one is a broker reporting quirk: never show negative lag
                rows.append(Lag(group, topic, sum(offsets[tp] for tp in tps),
                                sum(max(ends[tp], offsets[tp]) for tp in tps)))
        return rows
    finally:
        consumer.close()
        admin.close()


def topic_sizes(settings: Settings) -> dict[str, int]:
    """Sum of the partitions' end offsets of each topic (records ever written, on Apache Kafka; the Tansu
    stand-in reports the last batch's base offset + 1, which undercounts batched writes)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, client_id="newsmon-status")
    try:
        from kafka import TopicPartition

        sizes = {}
        for topic in topic_names(settings):
            parts = consumer.partitions_for_topic(topic) or set()
            ends = consumer.end_offsets([TopicPartition(topic, p) for p in parts]) if parts else {}
            sizes[topic] = sum(ends.values())
        return sizes
    finally:
        consumer.close()


def index_counts(settings: Settings, client=None) -> dict[str, int | None]:
    """Document count of each index (None when it does not exist)."""
    from sinks.elasticsearch import INDICES, make_client

    client = client or make_client(settings)
    counts: dict[str, int | None] = {}
    for short in INDICES:
        index = settings.index(short)
        if client.indices.exists(index=index):
            client.indices.refresh(index=index)
            counts[index] = client.count(index=index)["count"]
        else:
            counts[index] = None
    return counts
