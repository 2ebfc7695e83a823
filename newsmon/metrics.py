"""Prometheus metrics of every stage, in one place (prometheus-client).

Stages count through the small functions here (`records_in`, `dead_letter`...), never through
prometheus-client directly, so names and labels stay consistent. Every metric carries a `stage` label and
no metric is created without labels: in multiprocess mode (`newsmon up`, whose processor is a child process)
the values live in files under `PROMETHEUS_MULTIPROC_DIR`, and `use_multiprocess` can switch to that as
long as no labelled child exists yet. Consumer lag is read from Kafka when scraped (`LagCollector`).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

PREFIX = "newsmon"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

RECORDS_IN = Counter(f"{PREFIX}_records_in", "Records a stage read, per stream.", ["stage", "stream"])
RECORDS_OUT = Counter(f"{PREFIX}_records_out", "Records a stage wrote (published or indexed), per stream.",
                      ["stage", "stream"])
DEAD_LETTERS = Counter(f"{PREFIX}_dead_letters", "Dead letters, by the stage that wrote them and the reason.",
                       ["stage", "reason"])
EXTRACTION_SECONDS = Histogram(f"{PREFIX}_extraction_seconds", "Extraction time per article.", ["stage"],
                               buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
BULK_SECONDS = Histogram(f"{PREFIX}_bulk_seconds", "Time of one Elasticsearch bulk call (retries included).",
                         ["stage"], buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120))
BULK_REJECTIONS = Counter(f"{PREFIX}_bulk_rejections", "Documents Elasticsearch rejected, by error type.",
                          ["stage", "reason"])
ALERTS = Counter(f"{PREFIX}_alerts", "Alert deliveries by outcome (delivered, retried, dead, throttled).",
                 ["stage", "outcome"])
ARTICLES = Counter(f"{PREFIX}_articles", "Articles extracted, by decided language and analysis (parsed, gated, "
                   "unsupported_language: indexed but not analysed).", ["stage", "language", "analysis"])
FEED_POLLS = Counter(f"{PREFIX}_feed_polls", "Feed polls by outcome (ok, not_modified, error kind).",
                     ["stage", "outcome"])


def records_in(stage: str, stream: str, n: int = 1) -> None:
    if n:
        RECORDS_IN.labels(stage, stream).inc(n)


def records_out(stage: str, stream: str, n: int = 1) -> None:
    if n:
        RECORDS_OUT.labels(stage, stream).inc(n)


def dead_letter(stage: str, reason: str, n: int = 1) -> None:
    """A dead letter of `stage`; `reason` is the error type (a short, bounded set), never the message."""
    DEAD_LETTERS.labels(stage, reason or "error").inc(n)


def extraction_seconds(seconds: float, articles: int) -> None:
    """A batch took `seconds` for `articles`: recorded as that many observations of the mean."""
    for _ in range(articles):
        EXTRACTION_SECONDS.labels("process").observe(seconds / articles)


def article(language: str | None, analysis: str) -> None:
    """One article extracted: its decided language (ISO 639-1, a bounded set) and how it was analysed."""
    ARTICLES.labels("process", language or "unknown", analysis).inc()


def bulk_seconds(seconds: float) -> None:
    BULK_SECONDS.labels("sink").observe(seconds)


def bulk_rejection(reason: str) -> None:
    BULK_REJECTIONS.labels("sink", reason or "error").inc()


def alert(outcome: str) -> None:
    ALERTS.labels("notify", outcome).inc()


def feed_poll(outcome: str) -> None:
    FEED_POLLS.labels("produce", outcome).inc()


# --- multiprocess mode ------------------------------------------------------------------------------------


def use_multiprocess(directory: Path) -> None:
    """Keep metric values in files under `directory` (emptied first), shared with child processes through
    the environment. Call before any stage counts anything."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.get_value_class()


def registry() -> CollectorRegistry:
    """A registry for one `/metrics` endpoint: the files of every process in multiprocess mode, else this
    process's metrics; its own, so a server can add collectors (`LagCollector`) without touching others."""
    reg = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(reg)
    else:
        reg.register(_Forward(prometheus_client.REGISTRY))
    return reg


class _Forward(Collector):
    """Everything another registry collects (the process-wide default one)."""

    def __init__(self, source: CollectorRegistry):
        self.source = source

    def collect(self):
        yield from self.source.collect()


def process_died(pid: int) -> None:
    """Forget the live gauges of a child process that ended (multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


class LagCollector(Collector):
    """`newsmon_consumer_lag{group,topic}`, read from Kafka at most every `max_age_s` (a scrape never
    waits on Kafka twice in a row; an unreachable Kafka gives no samples rather than an error)."""

    def __init__(self, read_lag: Callable[[], Iterable], max_age_s: float = 15.0):
        self.read_lag, self.max_age_s = read_lag, max_age_s
        self._rows: list = []
        self._at = float("-inf")

    def collect(self):
        if time.monotonic() - self._at > self.max_age_s:
            try:
                self._rows = list(self.read_lag())
            except Exception:  # Kafka away: the health endpoint says so; metrics just have no lag then
                self._rows = []
            self._at = time.monotonic()
        family = GaugeMetricFamily(f"{PREFIX}_consumer_lag", "Records not yet consumed, per group and topic.",
                                   labels=["group", "topic"])
        for row in self._rows:
            family.add_metric([row.group, row.topic], row.lag)
        yield family
