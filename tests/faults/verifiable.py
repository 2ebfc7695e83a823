"""Kafka's verifiable-producer method for newsmon: publish ids, keep those the broker acknowledged, kill
stages while they work, then account for every acknowledged id downstream."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from newsmon.endpoints import settings_env
from newsmon.kafka import make_producer
from newsmon.settings import Settings

REPO = Path(__file__).resolve().parents[2]


class VerifiableProducer:
    """Publishes (key, value) records at a steady rate in a thread; `acked` holds the ids the broker
    acknowledged (only those are owed downstream)."""

    def __init__(self, settings: Settings, stream: str, records: Iterable[tuple[str, bytes]], rate_per_s: float):
        self.settings, self.topic = settings, settings.topic(stream)
        self.records, self.rate = list(records), rate_per_s
        self.acked: set[str] = set()
        self.failed: list[str] = []
        self.finished_at: float | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "VerifiableProducer":
        self.thread.start()
        return self

    def _run(self) -> None:
        producer = make_producer(self.settings, acks="all", linger_ms=5)
        start = time.monotonic()
        for i, (key, value) in enumerate(self.records):
            delay = start + i / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            future = producer.send(self.topic, key=key.encode(), value=value)
            future.add_callback(lambda _, k=key: self.acked.add(k))
            future.add_errback(lambda _, k=key: self.failed.append(k))
        producer.flush()
        producer.close()
        self.finished_at = time.monotonic()

    def join(self, timeout: float = 300) -> None:
        self.thread.join(timeout)


def stage(settings: Settings, *args: str, log: Path, env: dict | None = None) -> subprocess.Popen:
    """A stage (`newsmon <args>`) as a child process configured like `settings`, output to `log`. Its
    metrics are served on a free port: several stages (and other runs on this machine) at once."""
    full_env = {**os.environ, **settings_env(settings), "NEWSMON_METRICS_ADDRESS": "127.0.0.1:0", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "newsmon", *args], env=full_env, cwd=REPO,
                            stdout=log.open("a"), stderr=subprocess.STDOUT)


@dataclass
class Killer:
    """Kills a stage with SIGKILL at random moments while `running()` holds, restarting it each time."""

    start: Callable[[], subprocess.Popen]
    interval_s: tuple[float, float]
    kills: int = 0
    max_kills: int = 5
    proc: subprocess.Popen | None = None
    seed: int = 10
    exits: list[int] = field(default_factory=list)

    def run_while(self, running: Callable[[], bool]) -> None:
        rng = random.Random(self.seed)
        self.proc = self.start()
        while running() and self.kills < self.max_kills:
            deadline = time.monotonic() + rng.uniform(*self.interval_s)
            while time.monotonic() < deadline and running():
                time.sleep(0.05)
            if not running():
                break
            self.proc.send_signal(signal.SIGKILL)
            self.exits.append(self.proc.wait())
            self.kills += 1
            self.proc = self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(predicate: Callable[[], object], timeout: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


ROWS: list[tuple[str, dict[str, object]]] = []  # every scenario's figures, for the table at the end of the run
TABLE = ("published", "indexed", "missing", "duplicated", "alerts_expected", "delivered", "duplicate_deliveries",
         "convergence_s")


def report(scenario: str, **figures: object) -> None:
    """One line per scenario (pytest -s shows it; also appended to $NEWSMON_FAULTS_REPORT), and one row of
    the table printed at the end of the run (the `TABLE` columns; a scenario without one shows `-`)."""
    ROWS.append((scenario, figures))
    line = f"FAULTS {scenario}: " + ", ".join(f"{k}={v}" for k, v in figures.items())
    print(line)
    path = os.environ.get("NEWSMON_FAULTS_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")


def table() -> list[str]:
    """The fault table: one row per scenario reported in this run."""
    head = ["scenario", *(c.replace("_", " ") for c in TABLE)]
    rows = [[scenario, *(str(figures.get(c, "-")) for c in TABLE)] for scenario, figures in ROWS]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))  # noqa: E731
    return [fmt(head), "-+-".join("-" * w for w in widths), *(fmt(r) for r in rows)]
