"""The alert agents of the processor app: novelty and rule evaluation on each new record.

Statements: the novelty state of each partition key (the speaker) lives in a changelog-backed Faust
table, so it survives restarts and moves with its partition. A later sighting of a near-duplicate
becomes a `Sighting` of the first statement (topic `sightings`); a first sighting is evaluated
against the statement rules, each match an `Alert` with a stable id (topic `alerts`). Events and
articles have no novelty: every record is evaluated against the rules of its kind. A record that
cannot be read becomes a `DeadLetter` (stage `alert`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import faust
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from pydantic import BaseModel, ValidationError

from newsmon.alerts.novelty import NoveltyDetector, Verdict
from newsmon.alerts.rules import RuleSet, load_rules
from newsmon.kafka import make_admin
from newsmon.outputs import send_all
from newsmon.records import Alert, DeadLetter, Sighting, Statement
from newsmon.settings import Settings
from newsmon.streams import ALERTS, ARTICLES, DEAD_LETTER, EVENTS, SIGHTINGS, STATEMENTS, Stream

log = logging.getLogger(__name__)

__all__ = ["register", "statement_outputs", "record_outputs", "NOVELTY_TABLE"]

NOVELTY_TABLE = "alerts-novelty"
RECORD_STREAMS: dict[str, Stream] = {"events": EVENTS, "articles": ARTICLES}  # rules without novelty

Output = tuple[Stream, bytes, bytes]  # (stream, key, JSON value)


def statement_outputs(rules: RuleSet, statement: Statement, verdict: Verdict) -> list[Output]:
    """What one statement produces after its novelty verdict: a sighting, or its alerts."""
    if not verdict.novel:
        sighting = Sighting(statement_id=verdict.first_id, source=statement.feed, url=statement.url,
                            article_id=statement.article_id, timestamp=statement.timestamp,
                            duplicate_id=statement.id, similarity=round(verdict.similarity, 3),
                            statement_time=(datetime.fromtimestamp(verdict.first_ts, timezone.utc)
                                            if verdict.first_ts is not None else None))
        return [(SIGHTINGS, *SIGHTINGS.encode(sighting))]
    record = statement.model_dump(mode="json", by_alias=True)
    record["novel"] = True
    return _alerts(rules.alerts("statements", record))


def record_outputs(rules: RuleSet, kind: str, record: BaseModel) -> list[Output]:
    """The alerts of an event or article (no novelty for these kinds)."""
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
    """Add the alert agents to the processor app: statements (with novelty), and events/articles when
    rules of those kinds exist. The rules file is loaded (and refused if invalid) here; without one,
    novelty still runs (repeats are recorded as sightings) and nothing alerts."""
    if rules is None:
        rules = load_rules(settings.rules_file) if settings.rules_file else RuleSet().compile()
    detector = NoveltyDetector.from_settings(settings)
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    out = {s: app.topic(s.topic(settings), **raw) for s in (ALERTS, SIGHTINGS, DEAD_LETTER)}
    table = app.Table(NOVELTY_TABLE, default=None, partitions=settings.partitions,
                      help="novelty state per statement key (MinHash signatures)")  # JSON-serialised
    ensure_changelog(settings, table.changelog_topic.get_topic_name())

    async def send_one(stream: Stream, key: bytes, value: bytes):
        return await out[stream].send(key=key, value=value)

    async def send(outputs: list[Output]) -> None:
        """Acknowledged before the input record is (else the stage halts: `newsmon.outputs`)."""
        await send_all(send_one, outputs, what="alerts", budget_s=settings.output_send_budget_s)

    statements_topic = STATEMENTS.topic(settings)

    @app.agent(app.topic(statements_topic, **raw), name="alerts-statements")
    async def statements(stream):
        async for event in stream.events():
            try:
                st = STATEMENTS.decode(event.value)
            except (ValidationError, ValueError, TypeError) as exc:
                await send([_dead(statements_topic, event, exc)])
                continue
            key = event.key.decode("utf-8", "replace") if isinstance(event.key, bytes) else (event.key or st.id)
            try:
                verdict, state = detector.observe(table.get(key), st.id, st.content.text, st.timestamp)
                outputs = statement_outputs(rules, st, verdict)
            except Exception as exc:  # a bug must not stop the stream: the record is kept with the reason
                log.exception("alerts: statement %s failed", st.id)
                await send([_dead(statements_topic, event, exc)])
                continue
            table[key] = state
            await send(outputs)
            if verdict.novel:
                log.debug("alerts: statement %s new, %d alerts", st.id, len(outputs))
            else:
                log.debug("alerts: statement %s repeats %s (%.2f)", st.id, verdict.first_id, verdict.similarity)

    for kind, kind_stream in RECORD_STREAMS.items():
        if kind in rules.kinds():
            _register_kind(app, settings, rules, kind_stream, raw, send)


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
