"""The alert agents in a real Faust worker on the local broker: statements in; alerts, sightings and
dead letters out; novelty state survives a worker restart (changelog-backed table)."""

from __future__ import annotations

import json
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer

from newsmon.records import Alert, Sighting, Speaker, Span, Statement, stable_id
from newsmon.stack import spawn_processor, stop_processor
from newsmon.streams import ALERTS, DEAD_LETTER, SIGHTINGS, STATEMENTS, Stream, statement_key
from newsmon.topics import ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RULES = """
rules:
  - name: Putin on Syria
    query: 'speaker.name:"Vladimir Putin" AND about:SY'
  - name: Rouhani
    query: 'speaker.name:"Hassan Rouhani"'
"""
PUTIN = ("Tehran and Moscow's consultation and cooperation, which has so far been in line with a constructive "
         "policy in the international stage, will continue")
PUTIN_COPY = ("“Tehran and Moscow’s consultation and cooperation, which has so far been in line with a "
              "constructive policy on the international stage, will continue.”")


def statement(sid: str, text: str, name: str, feed: str, about=("SY",), country="RU") -> Statement:
    return Statement(id=sid, article_id=f"a-{sid}", timestamp="2016-12-25T08:00:00Z", url=f"https://{feed}.test/{sid}",
                     feed=feed, title="Presidents spoke on phone", content=Span(start=0, end=len(text), text=text),
                     speaker=Speaker(start=0, end=5, text=name, name=name, id=stable_id(name), country=country),
                     kind="direct", about=list(about))


def publish(settings, statements, raw: list[tuple[bytes, bytes]] = ()) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    for st in statements:
        producer.send(STATEMENTS.topic(settings), key=statement_key(st).encode(),
                      value=st.model_dump_json(by_alias=True).encode())
    for key, value in raw:
        producer.send(STATEMENTS.topic(settings), key=key, value=value)
    producer.flush()
    producer.close()


class Tail:
    """Reads a topic from the start, accumulating records."""

    proc = None  # the worker: fail fast if it dies

    def __init__(self, settings, stream: Stream):
        self.consumer = KafkaConsumer(stream.topic(settings), bootstrap_servers=settings.kafka_bootstrap_servers,
                                      auto_offset_reset="earliest", enable_auto_commit=False)
        self.values: list[dict] = []

    def until(self, n: int, timeout: float = 90.0, settle: float = 2.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.values) < n and time.monotonic() < deadline:
            assert Tail.proc is None or Tail.proc.poll() is None, "the worker died"
            self._poll(500)
        end = time.monotonic() + settle  # anything extra (a duplicate) would show up now
        while time.monotonic() < end:
            self._poll(200)
        return self.values

    def until_seen(self, predicate, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(predicate(v) for v in self.values) and time.monotonic() < deadline:
            assert Tail.proc is None or Tail.proc.poll() is None, "the worker died"
            self._poll(500)
        assert any(predicate(v) for v in self.values), "timed out"
        self.until(0, settle=2.0)

    def _poll(self, ms: int) -> None:
        for batch in self.consumer.poll(timeout_ms=ms).values():
            self.values += [json.loads(r.value) for r in batch]


@pytest.fixture
def alert_settings(stack_settings, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    settings = stack_settings.model_copy(update={"rules_file": rules})
    ensure_topics(settings)
    return settings


def test_novel_statements_alert_repeats_become_sightings_across_a_restart(alert_settings):
    settings = alert_settings
    alerts, sightings, dead = Tail(settings, ALERTS), Tail(settings, SIGHTINGS), Tail(settings, DEAD_LETTER)
    putin = statement("s1", PUTIN, "Vladimir Putin", "mehr")
    rouhani = statement("s2", "Along with this victory, political negotiations should begin and continue",
                        "Hassan Rouhani", "mehr", country="IR")
    other = statement("s3", "We suggest that the peace process be started in Kazakhstan", "Vladimir Putin", "mehr",
                      about=("KZ",))
    copy1 = statement("s4", PUTIN_COPY, "Vladimir Putin", "presstv")
    proc = Tail.proc = spawn_processor(settings, "warning")
    try:
        publish(settings, [putin, rouhani, other, copy1], raw=[(b"junk", b'{"id": "junk"')])
        got = [Alert.model_validate(a) for a in alerts.until(2)]
        assert sorted((a.rule, a.record_id) for a in got) == [("Putin on Syria", "s1"), ("Rouhani", "s2")]
        assert {a.id for a in got} == {stable_id("Putin on Syria", "s1"), stable_id("Rouhani", "s2")}
        assert all(a.record["novel"] is True for a in got)
        seen = [Sighting.model_validate(s) for s in sightings.until(1)]
        assert [(s.statement_id, s.source, s.duplicate_id) for s in seen] == [("s1", "presstv", "s4")]
        letters = [d for d in dead.until(1) if d["stage"] == "alert"]
        assert len(letters) == 1 and letters[0]["key"] == "junk" and letters[0]["payload"] == '{"id": "junk"'
    finally:
        stop_processor(proc)

    # restarted: the novelty state comes back from the changelog
    proc = Tail.proc = spawn_processor(settings, "warning")
    try:
        copy2 = statement("s5", PUTIN_COPY.replace("will continue", "will surely continue"), "Vladimir Putin",
                          "irna")
        publish(settings, [copy2])
        sightings.until_seen(lambda v: v["duplicate_id"] == "s5", timeout=180)  # incl. table recovery
        # records not yet committed before the restart may be replayed: same outputs, same ids
        seen = {(s["statement_id"], s["source"], s["duplicate_id"]) for s in sightings.values}
        assert seen == {("s1", "presstv", "s4"), ("s1", "irna", "s5")}
        assert {a["id"] for a in alerts.until(2, timeout=1)} == {a.id for a in got}, "no new alert for a repeat"
    finally:
        stop_processor(proc)
