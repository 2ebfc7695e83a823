"""The feed list: a YAML file of feeds (name, url, language, poll interval, tags).

```yaml
defaults:            # optional: values every feed starts from
  interval_s: 600
feeds:
  - name: bbc-middle-east
    url: https://feeds.bbci.co.uk/news/world/middle_east/rss.xml
    tags: [broadcaster, GB]
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from newsmon.settings import ConfigurationError


class FeedConfigError(ConfigurationError, ValueError):
    """The feed list cannot be used; the message says which file, which feed and why."""


class FeedConfig(BaseModel):
    """One feed and how to poll it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    url: str
    language: str = "en"
    interval_s: float = Field(600.0, gt=0)
    tags: list[str] = Field(default_factory=list)
    jitter: float = Field(0.1, ge=0, lt=1)  # each wait is interval * (1 ± jitter)
    retry_base_s: float = Field(30.0, gt=0)  # first retry after a failure; doubles each time
    retry_max_s: float = Field(3600.0, gt=0)  # cap of the backoff
    full_text_min_chars: int = Field(800, ge=0)  # shorter feed text counts as a summary: fetch the page
    fetch_pages: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        v = v.strip()
        if not v.lower().startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {v!r}")
        return v


def parse_feeds(data: Any, source: str = "<feeds>") -> list[FeedConfig]:
    """Feeds from already-loaded YAML data (`{"defaults": {...}, "feeds": [...]}` or a bare list)."""
    if isinstance(data, list):
        data = {"feeds": data}
    if not isinstance(data, dict) or not isinstance(data.get("feeds"), list):
        raise FeedConfigError(f"{source}: expected a mapping with a 'feeds' list")
    unknown = set(data) - {"defaults", "feeds"}
    if unknown:
        raise FeedConfigError(f"{source}: unknown top-level keys {sorted(unknown)}")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise FeedConfigError(f"{source}: 'defaults' must be a mapping")
    feeds: list[FeedConfig] = []
    for i, entry in enumerate(data["feeds"]):
        label = entry.get("name", f"#{i + 1}") if isinstance(entry, dict) else f"#{i + 1}"
        if not isinstance(entry, dict):
            raise FeedConfigError(f"{source}: feed {label}: expected a mapping, got {type(entry).__name__}")
        try:
            feeds.append(FeedConfig(**{**defaults, **entry}))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'feed'}: {e['msg']}" for e in exc.errors())
            raise FeedConfigError(f"{source}: feed {label}: {problems}") from None
    names = [f.name for f in feeds]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FeedConfigError(f"{source}: duplicate feed names {dupes}")
    return feeds


def load_feeds(path: str | Path) -> list[FeedConfig]:
    """Read and validate a feed list file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FeedConfigError(f"{path}: cannot read feed list ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FeedConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_feeds(data, str(path))
