"""Operators' view: `/metrics` (Prometheus) and `/healthz` of `newsmon up` and of single stages, and the
ECS JSON log lines."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import logging.config
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from newsmon import metrics
from newsmon.health import Health, ObservabilityServer, tcp_check, thread_check
from newsmon.logs import logging_config
from newsmon.producers.poller import FeedReport, poll_outcome
from tests.test_cli import REPO, clean_env, discard_local_search
from tests.test_up_recovery import alive, descendants


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value of a Prometheus text exposition."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def observed():
    health = Health()
    server = ObservabilityServer("127.0.0.1:0", health).start()
    yield server, health
    server.stop()


def test_metrics_endpoint_serves_the_counters_as_they_move(observed):
    server, _ = observed
    url = f"http://{server.address}/metrics"
    before = value(httpx.get(url).text, "newsmon_records_in_total", stage="sink", stream="articles")
    metrics.records_in("sink", "articles", 3)
    metrics.dead_letter("process", "ValidationError")
    response = httpx.get(url)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert value(response.text, "newsmon_records_in_total", stage="sink", stream="articles") == before + 3
    assert value(response.text, "newsmon_dead_letters_total", stage="process", reason="ValidationError") >= 1


def test_healthz_is_200_only_while_every_check_passes(observed):
    server, health = observed
    url = f"http://{server.address}/healthz"
    health.add("always", lambda: None)
    assert httpx.get(url).json() == {"status": "ok", "checks": {"always": {"status": "ok"}}}
    health.add("broken", lambda: 1 / 0)
    response = httpx.get(url)
    assert response.status_code == 503
    assert response.json()["checks"]["broken"] == {"status": "failing", "reason": "ZeroDivisionError: division by zero"}
    assert httpx.get(f"http://{server.address}/other").status_code == 404


def test_stage_and_server_checks():
    import threading

    done = threading.Thread(target=lambda: None)
    done.start()
    done.join()
    assert thread_check(lambda: done)() == "not running"
    assert thread_check(threading.current_thread)() is None
    port = free_port()
    assert "does not answer" in tcp_check(f"127.0.0.1:{port}")()
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        assert tcp_check(f"127.0.0.1:{listening.getsockname()[1]}")() is None


def test_a_dead_child_is_not_running_even_while_another_thread_polls_it():
    """`Popen.poll()` answers None ("running") while another thread holds the child's wait lock, so
    `/healthz` asks without that lock and without reaping the child."""
    from newsmon.stack import child_running

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert child_running(child)
        child.kill()
        deadline = time.monotonic() + 10
        while alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with child._waitpid_lock:  # the supervisor's loop polling at the same moment
            assert child.poll() is None
            assert not child_running(child)
        assert child.returncode is None  # not reaped: the supervisor still sees the exit code
        assert child.wait(5) == -signal.SIGKILL
        assert not child_running(child)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not child_running(None)


def test_lag_collector_reads_kafka_at_most_every_max_age():
    from newsmon.status import Lag

    calls = []

    def read():
        calls.append(1)
        return [Lag("newsmon-sink", "newsmon.articles", committed=5, end=9)]

    collector = metrics.LagCollector(read, max_age_s=60)
    families = list(collector.collect()) + list(collector.collect())
    assert len(calls) == 1
    assert families[0].samples[0].labels == {"group": "newsmon-sink", "topic": "newsmon.articles"}
    assert families[0].samples[0].value == 4


def test_poll_outcomes_are_a_short_bounded_name():
    assert poll_outcome(FeedReport("f")) == "ok"
    assert poll_outcome(FeedReport("f", not_modified=True)) == "not_modified"
    assert poll_outcome(FeedReport("f", error="timeout (no answer within 15s)")) == "timeout"
    assert poll_outcome(FeedReport("f", error="malformed feed (not XML)")) == "malformed feed"


@contextlib.contextmanager
def logged(fmt: str) -> Iterator[io.StringIO]:
    """newsmon's logging configuration at info level, writing into the yielded stream for the block."""
    stream = io.StringIO()
    config = logging_config("info", fmt)
    config["handlers"]["stderr"]["stream"] = stream
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(config)
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_json_logs_are_ecs_lines():
    with logged("json") as stream:
        logging.getLogger("newsmon.sinks.consumer").info("sink: %d records", 3)
        logging.getLogger("kafka.conn").info("chatter below warning is dropped")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["message"] == "sink: 3 records" and line["log.level"] == "info"
    assert line["log"]["logger"] == "newsmon.sinks.consumer" and "@timestamp" in line
    assert line["service"]["name"] == "newsmon" and "ecs.version" in line


def test_a_read_on_a_socket_the_kafka_client_closed_itself_is_not_logged():
    with logged("text") as stream:
        transport = logging.getLogger("kafka.net.transport")
        for exc in (AttributeError("'NoneType' object has no attribute 'recv'"), ConnectionResetError("reset")):
            try:
                raise exc
            except Exception:
                transport.exception("Error receiving network data closing socket")
    text = stream.getvalue()
    assert "ConnectionResetError" in text  # a real network error still shows
    assert "AttributeError" not in text and text.count("Error receiving network data") == 1


def test_sigusr1_writes_every_thread_stack_and_the_stage_runs_on():
    script = ("import threading, time\n"
              "from newsmon.logs import setup_logging\n"
              "setup_logging('info', 'text')\n"
              "threading.Thread(target=time.sleep, args=(60,), name='waiting-stage', daemon=True).start()\n"
              "print('ready', flush=True)\n"
              "time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGUSR1)
        time.sleep(1)
        assert child.poll() is None, "the signal stopped the process"
    finally:
        child.kill()
        _, err = child.communicate(timeout=10)
    assert err.count("most recent call first") >= 2, err  # the main thread and the waiting one
    assert 'File "<string>", line 6' in err, err  # where the main thread waits


def test_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="use text or json"):
        logging_config("info", "xml")


# --- `newsmon up --demo`, observed from outside ----------------------------------------------------------


def wait_metrics(url: str, ready, timeout: float = 240.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            text = httpx.get(url, timeout=10).text
            if ready(text):
                return text
        except httpx.HTTPError:
            pass
        time.sleep(2)
    raise AssertionError(f"metrics not as expected within {timeout}s:\n{text[-3000:]}")


@pytest.mark.integration
@pytest.mark.timeout(500)
def test_up_demo_counts_the_demo_and_reports_a_killed_stage(tmp_path, stack_kind):
    env = clean_env(tmp_path)
    address = f"127.0.0.1:{free_port()}"
    env.update(NEWSMON_METRICS_ADDRESS=address, NEWSMON_LOG_FORMAT="json")
    log = tmp_path / "up.log"
    up = subprocess.Popen([sys.executable, "-m", "newsmon", "up", "--demo", "--stack", stack_kind], env=env,
                          cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        text = wait_metrics(f"http://{address}/metrics", lambda t: value(
            t, "newsmon_records_out_total", stage="sink", stream="articles") >= 3 and value(
            t, "newsmon_records_out_total", stage="process", stream="articles") >= 3)
        assert value(text, "newsmon_records_out_total", stage="produce", stream="raw") == 3  # the demo's articles
        assert value(text, "newsmon_records_in_total", stage="process", stream="raw") >= 3  # from the child process
        assert value(text, "newsmon_feed_polls_total", stage="produce", outcome="ok") >= 1
        assert value(text, "newsmon_extraction_seconds_count", stage="process") >= 3
        assert sum(value(text, "newsmon_articles_total", stage="process", language="en", analysis=a)
                   for a in ("parsed", "gated")) >= 3  # articles counted by language and analysis
        assert value(text, "newsmon_bulk_seconds_count", stage="sink") >= 1
        health = httpx.get(f"http://{address}/healthz", timeout=30)
        assert health.status_code == 200, health.text
        assert set(health.json()["checks"]) == {"processor", "sink", "producer", "notifier", "kafka", "elasticsearch"}
        worker = next(pid for pid in descendants(up.pid)
                      if b"newsmon\x00process" in Path(f"/proc/{pid}/cmdline").read_bytes())
        subprocess.run(["kill", "-KILL", str(worker)], check=True)
        # The worker's main thread turns zombie before its other threads are gone; until the last one is,
        # the process has not exited and is rightly still "running": poll until /healthz says it is not.
        deadline = time.monotonic() + 10
        killed = httpx.get(f"http://{address}/healthz", timeout=30)
        while killed.status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
            killed = httpx.get(f"http://{address}/healthz", timeout=30)
        assert not alive(worker), "the killed worker still runs 10 s after SIGKILL"
        assert killed.status_code == 503, killed.text
        assert killed.json()["checks"]["processor"] == {"status": "failing", "reason": "not running"}
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=120)
        discard_local_search(tmp_path)
    lines = log.read_text(encoding="utf-8").splitlines()
    parsed = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(p.get("log", {}).get("logger", "").startswith("newsmon.") for p in parsed), lines[:20]
