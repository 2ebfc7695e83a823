"""Kafka client settings shared by every stage (kafka-python consumers here; Faust in processors/transport.py)."""

from __future__ import annotations

from typing import Any

from newsmon.settings import Settings


def consumer_config(settings: Settings, group_id: str, client_id: str, **overrides: Any) -> dict[str, Any]:
    """kafka-python `KafkaConsumer` options: manual commits, group timings and fetch wait from settings.

    A group (re)join waits up to the rebalance timeout, which kafka-python takes from
    `max_poll_interval_ms`; the fetch wait bounds how long an idle fetch is held by the broker.
    """
    config: dict[str, Any] = dict(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group_id, client_id=client_id,
        enable_auto_commit=False, auto_offset_reset="earliest",
        max_poll_interval_ms=int(settings.broker_rebalance_timeout_s * 1000),
        session_timeout_ms=int(settings.broker_session_timeout_s * 1000),
        heartbeat_interval_ms=max(100, int(settings.broker_session_timeout_s * 1000 / 4)),
        fetch_max_wait_ms=settings.fetch_max_wait_ms)
    config.update(overrides)
    return config
