"""Supervision by `newsmon up`: the search server it started is killed mid-stream; `up` notices within
seconds, logs it, starts it again on its data, and the pipeline catches up (every owed article,
statement and event indexed once, every owed alert delivered)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from elasticsearch import ApiError, TransportError

from newsmon.alerts.rules import load_rules
from newsmon.endpoints import read_endpoints, resolve
from newsmon.indices import make_client
from newsmon.servers.elasticsearch import instance_dir
from newsmon.settings import Settings
from tests.faults.pipeline import RULES, GrowingFeeds, indexed_ids, owed
from tests.faults.verifiable import report, wait_for
from tests.receivers import Receiver
from tests.test_cli import REPO, clean_env, discard_local_search

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(900)]


def search_pid(data: Path) -> int:
    """The pid (and process group) of the Elasticsearch `up` started for `data`."""
    home = instance_dir(data / "local" / "elasticsearch")
    return int(json.loads((home / "elasticsearch.pid").read_text())["pid"])


def at(log: Path, pattern: str, after: int) -> bool:
    return re.search(pattern, log.read_text(errors="replace")[after:]) is not None


def test_up_notices_a_dead_search_server_and_restarts_it(tmp_path, web, stack_kind):
    if stack_kind != "apache":
        pytest.skip("the lite search server keeps its documents in memory only")
    feeds = GrowingFeeds(web, 24, rate_per_s=0.5)
    receiver = Receiver(web, "/desk")
    rules, feeds_file = tmp_path / "rules.yaml", tmp_path / "feeds.yaml"
    rules.write_text(RULES.format(url=receiver.url))
    feeds_file.write_text(yaml.safe_dump({"feeds": [c.model_dump() for c in feeds.configs()]}))
    data = tmp_path / "data"
    want = owed(Settings(data_dir=data), feeds, load_rules(rules))
    env = {**clean_env(data), "NEWSMON_FEEDS_FILE": str(feeds_file), "NEWSMON_RULES_FILE": str(rules),
           "NEWSMON_METRICS_ADDRESS": "127.0.0.1:0"}
    log = tmp_path / "up.log"
    up = subprocess.Popen([sys.executable, "-m", "newsmon", "up", "--stack", "apache"], env=env, cwd=REPO,
                          stdout=log.open("a"), stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: read_endpoints(data), 300, step=1), log.read_text()[-3000:]
        feeds.start()
        settings = resolve(Settings(data_dir=data))
        client = make_client(settings)
        articles = settings.index("articles")
        assert wait_for(lambda: len(indexed_ids(client, articles)) >= 3, 300, step=1), log.read_text()[-3000:]
        mark = len(log.read_text(errors="replace"))
        pid = search_pid(data)
        os.killpg(pid, signal.SIGKILL)
        killed = time.monotonic()
        assert wait_for(lambda: at(log, r"Elasticsearch .* died", mark), 30, step=0.2), log.read_text()[mark:]
        noticed_s = time.monotonic() - killed
        assert wait_for(lambda: at(log, r"Elasticsearch .* is back", mark), 300, step=0.5), log.read_text()[mark:]
        back_s = time.monotonic() - killed
        assert f"{settings.elasticsearch_url} is back" in log.read_text()[mark:], "back on the address the stages use"

        def complete() -> bool:
            try:
                got = {k: set(indexed_ids(client, settings.index(k))) for k in ("articles", "statements", "events")}
            except (ApiError, TransportError):  # restarting, or recovering its shards
                return False
            return (feeds.all_released() and got["articles"] >= want.articles
                    and got["statements"] >= want.statements and got["events"] >= want.events
                    and set(receiver.keys) >= want.alerts)

        converged = wait_for(complete, 420, step=1)
        convergence_s = time.monotonic() - killed
        time.sleep(3)
        got = {k: indexed_ids(client, settings.index(k)) for k in ("articles", "statements", "events")}
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(120)
        except subprocess.TimeoutExpired:
            up.kill()
        discard_local_search(data)
    every = [i for ids in got.values() for i in ids]
    owed_ids = want.articles | want.statements | want.events
    keys = Counter(receiver.keys)
    report("search server SIGKILL under `up`", published=len(want.articles), indexed=len(set(got["articles"])),
           missing=len(owed_ids - set(every)), duplicated=len(every) - len(set(every)),
           alerts_expected=len(want.alerts), delivered=len(set(keys) & want.alerts),
           duplicate_deliveries=sum(n - 1 for n in keys.values()), convergence_s=round(convergence_s, 1),
           noticed_s=round(noticed_s, 1), back_s=round(back_s, 1), pid=pid)
    assert converged, log.read_text()[-3000:]
    assert noticed_s < 5, "`up` notices a dead server within seconds"
    assert set(every) == owed_ids and len(every) == len(owed_ids), "every owed id indexed exactly once"
    assert set(keys) == want.alerts and sum(n - 1 for n in keys.values()) == 0
