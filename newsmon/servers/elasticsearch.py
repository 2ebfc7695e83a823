"""A single-node Elasticsearch (the distribution published for integration tests), data on disk.

Elasticsearch refuses to run as root. Started by root, it runs as the system account `newsmon-es`
(created on first use) with its data, logs and config under `/var/lib/newsmon-es/<instance>`, since a
root-owned home is closed to other accounts; started by anyone else, it runs as that user under the
given folder. That distribution has no scripting, percolator or REST root (`GET /` answers 405), so
readiness is `cluster.health` and newsmon itself needs none of the missing modules.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from newsmon.servers.process import ManagedServer, ServerError, end_survivor, free_port, spawn
from newsmon.servers.runtime import ELASTICSEARCH_VERSION, elasticsearch_java, resolve_elasticsearch

ES_USER = "newsmon-es"
ROOT_INSTANCES = Path("/var/lib/newsmon-es")
HEAP = "-Xms512m -Xmx512m"


def instance_dir(data_dir: Path) -> Path:
    """Where an Elasticsearch started for `data_dir` keeps its files (see the module docstring)."""
    if os.geteuid() != 0:
        return data_dir
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return ROOT_INSTANCES / digest


def _ensure_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(ES_USER)
    except KeyError:
        pass
    cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", ES_USER]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 and "already exists" not in proc.stderr:
        raise ServerError(f"Elasticsearch cannot run as root and creating the account failed: {' '.join(cmd)}: "
                          f"{proc.stderr.strip()}")
    return pwd.getpwnam(ES_USER)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


@dataclass
class ElasticsearchServer(ManagedServer):
    """Elasticsearch on 127.0.0.1; `data_dir` names the instance (its files are kept across restarts)."""

    data_dir: Path
    say: Callable[[str], None] = print
    proc: subprocess.Popen | None = None
    port: int = 0
    kind: str = "apache"
    version: str = ELASTICSEARCH_VERSION
    ready_after_s: float | None = None
    _started: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        return instance_dir(self.data_dir)

    @property
    def pid_file(self) -> Path:
        return self.home / "elasticsearch.pid"

    def launch(self) -> "ElasticsearchServer":
        """Spawn the server; call from the thread that owns it (the parent-death signal follows it)."""
        self._started = time.monotonic()
        home = self.home
        home.mkdir(parents=True, exist_ok=True)
        if end_survivor(self.pid_file, "org.elasticsearch"):
            self.say("ended an Elasticsearch left running by an earlier newsmon")
        dist = resolve_elasticsearch(self.say)
        java = elasticsearch_java()
        state_path = home / "es-state.json"
        try:
            state = json.loads(state_path.read_text())
        except (OSError, ValueError):
            state = {}
        self.port = free_port(state.get("http"))
        transport = free_port(state.get("transport"))
        state_path.write_text(json.dumps({"http": self.port, "transport": transport}))
        conf = self._config(dist, home, transport)
        user = None
        if os.geteuid() == 0:
            account = _ensure_user()
            _chown_tree(home, account.pw_uid, account.pw_gid)
            user = ES_USER
        env = {"PATH": "/usr/bin:/bin", "ES_JAVA_HOME": str(java.home), "ES_PATH_CONF": str(conf),
               "ES_TMPDIR": str(home / "tmp"), "HOME": str(home), "LANG": "C.UTF-8"}
        self.proc = spawn([str(dist / "bin" / "elasticsearch")], log=self.log_path, env=env, user=user, cwd=home,
                          pid_file=self.pid_file)
        return self

    @property
    def label(self) -> str:
        return f"Elasticsearch {ELASTICSEARCH_VERSION}"

    @property
    def log_path(self) -> Path:
        return self.home / "elasticsearch.out"

    def discard(self) -> None:
        """Delete the instance's files (tests: a throw-away server), after `stop()`."""
        if self.proc is None and self.home.resolve() != self.data_dir.resolve():
            shutil.rmtree(self.home, ignore_errors=True)

    def _config(self, dist: Path, home: Path, transport: int) -> Path:
        conf = home / "config"
        if not conf.exists():
            shutil.copytree(dist / "config", conf)
        for sub in ("data", "logs", "tmp"):
            (home / sub).mkdir(exist_ok=True)
        settings = {
            "cluster.name": "newsmon-local",
            "node.name": "newsmon-1",
            "discovery.type": "single-node",
            "network.host": "127.0.0.1",
            "http.port": self.port,
            "transport.port": transport,
            "path.data": str(home / "data"),
            "path.logs": str(home / "logs"),
            "xpack.security.enabled": False,
            "cluster.routing.allocation.disk.threshold_enabled": False,
            "action.destructive_requires_name": False,
        }
        (conf / "elasticsearch.yml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items()))
        (conf / "jvm.options.d").mkdir(exist_ok=True)
        (conf / "jvm.options.d" / "newsmon.options").write_text("\n".join(HEAP.split()) + "\n")
        return conf

    def _ready(self) -> bool:
        r = httpx.get(f"{self.url}/_cluster/health", params={"wait_for_status": "yellow", "timeout": "1s"},
                      timeout=5.0)
        return r.status_code == 200
