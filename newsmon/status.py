"""Pipeline status: consumer-group lag per topic and document counts per index."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from newsmon.kafka import make_admin, make_consumer
from newsmon.secrets import redact
from newsmon.settings import Settings
from newsmon.streams import Stream, topic_names

log = logging.getLogger(__name__)


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
    """Lag of every consumer group of this deployment (groups named `<topic_prefix>-...`), per topic.

    The end offsets come from one `end_offsets` call over every partition of our topics, after a full
    metadata refresh: kafka-python silently leaves out partitions whose leader its metadata does not know
    yet and then fails with `KeyError` (seen on Apache Kafka when one consumer was asked group by group).
    A partition still without an end offset counts as caught up (end = committed).
    """
    admin = make_admin(settings, client_id="newsmon-status", request_timeout_ms=10_000)
    consumer = make_consumer(settings, client_id="newsmon-status")
    try:
        ours = set(topic_names(settings))
        groups = sorted(g["group_id"] for g in admin.list_groups())
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in (g for g in groups if g.startswith(settings.topic_prefix + "-")):
            offsets = admin.list_group_offsets(group).get(group, {})
            mine = {tp: max(meta.offset, 0) for tp, meta in offsets.items() if tp.topic in ours}
            if mine:
                committed[group] = mine
        if not committed:
            return []
        ends = _end_offsets(consumer, ours, {tp for offsets in committed.values() for tp in offsets})
        rows: list[Lag] = []
        for group, offsets in committed.items():
            for topic in sorted({tp.topic for tp in offsets}):
                tps = [tp for tp in offsets if tp.topic == topic]
                # an end offset below the committed one is a broker reporting quirk: never show negative lag
                rows.append(Lag(group, topic, sum(offsets[tp] for tp in tps),
                                sum(max(ends.get(tp, offsets[tp]), offsets[tp]) for tp in tps)))
        return rows
    finally:
        consumer.close()
        admin.close()


def group_assignments(settings: Settings, group: str, stream: Stream) -> dict[str, set[int]]:
    """Partitions of `stream`'s topic held by each member of consumer group `group`, `{}` while the group
    is not Stable (forming, rebalancing, or no coordinator yet): who works on what, e.g. Faust workers."""
    admin = make_admin(settings, client_id="newsmon-status", request_timeout_ms=10_000)
    try:
        described = admin.describe_groups([group]).get(group) or {}
    except KafkaError:
        return {}
    finally:
        admin.close()
    if described.get("group_state") != "Stable":
        return {}
    topic, found = stream.topic(settings), {}
    for member in described.get("members") or []:
        assigned = (member.get("member_assignment") or {}).get("assigned_partitions") or []
        found[member["member_id"]] = {p for tp in assigned if tp["topic"] == topic for p in tp["partitions"]}
    return found


def _end_offsets(consumer: KafkaConsumer, topics: set[str],
                 committed: set[TopicPartition]) -> dict[TopicPartition, int]:
    """End offsets of all partitions of `topics` (plus the committed ones), in one request; `{}` when the
    client cannot tell (partitions missing from the answer are left out, never a `KeyError`)."""
    consumer.topics()  # refresh the metadata of every topic, so each partition has a known leader
    tps = set(committed)
    for topic in topics:
        tps |= {TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)}
    try:
        ends = consumer.end_offsets(sorted(tps))
    except KeyError as exc:  # a leader still unknown: kafka-python dropped that partition from its answer
        log.warning("status: no end offset for %s; lag shown as 0 there", exc)
        return {}
    return {tp: end for tp, end in ends.items() if end is not None}


def topic_sizes(settings: Settings) -> dict[str, int]:
    """Sum of the partitions' end offsets of each topic (records ever written, on Apache Kafka; the Tansu
    stand-in reports the last batch's base offset + 1, which undercounts batched writes)."""
    consumer = make_consumer(settings, client_id="newsmon-status")
    try:
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
    from newsmon.indices import INDICES, make_client

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


def server_names(settings: Settings) -> tuple[str, str]:
    """What the broker and the search server are, with versions: as recorded by the local `up` that
    started them, else asked of the servers (Elasticsearch's node version; Kafka's protocol version)."""
    from newsmon.endpoints import read_endpoints

    recorded = (read_endpoints(settings.data_dir) or {}).get("servers") or {}
    kafka = recorded.get("kafka") if recorded.get("kafka", "").endswith(settings.kafka_bootstrap_servers or "?") else None
    search = recorded.get("elasticsearch") if recorded.get("elasticsearch", "").endswith(settings.elasticsearch_url or "?") else None
    if kafka is None:
        try:
            admin = make_admin(settings, client_id="newsmon-status", request_timeout_ms=5_000)
            try:
                version = ".".join(map(str, admin._client.check_version()))  # highest protocol both sides speak
            finally:
                admin.close()
            kafka = f"Kafka (protocol {version}) at {redact(str(settings.kafka_bootstrap_servers))}"
        except Exception as exc:  # noqa: BLE001 - status reports, it does not fail
            kafka = redact(f"Kafka at {settings.kafka_bootstrap_servers}: unreachable ({exc})")
    if search is None:
        from newsmon.indices import make_client

        try:
            nodes = make_client(settings, request_timeout=5).nodes.info(node_id="_local", metric="_none")["nodes"]
            version = next(iter(nodes.values())).get("version", "?") if nodes else "?"
            search = f"Elasticsearch {version} at {redact(str(settings.elasticsearch_url))}"
        except Exception as exc:  # noqa: BLE001
            search = redact(f"Elasticsearch at {settings.elasticsearch_url}: unreachable ({exc})")
    return redact(kafka), redact(search)


# the index each stream's records end up in (the others are counted in their topic)
STREAM_INDEX = {"articles": "articles", "statements": "statements", "events": "events", "alerts": "alerts",
                "dead-letter": "dead-letters"}


@dataclass
class StreamRow:
    """One stream as `newsmon status` shows it: one count, where it was counted, and what waits."""

    stream: str
    count: int | None  # None: its index does not exist yet
    where: str
    waiting: dict[str, int]  # consumer group -> records of the stream it has not consumed yet


def stream_rows(settings: Settings, sizes: dict[str, int], counts: dict[str, int | None],
                lags: list[Lag]) -> list[StreamRow]:
    """Each stream counted once: the documents of its index where it has one (what `search` finds; a
    record written twice is one document), else the records in its topic; and each group's lag on it."""
    from newsmon.streams import STREAMS

    rows = []
    for stream in STREAMS:
        topic = stream.topic(settings)
        waiting = {lag.group: lag.lag for lag in lags if lag.topic == topic}
        short = STREAM_INDEX.get(stream.name)
        if short is not None:
            index = settings.index(short)
            rows.append(StreamRow(stream.name, counts.get(index), f"index {index}", waiting))
        else:
            rows.append(StreamRow(stream.name, sizes.get(topic), f"topic {topic}", waiting))
    return rows
