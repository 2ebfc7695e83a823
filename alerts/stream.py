"""The alert agents of the processor app: novelty and rule evaluation on each new record.

Statements and events: the novelty state of each partition key (a statement's speaker, an event's type:
`newsmon.streams`) lives in a changelog-backed Faust table, so it survives restarts and moves with its
partition. A later copy of a story becomes a `Sighting` of the first record (topic `sightings`): a
statement whose quote (without headline, dateline and credits) is a near-duplicate, an event of the same
type with the same actors, targets and place, or from a near-duplicate article lead. Only a first
sighting is evaluated against the rules, each match an `Alert` with a stable id (topic `alerts`).
Articles have no novelty: every article is evaluated against the article rules. A record that cannot be
read becomes a `DeadLetter` (stage `alert`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import faust
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from pydantic import BaseModel, ValidationError

from newsmon.alerts.novelty import Entry, NoveltyDetector, Verdict, event_fingerprint, event_text, statement_text
from newsmon.alerts.rules import RuleSet, load_rules
from newsmon.kafka import make_admin
from newsmon.outputs import send_all
from newsmon.records import Alert, DeadLetter, Event, Sighting, Statement
from newsmon.settings import Settings
from newsmon.streams import ALERTS, ARTICLES, DEAD_LETTER, EVENTS, SIGHTINGS, STATEMENTS, Stream

log = logging.getLogger(__name__)

__all__ = ["register", "judge_statement", "judge_event", "statement_outputs", "event_outputs", "record_outputs",
           "NOVELTY_TABLE", "EVENT_NOVELTY_TABLE"]

NOVELTY_TABLE = "alerts-novelty"
EVENT_NOVELTY_TABLE = "alerts-event-novelty"
RECORD_STREAMS: dict[str, Stream] = {"articles": ARTICLES}  # rules without novelty

Output = tuple[Stream, bytes, bytes]  # (stream, key, JSON value)


def _sighting(kind: str, record: Statement | Event, verdict: Verdict) -> Output:
    sighting = Sighting(kind=kind, statement_id=verdict.first_id, source=record.feed, url=record.url,
                        article_id=record.article_id, timestamp=record.timestamp, duplicate_id=record.id,
                        similarity=round(verdict.similarity, 3),
                        statement_time=(datetime.fromtimestamp(verdict.first_ts, timezone.utc)
                                        if verdict.first_ts is not None else None))
    return (SIGHTINGS, *SIGHTINGS.encode(sighting))


def statement_outputs(rules: RuleSet, statement: Statement, verdict: Verdict) -> list[Output]:
    """What one statement produces after its novelty verdict: a sighting, or its alerts."""
    if not verdict.novel:
        return [_sighting("statements", statement, verdict)]
    record = statement.model_dump(mode="json", by_alias=True)
    record["novel"] = True
    return _alerts(rules.alerts("statements", record))


def event_outputs(rules: RuleSet, event: Event, verdict: Verdict) -> list[Output]:
    """What one event produces after its novelty verdict: a sighting, or its alerts (the lead, kept for
    novelty only, is left out of the alert's record)."""
    if not verdict.novel:
        return [_sighting("events", event, verdict)]
    record = event.model_dump(mode="json", by_alias=True, exclude={"lead"})
    record["novel"] = True
    return _alerts(rules.alerts("events", record))


def judge_statement(detector: NoveltyDetector, rules: RuleSet, state: list[Entry] | None,
                    statement: Statement) -> tuple[Verdict, list[Entry], list[Output]]:
    """Novelty of one statement against its key's state (the quote alone is compared), then its outputs."""
    verdict, state = detector.observe(state, statement.id, statement_text(statement), statement.timestamp)
    return verdict, state, statement_outputs(rules, statement, verdict)


def judge_event(detector: NoveltyDetector, rules: RuleSet, state: list[Entry] | None,
                event: Event) -> tuple[Verdict, list[Entry], list[Output]]:
    """Novelty of one event against its type's state (same who/whom/where within the window and a day
    apart at most, else a near-duplicate lead; events of one article never repeat each other)."""
    verdict, state = detector.observe(state, event.id, event_text(event), event.timestamp,
                                      fingerprint=event_fingerprint(event),
                                      day=event.date.toordinal() if event.date else None, group=event.article_id)
    return verdict, state, event_outputs(rules, event, verdict)


def record_outputs(rules: RuleSet, kind: str, record: BaseModel) -> list[Output]:
    """The alerts of a record evaluated without novelty (articles)."""
    return _alerts(rules.alerts(kind, record.model_dump(mode="json", by_alias=True)))


def _alerts(alerts: list[Alert]) -> list[Output]:
    return [(ALERTS, *ALERTS.encode(a)) for a in alerts]


def _dead(stage_topic: str, event: Any, exc: Exception) -> Output:
    msg = event.message
    key = msg.key.decode("utf-8", "replace") if isinstance(msg.key, bytes) else msg.key
    value = msg.value.decode("utf-8", "replace") if isinstance(msg.value, bytes) else msg.value
    letter = DeadLetter(stage="alert", error=str(exc), error_type=type(exc).__name__, payload=value,
                        topic=stage_topic, partition=msg.partition, offset=msg.offset, key=key)
    return (DEAD_LETTER, (key or "").encode(), DEAD_LETTER.encode(letter)[1])


def ensure_changelog(settings: Settings, name: str) -> None:
    """Create the novelty table's compacted changelog topic (the processor app does not declare topics)."""
    admin = make_admin(settings, client_id="newsmon-admin", request_timeout_ms=10_000)
    try:
        if name not in set(admin.list_topics()):
            try:
                admin.create_topics([NewTopic(name, settings.partitions, settings.replication_factor,
                                              topic_configs={"cleanup.policy": "compact"})])
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def register(app: faust.App, settings: Settings, rules: RuleSet | None = None) -> None:
    """Add the alert agents to the processor app: statements and events (with novelty), and articles when
    article rules exist. The rules file is loaded (and refused if invalid) here; without one, novelty
    still runs (repeats are recorded as sightings) and nothing alerts."""
    if rules is None:
        rules = load_rules(settings.rules_file) if settings.rules_file else RuleSet().compile()
    detector = NoveltyDetector.from_settings(settings)
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    out = {s: app.topic(s.topic(settings), **raw) for s in (ALERTS, SIGHTINGS, DEAD_LETTER)}

    async def send_one(stream: Stream, key: bytes, value: bytes):
        return await out[stream].send(key=key, value=value)

    async def send(outputs: list[Output]) -> None:
        """Acknowledged before the input record is (else the stage halts: `newsmon.outputs`)."""
        await send_all(send_one, outputs, what="alerts", budget_s=settings.output_send_budget_s)

    _register_novelty(app, settings, STATEMENTS, NOVELTY_TABLE, "novelty state per statement key (MinHash signatures)",
                      lambda state, st: judge_statement(detector, rules, state, st), raw, send)
    _register_novelty(app, settings, EVENTS, EVENT_NOVELTY_TABLE, "novelty state per event type (signatures, fingerprints)",
                      lambda state, ev: judge_event(detector, rules, state, ev), raw, send)
    for kind, kind_stream in RECORD_STREAMS.items():
        if kind in rules.kinds():
            _register_kind(app, settings, rules, kind_stream, raw, send)


def _register_novelty(app: faust.App, settings: Settings, kind_stream: Stream, table_name: str, help_text: str,
                      judge, raw: dict, send) -> None:
    """The agent of a stream with novelty: its table (one state per partition key, co-partitioned with the
    topic), the verdict of each record, then its sighting or alerts."""
    kind, topic = kind_stream.name, kind_stream.topic(settings)
    table = app.Table(table_name, default=None, partitions=settings.partitions, help=help_text)  # JSON-serialised
    ensure_changelog(settings, table.changelog_topic.get_topic_name())

    @app.agent(app.topic(topic, **raw), name=f"alerts-{kind}")
    async def judge_records(stream):
        async for event in stream.events():
            try:
                record = kind_stream.decode(event.value)
            except (ValidationError, ValueError, TypeError) as exc:
                await send([_dead(topic, event, exc)])
                continue
            key = event.key.decode("utf-8", "replace") if isinstance(event.key, bytes) else (event.key or record.id)
            try:
                verdict, state, outputs = judge(table.get(key), record)
            except Exception as exc:  # a bug must not stop the stream: the record is kept with the reason
                log.exception("alerts: %s %s failed", kind, record.id)
                await send([_dead(topic, event, exc)])
                continue
            table[key] = state
            await send(outputs)
            if verdict.novel:
                log.debug("alerts: %s %s new, %d alerts", kind, record.id, len(outputs))
            else:
                log.debug("alerts: %s %s repeats %s (%.2f)", kind, record.id, verdict.first_id, verdict.similarity)


def _register_kind(app: faust.App, settings: Settings, rules: RuleSet, kind_stream: Stream, raw: dict, send) -> None:
    kind, topic = kind_stream.name, kind_stream.topic(settings)

    @app.agent(app.topic(topic, **raw), name=f"alerts-{kind}")
    async def evaluate(stream):
        async for event in stream.events():
            try:
                record = kind_stream.decode(event.value)
            except (ValidationError, ValueError, TypeError) as exc:
                await send([_dead(topic, event, exc)])
                continue
            try:
                outputs = record_outputs(rules, kind, record)
            except Exception as exc:  # a bug must not stop the stream: the record is kept with the reason
                log.exception("alerts: %s %s failed", kind, getattr(record, "id", "?"))
                outputs = [_dead(topic, event, exc)]
            await send(outputs)
