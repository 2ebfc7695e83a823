"""Retention: drop whole months of documents once they are older than the retention period.

With `NEWSMON_INDEX_PARTITIONING=month` every document lives in the partition of its own @timestamp month
(`newsmon-statements-2016.12`), so expiry is deleting an index: no delete-by-query, no script, nothing the
local integ-test Elasticsearch lacks, and no upsert ever lands in a new index and duplicates (the partition
is a function of the document, not of when it was written, unlike rollover). A partition expires when its
whole month is older than the cut-off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from newsmon.settings import Settings

_PERIOD = re.compile(r"^\s*(\d+)\s*(d|w|m|y)\s*$")
_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}


def parse_period(text: str) -> timedelta:
    """`90d`, `12w`, `6m` (30 days each), `1y` (365 days)."""
    m = _PERIOD.match(text)
    if not m:
        raise ValueError(f"not a retention period: {text!r} (use e.g. 90d, 12w, 6m, 1y)")
    return timedelta(days=int(m.group(1)) * _DAYS[m.group(2)])


@dataclass(frozen=True)
class Partition:
    index: str
    kind: str
    month: datetime  # first instant of the month, UTC

    @property
    def end(self) -> datetime:
        """First instant of the next month: every document in the partition is older than this."""
        return (self.month + timedelta(days=32)).replace(day=1)


def partitions(settings: Settings, names: list[str]) -> list[Partition]:
    """The monthly partitions of this deployment among index `names`, oldest first."""
    pattern = re.compile(rf"^{re.escape(settings.index_prefix)}-(.+)-(\d{{4}})\.(\d{{2}})$")
    found = []
    for name in names:
        m = pattern.match(name)
        if m:
            found.append(Partition(name, m.group(1), datetime(int(m.group(2)), int(m.group(3)), 1, tzinfo=timezone.utc)))
    return sorted(found, key=lambda p: (p.month, p.index))


def expired(settings: Settings, names: list[str], older_than: timedelta,
            now: datetime | None = None) -> list[Partition]:
    """The partitions whose whole month is older than `now - older_than`."""
    cutoff = (now or datetime.now(timezone.utc)) - older_than
    return [p for p in partitions(settings, names) if p.end <= cutoff]


def prune(settings: Settings, older_than: timedelta, *, delete: bool = False, client=None,
          now: datetime | None = None) -> list[Partition]:
    """The expired partitions of this deployment; deleted when `delete` (else a dry run)."""
    from newsmon.indices import make_client

    client = client or make_client(settings)
    names = list(client.indices.get(index=f"{settings.index_prefix}-*", expand_wildcards="open,closed"))
    gone = expired(settings, names, older_than, now)
    if delete:
        for partition in gone:
            client.indices.delete(index=partition.index)
    return gone
