"""Record schemas: what flows through the topics and lands in the indices.

One article's path: `RawArticle` (topic `raw`) -> extraction -> `Article`, `Statement`, `Event`
(topics `articles`, `statements`, `events`) -> Elasticsearch indices of the same names.
Failures anywhere become a `DeadLetter` (topic `dead-letter`). Rule matches become `Alert`s.
"""

from __future__ import annotations

import hashlib
from datetime import date as Date, datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field


def stable_id(*parts: object) -> str:
    """A short, stable document id from its identifying parts (same parts, same id, every run)."""
    h = hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8"))
    return h.hexdigest()[:20]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Span(BaseModel):
    """A character span of the article text, offsets into the text exactly as read."""

    start: int
    end: int
    text: str


class Entity(BaseModel):
    """An entity mention, resolved to a canonical actor or place where possible."""

    start: int
    end: int
    text: str
    label: str  # PERSON, ORG, GPE, LOC, NORP, ...
    name: str | None = None  # canonical name ("Vladimir Putin")
    id: str | None = None  # Wikidata id or other stable id
    type: str | None = None  # person, government, armed_group, intl_org, news_agency, place, country ...
    country: str | None = None  # ISO 3166-1 alpha-2
    lat: float | None = None
    lon: float | None = None


class Speaker(Span):
    """The speaker mention as it stands in the text, plus its resolution."""

    name: str | None = None
    id: str | None = None
    country: str | None = None


class ExtractedStatement(BaseModel):
    """A statement as the extractor returns it (the `newsmon extract --json` contract)."""

    content: Span
    speaker: Speaker | None = None
    cue: Span | None = None
    kind: Literal["direct", "indirect"]
    via: str | None = None  # outlet it came through, when the text says so (canonical name)
    about: list[str] = Field(default_factory=list)  # canonical entity names and ISO country codes


class Place(BaseModel):
    name: str
    country: str | None = None
    lat: float | None = None
    lon: float | None = None
    geonameid: int | None = None


class ExtractedEvent(BaseModel):
    """A typed event (ontology in processors/extraction/data/events.yaml)."""

    type: str  # consult, negotiate, agree, support, assault, ceasefire, condemn, condolence, ...
    trigger: Span
    actors: list[Entity] = Field(default_factory=list)
    targets: list[Entity] = Field(default_factory=list)
    location: Place | None = None
    date: Date | None = None
    countries: list[str] = Field(default_factory=list)


class Extraction(BaseModel):
    """Everything extracted from one text."""

    entities: list[Entity] = Field(default_factory=list)
    statements: list[ExtractedStatement] = Field(default_factory=list)
    events: list[ExtractedEvent] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list)  # watchlist-relevant countries, most relevant first
    country_scores: dict[str, float] = Field(default_factory=dict)
    relevant: bool = False  # mentions the watchlist enough (in a parsed text, or by name in another language)
    language: str | None = None  # the language decided for the text (detected; the declared one as a hint)
    model: str | None = None  # the spaCy model that parsed it; None when it was not parsed
    # parsed: full extraction; gated: no watchlist term, not parsed; unsupported_language: no model for
    # its language (countries and relevance from the watchlist's names in that language only)
    analysis: Literal["parsed", "gated", "unsupported_language"] = "parsed"


class RawArticle(BaseModel):
    """An item from a feed, normalised; published to the `raw` topic keyed by `id`."""

    id: str  # stable article id (hash of canonical link, else guid)
    feed: str
    url: str
    guid: str | None = None
    title: str = ""
    summary: str = ""
    content: str = ""  # the article text: feed content, or the page's main text, else the summary
    content_source: Literal["feed", "page", "summary", "none"] = "none"
    language: str = "en"
    published: datetime | None = None  # UTC
    fetched: datetime = Field(default_factory=utcnow)
    tags: list[str] = Field(default_factory=list)

    @property
    def summary_only(self) -> bool:
        """Whether the item is only a headline and a short summary (no article text from the feed or the
        page): its statements and events rest on that summary alone."""
        return self.content_source in ("summary", "none")

    @property
    def text(self) -> str:
        """The text the extractor reads: title, blank line, body."""
        body = self.content or self.summary
        return f"{self.title}\n\n{body}" if self.title else body


class Article(BaseModel):
    """An enriched article, as indexed (`articles` index)."""

    id: str
    timestamp: datetime = Field(alias="@timestamp")  # published, else fetched
    feed: str
    url: str
    title: str
    summary: str = ""
    content: str = ""
    content_source: str = "none"
    summary_only: bool = False  # only a headline and a short summary (RawArticle.summary_only)
    language: str = "en"
    published: datetime | None = None
    fetched: datetime
    tags: list[str] = Field(default_factory=list)
    relevant: bool = False
    countries: list[str] = Field(default_factory=list)
    country_scores: dict[str, float] = Field(default_factory=dict)
    entities: list[Entity] = Field(default_factory=list)
    entity_names: list[str] = Field(default_factory=list)
    persons: list[str] = Field(default_factory=list)
    organizations: list[str] = Field(default_factory=list)
    places: list[str] = Field(default_factory=list)
    locations: list[dict[str, float]] = Field(default_factory=list)  # geo_point {lat, lon}
    statement_count: int = 0
    event_count: int = 0
    declared_language: str | None = None  # what the feed said; `language` is what was decided
    model: str | None = None
    analysis: str = "parsed"
    # the gazetteer's other spellings of the entities' actors; the template copies them into entities.name
    # and entity_names, so a search or rule for any spelling finds the article
    entity_aliases: list[str] = Field(default_factory=list)

    model_config = {"populate_by_name": True}


class Statement(ExtractedStatement):
    """A statement, as indexed (`statements` index); `id` is stable across replays."""

    id: str
    article_id: str
    timestamp: datetime = Field(alias="@timestamp")
    url: str
    feed: str
    title: str = ""
    countries: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)  # feeds/outlets that carried it (novelty)
    source_count: int = 1
    novel: bool | None = None
    # the gazetteer's other spellings of the speaker ("Sergei Lavrov", "Lavrov" for Sergey Lavrov); the
    # template copies them into speaker.name, so a search or rule for any spelling finds the statement
    speaker_aliases: list[str] = Field(default_factory=list)

    model_config = {"populate_by_name": True}


LEAD_CHARS = 2000  # the start of an article's body that an event carries for story-level novelty


class Event(ExtractedEvent):
    """An event, as indexed (`events` index); `id` is stable across replays."""

    id: str
    article_id: str
    timestamp: datetime = Field(alias="@timestamp")
    url: str
    feed: str
    title: str = ""
    # the first LEAD_CHARS of the article's body (no headline): copies of one story share it, so novelty
    # can tell a later copy even when its headline or the parse of it differs; not indexed
    lead: str = ""
    sources: list[str] = Field(default_factory=list)  # feeds/outlets that reported it (novelty)
    source_count: int = 1
    novel: bool | None = None
    # the gazetteer's other spellings of the actors and targets (copied into actors.name / targets.name)
    actor_aliases: list[str] = Field(default_factory=list)
    target_aliases: list[str] = Field(default_factory=list)

    model_config = {"populate_by_name": True}


class DeadLetter(BaseModel):
    """A record that could not be processed, with the reason; nothing is dropped silently."""

    stage: str  # produce, process, sink, alert, notify
    error: str
    error_type: str = ""
    payload: Any = None  # the original record (decoded JSON if it was JSON, else text)
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    timestamp: datetime = Field(default_factory=utcnow)


class Alert(BaseModel):
    """A rule match on a new record; `id` is stable (rule + record), so delivery can be deduplicated."""

    id: str
    rule: str
    kind: Literal["statements", "events", "articles"] = "statements"
    record_id: str
    record: dict[str, Any]
    destinations: list[str] = Field(default_factory=list)
    message: str = ""
    timestamp: datetime = Field(default_factory=utcnow)


class Sighting(BaseModel):
    """A later sighting of an already-seen statement or event in another outlet (topic `sightings`).

    The sink adds `source` to the first record's `sources` and recounts `source_count`. `statement_id`
    names the first record (a statement, or an event when `kind` is "events"; the field keeps its name
    for the records already on the topic).
    """

    kind: Literal["statements", "events"] = "statements"
    statement_id: str
    source: str
    url: str
    article_id: str
    timestamp: datetime = Field(default_factory=utcnow)
    duplicate_id: str | None = None  # the later record's own id (indexed separately, marked not novel)
    statement_time: datetime | None = None  # the first record's @timestamp: the index partition it is in
    similarity: float | None = None  # estimated Jaccard similarity of the two contents
