"""The dead-letter step: a letter keeps reason, payload and position; the share limit stops a stage."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from newsmon.deadletter import DeadLetterLimit, DeadLetterLimitExceeded, DeadLetterWriter, from_record


def record(offset: int, value: bytes = b'{"id": 1', topic: str = "t.raw") -> SimpleNamespace:
    return SimpleNamespace(topic=topic, partition=2, offset=offset, key=b"k1", value=value)


def test_a_letter_keeps_reason_payload_and_position():
    letter = from_record("sink", record(7), ValueError("bad json"))
    assert (letter.stage, letter.error, letter.error_type) == ("sink", "bad json", "ValueError")
    assert (letter.topic, letter.partition, letter.offset, letter.key) == ("t.raw", 2, 7, "k1")
    assert letter.payload == '{"id": 1'
    assert from_record("sink", record(8, b'{"id": 1}'), "why").payload == {"id": 1}


def test_the_limit_judges_a_full_window_only():
    limit = DeadLetterLimit("processor", max_share=0.5, window=10)
    limit.observe(good=0, dead=9)  # one bad start is not yet a bad deploy
    with pytest.raises(DeadLetterLimitExceeded, match=r"processor: 100% of the last 10 records were dead-lettered \(limit 50%\)"):
        limit.observe(good=0, dead=1)


def test_the_window_slides_so_a_past_burst_is_forgotten():
    limit = DeadLetterLimit("sink", max_share=0.3, window=10)
    limit.observe(good=7, dead=3)  # 30%: at the limit, not over it
    limit.observe(good=10, dead=0)
    limit.observe(good=7, dead=3)
    with pytest.raises(DeadLetterLimitExceeded):
        limit.observe(good=0, dead=1)


class Producer:
    def __init__(self):
        self.sent = []

    def send(self, topic, key, value):
        self.sent.append((topic, key))
        return SimpleNamespace(get=lambda timeout: None)


def test_the_writer_sends_and_never_loops_a_dead_letter_of_the_dead_letter_topic():
    producer = Producer()
    writer = DeadLetterWriter(producer, "t.dead-letter", DeadLetterLimit("sink", 0.9, 4))
    letters = [from_record("sink", record(1), "a"), from_record("sink", record(2, topic="t.dead-letter"), "b")]
    assert writer.write(letters, good=2) == 1
    assert producer.sent == [("t.dead-letter", b"k1")]
