"""A single-node Apache Kafka broker (KRaft, broker and controller in one JVM), data on disk.

The storage is formatted once with a cluster id kept in the data folder, so a restart (after a clean
stop or a SIGKILL) finds its topics, offsets and changelogs again. Ports are kept too, so clients that
remember the old address reconnect. Optional SASL/PLAIN users add a second listener for security tests.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from newsmon.servers.process import ManagedServer, ServerError, end_survivor, free_port, spawn
from newsmon.servers.runtime import KAFKA_VERSION, kafka_java, resolve_kafka

HEAP = "-Xms256m -Xmx512m"


@dataclass
class KafkaServer(ManagedServer):
    """Apache Kafka on 127.0.0.1 with its log under `data_dir` (kept across restarts)."""

    data_dir: Path
    sasl_users: dict[str, str] = field(default_factory=dict)  # user -> password, for a SASL_PLAINTEXT listener
    say: Callable[[str], None] = print
    proc: subprocess.Popen | None = None
    ports: dict[str, int] = field(default_factory=dict)
    kind: str = "apache"
    version: str = KAFKA_VERSION
    ready_after_s: float | None = None
    _started: float = 0.0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports['plain']}"

    @property
    def sasl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports['sasl']}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    def launch(self) -> "KafkaServer":
        """Spawn the broker (formatting its storage on first use); call from the thread that owns it, since
        the parent-death signal follows the spawning thread."""
        self._started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if end_survivor(self.pid_file, "kafka.Kafka"):
            self.say("ended an Apache Kafka left running by an earlier newsmon")
        home = resolve_kafka(self.say)
        java = kafka_java()
        state = self._state()
        props = self._write_properties(state)
        classpath = str(home / "libs" / "*")
        if not (self.data_dir / "log" / "meta.properties").exists():
            fmt = subprocess.run([str(java.binary), "-cp", classpath, "kafka.tools.StorageTool", "format",
                                  "--standalone", f"--cluster-id={state['cluster_id']}", "-c", str(props),
                                  "--ignore-formatted"],  # `=`: an id may start with "-"
                                 capture_output=True, text=True, timeout=120)
            if fmt.returncode != 0:
                raise ServerError(f"formatting the Kafka storage failed: {(fmt.stdout + fmt.stderr)[-2000:]}")
        env = {"PATH": "/usr/bin:/bin", "JAVA_HOME": str(java.home), "HOME": str(self.data_dir)}
        cmd = [str(java.binary), *HEAP.split(), "-XX:+UseG1GC", "-Djava.awt.headless=true",
               "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
               "-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info",
               "-cp", classpath, "kafka.Kafka", str(props)]
        self.proc = spawn(cmd, log=self.log_path, env=env, pid_file=self.pid_file)
        return self

    @property
    def label(self) -> str:
        return f"Apache Kafka {KAFKA_VERSION}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "kafka.log"

    # --- internals ---

    def _state(self) -> dict:
        """Cluster id and ports, chosen once and reused (a port taken by another program is replaced)."""
        path = self.data_dir / "kafka-state.json"
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            state = {"cluster_id": _cluster_id(), "ports": {}}
        wanted = ["plain", "controller"] + (["sasl"] if self.sasl_users else [])
        ports: dict[str, int] = {}
        for name in wanted:
            ports[name] = free_port(state["ports"].get(name))
        state["ports"] = {**state["ports"], **ports}
        path.write_text(json.dumps(state))
        self.ports = ports
        return state

    def _write_properties(self, state: dict) -> Path:
        p = self.ports
        listeners = [f"PLAINTEXT://127.0.0.1:{p['plain']}", f"CONTROLLER://127.0.0.1:{p['controller']}"]
        protocol_map = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        lines = [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{p['controller']}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={self.data_dir / 'log'}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "log.retention.hours=168",
            "log.segment.bytes=67108864",
        ]
        if self.sasl_users:
            listeners.insert(1, f"SASL_PLAINTEXT://127.0.0.1:{p['sasl']}")
            protocol_map += ",SASL_PLAINTEXT:SASL_PLAINTEXT"
            users = " ".join(f'user_{u}="{pw}"' for u, pw in self.sasl_users.items())
            lines += ["sasl.enabled.mechanisms=PLAIN",
                      "listener.name.sasl_plaintext.plain.sasl.jaas.config="
                      f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};"]
        lines += [f"listeners={','.join(listeners)}",
                  f"advertised.listeners={','.join(x for x in listeners if not x.startswith('CONTROLLER'))}",
                  f"listener.security.protocol.map={protocol_map}"]
        path = self.data_dir / "server.properties"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)  # may hold SASL passwords
        return path

    def _ready(self) -> bool:
        """Ready when a client gets cluster metadata with this broker in it (a plain connect first, so the
        client does not log refused connections while the JVM starts)."""
        import socket

        from kafka import KafkaAdminClient

        with socket.create_connection(("127.0.0.1", self.ports["plain"]), timeout=1.0):
            pass

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="newsmon-probe", request_timeout_ms=3000)
        try:
            return bool(admin.describe_cluster().get("brokers"))
        finally:
            admin.close()


def _cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (what `random-uuid` prints),
    never starting with "-" (Kafka's own ids never do; a command line would read it as an option)."""
    import base64

    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id
