"""Elasticsearch side of the sink: client, index templates, record-to-action mapping, bulk with retries.

Every document id is the record's stable id, so replaying a topic overwrites instead of duplicating.
Statements and sightings are scripted upserts that merge `sources` / `source_count`, in either order.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError

from newsmon.records import Alert, Article, DeadLetter, Event, Sighting, Statement, stable_id
from newsmon.settings import Settings

log = logging.getLogger(__name__)

INDICES = ("articles", "statements", "events", "alerts", "dead-letters")
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_BULK_BYTES = 10_000_000  # per bulk request (Elasticsearch refuses bodies over http.max_content_length)

# Merge the sources already indexed with the incoming ones; the incoming document replaces the rest.
# Run for both statements (params.doc) and sightings (params.doc is {}), on new and existing documents.
MERGE_SOURCES = """
List merged = new ArrayList();
if (ctx._source.sources != null) { for (s in ctx._source.sources) { if (!merged.contains(s)) { merged.add(s); } } }
for (s in params.sources) { if (!merged.contains(s)) { merged.add(s); } }
ctx._source.putAll(params.doc);
ctx._source.sources = merged;
ctx._source.source_count = merged.size() > 0 ? merged.size() : 1;
""".strip()


def template(name: str) -> dict[str, Any]:
    """The template body (`settings`, `mappings`) of one index, from `sinks/templates/<name>.json`."""
    return json.loads(resources.files("sinks").joinpath("templates", f"{name}.json").read_text("utf-8"))


def make_client(settings: Settings, **options: Any) -> Elasticsearch:
    """An Elasticsearch client for `settings.elasticsearch_url` with its API key / basic auth / TLS options."""
    if not settings.elasticsearch_url:
        raise ValueError("no Elasticsearch URL configured (ELASTICSEARCH_URL)")
    kwargs: dict[str, Any] = {"request_timeout": 30}
    if settings.elasticsearch_api_key:
        kwargs["api_key"] = settings.elasticsearch_api_key
    elif settings.elasticsearch_username:
        kwargs["basic_auth"] = (settings.elasticsearch_username, settings.elasticsearch_password or "")
    if settings.elasticsearch_url.startswith("https"):
        kwargs["verify_certs"] = settings.elasticsearch_verify_certs
        if settings.elasticsearch_ca_certs:
            kwargs["ca_certs"] = settings.elasticsearch_ca_certs
    kwargs.update(options)
    return Elasticsearch(settings.elasticsearch_url, **kwargs)


def ensure_templates(settings: Settings, client: Elasticsearch | None = None) -> list[str]:
    """Install the index templates and create the indices that do not exist yet; returns the index names."""
    client = client or make_client(settings)
    names = []
    for short in INDICES:
        index = settings.index(short)
        body = template(short)
        client.indices.put_index_template(name=index, index_patterns=[index], template=body, priority=200,
                                          meta={"managed_by": "newsmon"})
        if not client.indices.exists(index=index):
            try:
                client.indices.create(index=index)
            except ApiError as exc:
                if exc.meta.status != 400 or "already_exists" not in str(exc):
                    raise
        names.append(index)
    return names


# --- records to bulk actions -------------------------------------------------------------------------


def _dump(record) -> dict[str, Any]:
    return record.model_dump(mode="json", by_alias=True, exclude_none=True)


def article_action(settings: Settings, article: Article) -> dict[str, Any]:
    return {"_op_type": "index", "_index": settings.index("articles"), "_id": article.id, "_source": _dump(article)}


def statement_action(settings: Settings, statement: Statement) -> dict[str, Any]:
    doc = _dump(statement)
    sources = doc.pop("sources", None) or [statement.feed]
    doc.pop("source_count", None)
    script = {"source": MERGE_SOURCES, "lang": "painless", "params": {"doc": doc, "sources": sources}}
    return {"_op_type": "update", "_index": settings.index("statements"), "_id": statement.id,
            "script": script, "upsert": {}, "scripted_upsert": True}


def sighting_actions(settings: Settings, sighting: Sighting) -> list[dict[str, Any]]:
    """Add the source to the first statement; mark the later duplicate (if named) as not novel."""
    def merge(statement_id: str, doc: dict[str, Any], sources: list[str]) -> dict[str, Any]:
        script = {"source": MERGE_SOURCES, "lang": "painless", "params": {"doc": doc, "sources": sources}}
        return {"_op_type": "update", "_index": settings.index("statements"), "_id": statement_id,
                "script": script, "upsert": {"id": statement_id}, "scripted_upsert": True}

    actions = [merge(sighting.statement_id, {}, [sighting.source])]
    if sighting.duplicate_id and sighting.duplicate_id != sighting.statement_id:
        actions.append(merge(sighting.duplicate_id, {"novel": False, "first_id": sighting.statement_id}, []))
    return actions


def event_action(settings: Settings, event: Event) -> dict[str, Any]:
    doc = _dump(event)
    loc = event.location
    if loc is not None and loc.lat is not None and loc.lon is not None:
        doc["location"]["point"] = {"lat": loc.lat, "lon": loc.lon}
    return {"_op_type": "index", "_index": settings.index("events"), "_id": event.id, "_source": doc}


def alert_action(settings: Settings, alert: Alert) -> dict[str, Any]:
    doc = _dump(alert)
    doc["@timestamp"] = doc["timestamp"]
    return {"_op_type": "index", "_index": settings.index("alerts"), "_id": alert.id, "_source": doc}


def dead_letter_action(settings: Settings, letter: DeadLetter) -> dict[str, Any]:
    """Dead letters are indexed too, so failures are visible next to the data (payload stored, not indexed)."""
    where = (letter.topic, letter.partition, letter.offset) if letter.offset is not None else (letter.error,)
    doc = _dump(letter)
    doc["@timestamp"] = doc["timestamp"]
    if not isinstance(doc.get("payload"), (dict, type(None))):
        doc["payload"] = {"value": doc["payload"]}
    return {"_op_type": "index", "_index": settings.index("dead-letters"), "_id": stable_id(letter.stage, letter.key, *where),
            "_source": doc}


STREAM_ACTIONS: dict[str, tuple[type, Callable[[Settings, Any], dict[str, Any] | list[dict[str, Any]]]]] = {
    "articles": (Article, article_action),
    "statements": (Statement, statement_action),
    "events": (Event, event_action),
    "alerts": (Alert, alert_action),
    "sightings": (Sighting, sighting_actions),
    "dead-letter": (DeadLetter, dead_letter_action),
}


def record_actions(settings: Settings, stream: str, value: bytes | str) -> list[dict[str, Any]]:
    """The bulk actions for one record of a sink topic (`stream` is the short topic name).

    Raises `ValueError` (pydantic's `ValidationError` included) for a malformed record.
    """
    try:
        model, to_actions = STREAM_ACTIONS[stream]
    except KeyError:
        raise ValueError(f"no index for stream {stream!r}") from None
    actions = to_actions(settings, model.model_validate_json(value))
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
            body = {k: action[k] for k in ("script", "upsert", "scripted_upsert", "doc", "doc_as_upsert") if k in action}
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


def bulk_index(client: Elasticsearch, actions: list[dict[str, Any]], *, max_backoff_s: float = 30.0,
               initial_backoff_s: float = 0.5, max_bytes: int = MAX_BULK_BYTES, stop: Callable[[], bool] | None = None,
               on_retry: Callable[[], None] | None = None) -> BulkResult:
    """Index `actions` until every one is acknowledged or rejected; never drops one silently.

    Requests are cut at about `max_bytes`. Connection failures, timeouts, 429 and 5xx (for a whole request
    or single items) are retried with exponential backoff, for as long as it takes (or until `stop()` is
    true, then `InterruptedError`). An item Elasticsearch rejects (mapping error, bad script...) comes back
    in `rejected` with the reason. `on_retry` is called while waiting, e.g. to keep a Kafka consumer alive.
    """
    result = BulkResult()
    pending = list(actions)
    backoff = initial_backoff_s
    while pending:
        retry: list[dict[str, Any]] = []
        chunks = _chunks(pending, max_bytes)
        for i, chunk in enumerate(chunks):
            result.attempts += 1
            try:
                response = client.bulk(operations=_operations(chunk), refresh=False)
            except (TransportError, ApiError) as exc:
                status = getattr(getattr(exc, "meta", None), "status", None)
                if isinstance(exc, ApiError) and status not in RETRY_STATUSES:
                    raise
                retry += [a for c in chunks[i:] for a in c]
                log.warning("Elasticsearch unavailable (%s); retrying %d documents in %.1fs", exc, len(retry),
                            backoff)
                break
            for action, item in zip(chunk, response["items"], strict=True):
                outcome = next(iter(item.values()))
                status = outcome.get("status", 500)
                if status < 300:
                    result.indexed += 1
                elif status in RETRY_STATUSES:
                    retry.append(action)
                else:
                    result.rejected.append(_rejected(action, outcome))
                    result.rejected_actions.append(action)
        if retry:
            log.warning("Elasticsearch asked to retry %d documents; retrying in %.1fs", len(retry), backoff)
        pending = retry
        if pending:
            _sleep(backoff, stop, on_retry)
            backoff = min(backoff * 2, max_backoff_s)
    return result


def _sleep(seconds: float, stop: Callable[[], bool] | None, tick: Callable[[], None] | None) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if stop is not None and stop():
            raise InterruptedError("stopped while waiting for Elasticsearch")
        if tick is not None:
            tick()
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.5))


def _rejected(action: dict[str, Any], outcome: dict[str, Any]) -> DeadLetter:
    error = outcome.get("error") or {}
    reason = error.get("reason") if isinstance(error, dict) else str(error)
    caused = error.get("caused_by", {}).get("reason") if isinstance(error, dict) else None
    payload = action.get("_source") or action.get("script", {}).get("params") or action
    return DeadLetter(stage="sink", error=f"{reason}: {caused}" if caused else str(reason),
                      error_type=error.get("type", "") if isinstance(error, dict) else "",
                      payload=payload, key=action["_id"], topic=action["_index"])
