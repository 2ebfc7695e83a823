"""Waiting for the servers a command needs: Kafka, Elasticsearch, Kibana, each until it answers (bounded).

In a deployment every container starts at once, so `newsmon init` meets servers that are still starting.
It waits for each with exponential backoff (tenacity) up to a deadline, saying what it waits for and why
on every retry; a server that refuses the credentials fails at once (waiting cannot help), and one that
never answers fails with its last error after the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from newsmon.secrets import redact
from newsmon.settings import Settings


class NotReady(RuntimeError):
    """The server did not answer as ready yet (worth another try)."""


class ServerUnavailable(RuntimeError):
    """The server did not become ready before the deadline; the message names it and the last error."""


def wait_until_ready(name: str, where: str, probe: Callable[[], None], *, timeout_s: float,
                     say: Callable[[str], None] = print, max_wait_s: float = 10.0) -> None:
    """Call `probe` until it returns; `NotReady` (and connection errors it turns into `NotReady`) is retried
    with backoff until `timeout_s`, any other exception propagates at once."""
    started = time.monotonic()

    def progress(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        say(f"waiting for {name} at {where}: {redact(str(error))} (attempt {state.attempt_number}, "
            f"{time.monotonic() - started:.0f}s of {timeout_s:.0f}s)")

    retrying = Retrying(stop=stop_after_delay(timeout_s), wait=wait_exponential(multiplier=0.5, max=max_wait_s),
                        retry=retry_if_exception_type(NotReady), before_sleep=progress, reraise=True)
    try:
        retrying(probe)
    except NotReady as exc:
        raise ServerUnavailable(redact(f"{name} at {where} did not answer within {timeout_s:.0f}s: {exc}")) from None


def describe_error(exc: BaseException) -> str:
    """`TypeName: message`, once (kafka-python's messages already start with their type)."""
    text, name = redact(str(exc)), type(exc).__name__
    return text if text.startswith(name) else f"{name}: {text}" if text else name


def probe_kafka(settings: Settings) -> None:
    """Kafka answers a metadata request (refused credentials raise `KafkaAuthError`: no retry)."""
    from kafka.errors import KafkaError

    from newsmon.kafka import make_admin

    try:
        admin = make_admin(settings, client_id="newsmon-init", request_timeout_ms=5_000, bootstrap_timeout_ms=3_000)
    except KafkaError as exc:
        raise NotReady(describe_error(exc)) from None
    try:
        admin.list_topics()
    except KafkaError as exc:
        raise NotReady(describe_error(exc)) from None
    finally:
        admin.close()


def probe_elasticsearch(settings: Settings) -> None:
    """Elasticsearch reports at least yellow cluster health (the cluster-health API: the integ-test
    distribution answers 405 at the REST root, so `info()` / `ping()` cannot tell)."""
    from elasticsearch import ApiError, AuthenticationException, AuthorizationException, TransportError

    from newsmon.indices import make_client

    client = make_client(settings, request_timeout=10)
    try:
        health = client.cluster.health(wait_for_status="yellow", timeout="5s")
    except (AuthenticationException, AuthorizationException):
        raise
    except (ApiError, TransportError) as exc:
        raise NotReady(describe_error(exc)) from None
    finally:
        client.close()
    if health.get("timed_out") or health.get("status") not in ("yellow", "green"):
        raise NotReady(f"cluster health is {health.get('status')}")


def wait_for_stack(settings: Settings, *, timeout_s: float, say: Callable[[str], None] = print) -> None:
    """Wait for Kafka, then Elasticsearch (each up to `timeout_s`)."""
    wait_until_ready("Kafka", redact(str(settings.kafka_bootstrap_servers)), lambda: probe_kafka(settings),
                     timeout_s=timeout_s, say=say)
    wait_until_ready("Elasticsearch", redact(str(settings.elasticsearch_url)), lambda: probe_elasticsearch(settings),
                     timeout_s=timeout_s, say=say)
