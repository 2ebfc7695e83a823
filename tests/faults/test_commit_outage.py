"""The broker stops answering right after a batch was handled, so the consume step's offset commit times
out: the step keeps running (the commit is owed and tried again), takes every later record, and the
owed offsets reach the broker once it answers. Before, the commit's timeout ended the sink and the
notifier."""

from __future__ import annotations

import threading
import time

import pytest
from kafka.admin import NewTopic
from kafka.structs import TopicPartition

from newsmon.consume import CommitAfter
from newsmon.kafka import consumer_config, make_admin, make_consumer, make_producer
from tests.faults.test_refused_sends import freeze
from tests.faults.verifiable import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(600)]

REQUEST_TIMEOUT_MS = 3_000  # the commit gives up after this (the client default is 30 s)


def committed(settings, group: str, topic: str) -> dict[int, int]:
    admin = make_admin(settings, client_id="newsmon-faults")
    try:
        return {tp.partition: meta.offset for tp, meta in admin.list_group_offsets(group).get(group, {}).items()
                if tp.topic == topic}
    finally:
        admin.close()


def publish(settings, topic: str, values: list[str]) -> None:
    producer = make_producer(settings, acks="all")
    try:
        for value in values:
            producer.send(topic, value.encode())
        producer.flush(30)
    finally:
        producer.close(10)


@pytest.mark.parametrize("frozen_s", [pytest.param(10.0, marks=pytest.mark.ci),
                                      45.0])  # beyond the session timeout and the clients' 30 s default
def test_a_commit_the_broker_does_not_answer_is_owed_not_fatal(stack_settings, broker, frozen_s):
    if getattr(broker, "proc", None) is None:
        pytest.skip("the broker runs outside this test session: it cannot be frozen")
    settings = stack_settings
    topic, group = settings.topic("commits"), f"{settings.topic_prefix}-commits"
    admin = make_admin(settings, client_id="newsmon-faults")
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    consumer = make_consumer(settings, **consumer_config(settings, group, "newsmon-commits", max_poll_records=10,
                                                         request_timeout_ms=REQUEST_TIMEOUT_MS))
    consumer.subscribe([topic])
    stop, seen, froze = threading.Event(), [], threading.Event()
    step = CommitAfter(consumer, "commits", stop)

    def handle(records: list) -> None:
        seen.extend(r.value.decode() for r in records)
        if not froze.is_set():  # the first batch is done; its commit meets a broker that does not answer
            froze.set()
            freeze(broker, True)
            threading.Timer(frozen_s, freeze, (broker, False)).start()

    errors: list[BaseException] = []

    def loop() -> None:
        try:
            step.run(handle, max_records=10, max_wait_s=0.3)
        except BaseException as exc:  # noqa: BLE001 - the test reports what ended the loop
            errors.append(exc)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        publish(settings, topic, [f"a{i}" for i in range(5)])
        assert wait_for(froze.is_set, 120), "the first batch never came"
        time.sleep(frozen_s + 1)
        publish(settings, topic, [f"b{i}" for i in range(5)])
        everything = {f"a{i}" for i in range(5)} | {f"b{i}" for i in range(5)}
        assert wait_for(lambda: everything <= set(seen) or not thread.is_alive(), 180), sorted(seen)
        assert thread.is_alive(), f"the consume loop ended: {errors!r}"
        assert everything <= set(seen)
        reader = make_consumer(settings)
        ends = reader.end_offsets([TopicPartition(topic, p) for p in range(2)])
        reader.close()
        assert wait_for(lambda: committed(settings, group, topic) == {tp.partition: end for tp, end in ends.items()},
                        60), (committed(settings, group, topic), ends)
        assert not step.owed
    finally:
        freeze(broker, False)
        stop.set()
        thread.join(60)
        consumer.close(autocommit=False)
