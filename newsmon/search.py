"""Lucene query-string search over the indices, as `newsmon search` shows it."""

from __future__ import annotations

from typing import Any

from newsmon.alerts.query import Query, compile_query, fields_for
from newsmon.settings import Settings
from newsmon.indices import make_client

KINDS = ("statements", "articles", "events", "alerts", "dead-letters")
FOLDED_KINDS = ("statements", "events")  # kinds whose later copies the sink marks `novel: false`


def validate(query: str, kind: str = "statements") -> Query | None:
    """The query checked as `newsmon alerts check` checks a rule (limits, syntax, known fields, values that
    fit their types), so a misspelt field is an error rather than 0 hits; raises `QueryError` (a
    ValueError) with the position. None for the match-all query."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    if not query.strip() or query.strip() == "*":
        return None
    return compile_query(query, fields_for(kind), search=True)


def search(settings: Settings, query: str, kind: str = "statements", size: int = 20,
           client=None, folded: bool = True) -> tuple[int, list[dict[str, Any]]]:
    """(total hits, newest `size` documents) of index `kind` matching the Lucene `query`.

    `folded`: statements and events that repeat an earlier one are left out (the first sighting carries
    their outlets in `sources`); False lists every copy, each repeat with the `first_id` it repeats."""
    validate(query, kind)  # a hostile or misspelt query never reaches the search server
    client = client or make_client(settings)
    # read-your-writes for an interactive search: what the sink acknowledged is visible (an idle index may
    # otherwise answer before its next refresh; the local stand-in does)
    client.indices.refresh(index=settings.index(kind), ignore_unavailable=True)
    body: dict[str, Any] = {"query_string": {"query": query or "*", "default_operator": "OR"}}
    if folded and kind in FOLDED_KINDS:
        body = {"bool": {"must": [body], "must_not": [{"term": {"novel": False}}]}}
    response = client.search(index=settings.index(kind), query=body, size=size,
                             sort=[{"@timestamp": {"order": "desc", "unmapped_type": "date"}}],
                             track_total_hits=True, ignore_unavailable=True, allow_no_indices=True)
    hits = response["hits"]
    return hits["total"]["value"], [hit["_source"] for hit in hits["hits"]]
