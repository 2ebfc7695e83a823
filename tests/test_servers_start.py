"""Starting the local servers: a server whose port was taken between choosing and binding it starts again."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from newsmon.servers import PORT_RETRIES, start_all
from newsmon.servers.process import ManagedServer, ServerError


@dataclass
class Scripted(ManagedServer):
    """A server life cycle whose starts fail as scripted: each entry is the log line of one failed start."""

    log_path: Path
    failures: list[str] = field(default_factory=list)
    label: str = "scripted server"
    launches: int = 0
    said: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.said.append(line)

    def launch(self):
        self.launches += 1
        return self

    def wait_ready(self, timeout: float = 180.0):
        if self.failures:
            with self.log_path.open("a") as log:
                log.write(self.failures.pop(0) + "\n")
            raise ServerError(f"{self.label} exited while starting")
        return self


def test_a_taken_port_starts_the_server_again(tmp_path):
    server = Scripted(tmp_path / "a.log", ["java.net.BindException: Address already in use"])
    other = Scripted(tmp_path / "b.log")
    start_all(server, other)
    assert (server.launches, other.launches) == (2, 1)
    assert "port was taken" in server.said[0]


def test_any_other_failure_is_raised_at_once(tmp_path):
    server = Scripted(tmp_path / "a.log", ["ERROR: disk full"])
    with pytest.raises(ServerError):
        start_all(server)
    assert server.launches == 1


def test_an_old_bind_error_in_the_log_does_not_count(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("BindTransportException from a run last week\n")
    server = Scripted(log, ["ERROR: disk full"])
    with pytest.raises(ServerError):
        start_all(server)
    assert server.launches == 1


def test_retries_are_bounded(tmp_path):
    server = Scripted(tmp_path / "a.log", ["Address already in use"] * (PORT_RETRIES + 1))
    with pytest.raises(ServerError):
        start_all(server)
    assert server.launches == PORT_RETRIES + 1


def test_a_new_kafka_cluster_id_never_starts_with_a_dash():
    from newsmon.servers.kafka import _cluster_id

    ids = [_cluster_id() for _ in range(2000)]  # about 31 of 2,000 plain random ids would start with "-"
    assert len(set(ids)) == 2000 and not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)


@pytest.mark.integration
def test_kafka_storage_with_a_cluster_id_starting_with_a_dash_is_formatted(tmp_path):
    """A data folder from before ids were kept clear of "-" still starts (the id was read as an option)."""
    import json

    from newsmon.servers.kafka import KafkaServer
    from newsmon.servers.runtime import apache_unavailable_reason

    if reason := apache_unavailable_reason():
        pytest.skip(f"Apache Kafka cannot run here: {reason}")
    (tmp_path / "kafka-state.json").write_text(json.dumps({"cluster_id": "-" + "A" * 21, "ports": {}}))
    server = KafkaServer(tmp_path, say=lambda line: None)
    server.start()
    try:
        assert (tmp_path / "log" / "meta.properties").exists()
        assert "cluster.id=-AAAA" in (tmp_path / "log" / "meta.properties").read_text()
    finally:
        server.stop()
