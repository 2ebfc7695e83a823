"""The consume step's error policy, on a stand-in for the client's `poll`/`commit` (the behaviour on a
real broker that stops, restarts or freezes is in tests/faults/test_commit_outage.py): the errors
kafka-python raised there are waited out or owed; any other error ends the stage."""

from __future__ import annotations

import threading

import pytest
from kafka.errors import GroupAuthorizationFailedError, KafkaConnectionError, KafkaTimeoutError
from kafka.structs import ConsumerGroupMetadata, MemberState

from newsmon import consume
from newsmon.consume import CommitAfter


class Client:
    """Answers `poll` and `commit` from scripted outcomes (an exception is raised, anything else returned)."""

    def __init__(self, polls: list, commits: list | None = None, state: str = MemberState.STABLE):
        self.polls, self.commits = list(polls), list(commits or [])
        self.committed = 0
        self.state, self.closed = state, False

    def group_metadata(self) -> ConsumerGroupMetadata:
        return ConsumerGroupMetadata(group_id="g", state=self.state)

    def close(self, autocommit: bool = True) -> None:
        self.closed = True

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict:
        outcome = self.polls.pop(0) if self.polls else {}
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def commit(self, timeout_ms: int | None = None) -> None:
        outcome = self.commits.pop(0) if self.commits else None
        if isinstance(outcome, BaseException):
            raise outcome
        self.committed += 1

    def paused(self) -> set:
        return set()


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(consume, "OUTAGE_PAUSE_S", 0.0)


def test_a_poll_refused_by_a_broker_that_is_down_is_waited_out(caplog):
    client = Client([KafkaConnectionError("111 ECONNREFUSED"), KafkaConnectionError("111 ECONNREFUSED"),
                     {"tp": ["r1", "r2"]}])
    step = CommitAfter(lambda: client, "sink", threading.Event())
    assert step.poll(100) == {} and step.outage == "KafkaConnectionError"
    assert step.poll(100) == {}
    assert step.poll(100) == {"tp": ["r1", "r2"]} and step.outage is None
    warnings = [r for r in caplog.records if "does not answer" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per poll


def test_an_error_no_retry_can_cure_ends_the_stage():
    step = CommitAfter(lambda: Client([GroupAuthorizationFailedError("group")]), "sink", threading.Event())
    with pytest.raises(GroupAuthorizationFailedError):
        step.poll(100)


def test_a_commit_that_times_out_is_owed_and_tried_again_while_idle():
    stop = threading.Event()
    client = Client(polls=[{"tp": ["r1"]}], commits=[KafkaTimeoutError()])
    handled: list = []
    step = CommitAfter(lambda: client, "notify", stop)

    def handle(records: list) -> None:
        handled.extend(records)

    idle = threading.Timer(1.0, stop.set)
    idle.start()
    step.run(handle, max_records=10, max_wait_s=0.05)
    idle.cancel()
    assert handled == ["r1"]
    assert client.committed == 1 and not step.owed  # the failed commit went through on an idle turn


def test_a_client_out_of_its_group_for_too_long_is_replaced(caplog):
    stuck = Client([], state=MemberState.REBALANCING)  # waiting for a coordinator that never answers
    fresh = Client([{"tp": ["r1"]}])
    clients = iter([stuck, fresh])
    stop = threading.Event()
    step = CommitAfter(lambda: next(clients), "sink", stop, stall_s=0.2)
    handled: list = []

    def handle(records: list) -> None:
        handled.extend(records)
        stop.set()

    watchdog = threading.Timer(10.0, stop.set)
    watchdog.start()
    step.run(handle, max_records=10, max_wait_s=0.05)
    watchdog.cancel()
    assert handled == ["r1"] and step.replaced == 1
    assert stuck.closed and step.consumer is fresh
    assert any("replacing the Kafka client" in r.getMessage() for r in caplog.records)


def test_a_stable_member_without_partitions_is_left_alone():
    """More consumers than partitions: the idle member is stable with nothing assigned; it stays."""
    stop = threading.Event()
    step = CommitAfter(lambda: Client([]), "sink", stop, stall_s=0.05)
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    step.run(lambda records: None, max_records=10, max_wait_s=0.05)
    assert step.replaced == 0


def test_a_commit_error_no_retry_can_cure_ends_the_stage():
    client = Client(polls=[{"tp": ["r1"]}], commits=[GroupAuthorizationFailedError("group")])
    with pytest.raises(GroupAuthorizationFailedError):
        CommitAfter(lambda: client, "sink", threading.Event()).run(lambda records: None, max_records=10, max_wait_s=0.05)
