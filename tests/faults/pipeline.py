"""The whole pipeline under faults: a generated corpus served by local feeds that grow over time, every
stage a child process (`newsmon produce`, `process`, `sink`, `alerts notify`), an HTTP receiver, and the
ids each index and the receiver are owed, computed offline through the same parsing, extraction and rules.

A scenario starts the `Pipeline`, does its damage while the feeds grow (kills a stage, stops a server,
makes the receiver refuse or dawdle), then `settle()` waits until every owed id arrived and returns the
figures of one row of the fault table.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from elasticsearch import ApiError, TransportError
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from newsmon.alerts.rules import RuleSet, load_rules
from newsmon.processors.agents import Message, process_batch
from newsmon.processors.extraction import load_pipeline
from newsmon.producers.config import FeedConfig
from newsmon.producers.demo import rss_xml, seed_texts
from newsmon.producers.normalize import parse_feed
from newsmon.indices import ensure_templates, make_client
from newsmon.kafka import make_admin
from newsmon.settings import Settings
from newsmon.topics import ensure_topics
from tests.faults.verifiable import stage, wait_for
from tests.receivers import Receiver

START = datetime(2016, 12, 1, tzinfo=timezone.utc)
FEEDS = 4
RULE = "Syria in the title"
# an article rule: no novelty state, so the alerts owed follow from the articles alone
RULES = f"destinations:\n  desk: '{{url}}'\nrules:\n  - name: {RULE}\n    kind: articles\n" \
        f"    query: 'title:syria'\n    destinations: [desk]\n"


def corpus(n: int, base: str) -> list[dict]:
    """`n` feed items from the seed texts (full text in the feed, so no page fetches); every other title
    names Syria, so about half the articles fire the rule."""
    texts = list(seed_texts().values())
    topics = ("Syria talks resume", "Iran and Russia meet")
    return [{"title": f"Report {i}: {topics[i % 2]}", "link": f"{base}/articles/g{i}.html", "guid": f"grow-{i}",
             "published": START + timedelta(hours=i), "summary": texts[i % 3][:200],
             "text": texts[i % 3] + f"\n\nReport number {i}."} for i in range(n)]


class GrowingFeeds:
    """`FEEDS` RSS feeds on the local HTTP server; item i (round robin over the feeds) appears
    `i / rate_per_s` seconds after `start()`, so each poll finds a few new items."""

    def __init__(self, server: HTTPServer, n: int, rate_per_s: float):
        self.items = corpus(n, server.url_for("").rstrip("/"))
        self.rate = rate_per_s
        self.started: float | None = None
        self.urls = [server.url_for(f"/feeds/wire{k}.xml") for k in range(FEEDS)]
        for k in range(FEEDS):
            server.expect_request(f"/feeds/wire{k}.xml").respond_with_handler(
                lambda request, k=k: self._serve(request, k))

    def configs(self) -> list[FeedConfig]:
        return [FeedConfig(name=f"wire{k}", url=url, interval_s=2.0, jitter=0.0, retry_base_s=1.0, retry_max_s=5.0,
                           full_text_min_chars=0, fetch_pages=False) for k, url in enumerate(self.urls)]

    def start(self) -> None:
        self.started = time.monotonic()

    def released(self) -> int:
        if self.started is None:
            return 0
        return min(len(self.items), int((time.monotonic() - self.started) * self.rate) + 1)

    def all_released(self) -> bool:
        return self.released() == len(self.items)

    def document(self, k: int, upto: int | None = None) -> bytes:
        upto = len(self.items) if upto is None else upto
        mine = [item for i, item in enumerate(self.items[:upto]) if i % FEEDS == k]
        return rss_xml(list(reversed(mine)), title=f"wire{k}", link=self.urls[k], full_content=True).encode()

    def _serve(self, request: Request, k: int) -> Response:
        return Response(self.document(k, self.released()), content_type="application/rss+xml")


@dataclass
class Owed:
    """The ids each index owes, and the alerts the receiver owes, for the whole corpus."""

    raw: set[str]
    articles: set[str]
    statements: set[str]
    events: set[str]
    alerts: set[str]


def owed(settings: Settings, feeds: GrowingFeeds, rules: RuleSet) -> Owed:
    """Offline: the feed documents through the producer's parser, the processor's extraction and the
    alert rules (the same functions the stages call)."""
    raws = [item.article for k, config in enumerate(feeds.configs())
            for item in parse_feed(feeds.document(k), config, config.url).items]
    processed = process_batch(load_pipeline(settings), [Message(r.id.encode(), r.model_dump_json().encode())
                                                        for r in raws])
    assert not processed.dead, processed.dead
    articles = [a for a, _, _ in processed.extracted]
    return Owed(raw={r.id for r in raws}, articles={a.id for a in articles},
                statements={s.id for _, statements, _ in processed.extracted for s in statements},
                events={e.id for _, _, events in processed.extracted for e in events},
                alerts={alert.id for a in articles
                        for alert in rules.alerts("articles", a.model_dump(mode="json", by_alias=True))})


def indexed_ids(client, index: str) -> list[str]:
    """Every document id under `index` (a list: a duplicate would show twice)."""
    if not client.indices.exists(index=index):
        return []
    client.indices.refresh(index=index)
    hits = client.search(index=index, size=10_000, source=False, query={"match_all": {}})["hits"]["hits"]
    return [h["_id"] for h in hits]


STAGES = ("produce", "process", "sink", "notify")


@dataclass
class Pipeline:
    """Every stage as a child process, restarted by `restart(name)` (what `up` does after a death)."""

    settings: Settings
    feeds: GrowingFeeds
    receiver: Receiver
    logs: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    owed: Owed | None = None
    rules_path: Path | None = None

    def prepare(self) -> Owed:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.rules_path = self.logs / "rules.yaml"
        self.rules_path.write_text(RULES.format(url=self.receiver.url))
        feeds_path = self.logs / "feeds.yaml"
        feeds_path.write_text(yaml.safe_dump({"feeds": [c.model_dump() for c in self.feeds.configs()]}))
        self.settings = self.settings.model_copy(update={
            "rules_file": self.rules_path, "feeds_file": feeds_path, "processor_batch_size": 4,
            "sink_max_wait_s": 0.3})
        ensure_topics(self.settings)
        ensure_templates(self.settings)
        self.owed = owed(self.settings, self.feeds, load_rules(self.rules_path))
        return self.owed

    def command(self, name: str) -> tuple[str, ...]:
        return {"produce": ("produce",), "process": ("process",), "sink": ("sink",),
                "notify": ("alerts", "notify", "--rules", str(self.rules_path))}[name]

    def start(self, name: str) -> subprocess.Popen:
        self.procs[name] = stage(self.settings, *self.command(name), "--loglevel", "info",
                                 log=self.logs / f"{name}.log")
        return self.procs[name]

    def start_all(self) -> None:
        for name in STAGES:
            self.start(name)
        self.feeds.start()

    def restart_dead(self) -> list[str]:
        """Start again every stage that exited (as `up` would); returns their names."""
        dead = [name for name, proc in self.procs.items() if proc.poll() is not None]
        for name in dead:
            self.start(name)
        return dead

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def dump_threads(self) -> None:
        """Every live stage writes its threads' stacks to its log (SIGUSR1), and the log gets the state of
        the consumer groups: what a scenario that did not converge was waiting for."""
        for proc in self.procs.values():
            if proc.poll() is None:  # the Faust worker's own handler also lists its asyncio tasks
                os.kill(proc.pid, signal.SIGUSR1)
        time.sleep(2)
        admin = make_admin(self.settings, client_id="newsmon-faults")
        try:
            listed = [g["group_id"] for g in admin.list_groups()]
            described: object = admin.describe_groups([g for g in listed if g.startswith(self.settings.topic_prefix)])
        except Exception as exc:  # noqa: BLE001 - a diagnosis, not a check
            described = f"groups not described: {exc!r}"
        finally:
            admin.close()
        (self.logs / "groups.log").write_text(json.dumps(described, indent=1, default=str))

    def log_tail(self, chars: int = 2500) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in sorted(self.logs.glob("*.log")))

    # --- accounting ---

    def counts(self, client) -> dict[str, list[str]]:
        s = self.settings
        return {kind: indexed_ids(client, s.index(kind)) for kind in ("articles", "statements", "events")}

    def complete(self, client) -> bool:
        assert self.owed is not None
        got = self.counts(client)
        return (self.feeds.all_released() and set(got["articles"]) >= self.owed.articles
                and set(got["statements"]) >= self.owed.statements and set(got["events"]) >= self.owed.events
                and set(self.receiver.keys) >= self.owed.alerts)

    def settle(self, since: float, timeout_s: float = 420, keep_alive: bool = True) -> dict[str, object]:
        """Wait until every owed id arrived (restarting stages that died meanwhile); the figures of the row.
        `since`: when the fault ended (convergence is measured from there)."""
        assert self.owed is not None
        client = make_client(self.settings)
        restarted: list[str] = []

        def done() -> bool:
            if keep_alive:
                restarted.extend(self.restart_dead())
            try:
                return self.complete(client)
            except (ApiError, TransportError):  # the search server is still recovering its shards
                return False

        converged = wait_for(done, timeout_s, step=1)
        convergence_s = time.monotonic() - since
        if not converged:
            self.dump_threads()
        time.sleep(3)  # anything still in flight (a re-read batch, a resent alert) lands before the count
        got = self.counts(client)
        keys = Counter(self.receiver.keys)
        all_ids = [i for kind in ("articles", "statements", "events") for i in got[kind]]
        owed_ids = self.owed.articles | self.owed.statements | self.owed.events
        return {
            "converged": converged,
            "published": len(self.owed.articles),
            "indexed": len(set(got["articles"])),
            "statements": f"{len(set(got['statements']) & self.owed.statements)}/{len(self.owed.statements)}",
            "events": f"{len(set(got['events']) & self.owed.events)}/{len(self.owed.events)}",
            "missing": len(owed_ids - set(all_ids)),
            "duplicated": len(all_ids) - len(set(all_ids)),
            "unexpected": len(set(all_ids) - owed_ids),
            "alerts_expected": len(self.owed.alerts),
            "delivered": len(set(keys) & self.owed.alerts),
            "duplicate_deliveries": sum(n - 1 for n in keys.values()),
            "unexpected_alerts": len(set(keys) - self.owed.alerts),
            "convergence_s": round(convergence_s, 1),
            "restarted": restarted,
        }


def check(figures: dict[str, object], pipeline: Pipeline, max_duplicate_deliveries: int = 0) -> None:
    """The scenario's assertions: every owed id indexed exactly once, every owed alert delivered, nothing
    else; duplicate deliveries within what the scenario allows."""
    tail = pipeline.log_tail()
    assert figures["converged"], f"not converged: {figures}\n{tail}"
    assert figures["missing"] == 0 and figures["duplicated"] == 0 and figures["unexpected"] == 0, figures
    assert figures["delivered"] == figures["alerts_expected"] and figures["unexpected_alerts"] == 0, figures
    assert figures["duplicate_deliveries"] <= max_duplicate_deliveries, f"{figures}\n{tail}"


class Flapper(threading.Thread):
    """Turns the receiver's `down` on and off every `period_s` until stopped."""

    def __init__(self, receiver: Receiver, period_s: float):
        super().__init__(daemon=True)
        self.receiver, self.period_s = receiver, period_s
        self.halt = threading.Event()
        self.flips = 0

    def run(self) -> None:
        while not self.halt.wait(self.period_s):
            self.receiver.down = not self.receiver.down
            self.flips += 1
        self.receiver.down = False


__all__ = ["GrowingFeeds", "Pipeline", "Owed", "Flapper", "check", "owed", "indexed_ids", "wait_for"]
