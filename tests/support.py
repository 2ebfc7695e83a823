"""Helpers shared by the integration tests: waiting for a condition, reading a topic from the start, a running
pipeline (worker and sink)."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from newsmon.indices import ensure_templates
from newsmon.kafka import make_consumer
from newsmon.settings import Settings
from newsmon.sinks.consumer import run as run_sink
from newsmon.stack import spawn_processor, stop_processor
from newsmon.streams import Stream
from newsmon.topics import ensure_topics

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


@contextlib.contextmanager
def running_pipeline(settings: Settings) -> Iterator[subprocess.Popen]:
    """Topics and templates made, the sink running as a thread and a Faust worker as a child process (yielded);
    both stopped on exit, the worker first."""
    ensure_topics(settings)
    ensure_templates(settings)
    stop = threading.Event()
    sink = threading.Thread(target=run_sink, args=(settings, stop), daemon=True)
    sink.start()
    proc = spawn_processor(settings, "warning")
    try:
        yield proc
    finally:
        stop_processor(proc)
        stop.set()
        sink.join(30)
