"""Notifier: real broker, a local HTTP receiver (apprise json://) and a local SMTP server (aiosmtpd).

Alerts arrive exactly once per destination: through receiver outages, duplicates on the topic and a
notifier restart; after the retry budget an alert goes to the dead-letter topic."""

from __future__ import annotations

import threading
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer
from typer.testing import CliRunner

from newsmon.alerts import notify
from newsmon.alerts.message import make_alert
from newsmon.alerts.rules import parse_rules
from newsmon.cli import app
from newsmon.records import DeadLetter, stable_id
from newsmon.settings import get_settings
from newsmon.streams import ALERTS, DEAD_LETTER
from newsmon.topics import ensure_topics
from tests.receivers import Mailbox, Receiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def statement(i: int, speaker: str = "Vladimir Putin") -> dict:
    return {"id": f"st{i}", "@timestamp": "2016-12-24T21:00:00Z", "feed": "mehr", "kind": "direct",
            "url": f"https://en.mehrnews.com/news/{i}", "title": "Presidents of Iran and Russia spoke on phone",
            "content": {"start": 0, "end": 10, "text": f"Quote number {i} about the peace process"},
            "speaker": {"start": 0, "end": 5, "text": speaker, "name": speaker, "country": "RU"},
            "about": ["SY"]}


def rules_for(receiver: Receiver, mailbox: Mailbox | None = None, throttle: str | None = None):
    dests = {"desk": receiver.url, **({"mail": mailbox.url} if mailbox else {})}
    text = "destinations:\n" + "".join(f"  {k}: '{v}'\n" for k, v in dests.items())
    text += "rules:\n  - name: Putin\n    query: 'speaker.name:\"Vladimir Putin\"'\n"
    text += f"    destinations: [{', '.join(dests)}]\n"
    if throttle:
        text += f"    throttle: {throttle}\n"
    return parse_rules(text)


def publish(settings, alerts) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    for a in alerts:
        producer.send(ALERTS.topic(settings), key=a.id.encode(), value=a.model_dump_json().encode())
    producer.flush()
    producer.close()


def run_until(settings, rules, done, timeout=60.0, **options) -> notify.NotifyStats:
    """Run the notifier in a thread until `done()` holds (then stop it), return its stats."""
    stop = threading.Event()
    out = {}
    stats = notify.NotifyStats()
    thread = threading.Thread(target=lambda: out.update(stats=notify.run(settings, stop, rules=rules, stats=stats,
                                                                         **options)))
    thread.start()
    deadline = time.monotonic() + timeout
    while not done(stats) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # let anything extra (a duplicate) show up before stopping
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    assert done(stats), "timed out waiting for deliveries"
    return out["stats"]


def read_dead_letters(settings, n: int, timeout: float = 20.0) -> list[DeadLetter]:
    consumer = KafkaConsumer(DEAD_LETTER.topic(settings), bootstrap_servers=settings.kafka_bootstrap_servers,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=1000)
    got: list[DeadLetter] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        for rec in consumer:
            got.append(DeadLetter.model_validate_json(rec.value))
    consumer.close()
    return got


def test_delivers_each_alert_once_to_http_and_smtp(stack_settings, receiver, mailbox):
    ensure_topics(stack_settings)
    rules = rules_for(receiver, mailbox)
    alerts = [make_alert("Putin", "statements", statement(i), ["desk", "mail"]) for i in range(3)]
    publish(stack_settings, alerts + alerts[:1])  # the first one twice: a replay upstream
    stats = run_until(stack_settings, rules, lambda s: len(receiver.posts) >= 3 and len(mailbox.messages) >= 3)
    assert sorted(p["message"] for p in receiver.posts) == sorted(a.message for a in alerts)
    assert all(t == "newsmon · Putin: Vladimir Putin" for t in receiver.titles())
    zero = next(p["message"] for p in receiver.posts if "news/0" in p["message"])
    assert zero.splitlines() == ["Vladimir Putin (RU):", "“Quote number 0 about the peace process”",
                                 "In: Presidents of Iran and Russia spoke on phone",
                                 "Outlet: mehr · 2016-12-24 21:00 UTC", "https://en.mehrnews.com/news/0", "Rule: Putin"]
    bodies = sorted(m.get_body(("plain",)).get_content() for m in mailbox.messages)
    assert len(bodies) == 3 and all(m["Subject"] == "newsmon · Putin: Vladimir Putin" for m in mailbox.messages)
    assert [b.replace("\r\n", "\n").strip() for b in bodies] == sorted(a.message for a in alerts)
    assert stats.sent == 6 and stats.skipped == 2 and stats.dead_letters == 0


def test_receiver_down_then_up_every_alert_arrives_once_and_restart_does_not_resend(stack_settings, receiver):
    ensure_topics(stack_settings)
    rules = rules_for(receiver)
    first = [make_alert("Putin", "statements", statement(i), ["desk"]) for i in range(2)]
    publish(stack_settings, first)
    run_until(stack_settings, rules, lambda s: len(receiver.posts) == 2, backoff_s=0.2)

    # the receiver goes down; more alerts come in; the notifier is stopped while retrying (a restart)
    receiver.down = True
    later = [make_alert("Putin", "statements", statement(i), ["desk"]) for i in range(2, 6)]
    publish(stack_settings, later)
    run_until(stack_settings, rules, lambda s: receiver.refused >= 3, backoff_s=0.2, max_backoff_s=0.5)
    assert len(receiver.posts) == 2

    # restarted, with the receiver still down for a while, then back
    threading.Timer(3.0, lambda: setattr(receiver, "down", False)).start()
    stats = run_until(stack_settings, rules, lambda s: len(receiver.posts) == 6, backoff_s=0.2, max_backoff_s=0.5)
    messages = [p["message"] for p in receiver.posts]
    assert sorted(messages) == sorted(a.message for a in first + later), "every alert arrived, none twice"
    assert stats.dead_letters == 0

    # a replay of all alerts (e.g. the processor re-emitting them) and another restart: nothing is resent
    publish(stack_settings, first + later)
    stats = run_until(stack_settings, rules, lambda s: s.alerts == 6)
    assert len(receiver.posts) == 6
    assert stats.skipped == 6 and stats.sent == 0


def test_after_the_retry_budget_the_alert_is_dead_lettered(stack_settings, receiver):
    ensure_topics(stack_settings)
    rules = rules_for(receiver)
    receiver.down = True
    alert = make_alert("Putin", "statements", statement(1), ["desk", "nowhere"])
    publish(stack_settings, [alert])
    producer = KafkaProducer(bootstrap_servers=stack_settings.kafka_bootstrap_servers)
    producer.send(ALERTS.topic(stack_settings), key=b"junk", value=b"{not json")
    producer.flush()
    producer.close()
    stats = run_until(stack_settings, rules, lambda s: receiver.refused >= 2 and s.dead_letters >= 3, retry_budget_s=1.0,
                      backoff_s=0.2)
    letters = read_dead_letters(stack_settings, 3)
    assert stats.dead_letters == 3
    reasons = sorted(d.error.split(":")[0] for d in letters)
    assert reasons[1:] == ["not an alert record", "unknown destination 'nowhere' (not in the rules file)"]
    assert reasons[0].startswith("delivery failed after ")
    assert {d.stage for d in letters} == {"notify"}
    failed = next(d for d in letters if d.error.startswith("delivery failed"))
    assert failed.payload["alert"]["id"] == alert.id and failed.payload["destination"] == "desk"
    assert "error=503" in failed.error


def test_throttle_records_instead_of_sending(stack_settings, receiver):
    ensure_topics(stack_settings)
    rules = rules_for(receiver, throttle="1h")
    alerts = [make_alert("Putin", "statements", statement(i), ["desk"]) for i in range(3)]
    publish(stack_settings, alerts)
    stats = run_until(stack_settings, rules, lambda s: len(receiver.posts) >= 1)
    assert len(receiver.posts) == 1 and stats.throttled == 2
    ledger = notify.Ledger.for_settings(stack_settings)
    assert ledger.counts() == {"sent": 1, "throttled": 2}
    ledger.close()


@pytest.fixture
def slow_server(threaded_httpserver):
    """A second HTTP server (threaded) for a receiver slower than apprise's default read timeout (4 s)."""
    return threaded_httpserver


@pytest.mark.timeout(180)
def test_a_slow_receiver_gets_each_alert_once_and_holds_up_no_one_else(stack_settings, receiver, slow_server, caplog):
    ensure_topics(stack_settings)
    slow = Receiver(slow_server, "/slow", delay_s=6.0)
    rules = parse_rules(f"destinations:\n  desk: '{receiver.url}'\n  slow: '{slow.url}'\nrules:\n  - name: Putin\n"
                        f"    query: 'speaker.name:\"Vladimir Putin\"'\n    destinations: [desk, slow]\n")
    alerts = [make_alert("Putin", "statements", statement(i), ["desk", "slow"]) for i in range(3)]
    publish(stack_settings, alerts)
    fast_done: dict[str, float] = {}
    started = time.monotonic()

    def done(stats) -> bool:
        if len(receiver.posts) == 3 and "at" not in fast_done:
            fast_done.update(at=time.monotonic() - started, slow=len(slow.posts))
        return len(slow.posts) == 3 and stats.sent == 6

    stats = run_until(stack_settings, rules, done, timeout=120)
    assert sorted(slow.keys) == sorted(a.id for a in alerts), "each alert once, with its id as Idempotency-Key"
    assert sorted(p["alert_id"] for p in slow.posts) == sorted(a.id for a in alerts)
    assert len(receiver.posts) == 3 and receiver.duplicates() == 0
    assert fast_done["slow"] < 3, "the fast destination had all its alerts before the slow one was through"
    assert stats.dead_letters == 0
    assert not [r for r in caplog.records if "CommitFailedError" in r.getMessage() or "commit failed" in r.getMessage()]


def test_an_attempt_cut_off_by_a_crash_is_sent_again_with_the_same_alert_id(stack_settings, receiver, caplog):
    """A crash between the receiver's answer and the `sent` write leaves `sending`: at-least-once."""
    ensure_topics(stack_settings)
    rules = rules_for(receiver)
    alert = make_alert("Putin", "statements", statement(7), ["desk"])
    ledger = notify.Ledger.for_settings(stack_settings)
    target = stable_id("desk", receiver.url)
    ledger.enqueue(alert, target, "desk")
    ledger.record(alert, target, "desk", "sending", 1)  # what a kill during the attempt leaves behind
    ledger.close()
    publish(stack_settings, [alert])  # the uncommitted alert record is read again too
    stats = run_until(stack_settings, rules, lambda s: len(receiver.posts) >= 1)
    assert receiver.keys == [alert.id] and stats.sent == 1 and stats.skipped == 1
    assert any("may have been delivered before the restart" in r.getMessage() for r in caplog.records)
    ledger = notify.Ledger.for_settings(stack_settings)
    assert ledger.status(alert.id, target) == "sent"
    ledger.close()


def test_dead_deliveries_are_redriven_once_the_receiver_is_back(stack_settings, receiver, monkeypatch):
    ensure_topics(stack_settings)
    rules = rules_for(receiver)
    receiver.down = True
    alerts = [make_alert("Putin", "statements", statement(i), ["desk"]) for i in range(2)]
    publish(stack_settings, alerts)
    run_until(stack_settings, rules, lambda s: s.dead_letters == 2, retry_budget_s=0.5, backoff_s=0.1)
    assert receiver.posts == []
    receiver.down = False
    monkeypatch.setenv("NEWSMON_DATA_DIR", str(stack_settings.data_dir))
    monkeypatch.setenv("NEWSMON_TOPIC_PREFIX", stack_settings.topic_prefix)
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(app, ["alerts", "redeliver", "--since", "2000-01-01"])
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 0 and "2 dead deliveries queued again" in res.output, res.output
    stats = run_until(stack_settings, rules, lambda s: len(receiver.posts) == 2)
    assert sorted(receiver.keys) == sorted(a.id for a in alerts) and stats.sent == 2


def test_a_destination_apprise_cannot_load_is_dead_lettered_at_once(stack_settings, receiver, monkeypatch, caplog):
    """A named destination whose `${NAME}` changed, after the rules were loaded, to a URL apprise cannot load:
    each of its alerts is dead-lettered at once with the reason (no part of the URL), not retried for the
    600 s budget, and the other destination gets every alert meanwhile."""
    import logging

    ensure_topics(stack_settings)
    password = "pw-0f-a-broken-hook"
    monkeypatch.setenv("NEWSMON_TEST_BROKEN_URL", receiver.url)
    rules = parse_rules(f"destinations:\n  desk: '{receiver.url}'\n  broken: '${{NEWSMON_TEST_BROKEN_URL}}'\n"
                        f"rules:\n  - name: Putin\n    query: 'speaker.name:\"Vladimir Putin\"'\n"
                        f"    destinations: [desk, broken]\n")
    monkeypatch.setenv("NEWSMON_TEST_BROKEN_URL", f"json://user:{password}@")
    alerts = [make_alert("Putin", "statements", statement(i), ["desk", "broken"]) for i in range(3)]
    publish(stack_settings, alerts)
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    stats = run_until(stack_settings, rules, lambda s: s.dead_letters >= 3 and s.sent >= 3)  # budget: 600 s
    assert time.monotonic() - started < 30
    letters = read_dead_letters(stack_settings, 3)
    assert stats.dead_letters == 3 and len(receiver.posts) == 3
    assert {d.payload["destination"] for d in letters} == {"broken"}
    assert {d.error.split(":")[0] for d in letters} == {"apprise cannot load this destination's URL (unknown service "
                                                         "or a value it refuses)"}
    assert sorted(d.payload["alert"]["id"] for d in letters) == sorted(a.id for a in alerts)
    assert password not in caplog.text and not [d for d in letters if password in d.model_dump_json()]
    ledger = notify.Ledger.for_settings(stack_settings)
    assert ledger.counts() == {"sent": 3, "dead": 3}
    assert ledger.states(alerts[0].id) == {"desk": "sent", "broken": "dead"}
    ledger.close()
