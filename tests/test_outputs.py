"""Output records are acknowledged before the input is; a send that keeps failing halts the stage.

A stand-in sender with futures that fail on cue exercises `send_all` itself (the part of the agents
that decides when their input may be acknowledged); the broker's own refusal is in tests/faults."""

from __future__ import annotations

import asyncio

import pytest

from newsmon.outputs import send_all


class Halted(Exception):
    pass


def halt(reason: str):
    raise Halted(reason)


class Sender:
    """Buffers records; each future resolves after `delay_s`, failing for the keys in `fail` (per attempt)."""

    def __init__(self, fail: dict[str, int] | None = None, delay_s: float = 0.01, refuse: set[str] | None = None):
        self.fail = dict(fail or {})
        self.refuse = refuse or set()
        self.delay_s = delay_s
        self.acked: list[str] = []
        self.attempts: dict[str, int] = {}

    async def __call__(self, stream: str, key: bytes, value: bytes):
        name = key.decode()
        self.attempts[name] = self.attempts.get(name, 0) + 1
        if name in self.refuse:
            raise ValueError(f"{name} refused")
        return asyncio.ensure_future(self._deliver(name))

    async def _deliver(self, name: str) -> None:
        await asyncio.sleep(self.delay_s)
        if self.fail.get(name, 0) > 0:
            self.fail[name] -= 1
            raise TimeoutError(f"{name} timed out")
        self.acked.append(name)


def outputs(n: int) -> list[tuple[str, str, str]]:
    return [("articles", f"a{i}".encode(), b"{}") for i in range(n)]


def test_returns_only_once_every_output_is_acknowledged():
    sender = Sender(delay_s=0.05)
    asyncio.run(send_all(sender, outputs(5), what="test", halt=halt))
    assert sorted(sender.acked) == [f"a{i}" for i in range(5)]


def test_failed_sends_are_sent_again_until_acknowledged_and_only_those():
    sender = Sender(fail={"a1": 2, "a3": 1})
    asyncio.run(send_all(sender, outputs(5), what="test", budget_s=30, halt=halt))
    assert sorted(sender.acked) == [f"a{i}" for i in range(5)]
    assert sender.attempts == {"a0": 1, "a1": 3, "a2": 1, "a3": 2, "a4": 1}


def test_a_send_that_keeps_failing_halts_instead_of_returning():
    sender = Sender(fail={"a2": 10**6})
    with pytest.raises(Halted, match="not acknowledged after 3s of retries"):
        asyncio.run(send_all(sender, outputs(3), what="test", budget_s=3.0, halt=halt))
    assert "a2" not in sender.acked and sender.attempts["a2"] >= 2


def test_a_send_refused_before_buffering_is_retried_too():
    sender = Sender(refuse={"a0"})
    with pytest.raises(Halted):
        asyncio.run(send_all(sender, outputs(2), what="test", budget_s=0.5, halt=halt))
    assert sender.acked == ["a1"]


def test_cancelled_with_outputs_in_flight_halts():
    async def main():
        task = asyncio.ensure_future(send_all(Sender(delay_s=5), outputs(2), what="test", halt=halt))
        await asyncio.sleep(0.1)
        task.cancel()
        await task

    with pytest.raises(Halted, match="cancelled with 2 output records not acknowledged"):
        asyncio.run(main())


def test_a_permanent_failure_can_be_replaced_by_its_stand_in():
    sender = Sender(refuse={"a1"})
    replaced = []

    def replace(out, exc):
        replaced.append((out[1].decode(), str(exc)))
        return ("dead-letter", b"a1-dead", b"{}")

    asyncio.run(send_all(sender, outputs(3), what="test", replace=replace, halt=halt))
    assert sorted(sender.acked) == ["a0", "a1-dead", "a2"] and replaced == [("a1", "a1 refused")]
