"""The streams, declared once: each one's topic name, record model and partition key.

Every stage reads and writes through these declarations instead of spelling topic names: a producer
sends `RAW.encode(article)` to `RAW.topic(settings)`, the sink decodes with `ARTICLES.decode(value)`,
status lists `topic_names(settings)`. The key is part of a stream's contract: records with the same
key land in the same partition, in order; that is what lets novelty see the copies of one story
together: a speaker's quotes (`statement_key`), an event type's events (`event_key`). Novelty state is
kept per key in a table partitioned like its topic, so a key function must give every copy of a story
the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from newsmon.records import Alert, Article, DeadLetter, Event, RawArticle, Sighting, Statement
from newsmon.settings import Settings

R = TypeVar("R", bound=BaseModel)

UNATTRIBUTED_KEY = "~unattributed"


def statement_key(statement: Statement) -> str:
    """Partition key of a statement: its speaker, so novelty sees a speaker's quotes together.

    The resolved speaker when there is one, else the speaker mention as written ("a senior official":
    syndicated copies keep it), else one shared key for quotes without a speaker, so that a repeat of
    an unattributed quote is still recognised.
    """
    speaker = statement.speaker
    if speaker is None:
        return UNATTRIBUTED_KEY
    return speaker.id or speaker.name or " ".join(speaker.text.lower().split()) or UNATTRIBUTED_KEY


def event_key(event: Event) -> str:
    """Partition key of an event: its type, so novelty sees every report of a kind of event together.

    Only the type: actors, targets and place differ between copies of one story often enough (a rewritten
    headline adds a target, an outlet names the place differently) that a key built from them would send
    copies to different partitions, where they could never be matched.
    """
    return event.type


@dataclass(frozen=True)
class Stream(Generic[R]):
    """One stream: its short name (the topic's name after the prefix), record model and key function."""

    name: str
    model: type[R]
    key: Callable[[R], str]

    def topic(self, settings: Settings) -> str:
        """The full topic name under the configured prefix."""
        return settings.topic(self.name)

    def encode(self, record: R) -> tuple[bytes, bytes]:
        """(key, value) bytes of one record as it goes on the wire (JSON by the model's aliases)."""
        return self.key(record).encode(), record.model_dump_json(by_alias=True).encode()

    def message(self, record: R) -> dict[str, bytes]:
        """`key=` and `value=` of one record, as `KafkaProducer.send` and Faust's `Topic.send` take them."""
        key, value = self.encode(record)
        return {"key": key, "value": value}

    def decode(self, value: bytes | str) -> R:
        """The record of one message value; raises pydantic's `ValidationError` (a `ValueError`)."""
        return self.model.model_validate_json(value)


RAW: Stream[RawArticle] = Stream("raw", RawArticle, lambda r: r.id)
ARTICLES: Stream[Article] = Stream("articles", Article, lambda r: r.id)
STATEMENTS: Stream[Statement] = Stream("statements", Statement, statement_key)
EVENTS: Stream[Event] = Stream("events", Event, event_key)
ALERTS: Stream[Alert] = Stream("alerts", Alert, lambda r: r.id)
SIGHTINGS: Stream[Sighting] = Stream("sightings", Sighting, lambda r: r.statement_id)  # with its first record
DEAD_LETTER: Stream[DeadLetter] = Stream("dead-letter", DeadLetter, lambda r: r.key or "")

STREAMS: tuple[Stream, ...] = (RAW, ARTICLES, STATEMENTS, EVENTS, ALERTS, SIGHTINGS, DEAD_LETTER)
BY_NAME: dict[str, Stream] = {s.name: s for s in STREAMS}


def topic_names(settings: Settings) -> list[str]:
    """Every topic newsmon uses, fully named."""
    return [s.topic(settings) for s in STREAMS]


def stream_of(settings: Settings, topic: str) -> Stream | None:
    """The stream a full topic name belongs to (None for a topic that is not one of ours)."""
    prefix = settings.topic_prefix + "."
    return BY_NAME.get(topic[len(prefix):]) if topic.startswith(prefix) else None
