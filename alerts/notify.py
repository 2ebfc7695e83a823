"""The notifier stage: alerts topic in, deliveries through apprise out.

Each alert is delivered to every apprise URL of each of its destinations (names resolved through the
rules file). A failed delivery is retried with exponential backoff; when the retry budget is spent the
alert goes to the dead-letter topic (stage `notify`) with the reason. A sqlite ledger in the data
directory records every (alert, destination URL) outcome before the offsets are committed, so a restart
re-reads uncommitted alerts but never sends an alert twice to the same destination. Run one notifier
per data directory (the ledger is local).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apprise
from kafka.errors import CommitFailedError
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from newsmon import metrics
from newsmon.alerts.message import title
from newsmon.alerts.rules import RuleSet, load_rules
from newsmon.records import Alert, DeadLetter, stable_id
from newsmon.kafka import consumer_config, make_consumer, make_producer
from newsmon.settings import Settings
from newsmon.streams import ALERTS, DEAD_LETTER

log = logging.getLogger(__name__)

__all__ = ["Ledger", "Notifier", "NotifyStats", "deliver", "run", "group_id"]


def group_id(settings: Settings) -> str:
    return f"{settings.topic_prefix}-notify"


class Ledger:
    """Delivery outcomes by (alert id, destination URL id): sent, throttled or dead."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("""CREATE TABLE IF NOT EXISTS deliveries (
            alert_id TEXT NOT NULL, target TEXT NOT NULL, destination TEXT NOT NULL, rule TEXT NOT NULL,
            status TEXT NOT NULL, attempts INTEGER NOT NULL, at REAL NOT NULL, error TEXT,
            PRIMARY KEY (alert_id, target))""")
        self.db.execute("CREATE INDEX IF NOT EXISTS by_rule ON deliveries (rule, target, status, at)")
        self.db.commit()

    @classmethod
    def for_settings(cls, settings: Settings) -> "Ledger":
        return cls(settings.data_dir / "alerts" / f"{settings.topic_prefix}-deliveries.sqlite")

    def status(self, alert_id: str, target: str) -> str | None:
        row = self.db.execute("SELECT status FROM deliveries WHERE alert_id=? AND target=?",
                              (alert_id, target)).fetchone()
        return row[0] if row else None

    def last_sent(self, rule: str, target: str) -> float | None:
        row = self.db.execute("SELECT max(at) FROM deliveries WHERE rule=? AND target=? AND status='sent'",
                              (rule, target)).fetchone()
        return row[0]

    def record(self, alert: Alert, target: str, destination: str, status: str, attempts: int,
               error: str | None = None) -> None:
        self.db.execute("INSERT OR REPLACE INTO deliveries VALUES (?,?,?,?,?,?,?,?)",
                        (alert.id, target, destination, alert.rule, status, attempts, time.time(), error))
        self.db.commit()

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())

    def close(self) -> None:
        self.db.close()


def deliver(url: str, alert: Alert) -> str | None:
    """Send one alert to one apprise URL; None on success, else the reason it failed."""
    errors: list[str] = []
    ap = apprise.Apprise()
    if not ap.add(url):
        return "not a valid apprise URL"
    result = ap.notify(body=alert.message, title=title(alert), body_format=apprise.NotifyFormat.TEXT,
                       log_callback=lambda entry, *_: errors.append(str(getattr(entry, "message", entry))),
                       log_level=logging.WARNING)
    return None if result else ("; ".join(errors[-3:]) or "delivery failed")


@dataclass
class NotifyStats:
    alerts: int = 0
    sent: int = 0
    skipped: int = 0  # already delivered before a restart
    throttled: int = 0
    dead_letters: int = 0


class Notifier:
    """Delivers alerts; `handle` is called per alert record, `wait` while backing off (keeps the consumer alive)."""

    def __init__(self, settings: Settings, rules: RuleSet, ledger: Ledger, dead_letter: Callable[[DeadLetter], None],
                 *, retry_budget_s: float = 600.0, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 console: Console | None = None, wait: Callable[[float], bool] | None = None,
                 send: Callable[[str, Alert], str | None] = deliver):
        self.settings, self.rules, self.ledger = settings, rules, ledger
        self.dead_letter = dead_letter
        self.retry_budget_s, self.backoff_s, self.max_backoff_s = retry_budget_s, backoff_s, max_backoff_s
        self.console = console or Console(stderr=True)
        self.wait = wait or _sleep
        self.send = send
        self.stats = NotifyStats()

    def print(self, alert: Alert) -> None:
        first, _, rest = alert.message.partition("\n")
        self.console.print(f"[bold red]ALERT[/] [bold]{escape(alert.rule)}[/] {escape(first)} "
                           f"{escape(rest.splitlines()[0] if rest else '')}", highlight=False, soft_wrap=True)

    def handle(self, alert: Alert, meta: dict[str, Any] | None = None) -> None:
        """Deliver an alert to all its destinations, skipping those the ledger has an outcome for."""
        self.stats.alerts += 1
        targets = [(d, url, stable_id(d, url or ""))
                   for d in alert.destinations for url in self.rules.urls(d) or _NO_URL]
        pending = [t for t in targets if not self.ledger.status(alert.id, t[2])]
        self.stats.skipped += len(targets) - len(pending)
        if pending or not targets:  # a re-read after a restart is not printed again
            self.print(alert)
        rule = self.rules.rule(alert.rule)
        for destination, url, target in pending:
            if url is None:
                self._dead(alert, destination, target, f"unknown destination {destination!r} (not in the rules "
                           f"file)", 0, meta)
                continue
            if rule and rule.throttle:
                last = self.ledger.last_sent(alert.rule, target)
                if last is not None and time.time() - last < rule.throttle.total_seconds():
                    self.ledger.record(alert, target, destination, "throttled", 0)
                    self.stats.throttled += 1
                    metrics.alert("throttled")
                    continue
            self._deliver(alert, destination, url, target, meta)

    def _deliver(self, alert: Alert, destination: str, url: str, target: str, meta: dict | None) -> None:
        started = time.monotonic()
        delay, attempts = self.backoff_s, 0
        while True:
            attempts += 1
            error = self.send(url, alert)
            if error is None:
                self.ledger.record(alert, target, destination, "sent", attempts)
                self.stats.sent += 1
                metrics.alert("delivered")
                return
            left = self.retry_budget_s - (time.monotonic() - started)
            if left <= 0:
                self._dead(alert, destination, target, f"delivery failed after {attempts} attempts: {error}",
                           attempts, meta)
                return
            log.warning("notify: %s to %s failed (%s); retry %d in %.1fs", alert.id, destination, error,
                        attempts, min(delay, left))
            metrics.alert("retried")
            if not self.wait(min(delay, left)):
                raise InterruptedError("stopped while retrying a delivery")
            delay = min(delay * 2, self.max_backoff_s)

    def _dead(self, alert: Alert, destination: str, target: str, error: str, attempts: int,
              meta: dict | None) -> None:
        meta = meta or {}
        self.dead_letter(DeadLetter(stage="notify", error=error, error_type="DeliveryError",
                                    payload={"alert": alert.model_dump(mode="json"), "destination": destination},
                                    topic=meta.get("topic"), partition=meta.get("partition"),
                                    offset=meta.get("offset"), key=alert.id))
        if target:
            self.ledger.record(alert, target, destination, "dead", attempts, error)
        self.stats.dead_letters += 1
        metrics.alert("dead")
        log.error("notify: alert %s to %s dead-lettered: %s", alert.id, destination, error)


def _sleep(seconds: float) -> bool:
    """The default wait between delivery attempts: sleep, then go on (True)."""
    time.sleep(seconds)
    return True


_NO_URL: list[str | None] = [None]  # a destination without URLs still gets its (failing) attempt


def _decode(value: bytes | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value.decode("utf-8", "replace")


def run(settings: Settings, stop_event: threading.Event | None = None, *, rules: RuleSet | None = None,
        retry_budget_s: float = 600.0, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
        idle_exit_s: float | None = None, console: Console | None = None,
        stats: NotifyStats | None = None) -> NotifyStats:
    """Consume the alerts topic and deliver each alert until `stop_event` is set; offsets are committed
    after the batch's deliveries were recorded in the ledger (or dead-lettered). Counts go to `stats`."""
    stop_event = stop_event or threading.Event()
    if rules is None:
        if not settings.rules_file:
            raise ValueError("no rules file configured (NEWSMON_RULES_FILE): destinations are defined there")
        rules = load_rules(settings.rules_file)
    consumer = make_consumer(settings, ALERTS.topic(settings),
                             **consumer_config(settings, group_id(settings), "newsmon-notify", max_poll_records=50))
    producer = make_producer(settings, acks="all", client_id="newsmon-notify-dlq")
    ledger = Ledger.for_settings(settings)

    def keep_alive(seconds: float) -> bool:
        """Wait, polling (paused) so the consumer stays in its group; False when stopped."""
        deadline = time.monotonic() + seconds
        consumer.pause(*consumer.assignment())
        while not stop_event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            for tp, batch in consumer.poll(timeout_ms=int(min(left, 1.0) * 1000)).items():
                consumer.seek(tp, batch[0].offset)  # newly assigned during the wait: re-read later
                consumer.pause(tp)
        return False

    def dead_letter(letter: DeadLetter) -> None:
        producer.send(DEAD_LETTER.topic(settings), **DEAD_LETTER.message(letter)).get(timeout=60)

    notifier = Notifier(settings, rules, ledger, dead_letter, retry_budget_s=retry_budget_s, backoff_s=backoff_s,
                        max_backoff_s=max_backoff_s, console=console, wait=keep_alive)
    if stats is not None:
        notifier.stats = stats
    last = time.monotonic()
    try:
        while not stop_event.is_set():
            polled = consumer.poll(timeout_ms=500)
            records = [r for batch in polled.values() for r in batch]
            if not records:
                if idle_exit_s is not None and time.monotonic() - last > idle_exit_s:
                    break
                continue
            last = time.monotonic()
            try:
                for rec in records:
                    meta = {"topic": rec.topic, "partition": rec.partition, "offset": rec.offset}
                    try:
                        alert = Alert.model_validate_json(rec.value or b"")
                    except ValidationError as exc:
                        dead_letter(DeadLetter(stage="notify", error=f"not an alert record: {exc}",
                                               error_type="ValidationError", payload=_decode(rec.value),
                                               key=rec.key.decode("utf-8", "replace") if rec.key else None, **meta))
                        notifier.stats.dead_letters += 1
                        continue
                    notifier.handle(alert, meta)
            except InterruptedError:
                break  # uncommitted: the rest is re-read on restart, the ledger skips what was sent
            finally:
                if consumer.paused():
                    consumer.resume(*consumer.paused())
            try:
                consumer.commit()
            except CommitFailedError as exc:  # rebalanced meanwhile: re-read later, the ledger skips sent ones
                log.warning("notify: offset commit failed (%s); alerts will be re-read, not re-sent", exc)
    finally:
        producer.close(timeout=10)
        consumer.close(autocommit=False)
        ledger.close()
    return notifier.stats
