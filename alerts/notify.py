"""The notifier stage: alerts topic in, deliveries through apprise out.

Each alert is delivered to every apprise URL of each of its destinations (names resolved through the
rules file). A sqlite ledger in the data directory is both outbox and record: the consumer queues each
(alert, destination URL) there before it commits the offsets, and one worker thread per destination URL
delivers from it, so a slow receiver holds up only its own alerts and the consumer keeps polling. A
failed attempt is retried with backoff and jitter; when the retry budget is spent the alert goes to the
dead-letter topic (stage `notify`) with the reason and stays `dead` in the ledger until
`newsmon alerts redeliver` queues it again. A URL apprise cannot load is dead-lettered at once (retrying
cannot help); the rules loader refuses such URLs, so this only meets one whose `${NAME}` changed since.

What "once" means: the ledger writes `sending` before an attempt and `sent` after, so a replayed alert is
never sent again and a restart never re-sends what was confirmed. An attempt that was cut off (a crash
between the receiver's answer and the `sent` write, or a receiver slower than
`alert_delivery_timeout_s`) is sent again: at-least-once, not exactly-once, as with any receiver that
cannot be asked what it got. Every attempt carries the alert's stable id (`Idempotency-Key` header and
`alert_id` for HTTP services) so the receiver can drop that repeat. Run one notifier per data directory
(the ledger is local).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apprise
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from newsmon import metrics
from newsmon.alerts.destinations import loadable, mask
from newsmon.alerts.message import terminal_lines, title
from newsmon.alerts.rules import RuleSet, load_rules
from newsmon.consume import CommitAfter
from newsmon.deadletter import DeadLetterWriter, dead_letter_limit, from_record
from newsmon.kafka import consumer_config, make_consumer, make_producer
from newsmon.records import Alert, DeadLetter, stable_id
from newsmon.retry import retrying
from newsmon.settings import Settings
from newsmon.streams import ALERTS, DEAD_LETTER

log = logging.getLogger(__name__)

__all__ = ["ledger_path", "Ledger", "Notifier", "NotifyStats", "deliver", "run", "group_id", "IDEMPOTENCY_HEADER"]


def group_id(settings: Settings) -> str:
    return f"{settings.topic_prefix}-notify"


def ledger_path(settings: Settings) -> Path:
    """Where the notifier of these settings keeps its ledger (one per data directory and topic prefix)."""
    return settings.data_dir / "alerts" / f"{settings.topic_prefix}-deliveries.sqlite"


LEDGER_COLUMNS = {"alert": "TEXT", "queued_at": "REAL", "tried_at": "REAL"}  # added to older ledgers on open
FINAL = ("sent", "throttled", "dead")
DUE = ("queued", "sending")  # still to be delivered: `sending` means an attempt may have reached the receiver


@dataclass
class Due:
    """A delivery still to make (read back from the ledger by its destination's worker)."""

    alert: Alert
    destination: str
    target: str
    status: str
    attempts: int
    tried_at: float | None


class Ledger:
    """The notifier's outbox and record, by (alert id, destination URL id).

    The consumer writes `queued` (with the alert) before it commits the offsets; the destination's worker
    writes `sending` before each attempt and `sent`, `throttled` or `dead` after. A row left at `sending`
    by a crash is sent again (at-least-once, with the same alert id for the receiver to drop the repeat).
    Thread-safe: the consumer and the delivery workers share it.
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.db = sqlite3.connect(str(path), check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("""CREATE TABLE IF NOT EXISTS deliveries (
            alert_id TEXT NOT NULL, target TEXT NOT NULL, destination TEXT NOT NULL, rule TEXT NOT NULL,
            status TEXT NOT NULL, attempts INTEGER NOT NULL, at REAL NOT NULL, error TEXT,
            PRIMARY KEY (alert_id, target))""")
        have = {row[1] for row in self.db.execute("PRAGMA table_info(deliveries)")}
        for name, kind in LEDGER_COLUMNS.items():
            if name not in have:
                self.db.execute(f"ALTER TABLE deliveries ADD COLUMN {name} {kind}")
        self.db.execute("CREATE INDEX IF NOT EXISTS by_rule ON deliveries (rule, target, status, at)")
        self.db.execute("CREATE INDEX IF NOT EXISTS by_target ON deliveries (target, status, queued_at)")
        self.db.commit()

    @classmethod
    def for_settings(cls, settings: Settings) -> "Ledger":
        return cls(ledger_path(settings))

    def status(self, alert_id: str, target: str) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT status FROM deliveries WHERE alert_id=? AND target=?",
                                  (alert_id, target)).fetchone()
        return row[0] if row else None

    def last_sent(self, rule: str, target: str) -> float | None:
        with self.lock:
            row = self.db.execute("SELECT max(at) FROM deliveries WHERE rule=? AND target=? AND status='sent'",
                                  (rule, target)).fetchone()
        return row[0]

    def enqueue(self, alert: Alert, target: str, destination: str) -> bool:
        """Queue one delivery; False if the ledger already has it (any state): a replay is not re-sent."""
        now = time.time()
        with self.lock:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO deliveries (alert_id, target, destination, rule, status, attempts, at, alert, "
                "queued_at) VALUES (?,?,?,?,'queued',0,?,?,?)",
                (alert.id, target, destination, alert.rule, now, alert.model_dump_json(), now))
            self.db.commit()
        return cursor.rowcount == 1

    def record(self, alert: Alert, target: str, destination: str, status: str, attempts: int,
               error: str | None = None) -> None:
        """Set the state of one delivery (created if absent), committed at once."""
        now = time.time()
        with self.lock:
            self.db.execute(
                "INSERT INTO deliveries (alert_id, target, destination, rule, status, attempts, at, error, alert, "
                "queued_at, tried_at) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (alert_id, target) DO UPDATE SET "
                "status=excluded.status, attempts=excluded.attempts, at=excluded.at, error=excluded.error, "
                "tried_at=coalesce(deliveries.tried_at, CASE WHEN excluded.status='sending' THEN excluded.at END)",
                (alert.id, target, destination, alert.rule, status, attempts, now, error, alert.model_dump_json(),
                 now, now if status == "sending" else None))
            self.db.commit()

    def next_due(self, target: str) -> Due | None:
        """The oldest delivery to `target` still to make (queue order keeps a destination's alerts in order)."""
        with self.lock:
            row = self.db.execute(
                "SELECT alert, destination, status, attempts, tried_at FROM deliveries WHERE target=? AND status IN "
                "('queued','sending') AND alert IS NOT NULL ORDER BY queued_at, rowid LIMIT 1", (target,)).fetchone()
        if row is None:
            return None
        return Due(Alert.model_validate_json(row[0]), row[1], target, row[2], row[3], row[4])

    def due_targets(self) -> dict[str, str]:
        """Every target with deliveries still to make, with its destination name."""
        with self.lock:
            rows = self.db.execute("SELECT DISTINCT target, destination FROM deliveries WHERE status IN "
                                   "('queued','sending')").fetchall()
        return dict(rows)

    def redeliver(self, since: float | None = None) -> int:
        """Queue dead deliveries (dead-lettered at or after `since`, epoch seconds) again, with a fresh retry
        budget; returns how many. Rows from before the ledger kept the alert cannot be re-driven."""
        with self.lock:
            cursor = self.db.execute(
                "UPDATE deliveries SET status='queued', attempts=0, tried_at=NULL, error=NULL, at=?, queued_at=? "
                "WHERE status='dead' AND alert IS NOT NULL AND at >= ?", (time.time(), time.time(), since or 0.0))
            self.db.commit()
        return cursor.rowcount

    def states(self, alert_id: str) -> dict[str, str]:
        """Destination name -> state of one alert's deliveries (several URLs of one name: worst first)."""
        with self.lock:
            rows = self.db.execute("SELECT destination, status FROM deliveries WHERE alert_id=? ORDER BY rowid",
                                   (alert_id,)).fetchall()
        out: dict[str, str] = {}
        for destination, status in rows:
            out[destination] = status if out.get(destination) in (None, "sent") else out[destination]
        return out

    def counts(self) -> dict[str, int]:
        with self.lock:
            return dict(self.db.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())

    def close(self) -> None:
        with self.lock:
            self.db.close()


IDEMPOTENCY_HEADER = "Idempotency-Key"


def deliver(url: str, alert: Alert, timeout_s: float = 30.0) -> str | None:
    """Send one alert to one apprise URL; None on success, else the reason it failed.

    The receiver waits up to `timeout_s` for an answer (apprise's default, 4 s, gives up on many a
    webhook that then still delivers: a retry would be a duplicate). HTTP services (json://, xml://,
    form://) get the alert's stable id as an `Idempotency-Key` header, and json:// also as `alert_id`
    in the body, so a receiver can drop a repeat after an at-least-once resend.
    """
    errors: list[str] = []
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return "not a valid apprise URL"
    plugin.socket_read_timeout = timeout_s
    plugin.socket_connect_timeout = min(timeout_s, 10.0)
    headers = getattr(plugin, "headers", None)  # json://, xml://, form:// (not on every service)
    if isinstance(headers, dict):
        headers[IDEMPOTENCY_HEADER] = alert.id
    extras = getattr(plugin, "payload_extras", None)  # json:// body fields
    if isinstance(extras, dict):
        extras["alert_id"] = alert.id
    ap = apprise.Apprise()
    ap.add(plugin)
    result = ap.notify(body=alert.message, title=title(alert), body_format=apprise.NotifyFormat.TEXT,
                       log_callback=lambda entry, *_: errors.append(str(getattr(entry, "message", entry))),
                       log_level=logging.WARNING)
    return None if result else (mask("; ".join(errors[-3:])) or "delivery failed")


@dataclass
class NotifyStats:
    alerts: int = 0
    sent: int = 0
    skipped: int = 0  # already delivered before a restart
    throttled: int = 0
    dead_letters: int = 0


class DeliveryFailed(Exception):
    """One delivery attempt failed (the reason is the message)."""


class Notifier:
    """Queues each alert's deliveries in the ledger (`handle`, called by the consumer) and delivers them
    from one worker thread per destination URL, so a slow or absent receiver delays only its own
    alerts, never the consumer (it stays in its group) nor the other destinations."""

    def __init__(self, settings: Settings, rules: RuleSet, ledger: Ledger, dead_letter: Callable[[DeadLetter], None],
                 *, retry_budget_s: float = 600.0, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 console: Console | None = None, stop_event: threading.Event | None = None,
                 send: Callable[[str, Alert], str | None] | None = None):
        self.settings, self.rules, self.ledger = settings, rules, ledger
        self.dead_letter = dead_letter
        self.retry_budget_s, self.backoff_s, self.max_backoff_s = retry_budget_s, backoff_s, max_backoff_s
        self.console = console or Console(stderr=True)
        self.stop_event = stop_event or threading.Event()
        self.send = send or (lambda url, alert: deliver(url, alert, settings.alert_delivery_timeout_s))
        self.stats = NotifyStats()
        names = set(rules.destinations) | {d for rule in rules.rules for d in rules.labels(rule)}
        self.urls = {stable_id(d, url): url for d in sorted(names) for url in rules.urls(d)}
        self.unloadable = {target for target, url in self.urls.items() if not loadable(url)}
        self._wake: dict[str, threading.Event] = {}
        self._workers: list[threading.Thread] = []

    def print(self, alert: Alert) -> None:
        """The alert as three lines that stand out among the log lines: rule, speaker and outlet; the
        first line of the content; the link."""
        head, first, link = terminal_lines(alert)
        self.console.print(f"[bold white on red] ALERT [/] [bold]{escape(head)}[/]\n        {escape(first)}"
                           + (f"\n        [link={escape(link)}]{escape(link)}[/link]" if link else ""),
                           highlight=False, soft_wrap=True)

    def start(self) -> None:
        """One worker per destination URL of the rules, and per target the ledger still owes deliveries to."""
        for target, destination in self.ledger.due_targets().items():
            if target not in self.urls and not self._resolve(target, destination):
                self._drain_unknown(target, destination)
        for target in list(self.urls):
            self._start_worker(target)

    def _resolve(self, target: str, destination: str) -> bool:
        """Find the URL of a target named otherwise than by the current rules' labels (alerts and ledger
        rows of an earlier release: see `RuleSet.urls`); whether found."""
        url = next((u for u in self.rules.urls(destination) if stable_id(destination, u) == target), None)
        if url is None:
            return False
        self.urls[target] = url
        if not loadable(url):
            self.unloadable.add(target)
        return True

    def _start_worker(self, target: str) -> None:
        if target in self._wake:
            return
        self._wake[target] = threading.Event()
        worker = threading.Thread(target=self._work, args=(target,), name=f"newsmon-notify-{target[:8]}",
                                  daemon=True)
        worker.start()
        self._workers.append(worker)

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop the workers, waiting for attempts in flight (an attempt cut short is re-sent on restart)."""
        self.stop_event.set()
        for wake in self._wake.values():
            wake.set()
        wait = self.settings.alert_delivery_timeout_s + 5 if timeout_s is None else timeout_s
        deadline = time.monotonic() + wait
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    def busy(self) -> bool:
        """Deliveries are still to be made."""
        return bool(self.ledger.due_targets())

    def handle(self, alert: Alert, meta: dict[str, Any] | None = None) -> None:
        """Queue the alert's deliveries (durable before the offset is committed); replays are skipped."""
        self.stats.alerts += 1
        targets = [(d, url, stable_id(d, url or ""))
                   for d in alert.destinations for url in self.rules.urls(d) or _NO_URL]
        queued = 0
        for destination, url, target in targets:
            if self.ledger.status(alert.id, target) is not None:
                self.stats.skipped += 1
            elif url is None:
                self._dead(alert, destination, target, f"unknown destination {destination!r} (not in the rules "
                           f"file)", 0, meta)
            elif self.ledger.enqueue(alert, target, destination):
                queued += 1
                if target not in self._wake and self._resolve(target, destination):
                    self._start_worker(target)
                self._wake[target].set()
        if queued or not targets:  # a re-read after a restart is not printed again
            self.print(alert)

    def _work(self, target: str) -> None:
        wake = self._wake[target]
        while not self.stop_event.is_set():
            due = self.ledger.next_due(target)
            if due is None:
                wake.wait(0.5)  # also picks up `newsmon alerts redeliver` from another process
                wake.clear()
                continue
            try:
                self._deliver(due)
            except InterruptedError:
                return
            except Exception:  # a bug must not silently stop a destination: logged, retried after a pause
                log.exception("notify: delivering %s to %s failed unexpectedly", due.alert.id, due.destination)
                self.stop_event.wait(self.backoff_s)

    def _deliver(self, due: Due) -> None:
        alert, destination, target = due.alert, due.destination, due.target
        rule = self.rules.rule(alert.rule)
        if rule and rule.throttle:
            last = self.ledger.last_sent(alert.rule, target)
            if last is not None and time.time() - last < rule.throttle.total_seconds():
                self.ledger.record(alert, target, destination, "throttled", due.attempts)
                self.stats.throttled += 1
                metrics.alert("throttled")
                return
        if due.status == "sending":
            log.warning("notify: %s to %s may have been delivered before the restart; sending again with the same "
                        "alert id (%s) for the receiver to drop a repeat", alert.id, destination, IDEMPOTENCY_HEADER)
        attempts = due.attempts
        if target in self.unloadable:
            self._dead(alert, destination, target, "apprise cannot load this destination's URL (unknown service "
                       "or a value it refuses): not retried",
                       attempts, None)
            return
        url = self.urls[target]

        def attempt() -> None:
            nonlocal attempts
            attempts += 1
            self.ledger.record(alert, target, destination, "sending", attempts)
            error = self.send(url, alert)
            if error is not None:
                self.ledger.record(alert, target, destination, "queued", attempts, error)
                metrics.alert("retried")
                raise DeliveryFailed(error)

        spent = time.time() - due.tried_at if due.tried_at else 0.0
        try:
            retrying(f"notify: {alert.id} to {destination}", budget_s=max(0.0, self.retry_budget_s - spent),
                     initial_s=self.backoff_s, max_wait_s=self.max_backoff_s, retry_on=(DeliveryFailed,),
                     stop=self.stop_event.is_set, logger=log)(attempt)
        except DeliveryFailed as exc:
            self._dead(alert, destination, target, f"delivery failed after {attempts} attempts: {exc}", attempts,
                       None)
            return
        self.ledger.record(alert, target, destination, "sent", attempts)
        self.stats.sent += 1
        metrics.alert("delivered")

    def _drain_unknown(self, target: str, destination: str) -> None:
        """Deliveries owed to a URL no longer in the rules file: dead-lettered with the reason."""
        while (due := self.ledger.next_due(target)) is not None:
            self._dead(due.alert, destination, target, f"destination {destination!r} no longer has this URL in "
                       "the rules file", due.attempts, None)

    def _dead(self, alert: Alert, destination: str, target: str, error: str, attempts: int,
              meta: dict | None) -> None:
        meta = meta or {}
        self.dead_letter(DeadLetter(stage="notify", error=error, error_type="DeliveryError",
                                    payload={"alert": alert.model_dump(mode="json"), "destination": destination},
                                    topic=meta.get("topic"), partition=meta.get("partition"),
                                    offset=meta.get("offset"), key=alert.id))
        self.ledger.record(alert, target, destination, "dead", attempts, error)
        self.stats.dead_letters += 1
        metrics.alert("dead")
        log.error("notify: alert %s to %s dead-lettered: %s", alert.id, destination, error)


_NO_URL: list[str | None] = [None]  # a destination without URLs still gets its (dead-lettered) outcome


def run(settings: Settings, stop_event: threading.Event | None = None, *, rules: RuleSet | None = None,
        retry_budget_s: float = 600.0, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
        idle_exit_s: float | None = None, console: Console | None = None,
        stats: NotifyStats | None = None) -> NotifyStats:
    """Consume the alerts topic and deliver each alert until `stop_event` is set. Offsets are committed
    once the batch's deliveries are queued in the ledger (or dead-lettered); the destination workers
    deliver from there. Counts go to `stats`."""
    stop_event = stop_event or threading.Event()
    if rules is None:
        if not settings.rules_file:
            raise ValueError("no rules file configured (NEWSMON_RULES_FILE): destinations are defined there")
        rules = load_rules(settings.rules_file)
    step = CommitAfter(lambda: make_consumer(settings, ALERTS.topic(settings), **consumer_config(
        settings, group_id(settings), "newsmon-notify", max_poll_records=50)), "notify", stop_event)
    producer = make_producer(settings, acks="all", client_id="newsmon-notify-dlq")
    ledger = Ledger.for_settings(settings)
    records_dead = DeadLetterWriter(producer, DEAD_LETTER.topic(settings), dead_letter_limit(settings, "notify"))
    deliveries_dead = DeadLetterWriter(producer, DEAD_LETTER.topic(settings))
    workers_stop = threading.Event()
    def dead_letter(letter: DeadLetter) -> None:
        deliveries_dead.write([letter])

    notifier = Notifier(settings, rules, ledger, dead_letter,
                        retry_budget_s=retry_budget_s, backoff_s=backoff_s, max_backoff_s=max_backoff_s,
                        console=console, stop_event=workers_stop)
    if stats is not None:
        notifier.stats = stats

    def handle(records: list) -> None:
        bad = []
        for rec in records:
            try:
                alert = Alert.model_validate_json(rec.value or b"")
            except ValidationError as exc:
                bad.append(from_record("notify", rec, f"not an alert record: {exc}", "ValidationError"))
                continue
            notifier.handle(alert, {"topic": rec.topic, "partition": rec.partition, "offset": rec.offset})
        records_dead.write(bad, good=len(records) - len(bad))
        notifier.stats.dead_letters += len(bad)

    notifier.start()
    try:
        step.run(handle, max_records=50, max_wait_s=0.5, idle_exit_s=idle_exit_s, busy=notifier.busy)
    finally:
        notifier.stop()
        producer.close(timeout=10)
        step.close()
        ledger.close()
    return notifier.stats
