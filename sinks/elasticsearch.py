"""Elasticsearch side of the sink: record-to-action mapping, bulk with retries (client and index templates:
`newsmon.indices`).

Every document id is the record's stable id, so replaying a topic overwrites instead of duplicating.

Statements (and events) and sightings both add to one document's `sources` / `source_count`, in either order
and from several sink instances at once. A sighting also marks the later copy `novel: false` with the
`first_id` it repeats, so a search can fold repeats into their first sighting. That merge is done here in Python with optimistic concurrency
control, not as a server-side (painless) script: the Elasticsearch we run locally (the integ-test
distribution) has no scripting module and refused every scripted upsert. `bulk_index` reads the current
documents (`mget`, with `_seq_no` / `_primary_term`), merges (`merge_statement`) and writes them back with
`if_seq_no` / `if_primary_term` (or `create` for a new one); a 409 means someone wrote in between, so it
reads and merges again. This works the same on a full Elasticsearch.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError

from newsmon.indices import index_for
from newsmon.records import Alert, Article, DeadLetter, Event, Sighting, Statement, stable_id
from newsmon.retry import retrying
from newsmon.settings import Settings
from newsmon.streams import ALERTS, ARTICLES, DEAD_LETTER, EVENTS, SIGHTINGS, STATEMENTS, Stream

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_BULK_BYTES = 10_000_000  # per bulk request (Elasticsearch refuses bodies over http.max_content_length)

MERGE_OP = "merge"  # our own bulk `_op_type`: resolved by `bulk_index` into mget + conditional index/create
CONFLICT_ROUNDS = 5  # immediate re-read/re-merge rounds after 409s, before backing off like a 429


# --- records to bulk actions -------------------------------------------------------------------------


def _dump(record) -> dict[str, Any]:
    return record.model_dump(mode="json", by_alias=True, exclude_none=True)


def article_action(settings: Settings, article: Article) -> dict[str, Any]:
    return {"_op_type": "index", "_index": index_for(settings, "articles", article.timestamp), "_id": article.id,
            "_source": _dump(article)}


def merge_action(index: str, doc_id: str, doc: dict[str, Any], sources: list[str],
                 upsert: dict[str, Any]) -> dict[str, Any]:
    """Merge `doc` and `sources` into document `doc_id` (created from `upsert` if absent); see `merge_statement`."""
    return {"_op_type": MERGE_OP, "_index": index, "_id": doc_id, "doc": doc, "sources": sources, "upsert": upsert}


def statement_action(settings: Settings, statement: Statement) -> dict[str, Any]:
    doc = _dump(statement)
    sources = doc.pop("sources", None) or [statement.feed]
    doc.pop("source_count", None)
    return merge_action(index_for(settings, "statements", statement.timestamp), statement.id, doc, sources, {})


def sighting_actions(settings: Settings, sighting: Sighting) -> list[dict[str, Any]]:
    """Add the source to the first record (statement or event: `sighting.kind`); mark the later duplicate
    (if named) as not novel. Partitioned, the first record is in the partition of its own time
    (`statement_time`), the duplicate in that of the sighting (its own time)."""
    kind = sighting.kind
    first = index_for(settings, kind, sighting.statement_time or sighting.timestamp)
    actions = [merge_action(first, sighting.statement_id, {}, [sighting.source], {"id": sighting.statement_id})]
    if sighting.duplicate_id and sighting.duplicate_id != sighting.statement_id:
        actions.append(merge_action(index_for(settings, kind, sighting.timestamp), sighting.duplicate_id,
                                    {"novel": False, "first_id": sighting.statement_id}, [],
                                    {"id": sighting.duplicate_id}))
    return actions


def merge_statement(current: dict[str, Any] | None, action: dict[str, Any]) -> dict[str, Any]:
    """The document after applying one merge action to `current` (None: absent, start from the action's
    `upsert`). Existing sources first, then the incoming ones, in order, without duplicates; the incoming
    `doc` overwrites the existing fields; `source_count` is the number of sources (at least 1).
    Pure: neither argument is modified."""
    merged_doc = dict(action["upsert"] if current is None else current)
    merged: list[Any] = []
    for source in [*_as_list(merged_doc.get("sources")), *action["sources"]]:
        if source not in merged:
            merged.append(source)
    merged_doc.update(action["doc"])
    merged_doc["sources"] = merged
    merged_doc["source_count"] = len(merged) or 1
    return merged_doc


def fold_merges(current: dict[str, Any] | None, actions: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """`current` after the merge actions one after the other (as if each had been written in turn)."""
    for action in actions:
        current = merge_statement(current, action)
    return current


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]  # Elasticsearch takes one value for an array


def event_action(settings: Settings, event: Event) -> dict[str, Any]:
    """A merge, like a statement's: the sources that sightings added survive the event written (again)
    after them. The article lead, carried for novelty, is not stored (the article has it)."""
    doc = _dump(event)
    doc.pop("lead", None)
    sources = doc.pop("sources", None) or [event.feed]
    doc.pop("source_count", None)
    loc = event.location
    if loc is not None and loc.lat is not None and loc.lon is not None:
        doc["location"]["point"] = {"lat": loc.lat, "lon": loc.lon}
    return merge_action(index_for(settings, "events", event.timestamp), event.id, doc, sources, {})


def alert_action(settings: Settings, alert: Alert) -> dict[str, Any]:
    doc = _dump(alert)
    doc["@timestamp"] = doc["timestamp"]
    return {"_op_type": "index", "_index": index_for(settings, "alerts", _record_time(alert) or alert.timestamp),
            "_id": alert.id, "_source": doc}


def _record_time(alert: Alert) -> datetime | None:
    """The @timestamp of the record an alert is about: fixed, unlike the alert's own time (a replay makes
    the same alert again, later), so the alert's partition never changes."""
    value = alert.record.get("@timestamp") if isinstance(alert.record, dict) else None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def dead_letter_action(settings: Settings, letter: DeadLetter) -> dict[str, Any]:
    """Dead letters are indexed too, so failures are visible next to the data (payload stored, not indexed)."""
    where = (letter.topic, letter.partition, letter.offset) if letter.offset is not None else (letter.error,)
    doc = _dump(letter)
    doc["@timestamp"] = doc["timestamp"]
    if not isinstance(doc.get("payload"), (dict, type(None))):
        doc["payload"] = {"value": doc["payload"]}
    return {"_op_type": "index", "_index": index_for(settings, "dead-letters", letter.timestamp),
            "_id": stable_id(letter.stage, letter.key, *where),
            "_source": doc}


STREAM_ACTIONS: dict[Stream, Callable[[Settings, Any], dict[str, Any] | list[dict[str, Any]]]] = {
    ARTICLES: article_action,
    STATEMENTS: statement_action,
    EVENTS: event_action,
    ALERTS: alert_action,
    SIGHTINGS: sighting_actions,
    DEAD_LETTER: dead_letter_action,
}


def record_actions(settings: Settings, stream: Stream | None, value: bytes | str) -> list[dict[str, Any]]:
    """The bulk actions for one record of a sink topic (`stream`: its stream, None for a foreign topic).

    Raises `ValueError` (pydantic's `ValidationError` included) for a malformed record.
    """
    if stream is None or stream not in STREAM_ACTIONS:
        raise ValueError(f"no index for stream {stream.name if stream else None!r}")
    actions = STREAM_ACTIONS[stream](settings, stream.decode(value))
    return actions if isinstance(actions, list) else [actions]


# --- bulk --------------------------------------------------------------------------------------------


@dataclass
class BulkResult:
    """What a `bulk_index` call did: documents acknowledged, and the ones Elasticsearch rejected."""

    indexed: int = 0
    rejected: list[DeadLetter] = field(default_factory=list)
    rejected_actions: list[dict[str, Any]] = field(default_factory=list)  # the actions behind `rejected`
    attempts: int = 0


def _operations(actions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for action in actions:
        meta = {"_index": action["_index"], "_id": action["_id"]}
        op = action["_op_type"]
        if op == "index":
            ops += [{"index": meta}, action["_source"]]
        elif op == "update":
            body: dict[str, Any] = {k: action[k] for k in ("script", "upsert", "scripted_upsert", "doc", "doc_as_upsert") if k in action}
            ops += [{"update": {**meta, "retry_on_conflict": 3}}, body]
        else:
            raise ValueError(f"unsupported bulk operation {op!r}")
    return ops


def _chunks(actions: list[dict[str, Any]], max_bytes: int) -> list[list[dict[str, Any]]]:
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for action in actions:
        n = len(json.dumps(action, default=str))
        if chunks[-1] and size + n > max_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(action)
        size += n
    return [c for c in chunks if c]


class RetryLater(Exception):
    """Some documents of a bulk call are to be written again (Elasticsearch away, 429, 5xx, conflicts)."""


def bulk_index(client: Elasticsearch, actions: list[dict[str, Any]], *, max_backoff_s: float = 5.0,
               initial_backoff_s: float = 0.5, max_bytes: int = MAX_BULK_BYTES, stop: Callable[[], bool] | None = None,
               on_retry: Callable[[], None] | None = None) -> BulkResult:
    """Index `actions` until every one is acknowledged or rejected; never drops one silently.

    Requests are cut at about `max_bytes`. Connection failures, timeouts, 429 and 5xx (for a whole request
    or single items) are retried with backoff and jitter (`newsmon.retry`, capped at `max_backoff_s` so
    that recovery follows the server), for as long as it takes (or until `stop()` is true, then
    `InterruptedError`). An item Elasticsearch rejects (mapping error...) comes back in `rejected` with
    the reason. `on_retry` is called while waiting, e.g. to keep a Kafka consumer alive.

    Merge actions (`merge_action`) are read-merge-written per chunk: the merges of one document are folded
    together in order and written once, conditionally; version conflicts are re-read and re-merged up to
    `CONFLICT_ROUNDS` times at once, then retried with the backoff like a 429.
    """
    result = BulkResult()
    pending = [list(actions)]

    def attempt() -> None:
        retry: list[dict[str, Any]] = []
        chunks = _chunks(pending[0], max_bytes)
        reason: object = "asked to retry"
        for i, chunk in enumerate(chunks):
            again, unavailable = _index_chunk(client, chunk, result)
            retry += again
            if unavailable is not None:
                retry += [a for c in chunks[i + 1:] for a in c]
                reason = f"unavailable: {unavailable}"
                break
        pending[0] = retry
        if retry:
            raise RetryLater(f"{len(retry)} documents to write again, Elasticsearch {reason}")

    def wait(seconds: float) -> None:
        if on_retry is not None:
            on_retry()
        time.sleep(seconds)

    if pending[0]:
        retrying("Elasticsearch bulk", initial_s=initial_backoff_s, max_wait_s=max_backoff_s, retry_on=(RetryLater,),
                 stop=stop, sleep=wait, logger=log)(attempt)
    return result


Key = tuple[str, str]  # (index, id) of a merged document


def _index_chunk(client: Elasticsearch, chunk: list[dict[str, Any]],
                 result: BulkResult) -> tuple[list[dict[str, Any]], Exception | None]:
    """Write one chunk; returns the actions to retry later and, if Elasticsearch went away, the error
    (the actions not written yet are then among those to retry)."""
    plain = [a for a in chunk if a["_op_type"] != MERGE_OP]
    groups: dict[Key, list[dict[str, Any]]] = {}
    for action in chunk:
        if action["_op_type"] == MERGE_OP:
            groups.setdefault((action["_index"], action["_id"]), []).append(action)
    retry, split, unavailable = _write(client, plain, groups, result)
    # A folded write that was rejected: apply its merges one by one, so that only the bad ones are rejected.
    for group in split:
        left = list(group)
        while left and unavailable is None:
            action = left.pop(0)
            again, _, unavailable = _write(client, [], {(action["_index"], action["_id"]): [action]}, result)
            if again:  # keep the order of the merges of one document: the rest waits with it
                retry += again
                break
        retry += left
    return retry, unavailable


def _write(client: Elasticsearch, plain: list[dict[str, Any]], groups: dict[Key, list[dict[str, Any]]],
           result: BulkResult) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]], Exception | None]:
    """One bulk request for `plain` and the merged `groups`, then re-reads and re-writes of the groups that
    met a version conflict. Returns (actions to retry later, rejected groups of several merges to split,
    the error if Elasticsearch became unavailable)."""
    retry: list[dict[str, Any]] = []
    split: list[list[dict[str, Any]]] = []
    rounds = 0
    while plain or groups:
        ops: list[dict[str, Any]] = []
        entries: list[dict[str, Any] | Key] = []
        try:
            if groups:
                current, failed = _read(client, list(groups))
                for key, error in failed.items():
                    _settle(groups.pop(key), {"status": error[0], "error": error[1]}, result, retry, split)
                for key, group in groups.items():
                    ops += _merged_write(key, current[key], group)
                    entries.append(key)
            for action in plain:
                ops += _operations([action])
            entries += plain
            if not ops:
                break
            result.attempts += 1
            response = client.bulk(operations=ops, refresh=False)
        except (TransportError, ApiError) as exc:
            status = getattr(getattr(exc, "meta", None), "status", None)
            if isinstance(exc, ApiError) and status not in RETRY_STATUSES:
                raise
            return retry + plain + [a for g in groups.values() for a in g], split, exc
        conflicts: dict[Key, list[dict[str, Any]]] = {}
        for entry, item in zip(entries, response["items"], strict=True):
            outcome = next(iter(item.values()))
            if isinstance(entry, tuple):
                if outcome.get("status") == 409:  # written by someone else since we read it: merge again
                    conflicts[entry] = groups[entry]
                else:
                    _settle(groups[entry], outcome, result, retry, split)
            else:
                _settle([entry], outcome, result, retry, split)
        plain, groups = [], conflicts
        rounds += 1
        if groups and rounds > CONFLICT_ROUNDS:
            log.warning("version conflicts on %d documents after %d rounds; retrying later", len(groups), rounds)
            retry += [a for g in groups.values() for a in g]
            break
    return retry, split, None


def _settle(actions: list[dict[str, Any]], outcome: dict[str, Any], result: BulkResult,
            retry: list[dict[str, Any]], split: list[list[dict[str, Any]]]) -> None:
    """Book the outcome of one bulk item, written for `actions` (several: merges folded together)."""
    status = outcome.get("status", 500)
    if status < 300:
        result.indexed += len(actions)
    elif status in RETRY_STATUSES:
        retry += actions
    elif len(actions) > 1:
        split.append(actions)
    else:
        result.rejected.append(_rejected(actions[0], outcome))
        result.rejected_actions.append(actions[0])


# mget errors worth retrying (shards not there yet, overload); any other makes the merge rejected
_READ_RETRY_ERRORS = ("unavailable", "no_shard", "timeout", "rejected_execution", "circuit_breaking")


def _read(client: Elasticsearch, keys: list[Key]) -> tuple[dict[Key, dict[str, Any] | None], dict[Key, tuple]]:
    """The current documents (None if absent, else the mget doc with `_source`, `_seq_no`, `_primary_term`),
    and the keys that could not be read with (status, error)."""
    response = client.mget(docs=[{"_index": index, "_id": doc_id} for index, doc_id in keys])
    current: dict[Key, dict[str, Any] | None] = {}
    failed: dict[Key, tuple] = {}
    for key, doc in zip(keys, response["docs"], strict=True):
        error = doc.get("error")
        if doc.get("found"):
            current[key] = doc
        elif not error or (isinstance(error, dict) and error.get("type") == "index_not_found_exception"):
            current[key] = None  # `create` makes the index (from its template)
        else:
            kind = error.get("type", "") if isinstance(error, dict) else str(error)
            failed[key] = (503 if any(w in kind for w in _READ_RETRY_ERRORS) else 400, error)
    return current, failed


def _merged_write(key: Key, current: dict[str, Any] | None, group: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bulk lines writing the merge of `group` into `current`: `index` only if nobody wrote the document
    since it was read, `create` (only if it still does not exist) for a new one."""
    index, doc_id = key
    if current is None:
        return [{"create": {"_index": index, "_id": doc_id}}, fold_merges(None, group) or {}]
    meta = {"_index": index, "_id": doc_id, "if_seq_no": current["_seq_no"], "if_primary_term": current["_primary_term"]}
    return [{"index": meta}, fold_merges(current.get("_source") or {}, group) or {}]


def _rejected(action: dict[str, Any], outcome: dict[str, Any]) -> DeadLetter:
    error = outcome.get("error") or {}
    reason = error.get("reason") if isinstance(error, dict) else str(error)
    caused = error.get("caused_by", {}).get("reason") if isinstance(error, dict) else None
    if action["_op_type"] == MERGE_OP:
        payload = {"doc": action["doc"], "sources": action["sources"]}
    else:
        payload = action.get("_source") or action.get("script", {}).get("params") or action
    return DeadLetter(stage="sink", error=f"{reason}: {caused}" if caused else str(reason),
                      error_type=error.get("type", "") if isinstance(error, dict) else "",
                      payload=payload, key=action["_id"], topic=action["_index"])
