"""The compose deployment: every health check fails when nothing answers and passes when the service does.

The checks are run here as compose runs them (exec form as argv, `CMD-SHELL` through `sh -c`, with the
check's own timeout), with `localhost:<port>` pointed at a loopback port: one nobody listens on, and a
pytest-httpserver answering like the service. Docker itself does not run here.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from newsmon.alerts.rules import load_rules

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
NEWSMON = [name for name, svc in SERVICES.items() if svc.get("image") == "newsmon:latest" and name != "init"]
LONG_RUNNING = [name for name in SERVICES if name != "init"]


def _seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)s", value)
    assert m, f"duration {value!r} not in seconds"
    return float(m.group(1))


def check_argv(test: list[str], port: int) -> list[str]:
    """The argv compose runs for a health check `test`, with `localhost:<any port>` sent to `port`."""
    kind, *rest = test
    argv = rest if kind == "CMD" else ["sh", "-c", rest[0]] if kind == "CMD-SHELL" else None
    assert argv is not None, f"unknown health check form {kind}"
    return [re.sub(r"localhost:\d+", f"127.0.0.1:{port}", part) for part in argv]


def run_check(service: str, port: int, test: list[str] | None = None) -> bool:
    """Whether the health check of `service` passes against 127.0.0.1:`port` (a timeout is a failure)."""
    check = SERVICES[service]["healthcheck"]
    try:
        done = subprocess.run(check_argv(test or check["test"], port), capture_output=True,
                              timeout=_seconds(check["timeout"]))
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on (bound once to pick it, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HTTP_CHECKS = {  # service -> (path the check asks, a healthy answer, an unhealthy answer)
    "elasticsearch": ("/_cluster/health", ({"status": "yellow"}, 200), ({"status": "red", "timed_out": True}, 408)),
    "kibana": ("/api/status", ({"status": {"overall": {"level": "available"}}}, 200),
               ({"status": {"overall": {"level": "degraded"}, "plugins": {"maps": {"level": "available"}}}}, 200)),
    **{name: ("/healthz", ({"status": "ok"}, 200), ({"status": "failing"}, 503)) for name in NEWSMON},
}


def _needs_curl() -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed here (the images have it)")


@pytest.mark.parametrize("service", sorted(HTTP_CHECKS))
def test_health_check_fails_on_a_closed_port(service, closed_port):
    _needs_curl()
    assert not run_check(service, closed_port)


@pytest.mark.parametrize("service", sorted(HTTP_CHECKS))
def test_health_check_follows_the_answer_of_an_open_port(service, httpserver):
    _needs_curl()
    path, healthy, unhealthy = HTTP_CHECKS[service]
    _answer(httpserver, path, *healthy)
    assert run_check(service, httpserver.port)
    httpserver.clear()
    _answer(httpserver, path, *unhealthy)
    assert not run_check(service, httpserver.port)


def _answer(httpserver, path: str, body: dict, status: int) -> None:
    """Answer `path` with compact JSON, as Elasticsearch, Kibana and newsmon write it."""
    httpserver.expect_request(path).respond_with_data(json.dumps(body, separators=(",", ":")), status=status,
                                                      content_type="application/json")


def test_kibana_check_reads_compact_json(httpserver):
    """Kibana answers compact JSON; a plugin that is available does not make a degraded Kibana healthy."""
    _needs_curl()
    httpserver.expect_request("/api/status").respond_with_data(
        '{"status":{"overall":{"level":"available","summary":"ok"}}}', content_type="application/json")
    assert run_check("kibana", httpserver.port)
    httpserver.clear()
    httpserver.expect_request("/api/status").respond_with_data(
        '{"status":{"overall":{"level":"unavailable"},"core":{"level":"available"}}}', status=503)
    assert not run_check("kibana", httpserver.port)


def test_elasticsearch_check_sends_the_whole_query(httpserver):
    """The URL reaches curl whole (`&timeout=5s` included): no shell cuts it at `&`."""
    _needs_curl()
    httpserver.expect_request("/_cluster/health", query_string="wait_for_status=yellow&timeout=5s"
                              ).respond_with_json({"status": "green"})
    assert run_check("elasticsearch", httpserver.port)
    assert len(httpserver.log) == 1


def test_the_old_shell_form_passed_with_nothing_listening(closed_port):
    """Why the exec form: unquoted in `CMD-SHELL`, the `&` sent curl to the background and `sh` exited 0."""
    _needs_curl()
    old = ["CMD-SHELL", "curl -fs http://localhost:9200/_cluster/health?wait_for_status=yellow&timeout=5s"]
    assert run_check("elasticsearch", closed_port, old)


def test_kafka_check_is_the_broker_protocol_in_exec_form():
    """The Kafka check asks the broker for its API versions (a protocol answer, not an open socket).
    Its tool exists only in the image: here only its form is checked."""
    test = SERVICES["kafka"]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1].endswith("kafka-broker-api-versions.sh")
    assert test[2:] == ["--bootstrap-server", "localhost:9092"]


def test_every_service_has_a_health_check_and_a_restart_policy():
    for name in LONG_RUNNING:
        svc = SERVICES[name]
        assert svc.get("restart") in ("unless-stopped", "always"), name
        assert "test" in svc.get("healthcheck", {}), name
    assert SERVICES["init"]["restart"] == "on-failure"
    assert "init" not in SERVICES["init"]["depends_on"]


def test_kafka_keeps_its_log_and_identity_on_the_volume():
    kafka = SERVICES["kafka"]
    log_dirs = kafka["environment"]["KAFKA_LOG_DIRS"]
    assert any(v.split(":")[1] == log_dirs for v in kafka["volumes"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", kafka["environment"]["CLUSTER_ID"])


def test_default_rules_load_and_push_nowhere():
    """The compose rules file is valid and names no destination URL (no token, no loop to the notifier)."""
    for name in [*NEWSMON, "init"]:
        mounts = [v for v in SERVICES[name].get("volumes", []) if v.endswith(":/etc/newsmon/rules.yaml:ro")]
        assert mounts == ["./rules.yaml:/etc/newsmon/rules.yaml:ro"], name
    rules = load_rules(DEPLOY / "rules.yaml")
    assert rules.rules and not rules.destinations
    assert all(not r.destinations for r in rules.rules)


def test_docker_build_context_leaves_out_local_state():
    ignored = (DEPLOY.parent / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", "tests"} <= set(ignored)
