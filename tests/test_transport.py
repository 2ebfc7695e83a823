"""The processor's Faust consumer: what it commits, and the recovery that stops the flow before the seek.

The commit rule is checked on the consumer's own bookkeeping (offsets handed to the streams, offsets the
streams acknowledged), as Faust's commit loop calls it; that a restarted worker loses nothing end to end
is the processor kill test's (tests/test_e2e.py) and the scale-out test's business.
"""

from __future__ import annotations

import asyncio

import pytest
from faust.types import TP

from newsmon.processors import recovery
from newsmon.processors.app import create_app
from newsmon.settings import Settings

RAW = TP("t.raw", 0)


@pytest.fixture
def consumer(tmp_path):
    """The processor app's consumer, never started (its bookkeeping needs no broker)."""
    app = create_app(Settings(kafka_bootstrap_servers="127.0.0.1:9", data_dir=tmp_path))
    return app.consumer


def hand(consumer, *offsets: int) -> None:
    consumer._handed[RAW].extend(offsets)


def ack(consumer, *offsets: int) -> None:
    for offset in offsets:
        consumer._acked[RAW].append(offset)
        consumer._acked_index[RAW].add(offset)


def test_commits_up_to_the_first_record_handed_out_and_not_acknowledged(consumer):
    hand(consumer, 5, 6, 7, 8)
    ack(consumer, 5, 7, 8)
    assert consumer._new_offset(RAW) == 6
    assert consumer._new_offset(RAW) is None  # 6 is still with a stream: nothing more
    ack(consumer, 6)
    assert consumer._new_offset(RAW) == 9


def test_a_single_lost_record_is_never_committed_over(consumer):
    # Faust's own rule committed 4 here (the first acknowledged offset only one above the committed one)
    consumer._committed_offset[RAW] = 2
    hand(consumer, 2, 3)
    ack(consumer, 3)
    assert consumer._new_offset(RAW) is None


def test_offsets_never_handed_out_do_not_hold_commits(consumer):
    # offsets a partition does not hold (e.g. transaction markers) are never fetched, so never awaited
    hand(consumer, 10, 12)
    ack(consumer, 10, 12)
    assert consumer._new_offset(RAW) == 13


def test_a_seek_starts_the_bookkeeping_afresh(consumer):
    hand(consumer, 1, 2)
    ack(consumer, 2)
    consumer._forget(RAW)  # what a seek does: every record from there on is handed out again
    assert consumer._new_offset(RAW) is None
    hand(consumer, 1, 2)
    ack(consumer, 1, 2)
    assert consumer._new_offset(RAW) == 3


def test_the_app_recovers_tables_with_the_flow_stopped_before_the_seek(tmp_path, monkeypatch):
    app = create_app(Settings(kafka_bootstrap_servers="127.0.0.1:9", data_dir=tmp_path))
    assert isinstance(app.tables.recovery, recovery.Recovery)
    seen = []

    async def faust_completion(self, generation_id=0):  # Faust's step: resume partitions, seek, resume flow
        seen.append((app.consumer.flow_active, app.flow_control.is_active()))

    monkeypatch.setattr(recovery.FaustRecovery, "on_recovery_completed", faust_completion)
    app.consumer.resume_flow()
    app.flow_control.resume()
    asyncio.run(app.tables.recovery.on_recovery_completed(1))
    assert seen == [(False, False)]  # nothing reaches a stream before the seek
