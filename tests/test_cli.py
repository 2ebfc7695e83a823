"""The `newsmon` command line: endpoint resolution, and `up --demo` on the embedded default."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newsmon.endpoints import NoStackError, resolve, settings_env
from newsmon.endpoints import read_endpoints, write_endpoints
from newsmon.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def newsmon(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "newsmon", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def clean_env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NEWSMON_") and k not in ("KAFKA_BOOTSTRAP_SERVERS", "ELASTICSEARCH_URL")}
    env.update(NEWSMON_DATA_DIR=str(data_dir), COLUMNS="200", NEWSMON_CONFIG=str(data_dir / "none.yaml"))
    return env


def test_resolve_prefers_configuration_then_running_stack(tmp_path):
    configured = Settings(kafka_bootstrap_servers="kafka:9092", elasticsearch_url="http://es:9200", data_dir=tmp_path)
    assert resolve(configured) is configured
    bare = Settings(kafka_bootstrap_servers=None, elasticsearch_url=None, data_dir=tmp_path)
    with pytest.raises(NoStackError, match="newsmon up"):
        resolve(bare)
    write_endpoints(tmp_path, "127.0.0.1:1234", "http://127.0.0.1:5678")  # owned by this (live) process
    found = resolve(bare)
    assert (found.kafka_bootstrap_servers, found.elasticsearch_url) == ("127.0.0.1:1234", "http://127.0.0.1:5678")
    half = Settings(kafka_bootstrap_servers="kafka:9092", elasticsearch_url=None, data_dir=tmp_path)
    assert resolve(half).kafka_bootstrap_servers == "kafka:9092"


def test_settings_env_round_trips(tmp_path, monkeypatch):
    settings = Settings(kafka_bootstrap_servers="k:1", elasticsearch_url="http://e:2", data_dir=tmp_path,
                        topic_prefix="p", watchlist=["SY", "UA"], partitions=3, processor_batch_size=7)
    for key in ("KAFKA_BOOTSTRAP_SERVERS", "ELASTICSEARCH_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    assert Settings() == settings


def test_commands_without_a_stack_say_what_to_do(tmp_path):
    for args in (["search", "*"], ["status"]):
        result = newsmon(*args, env=clean_env(tmp_path))
        assert result.returncode == 2
        assert "no stack running" in result.stderr and "KAFKA_BOOTSTRAP_SERVERS" in result.stderr


SERVER_LINES = {"apache": ("started Apache Kafka 4.", "started Elasticsearch 8."),
                "lite": ("started Tansu (stand-in)", "started noida-db (stand-in)")}


@pytest.mark.integration
@pytest.mark.timeout(400)
@pytest.mark.parametrize("stack", ["apache", "lite"])
def test_up_demo_then_search_and_status_from_another_terminal(tmp_path, stack):
    if stack == "apache":
        from newsmon.servers.runtime import apache_unavailable_reason

        if reason := apache_unavailable_reason():
            pytest.skip(f"the apache stack cannot run here: {reason}")
    env = clean_env(tmp_path)
    up = subprocess.Popen([sys.executable, "-m", "newsmon", "up", "--demo", "--stack", stack], env=env, cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        found = None
        while time.monotonic() < deadline:
            assert up.poll() is None, "up keeps running"
            if read_endpoints(tmp_path):
                result = newsmon("search", "--kind", "articles", "countries:IR", env=env)
                if result.returncode == 0 and "3 match" in result.stdout:
                    found = result
                    break
            time.sleep(3)
        assert found is not None, "the three demo articles became searchable"
        assert "Putin" in found.stdout
        statements = newsmon("search", 'speaker.name:"Vladimir Putin"', env=env)
        assert statements.returncode == 0 and "Putin" in statements.stdout
        status = newsmon("status", env=env)
        assert status.returncode == 0
        assert "newsmon-articles" in status.stdout and "newsmon-sink" in status.stdout
        assert "stages of newsmon up" in status.stdout and "running" in status.stdout
        demo_feed = next(line for line in status.stdout.splitlines() if line.startswith("│ demo "))
        assert ("│ ok " in demo_feed and "3 new" in demo_feed) or "not modified" in demo_feed, status.stdout
        events = newsmon("search", "--kind", "events", "type:consult", env=env)
        assert events.returncode == 0 and "actors" in events.stdout and "Lavrov" in events.stdout, events.stdout
        broker_line, search_line = (line.split(" at ")[0] for line in SERVER_LINES[stack])
        assert broker_line.replace("started ", "broker: ") in status.stdout, status.stdout
        assert search_line.replace("started ", "search: ") in status.stdout, status.stdout
    finally:
        up.send_signal(signal.SIGINT)  # Ctrl-C
        output, _ = up.communicate(timeout=90)
    assert up.returncode == 0, output[-3000:]
    assert all(line in output for line in SERVER_LINES[stack]), output[:3000]
    assert "unreachable" not in output  # the demo polls only its own feed: nothing outside this machine
    assert "newsmon is running" in output and " ALERT  Rouhani · Hassan Rouhani (IR) · demo" in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert read_endpoints(tmp_path) is None
    discard_local_search(tmp_path)


def discard_local_search(data_dir: Path) -> None:
    """Remove the files of an Elasticsearch that `up` started for `data_dir` (kept outside it as root)."""
    from newsmon.servers.elasticsearch import instance_dir

    home = instance_dir(data_dir / "local" / "elasticsearch")
    if not str(home).startswith(str(data_dir)):
        shutil.rmtree(home, ignore_errors=True)


def test_resolve_asks_only_for_the_services_needed(tmp_path):
    kafka_only = Settings(kafka_bootstrap_servers="kafka:9092", elasticsearch_url=None, data_dir=tmp_path)
    assert resolve(kafka_only, ("kafka",)) is kafka_only
    with pytest.raises(NoStackError):
        resolve(kafka_only, ("kafka", "elasticsearch"))


def test_up_refuses_to_start_a_second_local_stack(tmp_path):
    write_endpoints(tmp_path, "127.0.0.1:1", "http://127.0.0.1:2")  # a live owner: this test process
    result = newsmon("up", env=clean_env(tmp_path))
    assert result.returncode == 2 and "already running" in result.stderr
