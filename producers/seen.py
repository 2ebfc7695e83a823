"""The producer's memory (sqlite in `Settings.data_dir`): articles Kafka acknowledged, feed validators, and
how each feed's last poll went (`newsmon status` reads that, read-only, from another process).

An article is marked seen only after the broker acknowledged it, so a crash can at worst publish an
item again (downstream ids are stable), never lose one; a restart never republishes an acked item.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from newsmon.producers.fetch import Validators

DB_NAME = "producer.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    id TEXT PRIMARY KEY,
    feed TEXT NOT NULL,
    url TEXT NOT NULL,
    acked_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS seen_acked_at ON seen (acked_at);
CREATE TABLE IF NOT EXISTS validators (
    feed TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS polls (
    feed TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    polled_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    failures INTEGER NOT NULL,
    next_poll_at REAL,
    published INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class FeedPoll:
    """How a feed's last poll went and when the next one is due (epoch seconds)."""

    feed: str
    url: str
    polled_at: float
    outcome: str  # ok, not_modified, or the error's kind (newsmon.producers.poller.poll_outcome)
    detail: str  # what the poll did ("2 new, 1 already seen") or the error
    failures: int  # failed polls in a row
    next_poll_at: float | None
    published: int  # new articles of that poll


def read_polls(data_dir: str | Path) -> list[FeedPoll]:
    """Every feed's last poll as the producer recorded it in `data_dir` (read-only; [] when none)."""
    path = Path(data_dir) / DB_NAME
    if not path.exists():
        return []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("SELECT feed, url, polled_at, outcome, detail, failures, next_poll_at, published "
                              "FROM polls ORDER BY feed").fetchall()
        finally:
            db.close()
    except sqlite3.Error:  # an older store without the table, or one being replaced
        return []
    return [FeedPoll(*row) for row in rows]


class SeenStore:
    """Persistent set of published article ids plus per-feed HTTP validators."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def in_dir(cls, data_dir: str | Path) -> "SeenStore":
        return cls(Path(data_dir) / DB_NAME)

    def unseen(self, ids: Iterable[str]) -> set[str]:
        """Those of `ids` not yet published."""
        ids = list(dict.fromkeys(ids))
        known: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows = self._db.execute(f"SELECT id FROM seen WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            known.update(r[0] for r in rows)
        return set(ids) - known

    def is_seen(self, article_id: str) -> bool:
        return not self.unseen([article_id])

    def mark_seen(self, items: Iterable[tuple[str, str, str]]) -> None:
        """Remember acknowledged articles, given as (id, feed, url)."""
        now = time.time()
        with self._db:
            self._db.executemany("INSERT OR IGNORE INTO seen (id, feed, url, acked_at) VALUES (?, ?, ?, ?)",
                                 [(i, f, u, now) for i, f, u in items])

    def count(self) -> int:
        return self._db.execute("SELECT count(*) FROM seen").fetchone()[0]

    def forget_older_than(self, days: float) -> int:
        """Drop ids acknowledged more than `days` ago (feeds stop listing items long before); returns how many."""
        with self._db:
            cur = self._db.execute("DELETE FROM seen WHERE acked_at < ?", (time.time() - days * 86400,))
        return cur.rowcount

    def validators(self, feed: str, url: str) -> Validators:
        """The validators stored for `feed`, if they were stored for the same URL."""
        row = self._db.execute("SELECT url, etag, last_modified FROM validators WHERE feed = ?", (feed,)).fetchone()
        if row is None or row[0] != url:
            return Validators()
        return Validators(row[1], row[2])

    def set_validators(self, feed: str, url: str, validators: Validators) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO validators (feed, url, etag, last_modified, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(feed) DO UPDATE SET url=excluded.url, etag=excluded.etag, "
                "last_modified=excluded.last_modified, updated_at=excluded.updated_at",
                (feed, url, validators.etag, validators.last_modified, time.time()))

    def record_poll(self, poll: FeedPoll) -> None:
        """Remember how the feed's latest poll went (one row per feed)."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO polls (feed, url, polled_at, outcome, detail, failures, "
                             "next_poll_at, published) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (poll.feed, poll.url, poll.polled_at, poll.outcome, poll.detail, poll.failures,
                              poll.next_poll_at, poll.published))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "SeenStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
