"""Retries, written once: exponential backoff with jitter, a log line per retry, an optional time budget.

Every stage waits for something now and then (Elasticsearch down, a receiver away, the broker busy).
They all wait the same way, through tenacity: jitter keeps several instances from retrying in step,
the log line names what is retried and why, and `sleep` lets a caller keep its Kafka consumer alive
while it waits. A stage that is stopped during a wait gets `InterruptedError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import tenacity
from tenacity import RetryCallState

__all__ = ["retrying", "async_retrying", "Stopped"]

log = logging.getLogger(__name__)


class Stopped(InterruptedError):
    """The stage was asked to stop while it waited to retry."""


def _log_retry(what: str, logger: logging.Logger) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning("%s failed (%s); retry %d in %.1fs", what, error or "not done", state.attempt_number, wait)
    return before_sleep


def _stopping_sleep(sleep: Callable[[float], None] | None, stop: Callable[[], bool] | None) -> Callable[[float], None]:
    """A sleep that raises `Stopped` as soon as `stop()` is true (checked at least every half second)."""
    def wait(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            if stop is not None and stop():
                raise Stopped("stopped while waiting to retry")
            left = deadline - time.monotonic()
            if left <= 0:
                return
            (sleep or time.sleep)(min(left, 0.5))
    return wait


def _policy(what: str, *, budget_s: float | None, initial_s: float, max_wait_s: float,
            retry_on: tuple[type[BaseException], ...], logger: logging.Logger | None) -> dict:
    return {
        "stop": tenacity.stop_before_delay(budget_s) if budget_s is not None else tenacity.stop_never,
        "wait": tenacity.wait_exponential_jitter(initial=initial_s, max=max_wait_s, jitter=initial_s),
        "retry": tenacity.retry_if_exception_type(retry_on),
        "before_sleep": _log_retry(what, logger or log),
        "reraise": True,
    }


def retrying(what: str, *, budget_s: float | None = None, initial_s: float = 0.5, max_wait_s: float = 5.0,
             retry_on: tuple[type[BaseException], ...] = (Exception,), stop: Callable[[], bool] | None = None,
             sleep: Callable[[float], None] | None = None, logger: logging.Logger | None = None) -> tenacity.Retrying:
    """A tenacity `Retrying` for `what` (named in the log): call it with a function, or iterate attempts.

    `budget_s` None retries for as long as it takes; else the last error is raised when the next wait
    would end past it.
    `sleep(seconds)` waits between attempts (e.g. polling a paused consumer); `stop()` true ends the wait
    with `Stopped`. The cap on the wait is short by default so that recovery follows the server.
    """
    return tenacity.Retrying(sleep=_stopping_sleep(sleep, stop),
                             **_policy(what, budget_s=budget_s, initial_s=initial_s, max_wait_s=max_wait_s,
                                       retry_on=retry_on, logger=logger))


def async_retrying(what: str, *, budget_s: float | None = None, initial_s: float = 0.5, max_wait_s: float = 5.0,
                   retry_on: tuple[type[BaseException], ...] = (Exception,),
                   logger: logging.Logger | None = None) -> tenacity.AsyncRetrying:
    """The asyncio flavour of `retrying` (Faust agents)."""
    return tenacity.AsyncRetrying(**_policy(what, budget_s=budget_s, initial_s=initial_s, max_wait_s=max_wait_s,
                                            retry_on=retry_on, logger=logger))
