"""`newsmon up` killed with SIGKILL mid-stream, then started again: nothing lost, nothing duplicated,
no process of the first run left behind. On the apache stack (the log is on disk); the lite broker keeps
memory only, which `up` handles by forgetting what the producer published (tested below as well)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from newsmon.endpoints import resolve
from newsmon.endpoints import read_endpoints
from newsmon.settings import Settings
from newsmon.producers.demo import rss_xml, seed_texts
from newsmon.indices import make_client
from newsmon.streams import ALERTS, RAW, STATEMENTS
from tests.faults.verifiable import report
from tests.support import topic_records, wait_for
from tests.test_cli import REPO, clean_env, discard_local_search

N_ARTICLES = 40


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, grandchildren...), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def feed_items(base: str) -> list[dict]:
    """N_ARTICLES distinct items built from the seed texts (full text in the feed: no page fetches)."""
    texts = list(seed_texts().values())
    start = datetime(2016, 12, 1, tzinfo=timezone.utc)
    return [{"title": f"Report {i}: Iran, Russia and Syria", "link": f"{base}/articles/r{i}.html",
             "guid": f"recovery-{i}", "published": start + timedelta(hours=i), "summary": texts[i % 3][:200],
             "text": texts[i % 3] + f"\n\nReport number {i}."}
            for i in range(N_ARTICLES)]


def start_up(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "newsmon", "up", "--stack", env["TEST_STACK"]], env=env, cwd=REPO,
                            stdout=log.open("a"), stderr=subprocess.STDOUT)


def count(client, index: str) -> int:
    if not client.indices.exists(index=index):
        return 0
    client.indices.refresh(index=index)
    return client.count(index=index)["count"]


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_sigkill_of_up_mid_stream_then_up_again_loses_nothing(tmp_path, httpserver, stack_kind):
    if stack_kind != "apache":
        pytest.skip("the lite broker keeps records in memory only: a killed `up` takes them along")
    items = feed_items(httpserver.url_for("").rstrip("/"))
    httpserver.expect_request("/feed.xml").respond_with_data(rss_xml(items, full_content=True),
                                                             content_type="application/rss+xml")
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(yaml.safe_dump({"feeds": [{"name": "wire", "url": httpserver.url_for("/feed.xml"),
                                                "interval_s": 5}]}))
    rules = tmp_path / "rules.yaml"
    rules.write_text((REPO / "alerts" / "rules.demo.yaml").read_text())
    data = tmp_path / "data"
    env = {**clean_env(data), "NEWSMON_FEEDS_FILE": str(feeds), "NEWSMON_RULES_FILE": str(rules),
           "TEST_STACK": stack_kind}
    log = tmp_path / "up.log"

    first = start_up(env, log)
    try:
        assert wait_for(lambda: read_endpoints(data), 240, step=1), log.read_text()[-3000:]
        settings = resolve(Settings(data_dir=data))
        client = make_client(settings)
        articles = settings.index("articles")
        assert wait_for(lambda: count(client, articles) >= 3, 240, step=0.2), log.read_text()[-3000:]
        indexed_at_kill = count(client, articles)
        children = descendants(first.pid)
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
    # the servers, the Faust worker and Elasticsearch's own server JVM all go with it
    assert wait_for(lambda: not any(alive(p) for p in children), 60), [p for p in children if alive(p)]
    assert indexed_at_kill < N_ARTICLES, "killed mid-stream"

    second = start_up(env, log)
    restarted = time.monotonic()
    try:
        assert wait_for(lambda: read_endpoints(data) and read_endpoints(data)["pid"] == second.pid, 240, step=1)
        settings = resolve(Settings(data_dir=data))
        client = make_client(settings)
        statements, alerts = settings.index("statements"), settings.index("alerts")
        published = {json.loads(r.value)["id"] for r in topic_records(settings, RAW)}
        assert wait_for(lambda: count(client, articles) == N_ARTICLES, 400, step=1), log.read_text()[-3000:]
        want_statements = {json.loads(r.value)["id"] for r in topic_records(settings, STATEMENTS)}
        want_alerts = {json.loads(r.value)["id"] for r in topic_records(settings, ALERTS)}
        assert wait_for(lambda: count(client, statements) == len(want_statements)
                        and count(client, alerts) == len(want_alerts), 120, step=1)
        ids = {h["_id"] for h in client.search(index=articles, size=1000, source=False)["hits"]["hits"]}
        assert len(ids) == N_ARTICLES and published == ids  # every article published once and indexed
        assert want_alerts, "the demo rules fired"
        output = log.read_text()
        assert "the previous `newsmon up` ended without stopping" in output
        print(f"articles indexed when `up` was killed: {indexed_at_kill}/{N_ARTICLES}; after the second `up`: "
              f"{len(ids)} articles, {len(want_statements)} statements, {len(want_alerts)} alerts")
        report("`up` SIGKILL, then up again", published=len(published), indexed=len(ids),
               missing=len(published - ids), duplicated=count(client, articles) - len(ids),
               alerts_expected=len(want_alerts), delivered=f"{count(client, alerts)} indexed",
               convergence_s=round(time.monotonic() - restarted, 1), indexed_at_kill=indexed_at_kill)
    finally:
        second.send_signal(signal.SIGINT)
        try:
            second.wait(120)
        except subprocess.TimeoutExpired:
            second.kill()
        discard_local_search(data)
    assert second.returncode == 0, log.read_text()[-3000:]


def test_lite_forgets_the_seen_store_when_its_broker_is_new(tmp_path):
    from newsmon.stack import Stack
    from newsmon.producers.seen import DB_NAME

    settings = Settings(data_dir=tmp_path)
    (tmp_path / DB_NAME).write_text("")
    lines: list[str] = []
    Stack(settings, say=lines.append)._forget_seen(settings)
    assert not (tmp_path / DB_NAME).exists() and "seen-store was reset" in lines[0]
