"""`newsmon init` waits for the servers: bounded, with progress, failing with the last error."""

from __future__ import annotations

import socket
import time

import pytest
from typer.testing import CliRunner

from newsmon.cli import app
from newsmon.readiness import NotReady, ServerUnavailable, probe_elasticsearch, probe_kafka, wait_until_ready
from newsmon.settings import Settings


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_waits_with_progress_then_gives_up_with_the_last_error():
    said: list[str] = []
    calls = []

    def probe() -> None:
        calls.append(time.monotonic())
        raise NotReady(f"refused #{len(calls)}")

    started = time.monotonic()
    with pytest.raises(ServerUnavailable, match=r"Thing at here did not answer within 2s: refused #\d+"):
        wait_until_ready("Thing", "here", probe, timeout_s=2, say=said.append, max_wait_s=0.5)
    assert 2 <= time.monotonic() - started < 5
    assert len(calls) >= 3 and len(said) == len(calls) - 1
    assert said[0].startswith("waiting for Thing at here: refused #1 (attempt 1,")


def test_returns_once_the_server_answers():
    answers = iter([NotReady("starting"), NotReady("starting"), None])

    def probe() -> None:
        error = next(answers)
        if error:
            raise error

    said: list[str] = []
    wait_until_ready("Thing", "here", probe, timeout_s=30, say=said.append, max_wait_s=0.1)
    assert len(said) == 2


def test_other_errors_are_not_retried():
    calls = []

    def probe() -> None:
        calls.append(1)
        raise PermissionError("refused credentials")

    with pytest.raises(PermissionError):
        wait_until_ready("Thing", "here", probe, timeout_s=30, say=lambda line: None)
    assert len(calls) == 1


def test_nothing_listening_is_not_ready(closed_port):
    settings = Settings(kafka_bootstrap_servers=f"127.0.0.1:{closed_port}",
                        elasticsearch_url=f"http://127.0.0.1:{closed_port}")
    with pytest.raises(NotReady):
        probe_elasticsearch(settings)
    with pytest.raises(NotReady):
        probe_kafka(settings)


@pytest.mark.integration
def test_the_local_servers_are_ready(stack_settings):
    probe_kafka(stack_settings)
    probe_elasticsearch(stack_settings)


def test_init_gives_up_after_the_wait_with_exit_code_1(closed_port, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{closed_port}")
    monkeypatch.setenv("ELASTICSEARCH_URL", f"http://127.0.0.1:{closed_port}")
    from newsmon.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["init", "--wait", "8"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert "waiting for Kafka at 127.0.0.1:" in result.output
    assert "did not answer within 8s" in result.output
