"""The broker stops answering under a consume loop (the sink's and the notifier's step): the loop keeps
running, takes every later record, and its offsets reach the broker once it answers again.
- Frozen right after a batch was handled: the offset commit times out and is owed (tried again).
- Stopped and started again: polls fail meanwhile (kafka-python raises ECONNREFUSED from a poll while
  it looks for the group coordinator), and are tried again.
Before, either error ended the sink and the notifier."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from kafka.admin import NewTopic
from kafka.structs import TopicPartition

from newsmon.consume import CommitAfter
from newsmon.kafka import consumer_config, make_admin, make_consumer, make_producer
from tests.faults.test_refused_sends import freeze
from tests.faults.verifiable import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(600)]

REQUEST_TIMEOUT_MS = 3_000  # the commit gives up after this (the client default is 30 s)
PARTITIONS = 2


def committed(settings, group: str, topic: str) -> dict[int, int]:
    admin = make_admin(settings, client_id="newsmon-faults")
    try:
        return {tp.partition: meta.offset for tp, meta in admin.list_group_offsets(group).get(group, {}).items()
                if tp.topic == topic}
    finally:
        admin.close()


def end_offsets(settings, topic: str) -> dict[int, int]:
    reader = make_consumer(settings)
    try:
        ends = reader.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
        return {tp.partition: end for tp, end in ends.items()}
    finally:
        reader.close()


def publish(settings, topic: str, values: list[str]) -> None:
    producer = make_producer(settings, acks="all")
    try:
        for value in values:
            producer.send(topic, value.encode())
        producer.flush(60)
    finally:
        producer.close(10)


class ConsumeLoop:
    """`CommitAfter.run` in a thread over a topic of its own, recording what it handled and what ended it."""

    def __init__(self, settings, on_batch: Callable[[], None] = lambda: None):
        self.settings, self.on_batch = settings, on_batch
        self.topic, self.group = settings.topic("commits"), f"{settings.topic_prefix}-commits"
        admin = make_admin(settings, client_id="newsmon-faults")
        admin.create_topics([NewTopic(self.topic, PARTITIONS, 1)])
        admin.close()
        self.stop = threading.Event()
        self.step = CommitAfter(self._consumer, "commits", self.stop)
        self.seen: list[str] = []
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _consumer(self):
        consumer = make_consumer(self.settings, **consumer_config(
            self.settings, self.group, "newsmon-commits", max_poll_records=10, request_timeout_ms=REQUEST_TIMEOUT_MS))
        consumer.subscribe([self.topic])
        return consumer

    def _run(self) -> None:
        try:
            self.step.run(self._handle, max_records=10, max_wait_s=0.3)
        except BaseException as exc:  # noqa: BLE001 - the test reports what ended the loop
            self.errors.append(exc)

    def _handle(self, records: list) -> None:
        self.seen.extend(r.value.decode() for r in records)
        self.on_batch()

    def __enter__(self) -> "ConsumeLoop":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(60)
        self.step.close()

    def assert_complete(self, expected: set[str]) -> None:
        """Every expected value handled, the loop still running, and its offsets committed to the end."""
        assert wait_for(lambda: expected <= set(self.seen) or not self.thread.is_alive(), 180), sorted(self.seen)
        assert self.thread.is_alive(), f"the consume loop ended: {self.errors!r}"
        assert expected <= set(self.seen)
        ends = end_offsets(self.settings, self.topic)
        assert wait_for(lambda: committed(self.settings, self.group, self.topic) == ends, 60), (
            committed(self.settings, self.group, self.topic), ends)
        assert not self.step.owed


def values(lot: str, n: int = 5) -> list[str]:
    return [f"{lot}{i}" for i in range(n)]


@pytest.mark.parametrize("frozen_s", [pytest.param(10.0, marks=pytest.mark.ci),
                                      45.0])  # beyond the session timeout and the clients' 30 s default
def test_a_commit_the_broker_does_not_answer_is_owed_not_fatal(stack_settings, broker, frozen_s):
    if getattr(broker, "proc", None) is None:
        pytest.skip("the broker runs outside this test session: it cannot be frozen")
    froze = threading.Event()

    def freeze_once() -> None:  # the first batch is handled; its commit meets a broker that does not answer
        if not froze.is_set():
            froze.set()
            freeze(broker, True)
            threading.Timer(frozen_s, freeze, (broker, False)).start()

    try:
        with ConsumeLoop(stack_settings, on_batch=freeze_once) as loop:
            publish(stack_settings, loop.topic, values("a"))
            assert wait_for(froze.is_set, 120), "the first batch never came"
            time.sleep(frozen_s + 1)
            publish(stack_settings, loop.topic, values("b"))
            loop.assert_complete(set(values("a")) | set(values("b")))
    finally:
        freeze(broker, False)


@pytest.mark.ci
def test_a_broker_restart_ends_no_consume_loop(stack_settings, broker):
    """The loop starts polling while the broker is down: it looks for its group coordinator and meets a
    closed port (the poll raises), then the broker comes back."""
    if getattr(broker, "proc", None) is None:
        pytest.skip("the broker runs outside this test session: it cannot be restarted")
    loop = ConsumeLoop(stack_settings)
    publish(stack_settings, loop.topic, values("a"))
    try:
        broker.stop()
        with loop:
            time.sleep(10)
            broker.start()
            publish(stack_settings, loop.topic, values("b"))
            loop.assert_complete(set(values("a")) | set(values("b")))
    finally:
        if broker.proc is None or broker.proc.poll() is not None:
            broker.start()
