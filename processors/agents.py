"""The processor agent: raw articles in; enriched articles, statements and events out.

Batches of raw records are decoded and extracted in one worker thread (the spaCy model is loaded once
per worker, and the event loop keeps heartbeating meanwhile). A record that cannot be decoded or
extracted becomes a `DeadLetter` with the reason and the original payload; the rest of its batch goes on.
A batch is acknowledged only after every output record was acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import faust
from aiokafka.errors import MessageSizeTooLargeError
from pydantic import ValidationError

from newsmon.deadletter import DeadLetterLimitExceeded, dead_letter_limit
from newsmon.outputs import Output, halt_process, send_all
from newsmon import metrics
from newsmon.records import Article, DeadLetter, Event, RawArticle, Statement
from newsmon.settings import Settings
from newsmon.streams import ARTICLES, DEAD_LETTER, EVENTS, RAW, STATEMENTS, Stream

if TYPE_CHECKING:
    from spacy.language import Language

log = logging.getLogger(__name__)

BATCH_WITHIN_S = 0.25  # longest wait for a batch to fill before processing what has arrived
OUTPUT_STREAMS: tuple[Stream, ...] = (ARTICLES, STATEMENTS, EVENTS, DEAD_LETTER)

Extracted = tuple[Article, list[Statement], list[Event]]


@dataclass
class Message:
    """A raw record as read from the topic (kept whole for dead letters)."""

    key: bytes | None
    value: bytes | None
    topic: str = ""
    partition: int | None = None
    offset: int | None = None


@dataclass
class Processed:
    """The outcome of one batch: one extraction per good record, one dead letter per bad one."""

    extracted: list[Extracted] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


def extract_articles(nlp, raws: list[RawArticle]) -> list[Extracted]:
    """Extraction for a batch (looked up at call time, so the agent always uses the extraction package's)."""
    from newsmon.processors import extraction

    return extraction.extract_articles(nlp, raws)


def _payload(value: bytes | None) -> Any:
    if value is None:
        return None
    text = value.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def dead_letter(message: Message, exc: BaseException) -> DeadLetter:
    """A dead-letter record for `message`, failed with `exc`."""
    return DeadLetter(stage="process", error=str(exc) or repr(exc), error_type=type(exc).__name__,
                      payload=_payload(message.value), topic=message.topic, partition=message.partition,
                      offset=message.offset, key=message.key.decode("utf-8", "replace") if message.key else None)


def process_batch(nlp, messages: Sequence[Message]) -> Processed:
    """Decode and extract a batch; errors are isolated to the records that caused them."""
    out = Processed()
    good: list[tuple[Message, RawArticle]] = []
    for message in messages:
        try:
            if message.value is None:
                raise ValueError("empty record (no value)")
            good.append((message, RAW.decode(message.value)))
        except (ValidationError, ValueError) as exc:
            out.dead.append(dead_letter(message, exc))
    if not good:
        return out
    try:
        out.extracted.extend(extract_articles(nlp, [raw for _, raw in good]))
    except Exception:  # find the culprit(s): one by one
        log.warning("extraction failed for a batch of %d; retrying one by one", len(good), exc_info=True)
        for message, raw in good:
            try:
                out.extracted.extend(extract_articles(nlp, [raw]))
            except Exception as exc:
                log.error("extraction failed for %s: %s", raw.id, exc)
                out.dead.append(dead_letter(message, exc))
    return out


def records_out(processed: Processed) -> list[tuple[Stream, bytes, bytes]]:
    """(stream, key, JSON value) for every output record of a processed batch."""
    out: list[tuple[Stream, bytes, bytes]] = []
    for article, statements, events in processed.extracted:
        out.append((ARTICLES, *ARTICLES.encode(article)))
        out += [(STATEMENTS, *STATEMENTS.encode(s)) for s in statements]
        out += [(EVENTS, *EVENTS.encode(e)) for e in events]
    out += [(DEAD_LETTER, *DEAD_LETTER.encode(d)) for d in processed.dead]
    return out


def oversized(stream: str, key: str, value: str, exc: BaseException, keep_chars: int = 20_000) -> DeadLetter:
    """A dead letter for an output record too large for the broker (payload cut to `keep_chars`)."""
    return DeadLetter(stage="process", error=f"{stream} record of {len(value)} bytes too large for the broker: {exc}",
                      error_type=type(exc).__name__, payload=value[:keep_chars], topic=stream, key=key)


def too_large(letters: list[DeadLetter]) -> Callable[[Output, BaseException], Output | None]:
    """The stand-in for an output record the broker can never take: a dead letter (also added to `letters`)."""
    def replace(out: Output, exc: BaseException) -> Output | None:
        if not isinstance(exc, MessageSizeTooLargeError):
            return None
        stream, key, value = out
        letter = oversized(stream.name, key.decode(), value.decode(), exc)
        letters.append(letter)
        return (DEAD_LETTER, key, DEAD_LETTER.encode(letter)[1])
    return replace


class Extractor:
    """Holds the model (loaded once, on first use) and the single thread extraction runs in."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="newsmon-extract")
        self._nlp: Language | None = None

    def _run(self, messages: Sequence[Message]) -> Processed:
        if self._nlp is None:
            from newsmon.processors.extraction import load_pipeline

            self._nlp = load_pipeline(self.settings)
            log.info("processor: loaded spaCy pipeline %s", self._nlp.meta.get("name"))
        return process_batch(self._nlp, messages)

    async def __call__(self, messages: Sequence[Message]) -> Processed:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._run, messages)


def register(app: faust.App, settings: Settings) -> None:
    """Add the processor agent (raw -> articles, statements, events, dead-letter) to `app`."""
    raw = app.topic(RAW.topic(settings), key_serializer="raw", value_serializer="raw")
    outputs = {s: app.topic(s.topic(settings), key_serializer="raw", value_serializer="raw") for s in OUTPUT_STREAMS}
    extractor = Extractor(settings)
    limit = dead_letter_limit(settings, "processor")

    async def send(stream: Stream, key: bytes, value: bytes):
        return await outputs[stream].send(key=key, value=value)

    @app.agent(raw, name="process-raw")
    async def process(stream):
        async for events in stream.take_events(settings.processor_batch_size, within=BATCH_WITHIN_S):
            messages = [Message(e.message.key, e.message.value, e.message.topic, e.message.partition,
                                e.message.offset) for e in events]
            metrics.records_in("process", RAW.name, len(messages))
            started = time.perf_counter()
            processed = await extractor(messages)
            took = time.perf_counter() - started
            metrics.extraction_seconds(took, len(processed.extracted))
            try:
                limit.observe(len(processed.extracted), len(processed.dead))
            except DeadLetterLimitExceeded as exc:  # a bad deploy must not drain the stream: stop, unacknowledged
                halt_process(str(exc))
            oversize: list[DeadLetter] = []
            await send_all(send, records_out(processed), what="processor", budget_s=settings.output_send_budget_s,
                           replace=too_large(oversize))  # acknowledged before the batch is
            processed.dead += oversize
            for out_stream, _, _ in records_out(processed):
                metrics.records_out("process", out_stream.name)
            for article, _, _ in processed.extracted:
                metrics.article(article.language, article.analysis)
            for letter in processed.dead:
                log.error("processor: dead-letter %s at %s[%s]@%s: %s", letter.key, letter.topic, letter.partition,
                          letter.offset, letter.error)
            log.debug("processor: %d articles in %.2fs, %d dead letters", len(processed.extracted), took,
                     len(processed.dead))
