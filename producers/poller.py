"""The polling loop: every feed concurrently, per-feed interval with jitter, exponential backoff on failure.

`poll_once(settings, feeds)` polls each feed once and reports; `run(settings, feeds, stop_event)` polls
until the event is set (usable from a thread or the CLI). Both go through `Poller.poll_feed`.

What the loop logs is meant to be watched: a line when a feed's state changes (it starts failing, fails
differently, is reachable again) or publishes new articles, a summary of every feed each
`SUMMARY_EVERY_S`; a feed that keeps failing the same way is not repeated at every retry. Each poll is
also recorded in the seen store (`FeedPoll`), where `newsmon status` reads it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from kafka.errors import KafkaError

from newsmon import metrics
from newsmon.records import DeadLetter, RawArticle, stable_id
from newsmon.secrets import redact
from newsmon.settings import Settings
from newsmon.streams import RAW
from newsmon.producers.config import FeedConfig
from newsmon.producers.fetch import FEED_ACCEPT, Clients, FetchError, fetch, make_client
from newsmon.producers.normalize import FeedItem, MalformedFeed, ParsedFeed, Rejected, parse_feed
from newsmon.producers.pages import with_page_text
from newsmon.producers.publish import Publisher, kafka_reason
from newsmon.producers.seen import FeedPoll, SeenStore

log = logging.getLogger("newsmon.producers")

DEAD_LETTER_DOC_CHARS = 4000  # how much of a malformed document goes into its dead-letter record
STOP_GRACE_S = 5.0  # on stop, polls in progress get this long to finish before they are cancelled
SUMMARY_EVERY_S = 300.0  # a line on every feed's state this often


@dataclass
class FeedReport:
    """What one poll of one feed did."""

    feed: str
    published: int = 0  # new articles acknowledged by the broker
    seen: int = 0  # skipped: already published
    rejected: int = 0  # malformed entries, sent to the dead-letter topic
    not_modified: bool = False  # HTTP 304: nothing new since the last poll
    deferred: int = 0  # new items beyond `max_items_per_poll`: published by the next polls
    oversize: int = 0  # records too large for the broker, dead-lettered and marked seen
    error: str | None = None  # e.g. "unreachable (connection refused)"
    moved_to: str | None = None  # the feed redirects permanently here: update the feed list
    retry_after_s: float | None = None  # the server asked to wait this long (HTTP 429/503 Retry-After)

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        if self.error:
            return self.error
        if self.not_modified:
            return "not modified"
        text = f"{self.published} new, {self.seen} already seen"
        text += f", {self.rejected} malformed entries" if self.rejected else ""
        text += f", {self.oversize} too large" if self.oversize else ""
        return text + (f", {self.deferred} left for the next poll" if self.deferred else "")


@dataclass
class PollReport:
    """One poll of every feed."""

    feeds: dict[str, FeedReport] = field(default_factory=dict)

    @property
    def published(self) -> int:
        return sum(r.published for r in self.feeds.values())

    @property
    def seen(self) -> int:
        return sum(r.seen for r in self.feeds.values())

    @property
    def rejected(self) -> int:
        return sum(r.rejected for r in self.feeds.values())

    @property
    def errors(self) -> dict[str, str]:
        return {name: r.error for name, r in self.feeds.items() if r.error}


def poll_outcome(report: FeedReport) -> str:
    """A short, bounded name for how a poll went: `ok`, `not_modified`, or the error's kind (the text before
    its parenthesised detail, e.g. `timeout`, `malformed feed`, `publish failed`)."""
    if report.error:
        return report.error.split(" (", 1)[0].strip() or "error"
    return "not_modified" if report.not_modified else "ok"


def backoff_s(feed: FeedConfig, failures: int) -> float:
    """Wait after `failures` consecutive failures (without jitter): retry_base_s doubling, capped at retry_max_s."""
    if failures <= 0:
        return feed.interval_s
    return min(feed.retry_max_s, feed.retry_base_s * 2 ** min(failures - 1, 32))


def next_wait_s(feed: FeedConfig, failures: int, rng: random.Random | None = None) -> float:
    """Seconds until the next poll: the interval (or the backoff after failures), jittered by ±`feed.jitter`."""
    base = backoff_s(feed, failures)
    return base * (1 + (rng or random).uniform(-feed.jitter, feed.jitter))


def human_s(seconds: float) -> str:
    """`40s`, `12m`, `1h05m`."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{round(s / 60)}m"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class Poller:
    """Polls feeds and publishes their new items; owns the HTTP client, Kafka publisher and seen store."""

    def __init__(self, settings: Settings, publisher: Publisher | None = None, seen: SeenStore | None = None,
                 client: Clients | None = None):
        self.settings = settings
        self.publisher = publisher or Publisher(settings)  # first: raises KafkaError if no broker answers
        self.seen = seen or SeenStore.in_dir(settings.data_dir)
        self.client = client or make_client(settings)
        self._owned = (publisher is None, seen is None, client is None)
        self._slots = asyncio.Semaphore(max(settings.max_concurrent_fetches, 1))
        self._feed_slots: dict[str, asyncio.Semaphore] = {}  # page fetches per feed, taken before `_slots`
        self._in_flight: set[str] = set()  # ids being published right now (the same story in two feeds)

    async def aclose(self) -> None:
        own_publisher, own_seen, own_client = self._owned
        if own_client:
            await self.client.aclose()
        if own_publisher:
            await asyncio.to_thread(self.publisher.close)
        if own_seen:
            self.seen.close()

    async def __aenter__(self) -> "Poller":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def poll_all(self, feeds: Sequence[FeedConfig]) -> PollReport:
        """Poll every feed once, concurrently."""
        reports = await asyncio.gather(*(self.poll_feed(f) for f in feeds))
        return PollReport({r.feed: r for r in reports})

    async def poll_feed(self, feed: FeedConfig) -> FeedReport:
        """Fetch, parse and publish one feed; never raises: problems are in the report (and logged if unexpected)."""
        try:
            report = await self._poll(feed)
        except Exception as exc:  # a bug with one feed must not stop the others
            log.exception("feed %s: poll failed", feed.name)
            report = FeedReport(feed.name, error=f"internal error ({type(exc).__name__}: {exc})")
        metrics.feed_poll(poll_outcome(report))
        metrics.records_out("produce", "raw", report.published)
        return report

    async def _poll(self, feed: FeedConfig) -> FeedReport:
        report = FeedReport(feed.name)
        validators = self.seen.validators(feed.name, feed.url)
        try:
            async with self._slots:
                result = await fetch(self.client, feed.url, self.settings, validators, accept=FEED_ACCEPT,
                                     trusted=True)
        except FetchError as exc:
            report.error = f"{exc.kind} ({exc.reason})"
            report.retry_after_s = getattr(exc, "retry_after_s", None)
            return report
        report.moved_to = result.moved_to
        if result.not_modified:
            report.not_modified = True
            return report
        try:
            parsed = await asyncio.wait_for(
                asyncio.to_thread(parse_feed, result.content or b"", feed, result.url, result.content_type,
                                  self.settings.max_text_chars, self.settings.max_summary_chars),
                self.settings.parse_timeout_s)
        except asyncio.TimeoutError:
            reason = f"not parsed within {self.settings.parse_timeout_s:g}s"
            report.error = f"malformed feed ({reason})"
            await self._dead_letter_feed(feed, result.content or b"", reason)
            return report
        except MalformedFeed as exc:
            report.error = f"malformed feed ({exc})"
            await self._dead_letter_feed(feed, result.content or b"", str(exc))
            return report
        if parsed.warning:
            log.debug("feed %s: read despite a problem in the document (%s)", feed.name, parsed.warning)
        report.rejected = await self._dead_letter_entries(feed, parsed.rejected)
        complete = await self._publish_new(feed, parsed, report)
        if complete:
            self.seen.set_validators(feed.name, feed.url, result.validators)
        return report

    async def _publish_new(self, feed: FeedConfig, parsed: ParsedFeed, report: FeedReport) -> bool:
        """Publish the feed's unseen items; True when every one was acknowledged."""
        items = list({item.article.id: item for item in parsed.items}.values())
        unseen = self.seen.unseen(i.article.id for i in items)
        new = [i for i in items if i.article.id in unseen and i.article.id not in self._in_flight]
        report.seen = len(items) - len(new)
        cap = max(self.settings.max_items_per_poll, 1)
        new, report.deferred = new[:cap], max(0, len(new) - cap)
        if report.deferred:
            log.warning("feed %s: %d new items, %d published now and the rest in the next polls", feed.name,
                        len(new) + report.deferred, len(new))
        if not new:
            return True
        ids = {i.article.id for i in new}
        self._in_flight |= ids
        try:
            articles = await asyncio.gather(*(self._complete(i, feed) for i in new))
            try:
                result = await asyncio.to_thread(self.publisher.publish, articles)
            except KafkaError as exc:
                report.error = f"publish failed ({kafka_reason(exc)})"
                return False
            acked = set(result.acked)
            self.seen.mark_seen((a.id, a.feed, a.url) for a in articles if a.id in acked)
            undelivered = await self._dead_letter_oversize(feed, articles, result.oversize)
            report.oversize = len(result.oversize) - len(undelivered)
            result.failed.update(undelivered)  # not dead-lettered either: tried again next poll
        finally:
            self._in_flight -= ids
        report.published = len(result.acked)
        if result.failed:
            first = next(iter(result.failed.values()))
            report.error = f"publish failed for {len(result.failed)} of {len(articles)} items ({first})"
            return False
        return True

    async def _complete(self, item: FeedItem, feed: FeedConfig) -> RawArticle:
        """The item with its page text; a feed holds at most `max_page_fetches_per_feed` of the shared slots,
        so a feed of 100,000 items waits behind itself, not in front of every other feed."""
        feed_slots = self._feed_slots.setdefault(feed.name,
                                                 asyncio.Semaphore(max(self.settings.max_page_fetches_per_feed, 1)))
        async with feed_slots, self._slots:
            return await with_page_text(self.client, item, feed, self.settings)

    async def _dead_letter_oversize(self, feed: FeedConfig, articles: list[RawArticle],
                                    oversize: dict[str, str]) -> dict[str, str]:
        """A record the broker cannot take becomes a dead letter (its fields cut) and is marked seen, so the
        feed is not retried forever for it (a poison feed). Returns those whose dead letter was not delivered."""
        undelivered = {}
        for article in (a for a in articles if a.id in oversize):
            letter = DeadLetter(stage="produce", error=f"feed {feed.name}: record too large: {oversize[article.id]}",
                                error_type="RecordTooLarge", key=article.id,
                                payload={"feed": feed.name, "id": article.id, "url": article.url[:2_000],
                                         "title": article.title[:2_000], "content_chars": len(article.content),
                                         "summary_chars": len(article.summary)})
            if await asyncio.to_thread(self.publisher.dead_letter, letter):
                self.seen.mark_seen([(article.id, article.feed, article.url)])
            else:
                undelivered[article.id] = oversize[article.id]
        return undelivered

    async def _dead_letter_feed(self, feed: FeedConfig, content: bytes, reason: str) -> None:
        """One dead letter per distinct malformed document (not one per poll)."""
        letter_id = stable_id("malformed-feed", feed.name, hashlib.sha1(content).hexdigest())
        if not self.seen.unseen([letter_id]):
            return
        doc = content[:DEAD_LETTER_DOC_CHARS].decode("utf-8", errors="replace")
        letter = DeadLetter(stage="produce", error=f"feed {feed.name}: malformed feed: {reason}",
                            error_type="MalformedFeed", key=feed.name,
                            payload={"feed": feed.name, "url": redact(feed.url), "document": doc,
                                     "document_bytes": len(content)})
        if await asyncio.to_thread(self.publisher.dead_letter, letter):
            self.seen.mark_seen([(letter_id, feed.name, feed.url)])

    async def _dead_letter_entries(self, feed: FeedConfig, rejected: list[Rejected]) -> int:
        """Dead-letter each malformed entry once; returns how many entries were rejected in this poll."""
        for r in rejected:
            letter_id = stable_id("malformed-entry", feed.name, json.dumps(r.entry, sort_keys=True))
            if not self.seen.unseen([letter_id]):
                continue
            log.warning("feed %s: entry skipped (%s)", feed.name, r.reason)
            letter = DeadLetter(stage="produce", error=f"feed {feed.name}: {r.reason}", error_type="MalformedEntry",
                                key=feed.name, payload={"feed": feed.name, "url": redact(feed.url), "entry": r.entry})
            if await asyncio.to_thread(self.publisher.dead_letter, letter):
                self.seen.mark_seen([(letter_id, feed.name, feed.url)])
        return len(rejected)


def poll_once(settings: Settings, feeds: Sequence[FeedConfig]) -> PollReport:
    """Poll every feed once, publish what is new, log one line per feed and return the report."""
    return asyncio.run(_poll_once(settings, feeds))


async def _poll_once(settings: Settings, feeds: Sequence[FeedConfig]) -> PollReport:
    async with Poller(settings) as poller:
        report = await poller.poll_all(feeds)
    for r in report.feeds.values():
        (log.warning if r.error else log.info)("feed %s: %s", r.feed, r.describe())
        if r.moved_to:
            log.warning("feed %s: moved permanently to %s (update the feed list)", r.feed, r.moved_to)
    return report


def run(settings: Settings, feeds: Sequence[FeedConfig], stop_event: threading.Event | None = None) -> None:
    """Poll `feeds` until `stop_event` is set (or forever); each feed on its own jittered schedule."""
    asyncio.run(run_async(settings, feeds, stop_event or threading.Event()))


async def run_async(settings: Settings, feeds: Sequence[FeedConfig], stop_event: threading.Event) -> None:
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch(stop_event, stop))
    try:
        poller = await _start_poller(settings, stop)
        if poller is None:
            return
        async with poller:
            forgotten = poller.seen.forget_older_than(settings.seen_retention_days)
            log.info("polling %d feeds into %s (seen store: %d ids older than %g days dropped)", len(feeds),
                     RAW.topic(settings), forgotten, settings.seen_retention_days)
            watch = FeedWatch()
            tasks = [asyncio.create_task(_feed_loop(poller, f, stop, watch)) for f in feeds]
            summaries = asyncio.create_task(_summaries(watch, stop))
            await stop.wait()
            summaries.cancel()
            _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_S) if tasks else (set(), set())
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    finally:
        watcher.cancel()


async def _watch(stop_event: threading.Event, stop: asyncio.Event) -> None:
    while not stop_event.is_set():
        await asyncio.sleep(0.2)
    stop.set()


async def _start_poller(settings: Settings, stop: asyncio.Event) -> Poller | None:
    """The poller, once the broker answers (retrying with backoff, logging why); None if stopped first."""
    failures = 0
    while not stop.is_set():
        try:
            return await asyncio.to_thread(Poller, settings)
        except KafkaError as exc:
            failures += 1
            wait = min(60.0, 2.0 * 2 ** (failures - 1))
            log.error("broker %s: unreachable (%s), retry in %s", redact(str(settings.kafka_bootstrap_servers)),
                      kafka_reason(exc), human_s(wait))
            await _sleep_unless(stop, wait)
    return None


class FeedWatch:
    """The feeds' states as the terminal sees them: logs a feed's line only when its state changes."""

    def __init__(self) -> None:
        self.last: dict[str, FeedPoll] = {}

    def polled(self, feed: FeedConfig, report: FeedReport, failures: int, wait_s: float) -> FeedPoll:
        """Log what changed with this poll and return its record."""
        now = time.time()
        poll = FeedPoll(feed.name, feed.url, now, poll_outcome(report), report.describe(), failures,
                        now + wait_s, report.published)
        before = self.last.get(feed.name)
        self.last[feed.name] = poll
        if report.error:
            if before is None or before.outcome != poll.outcome:
                log.warning("feed %s: %s, retry in %s (backing off; logged again when its state changes)",
                            feed.name, report.error, human_s(wait_s))
            else:
                log.debug("feed %s: %s (%d failed polls in a row), retry in %s", feed.name, report.error, failures,
                          human_s(wait_s))
            return poll
        if before is not None and before.failures:
            log.warning("feed %s: reachable again after %d failed polls", feed.name, before.failures)
        (log.info if report.published else log.debug)("feed %s: %s, next poll in %s", feed.name, report.describe(),
                                                      human_s(wait_s))
        return poll

    def summary(self) -> tuple[bool, str]:
        """(any feed failing, one line on every feed polled so far)."""
        failing = [p for p in self.last.values() if p.failures]
        text = f"feeds: {len(self.last) - len(failing)} of {len(self.last)} ok"
        if failing:
            shown = sorted(failing, key=lambda p: p.feed)[:10]
            text += f", {len(failing)} failing: " + "; ".join(
                f"{p.feed} ({p.outcome}, {p.failures} in a row, next try "
                f"{time.strftime('%H:%M', time.localtime(p.next_poll_at or p.polled_at))})" for p in shown)
            text += " …" if len(failing) > len(shown) else ""
        return bool(failing), text


async def _summaries(watch: FeedWatch, stop: asyncio.Event, every_s: float = SUMMARY_EVERY_S) -> None:
    while not stop.is_set():
        await _sleep_unless(stop, every_s)
        if watch.last and not stop.is_set():
            failing, text = watch.summary()
            (log.warning if failing else log.info)("%s", text)


async def _feed_loop(poller: Poller, feed: FeedConfig, stop: asyncio.Event, watch: FeedWatch | None = None) -> None:
    watch = watch or FeedWatch()
    failures, moved_to = 0, None
    await _sleep_unless(stop, random.uniform(0, min(2.0, feed.interval_s)))  # spread the first polls a little
    while not stop.is_set():
        report = await poller.poll_feed(feed)
        if report.moved_to and report.moved_to != moved_to:
            log.warning("feed %s: moved permanently to %s (update the feed list)", feed.name, report.moved_to)
        moved_to = report.moved_to
        failures = failures + 1 if report.error else 0
        wait = max(next_wait_s(feed, failures), min(report.retry_after_s or 0, feed.retry_max_s))
        poller.seen.record_poll(watch.polled(feed, report, failures, wait))
        await _sleep_unless(stop, wait)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass
