"""`/metrics` and `/healthz` on one address: what compose, Kubernetes and Prometheus look at.

`/healthz` runs every registered check (a stage alive, a server answering) and answers 200 with each
check's state when all pass, 503 otherwise; `/metrics` is the Prometheus text format of `metrics.registry()`.
The server is a daemon thread of the standard library's HTTP server: it needs nothing the stages do not.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from newsmon import metrics
from newsmon.settings import Settings

log = logging.getLogger(__name__)

Check = Callable[[], str | None]  # None when healthy, else what is wrong


@dataclass
class Health:
    """Named checks; `report()` runs them all (a check that raises is failing, with the error)."""

    checks: dict[str, Check] = field(default_factory=dict)

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    def report(self) -> tuple[bool, dict[str, dict[str, str]]]:
        states: dict[str, dict[str, str]] = {}
        for name, check in list(self.checks.items()):
            try:
                problem = check()
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
            states[name] = {"status": "ok"} if problem is None else {"status": "failing", "reason": problem}
        return all(s["status"] == "ok" for s in states.values()), states


def thread_check(thread_of: Callable[[], threading.Thread | None]) -> Check:
    """Healthy while the thread (looked up at each check: stages are restarted) is alive."""
    def check() -> str | None:
        thread = thread_of()
        return None if thread is not None and thread.is_alive() else "not running"
    return check


def tcp_check(address: str, timeout_s: float = 2.0) -> Check:
    """Healthy while `host:port` (the first of a comma-separated list) accepts a connection."""
    host, _, port = address.split(",")[0].strip().rpartition(":")
    host = host.strip("[]") or "127.0.0.1"

    def check() -> str | None:
        try:
            with socket.create_connection((host, int(port)), timeout=timeout_s):
                return None
        except OSError as exc:
            return f"{host}:{port} does not answer ({exc.strerror or exc})"
    return check


def elasticsearch_check(settings: Settings) -> Check:
    """Healthy while Elasticsearch reports yellow or green cluster health (within 2 s)."""
    def check() -> str | None:
        from newsmon.indices import make_client

        client = make_client(settings, request_timeout=3)
        try:
            status = client.cluster.health(timeout="2s").get("status")
        finally:
            client.close()
        return None if status in ("yellow", "green") else f"cluster health {status}"
    return check


def server_checks(health: Health, settings: Settings) -> None:
    """The servers every stage depends on."""
    if settings.kafka_bootstrap_servers:
        health.add("kafka", tcp_check(settings.kafka_bootstrap_servers))
    if settings.elasticsearch_url:
        health.add("elasticsearch", elasticsearch_check(settings))


def serve_stage(settings: Settings, stage: str, collectors: Iterable[Collector] = ()) -> "ObservabilityServer | None":
    """`/metrics` (with `collectors` added) and `/healthz` for one stage run on its own (compose,
    Kubernetes): only when `NEWSMON_METRICS_ADDRESS` is set. Health: the stage's thread runs and its
    servers answer."""
    if "metrics_address" not in settings.model_fields_set:
        return None
    health = Health()
    main = threading.current_thread()
    health.add(stage, thread_check(lambda: main))
    server_checks(health, settings)
    registry = metrics.registry()
    for collector in collectors:
        registry.register(collector)
    return ObservabilityServer(settings.metrics_address, health, registry).start()


class ObservabilityServer:
    """`/metrics` and `/healthz` on `address` (`host:port`; port 0 picks a free one, see `.address`)."""

    def __init__(self, address: str, health: Health, registry=None):
        host, _, port = address.rpartition(":")
        self.health = health
        self.registry = registry if registry is not None else metrics.registry()
        self._httpd = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="newsmon-metrics", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{host.decode() if isinstance(host, bytes) else host}:{port}"

    def start(self) -> "ObservabilityServer":
        self._thread.start()
        log.info("metrics on http://%s/metrics, health on http://%s/healthz", self.address, self.address)
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                path = self.path.split("?")[0]
                if path == "/metrics":
                    self._send(200, generate_latest(server.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    ok, states = server.health.report()
                    body = json.dumps({"status": "ok" if ok else "failing", "checks": states})
                    self._send(200 if ok else 503, body.encode(), "application/json")
                else:
                    self._send(404, b"not found: /metrics or /healthz\n", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # scrapes every few seconds: not logged
                pass

        return Handler
