"""The producer's memory (sqlite in `Settings.data_dir`): articles Kafka acknowledged, feed validators.

An article is marked seen only after the broker acknowledged it, so a crash can at worst publish an
item again (downstream ids are stable), never lose one; a restart never republishes an acked item.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
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
"""


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

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "SeenStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
