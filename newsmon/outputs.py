"""Output records of a stream agent, sent and acknowledged before its input is; else the stage halts.

Faust acknowledges an input record in a `finally` once the agent is done with it, also when the agent
raised: an output send that failed (broker away, timeout) would leave its input acknowledged and the
output lost. So an agent never lets a send error escape. `send_all` sends every output and waits for the
broker's acknowledgement of each, re-sends the failed ones with backoff for up to a budget, and if they
still fail (or the agent is cancelled with outputs unacknowledged) halts the process at once, before
Faust can commit anything: the inputs are then read again on restart (at-least-once; ids are stable, so
the repeats overwrite downstream).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

from newsmon.retry import async_retrying

__all__ = ["Output", "OutputsNotAcknowledged", "send_all", "halt_process", "HALT_EXIT_CODE"]

log = logging.getLogger(__name__)

Output = tuple[Any, bytes, bytes]  # (stream, key, JSON value): a `newsmon.streams.Stream` and the wire bytes
Send = Callable[[Any, bytes, bytes], Awaitable[Awaitable[Any]]]  # buffers a record, returns its delivery future
Replace = Callable[[Output, BaseException], Output | None]  # a permanent failure's stand-in (a dead letter)

HALT_EXIT_CODE = 70  # EX_SOFTWARE: the stage stopped itself so as not to acknowledge without outputs


class OutputsNotAcknowledged(Exception):
    """Some output records were not acknowledged by the broker."""


def halt_process(reason: str) -> NoReturn:
    """Exit now, without the shutdown that would acknowledge (commit) the records in hand."""
    log.critical("%s; stopping the stage without acknowledging its input (read again on restart)", reason)
    logging.shutdown()
    os._exit(HALT_EXIT_CODE)


async def _send_once(send: Send, outputs: Sequence[Output], replace: Replace | None) -> list[Output]:
    """Send `outputs` and wait for each acknowledgement; returns what is still to be sent."""
    futures: list[tuple[Output, Any]] = []
    again: list[Output] = []
    for out in outputs:
        stream, key, value = out
        try:
            futures.append((out, await send(stream, key, value)))
        except Exception as exc:  # refused before it was buffered
            again.append(_stand_in(out, exc, replace))
    results = await asyncio.gather(*(fut for _, fut in futures), return_exceptions=True)
    for (out, _), res in zip(futures, results, strict=True):
        if isinstance(res, asyncio.CancelledError):
            raise res
        if isinstance(res, BaseException):
            again.append(_stand_in(out, res, replace))
    return again


def _stand_in(out: Output, exc: BaseException, replace: Replace | None) -> Output:
    stand_in = replace(out, exc) if replace is not None else None
    if stand_in is None:
        log.warning("%s record %s not acknowledged: %r", getattr(out[0], "name", out[0]),
                    out[1].decode("utf-8", "replace"), exc)
    return stand_in or out


async def send_all(send: Send, outputs: Sequence[Output], *, what: str, budget_s: float = 120.0,
                   replace: Replace | None = None, halt: Callable[[str], Any] = halt_process) -> None:
    """Send `outputs` through `send` and return once the broker acknowledged every one.

    Failed records are re-sent (backoff with jitter) for up to `budget_s`; `replace(output, error)` may
    give a stand-in for a record that can never be sent (e.g. too large: a dead letter). If records are
    still unacknowledged after the budget, or the caller is cancelled meanwhile, `halt(reason)` is
    called (by default the process exits), so the input is never acknowledged without its outputs.
    """
    pending = list(outputs)
    try:
        async for attempt in async_retrying(f"{what}: sending {len(pending)} output records", budget_s=budget_s,
                                            retry_on=(OutputsNotAcknowledged,), logger=log):
            with attempt:
                pending = await _send_once(send, pending, replace)
                if pending:
                    raise OutputsNotAcknowledged(f"{len(pending)} output records not acknowledged")
    except asyncio.CancelledError:
        if pending:
            halt(f"{what}: cancelled with {len(pending)} output records not acknowledged")
        raise
    except Exception as exc:
        halt(f"{what}: {exc} after {budget_s:.0f}s of retries")
        raise
