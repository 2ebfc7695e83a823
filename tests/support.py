"""Helpers shared by the integration tests: waiting for a condition, reading a topic from the start."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar


from newsmon.kafka import make_consumer
from newsmon.settings import Settings
from newsmon.streams import Stream

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 120.0, step: float = 0.5) -> T:
    """Poll `predicate` until it returns something truthy or `timeout` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def topic_records(settings: Settings, stream: Stream, idle_ms: int = 3000) -> list:
    """Every record of the stream's topic, read from the beginning without a consumer group."""
    consumer = make_consumer(settings, stream.topic(settings), auto_offset_reset="earliest", consumer_timeout_ms=idle_ms)
    try:
        return list(consumer)
    finally:
        consumer.close()

