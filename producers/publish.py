"""Publishing to Kafka (kafka-python): raw articles keyed by article id, dead letters with their reason."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError

from newsmon import kafka as clients
from newsmon.records import DeadLetter, RawArticle
from newsmon.settings import Settings
from newsmon.streams import DEAD_LETTER, RAW

log = logging.getLogger("newsmon.producers")


@dataclass
class PublishResult:
    """Which articles the broker acknowledged, and why the others were not."""

    acked: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    oversize: dict[str, str] = field(default_factory=dict)  # never sent: larger than `max_record_bytes`


def kafka_reason(exc: BaseException) -> str:
    """`ErrorName: message`, without repeating the name (kafka-python errors include it in `str`)."""
    text, name = str(exc), type(exc).__name__
    return text if text.startswith(name) else f"{name}: {text}" if text else name


def make_producer(settings: Settings, **overrides) -> KafkaProducer:
    """A KafkaProducer that waits for all in-sync replicas, retries, and is idempotent (no duplicates on retry)."""
    config = dict(
        client_id="newsmon-producer",
        acks="all",
        retries=5,
        # no duplicates when a send is retried (kafka-python >= 2.1; Tansu supports it)
        **({"enable_idempotence": True} if "enable_idempotence" in KafkaProducer.DEFAULT_CONFIG else {}),
        linger_ms=5,
        max_block_ms=15_000,
        request_timeout_ms=10_000,
        delivery_timeout_ms=30_000,
    )
    if "bootstrap_timeout_ms" in KafkaProducer.DEFAULT_CONFIG:
        config["bootstrap_timeout_ms"] = 10_000  # a broker that is down is reported within 10s
    config.update(overrides)
    return clients.make_producer(settings, **config)


class Publisher:
    """Sends records to the `raw` and `dead-letter` topics and reports what was acknowledged."""

    def __init__(self, settings: Settings, producer: KafkaProducer | None = None):
        self.settings = settings
        self.producer = producer or make_producer(settings)
        self.raw_topic = RAW.topic(settings)
        self.dead_letter_topic = DEAD_LETTER.topic(settings)

    def publish(self, articles: Sequence[RawArticle], timeout_s: float = 30.0) -> PublishResult:
        """Send `articles` (key = article id) and wait until the broker acknowledged them or `timeout_s` passed."""
        result = PublishResult()
        futures = {}
        for article in articles:
            message = RAW.message(article)
            if len(message["value"]) > self.settings.max_record_bytes:
                result.oversize[article.id] = (f"record of {len(message['value']):,} bytes exceeds the limit of "
                                               f"{self.settings.max_record_bytes:,} (max_record_bytes)")
                continue
            try:
                futures[article.id] = self.producer.send(self.raw_topic, **message)
            except MessageSizeTooLargeError as exc:
                result.oversize[article.id] = kafka_reason(exc)
            except KafkaError as exc:
                result.failed[article.id] = kafka_reason(exc)
        if futures:
            try:
                self.producer.flush(timeout_s)
            except KafkaTimeoutError:
                pass  # each future below says whether its record was acknowledged
        for article_id, future in futures.items():
            if future.is_done and future.succeeded():
                result.acked.append(article_id)
            elif future.is_done and isinstance(future.exception, MessageSizeTooLargeError):
                result.oversize[article_id] = kafka_reason(future.exception)
            elif future.is_done:
                result.failed[article_id] = kafka_reason(future.exception)
            else:
                result.failed[article_id] = f"not acknowledged within {timeout_s:g}s"
        return result

    def dead_letter(self, letter: DeadLetter, timeout_s: float = 10.0) -> bool:
        """Send a dead-letter record; returns whether the broker acknowledged it (a failure is logged)."""
        try:
            key, value = DEAD_LETTER.encode(letter)
            future = self.producer.send(self.dead_letter_topic, key=key or None, value=value)
            future.get(timeout_s)
            return True
        except KafkaError as exc:
            log.error("dead letter not delivered (%s): %s", kafka_reason(exc), letter.error)
            return False

    def close(self, timeout_s: float = 10.0) -> None:
        self.producer.close(timeout_s)
