"""Retention: drop whole months of documents once they are older than the retention period.

With `NEWSMON_INDEX_PARTITIONING=month` every document lives in the partition of its own @timestamp month
(`newsmon-statements-2016.12`), so expiry is deleting an index: no delete-by-query, no script, nothing the
local integ-test Elasticsearch lacks, and no upsert ever lands in a new index and duplicates (the partition
is a function of the document, not of when it was written, unlike rollover). A partition expires when its
whole month is older than the cut-off.

Where the cluster has index lifecycle management (a full Elasticsearch; the local integ-test server has
none), `NEWSMON_INDEX_RETENTION` installs an ILM delete policy that every partition follows, so expiry needs
no scheduled `newsmon prune`; without ILM the same setting is what `prune` should be run with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from elasticsearch import ApiError, Elasticsearch

from newsmon.settings import Settings, parse_period

__all__ = ["Partition", "expired", "has_lifecycle", "lifecycle_policy", "lifecycle_settings", "parse_period",
           "partitions", "prune", "retention_summary"]


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


def prune(settings: Settings, older_than: timedelta, client: Elasticsearch, *, delete: bool = False,
          now: datetime | None = None) -> list[Partition]:
    """The expired partitions of this deployment; deleted when `delete` (else a dry run)."""
    names = list(client.indices.get(index=f"{settings.index_prefix}-*", expand_wildcards="open,closed"))
    gone = expired(settings, names, older_than, now)
    if delete:
        for partition in gone:
            client.indices.delete(index=partition.index)
    return gone


def lifecycle_policy(older_than: timedelta) -> dict:
    """An ILM policy that deletes a monthly partition once its whole month is past `older_than`.

    ILM counts an index's age from its creation, and a partition is created by the first write of its month,
    so never before the month starts: waiting the retention plus the longest month (31 days) deletes no
    document before its time (a month backfilled later is kept longer, never shorter)."""
    days = -(-older_than.total_seconds() // 86_400) + 31
    return {"phases": {"delete": {"min_age": f"{int(days)}d", "actions": {"delete": {}}}}}


def has_lifecycle(client: Elasticsearch) -> bool:
    """Whether the cluster runs index lifecycle management (absent from the integ-test distribution,
    which answers the ILM endpoints with 400/404/405)."""
    try:
        client.ilm.get_status()
    except ApiError as exc:
        if exc.meta.status in (400, 404, 405, 410):
            return False
        raise
    return True


def lifecycle_settings(settings: Settings, client: Elasticsearch) -> dict:
    """The `index.lifecycle` settings every partition gets: the retention's ILM policy, installed here,
    when the indices are partitioned, `index_retention` is set and the cluster has ILM; else nothing
    (expiry is then `newsmon prune`)."""
    if settings.index_partitioning == "none" or not settings.index_retention or not has_lifecycle(client):
        return {}
    name = f"{settings.index_prefix}-retention"
    client.ilm.put_lifecycle(name=name, policy=lifecycle_policy(parse_period(settings.index_retention)))
    return {"lifecycle": {"name": name}}


def retention_summary(settings: Settings, client: Elasticsearch) -> str:
    """One line for `newsmon init`: how old documents go away in this deployment."""
    if settings.index_partitioning == "none":
        return "retention: one index per kind, kept until deleted (NEWSMON_INDEX_PARTITIONING=month to expire months)"
    if not settings.index_retention:
        return "retention: monthly partitions, kept until `newsmon prune --older-than PERIOD --yes`"
    if has_lifecycle(client):
        return (f"retention: monthly partitions deleted by the ILM policy {settings.index_prefix}-retention "
                f"({lifecycle_policy(parse_period(settings.index_retention))['phases']['delete']['min_age']} "
                f"after a partition is created)")
    return (f"retention: this Elasticsearch has no ILM: schedule "
            f"`newsmon prune --older-than {settings.index_retention} --yes` (daily)")
