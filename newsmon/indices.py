"""Elasticsearch admin: the client, the index templates (mappings) and index creation.

The templates in `newsmon/templates/<index>.json` are the one description of what each index holds:
`ensure_templates` installs them, and the rule compiler reads the same files for the fields a query
may name and their types, so a rule means what a search of the index means.
"""

from __future__ import annotations

import json
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
