"""Kibana's saved objects for newsmon: data views, saved searches, visualizations, a map and a dashboard.

They live in one NDJSON file in Kibana 8's export format (`kibana.ndjson` beside this module; the deploy
folder links to it), so an analyst opens Kibana on a ready dashboard. `import_saved_objects` sends the
file to Kibana's saved-objects import API with `overwrite=true` (re-running it updates, never duplicates:
every object has a fixed id), waiting for Kibana while it starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from newsmon.readiness import NotReady, wait_until_ready
from newsmon.settings import Settings

IMPORT_PATH = "/api/saved_objects/_import"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})  # Kibana answers 503 while it starts


class KibanaError(RuntimeError):
    """Kibana refused the import (credentials, or objects it could not import: each named with its reason)."""


def saved_objects_path() -> Path:
    """The NDJSON file of newsmon's saved objects (shipped with the package)."""
    return Path(str(resources.files("newsmon").joinpath("kibana.ndjson")))


def load_saved_objects(path: Path | None = None) -> list[dict[str, Any]]:
    """The saved objects of the file, one per line."""
    text = (path or saved_objects_path()).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def render(settings: Settings, objects: list[dict[str, Any]] | None = None) -> bytes:
    """The NDJSON to import: the data views' index patterns follow the configured index prefix."""
    lines = []
    for obj in objects if objects is not None else load_saved_objects():
        if obj["type"] == "index-pattern":
            short = obj["id"].removeprefix("newsmon-")
            obj = {**obj, "attributes": {**obj["attributes"], "title": settings.index(short) + "*"}}
        lines.append(json.dumps(obj, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode("utf-8")


def auth_headers(settings: Settings) -> dict[str, str]:
    """Kibana takes the Elasticsearch credentials: an API key, else basic auth (via httpx), else none."""
    if settings.elasticsearch_api_key_secret is not None:
        return {"Authorization": f"ApiKey {settings.elasticsearch_api_key_secret.get_secret_value()}"}
    return {}


def _basic_auth(settings: Settings) -> httpx.BasicAuth | None:
    if settings.elasticsearch_api_key_secret is not None or not settings.elasticsearch_username:
        return None
    secret = settings.elasticsearch_password_secret
    return httpx.BasicAuth(settings.elasticsearch_username, secret.get_secret_value() if secret else "")


def import_once(url: str, settings: Settings, path: Path | None = None, *, timeout_s: float = 30.0) -> int:
    """One import request; returns the number of objects imported. `NotReady` while Kibana starts or is
    unreachable, `KibanaError` when it refuses."""
    body = render(settings, load_saved_objects(path))
    headers = {"kbn-xsrf": "newsmon", **auth_headers(settings)}
    files = {"file": ("newsmon.ndjson", body, "application/ndjson")}
    try:
        response = httpx.post(url.rstrip("/") + IMPORT_PATH, params={"overwrite": "true"}, files=files,
                              headers=headers, auth=_basic_auth(settings), timeout=timeout_s)
    except httpx.TransportError as exc:
        raise NotReady(f"{type(exc).__name__}: {exc}") from None
    if response.status_code in RETRY_STATUSES:
        raise NotReady(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise KibanaError(f"Kibana at {url} refused the import: HTTP {response.status_code} {_reason(response)}")
    body = response.json()
    if not body.get("success", False):
        problems = "; ".join(f"{e.get('type')} {e.get('id')}: {e.get('error', {}).get('type', e.get('error'))}"
                             for e in body.get("errors", []))
        raise KibanaError(f"Kibana at {url} could not import every object: {problems}")
    return int(body.get("successCount", 0))


def import_saved_objects(url: str, settings: Settings, path: Path | None = None, *, wait_s: float = 300.0,
                         say: Callable[[str], None] = print) -> int:
    """Import the saved objects into the Kibana at `url`, waiting up to `wait_s` for it to answer."""
    imported: list[int] = []
    wait_until_ready("Kibana", url, lambda: imported.append(import_once(url, settings, path)), timeout_s=wait_s,
                     say=say)
    return imported[-1]


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("message") or body.get("error") or body)[:200] if isinstance(body, dict) else str(body)[:200]
