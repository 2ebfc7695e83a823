"""The consume step, written once: poll a batch, do its side effect, then commit the offsets.

The sink (side effect: documents acknowledged by Elasticsearch) and the notifier (side effect: the
deliveries recorded in its ledger) both need the same guarantee: an offset is committed only after the
side effect of every record before it is durable, so a crash at any point re-reads, never skips. While
the side effect waits (Elasticsearch down, a slow write), `keep_alive` polls with the partitions paused,
so the consumer stays in its group (no `CommitFailedError` from an exceeded `max_poll_interval_ms`).
The broker down, restarting or frozen ends neither: a poll that fails with a retriable client error is
waited out, and a commit the broker does not answer in time is owed (tried again while no records come;
the next batch's commit carries it anyway), so the consumer rejoins its group once the broker is back.
A client that stays out of its group far longer than any rebalance takes is replaced by a new one: the
kafka-python client was seen waiting for good, without an error, on a group coordinator lookup that
never completed (a thread dump showed it), with records waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kafka import KafkaConsumer
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import MemberState

from newsmon.retry import Stopped

__all__ = ["CommitAfter"]

log = logging.getLogger(__name__)

RETRY_COMMIT_TIMEOUT_MS = 5_000  # an owed commit tried again between polls: short, so Ctrl-C stays quick
STALL_S = 30.0  # out of the group this long (a rebalance takes seconds): the client is replaced
OUTAGE_PAUSE_S = 1.0  # after a poll failed for a retriable reason (broker unreachable): the next try


class CommitAfter:
    """A manually-committing consumer loop: `run(handle)` calls `handle(records)` per batch, then commits.

    `handle` may call `keep_alive()` (or `wait(seconds)`) while it waits for its side effect; raising
    `InterruptedError` (`Stopped`) ends the loop without committing that batch.
    """

    def __init__(self, make_consumer: Callable[[], KafkaConsumer], name: str,
                 stop_event: threading.Event | None = None, stall_s: float = STALL_S):
        """`make_consumer`: a new subscribed consumer (called now, and again to replace a stalled one)."""
        self.make_consumer, self.name, self.stall_s = make_consumer, name, stall_s
        self.consumer = make_consumer()
        self.replaced = 0  # clients replaced because they stayed out of the group
        self._out_since: float | None = None  # when the client was last seen leaving a stable membership
        self.stop_event = stop_event or threading.Event()
        self.owed = False  # offsets polled and handled whose commit failed: tried again when idle
        self.outage: str | None = None  # why polls fail, while they do (logged once at start and end)

    def poll_batch(self, max_records: int, max_wait_s: float) -> list:
        """Up to `max_records`: waits up to `max_wait_s` for the first, then takes what keeps arriving and
        returns as soon as nothing more is immediately there (or the wait is over)."""
        records: list = []
        deadline = time.monotonic() + max_wait_s
        while len(records) < max_records and not self.stop_event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            wait = left if not records else min(left, 0.05)
            polled = self.poll(timeout_ms=int(wait * 1000), max_records=max_records - len(records))
            if not polled and records:
                break
            for batch in polled.values():
                records.extend(batch)
        return records

    def poll(self, timeout_ms: int, **options) -> dict:
        """`consumer.poll`, with a retriable client error waited out (nothing polled): kafka-python raises
        some while the broker is down or restarting (ECONNREFUSED while it looks for the group
        coordinator) instead of retrying them itself. Other errors (authorization, configuration) end
        the stage."""
        try:
            polled = self.consumer.poll(timeout_ms=timeout_ms, **options)
        except KafkaError as exc:
            if not exc.retriable:
                raise
            if self.outage is None:
                log.warning("%s: the broker does not answer (%s: %s); polling again until it does", self.name,
                            type(exc).__name__, exc)
            self.outage = type(exc).__name__
            self.stop_event.wait(OUTAGE_PAUSE_S)
            return {}
        if self.outage is not None:
            log.info("%s: the broker answers again", self.name)
            self.outage = None
        return polled

    def keep_alive(self, timeout_ms: int = 0) -> None:
        """Poll without taking records, so the consumer stays in its group while the side effect waits.
        Partitions assigned by a rebalance during the poll are given back (sought to their first record)."""
        consumer = self.consumer
        consumer.pause(*consumer.assignment())
        for tp, batch in self.poll(timeout_ms=timeout_ms).items():
            consumer.seek(tp, batch[0].offset)
            consumer.pause(tp)

    def wait(self, seconds: float) -> None:
        """Wait `seconds` while staying in the group; `Stopped` if the stage is stopped meanwhile."""
        deadline = time.monotonic() + seconds
        while True:
            if self.stop_event.is_set():
                raise Stopped(f"{self.name}: stopped while waiting")
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.keep_alive(timeout_ms=int(min(left, 0.5) * 1000))

    def _resume(self) -> None:
        if self.consumer.paused():
            self.consumer.resume(*self.consumer.paused())

    def commit(self, timeout_ms: int | None = None) -> bool:
        """Commit the offsets of everything polled so far; False when it did not happen, and the commit is
        then owed. A rebalance got in between (`CommitFailedError`: the batch is read again by whoever owns
        the partitions now, and its side effects are idempotent), or the broker did not answer within
        `timeout_ms` (default: the client's request timeout) or answered with a retriable error."""
        try:
            self.consumer.commit(timeout_ms=timeout_ms)
        except CommitFailedError as exc:
            log.warning("%s: offset commit failed (%s); the records will be read again", self.name, exc)
        except KafkaError as exc:
            if not exc.retriable:  # a timeout is retriable; an authorization error is not
                raise
            if not self.owed:  # once per outage: the retries while it lasts are quiet
                log.warning("%s: offset commit not answered (%s: %s); trying again until the broker answers",
                            self.name, type(exc).__name__, exc)
        else:
            if self.owed:
                log.info("%s: the owed offset commit went through", self.name)
            self.owed = False
            return True
        self.owed = True
        return False

    def check_membership(self) -> None:
        """Replace the client when it has been out of a stable group membership for `stall_s`. What it
        handled and did not commit is read again by the new one (side effects are idempotent)."""
        now = time.monotonic()
        if self.consumer.group_metadata().state == MemberState.STABLE:
            self._out_since = None
            return
        if self._out_since is None:
            self._out_since = now
            return
        if now - self._out_since < self.stall_s:
            return
        log.warning("%s: not in its consumer group for %.0f s; replacing the Kafka client", self.name,
                    now - self._out_since)
        self._out_since = now  # a replacement that fails (broker down) is tried again after stall_s
        try:
            consumer = self.make_consumer()
        except KafkaError as exc:
            log.warning("%s: no new Kafka client (%s: %s); the old one goes on", self.name, type(exc).__name__, exc)
            return
        old, self.consumer, self.owed = self.consumer, consumer, False
        self.replaced += 1
        self._close(old)

    def close(self) -> None:
        """Close the client without committing (everything handled was committed or is read again)."""
        self._close(self.consumer)

    def _close(self, consumer: KafkaConsumer) -> None:
        try:
            consumer.close(autocommit=False)
        except KafkaError as exc:
            log.warning("%s: closing the Kafka client: %s: %s", self.name, type(exc).__name__, exc)

    def run(self, handle: Callable[[list], None], *, max_records: int, max_wait_s: float,
            idle_exit_s: float | None = None, busy: Callable[[], bool] | None = None) -> None:
        """Until stopped (or `idle_exit_s` without records, and `busy()` false): poll, `handle(records)`,
        commit."""
        last = time.monotonic()
        while not self.stop_event.is_set():
            records = self.poll_batch(max_records, max_wait_s)
            if not records:
                if self.owed and not self.stop_event.is_set():
                    self.commit(timeout_ms=RETRY_COMMIT_TIMEOUT_MS)
                self.check_membership()
                if idle_exit_s is not None and time.monotonic() - last > idle_exit_s \
                        and not (busy is not None and busy()):
                    return
                continue
            last = time.monotonic()
            try:
                handle(records)
            except InterruptedError:
                return  # stopped mid-batch: nothing committed, the batch is read again on restart
            finally:
                self._resume()
            self.commit()
