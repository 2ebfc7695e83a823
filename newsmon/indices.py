"""Elasticsearch admin: the client, the index templates (mappings) and index creation.

The templates in `newsmon/templates/<index>.json` are the one description of what each index holds:
`ensure_templates` installs them, and the rule compiler reads the same files for the fields a query
may name and their types, so a rule means what a search of the index means.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import resources
from typing import Any

from elasticsearch import ApiError, Elasticsearch

from newsmon.retention import lifecycle_settings
from newsmon.settings import Settings

INDICES = ("articles", "statements", "events", "alerts", "dead-letters")


def template(name: str) -> dict[str, Any]:
    """The template body (`settings`, `mappings`) of one index, from `newsmon/templates/<name>.json`."""
    try:
        text = resources.files("newsmon").joinpath("templates", f"{name}.json").read_text("utf-8")
    except FileNotFoundError:
        raise ValueError(f"no index template {name!r}") from None
    return json.loads(text)


def make_client(settings: Settings, **options: Any) -> Elasticsearch:
    """An Elasticsearch client for `settings.elasticsearch_url` with its API key / basic auth / TLS options."""
    if not settings.elasticsearch_url:
        raise ValueError("no Elasticsearch URL configured (ELASTICSEARCH_URL)")
    kwargs: dict[str, Any] = {"request_timeout": 30}
    api_key, password = settings.elasticsearch_api_key_secret, settings.elasticsearch_password_secret
    if api_key is not None:
        kwargs["api_key"] = api_key.get_secret_value()
    elif settings.elasticsearch_username:
        kwargs["basic_auth"] = (settings.elasticsearch_username, password.get_secret_value() if password else "")
    if settings.elasticsearch_url.startswith("https"):
        kwargs["verify_certs"] = settings.elasticsearch_verify_certs
        if settings.elasticsearch_ca_certs:
            kwargs["ca_certs"] = settings.elasticsearch_ca_certs
    kwargs.update(options)
    return Elasticsearch(settings.elasticsearch_url, **kwargs)


def index_for(settings: Settings, short: str, when: datetime | None) -> str:
    """The index a document of `short` with @timestamp `when` is written to: with monthly partitioning the
    partition of its own month (UTC), so every later write of the same stable id lands in the same index
    and overwrites instead of duplicating; else the one index."""
    index = settings.index(short)
    if settings.index_partitioning == "none":
        return index
    when = (when or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{index}-{when:%Y.%m}"


def template_body(settings: Settings, short: str, index_settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template of one index with the configured shards and replicas (and, partitioned, the alias
    every partition joins, which search, status, alerts and Kibana read), plus `index_settings`."""
    body = template(short)
    body["settings"] = {**body.get("settings", {}), "index": {**body.get("settings", {}).get("index", {}),
                        "number_of_shards": settings.index_shards, "number_of_replicas": settings.index_replicas,
                        **(index_settings or {})}}
    if settings.index_partitioning != "none":
        body["aliases"] = {settings.index(short): {}}
    return body


class LegacyIndexError(RuntimeError):
    """A partitioned deployment meets an unpartitioned index of the alias's name."""


def ensure_templates(settings: Settings, client: Elasticsearch | None = None) -> list[str]:
    """Install the index templates and create the indices that do not exist yet; returns the index names.
    Partitioned, the partitions are created by their first write (from the template), none up front."""
    client = client or make_client(settings)
    lifecycle = lifecycle_settings(settings, client)
    names = []
    for short in INDICES:
        index = settings.index(short)
        body = template_body(settings, short, lifecycle)
        partitioned = settings.index_partitioning != "none"
        if partitioned and client.indices.exists(index=index) and not client.indices.exists_alias(name=index):
            raise LegacyIndexError(f"index {index} is not partitioned: delete it (or reindex it into monthly "
                                   f"{index}-YYYY.MM indices), or set NEWSMON_INDEX_PARTITIONING=none")
        client.indices.put_index_template(name=index, index_patterns=[f"{index}-*" if partitioned else index],
                                          template=body, priority=200, meta={"managed_by": "newsmon"})
        if partitioned:
            names.append(index)
            continue
        if not client.indices.exists(index=index):
            try:
                client.indices.create(index=index)
            except ApiError as exc:
                if exc.meta.status != 400 or "already_exists" not in str(exc):
                    raise
        names.append(index)
    return names


_COMPARED = ("type", "normalizer", "analyzer", "copy_to", "fields", "index")


def _attr(spec: dict[str, Any], attr: str) -> Any:
    value = spec.get(attr)
    if attr == "type" and value is None and "properties" not in spec:
        return "object"
    if attr == "copy_to" and isinstance(value, str):
        return [value]
    return value


def mapping_drift(template_props: dict[str, Any], index_props: dict[str, Any], prefix: str = "") -> list[str]:
    """Fields whose mapping in an existing index falls short of the template's: missing, or another type,
    normalizer, analyzer, copy_to or sub-fields. Such an index answers searches as the older mapping did
    (e.g. case-sensitively), since a template applies only to indices created after it."""
    out = []
    for key, spec in template_props.items():
        name = f"{prefix}{key}"
        have = index_props.get(key)
        if have is None:
            out.append(name)
        elif "properties" in spec:
            out += mapping_drift(spec["properties"], have.get("properties", {}), f"{name}.")
        elif any(_attr(spec, a) != _attr(have, a) for a in _COMPARED):
            out.append(name)
    return out


def stale_indices(settings: Settings, client: Elasticsearch | None = None) -> dict[str, list[str]]:
    """Existing indices (partitions included) whose mapping falls short of their template, with the fields.

    What can change in place is changed first (new fields, sub-fields, copy_to); what cannot (a field's
    normalizer or type) needs the index rebuilt: `rebuild`, run by `newsmon init --reindex`."""
    client = client or make_client(settings)
    out: dict[str, list[str]] = {}
    for short in INDICES:
        props = template(short)["mappings"].get("properties", {})
        found = client.indices.get_mapping(index=settings.index(short) + "*", ignore_unavailable=True,
                                           allow_no_indices=True)
        for index in sorted(found):
            if index.startswith("reindex-"):
                continue
            drift = mapping_drift(props, found[index]["mappings"].get("properties", {}))
            if not drift:
                continue
            for key in dict.fromkeys(name.split(".")[0] for name in drift):
                try:  # one field at a time: a conflict refuses only its own change
                    client.indices.put_mapping(index=index, properties={key: props[key]})
                except ApiError as exc:
                    if exc.meta.status != 400:
                        raise
            have = client.indices.get_mapping(index=index)[index]["mappings"].get("properties", {})
            drift = mapping_drift(props, have)
            if drift:
                out[index] = drift
    return out


class RebuildError(RuntimeError):
    """A rebuild that cannot start or was cut off (the documents are kept in `reindex-<index>`)."""


def rebuild(settings: Settings, index: str, short: str, transform: Callable[[dict[str, Any]], dict[str, Any]],
            client: Elasticsearch | None = None) -> int:
    """Recreate `index` from its template and copy its documents back through `transform` (which may add
    what newer records carry); returns the number of documents. Run with the stack stopped: a write
    during the rebuild could be lost. Copies client-side (scan and bulk), so it needs no reindex module."""
    from elasticsearch import helpers

    client = client or make_client(settings)
    keep = f"reindex-{index}"
    if client.indices.exists(index=keep):
        raise RebuildError(f"{keep} exists: an earlier rebuild of {index} was cut off; its documents are there "
                           f"(copy them back or delete {keep}, then run again)")
    body = template_body(settings, short)
    client.indices.create(index=keep, settings=body["settings"], mappings=body["mappings"])
    helpers.bulk(client, ({"_index": keep, "_id": hit["_id"], "_source": hit["_source"]}
                          for hit in helpers.scan(client, index=index, query={"query": {"match_all": {}}})))
    client.indices.refresh(index=keep)
    if client.count(index=keep)["count"] != client.count(index=index)["count"]:
        raise RebuildError(f"copying {index} to {keep} lost documents: {index} left as it was")
    client.indices.delete(index=index)
    client.indices.create(index=index)  # from the template (with the alias, partitioned)
    done, _ = helpers.bulk(client, ({"_index": index, "_id": hit["_id"], "_source": transform(hit["_source"])}
                                    for hit in helpers.scan(client, index=keep, query={"query": {"match_all": {}}})))
    client.indices.refresh(index=index)
    client.indices.delete(index=keep)
    return done
