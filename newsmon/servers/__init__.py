"""Local servers for `newsmon up` and the tests: the real ones (`apache`) or the pip-installed stand-ins (`lite`).

`apache` is Apache Kafka (KRaft) and Elasticsearch, resolved from Maven Central and run on the
machine's Java; it is the default wherever Java 17+ and Maven are found. `lite` is Tansu (memory
storage) and noida-db, for machines without Java; its broker forgets everything when it stops.
Both kinds offer the same small interface: `start()`, `stop()`, `bootstrap` / `url`, `kind`, `version`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from newsmon.servers.process import ServerError

StackKind = Literal["auto", "apache", "lite"]
KINDS = ("auto", "apache", "lite")


def choose(requested: str = "auto", say: Callable[[str], None] = print) -> str:
    """The stack to run: `apache` or `lite`. `auto` picks `apache` when this machine can run it, else
    says in one line why it falls back to `lite`; an explicit `apache` that cannot run is an error."""
    from newsmon.servers.runtime import apache_unavailable_reason

    if requested not in KINDS:
        raise ServerError(f"unknown stack {requested!r}: choose one of {', '.join(KINDS)}")
    if requested == "lite":
        return "lite"
    reason = apache_unavailable_reason()
    if reason is None:
        return "apache"
    if requested == "apache":
        raise ServerError(f"cannot run the apache stack here: {reason}")
    say(f"using the lite stack (Tansu + noida-db stand-ins): {reason}")
    return "lite"


def make_broker(kind: str, data_dir: Path, say: Callable[[str], None] = print, **options):
    if kind == "apache":
        from newsmon.servers.kafka import KafkaServer

        return KafkaServer(data_dir / "kafka", say=say, **options)
    from newsmon.servers.lite import LocalBroker

    return LocalBroker(data_dir / "tansu")


def make_search(kind: str, data_dir: Path, say: Callable[[str], None] = print):
    if kind == "apache":
        from newsmon.servers.elasticsearch import ElasticsearchServer

        return ElasticsearchServer(data_dir / "elasticsearch", say=say)
    from newsmon.servers.lite import LocalSearch

    return LocalSearch(data_dir / "noida")


PORT_RETRIES = 2  # a port can be taken between choosing it and the JVM binding it (many stacks on one machine)


def start_all(*servers, timeout: float = 180.0) -> None:
    """Start the servers side by side (each JVM takes ~10 s to come up); raise the first failure.

    Each is spawned from the calling thread (a child's parent-death signal fires when the thread that
    spawned it ends), then all are waited for in parallel. A server that died because another program
    took its port meanwhile is started again (it picks a free port), up to `PORT_RETRIES` times.
    """
    pending = list(servers)
    for attempt in range(PORT_RETRIES + 1):
        failures = _launch_and_wait(pending, timeout)
        if not failures:
            return
        pending = [server for server, _ in failures if getattr(server, "port_taken", lambda: False)()]
        if attempt == PORT_RETRIES or len(pending) < len(failures):
            raise failures[0][1]
        for server in pending:
            server.say(f"{server.label}: its port was taken while it started; starting it again")


def _launch_and_wait(servers: list, timeout: float) -> list[tuple[object, BaseException]]:
    failures: list[tuple[object, BaseException]] = []
    for server in servers:
        getattr(server, "mark_log", lambda: None)()
        server.launch()

    def run(server) -> None:
        try:
            server.wait_ready(timeout)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            failures.append((server, exc))

    threads = [threading.Thread(target=run, args=(s,), name=f"start-{type(s).__name__}") for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures


def describe(server) -> str:
    """One line naming what a server is, e.g. `Apache Kafka 4.1.1 at 127.0.0.1:9092`."""
    names = {("apache", "KafkaServer"): "Apache Kafka", ("apache", "ElasticsearchServer"): "Elasticsearch",
             ("lite", "LocalBroker"): "Tansu (stand-in)", ("lite", "LocalSearch"): "noida-db (stand-in)"}
    name = names.get((server.kind, type(server).__name__), type(server).__name__)
    where = getattr(server, "bootstrap", None) or getattr(server, "url", "")
    return f"{name} {server.version} at {where}".replace("  ", " ")


__all__ = ["KINDS", "ServerError", "StackKind", "choose", "describe", "make_broker", "make_search", "start_all"]
