"""What a person watching sees: feed lines only when a feed's state changes, alerts that stand out,
`status` with stages, feeds and one count per stream, piped tables that do not wrap at 80 columns."""

from __future__ import annotations

import io
import logging
import time
from types import SimpleNamespace

from rich.console import Console

from newsmon.alerts.message import make_alert, terminal_lines
from newsmon.alerts.notify import Notifier
from newsmon.cli import _get, _print_feeds, _print_stages
from newsmon.console import PIPED_WIDTH, console
from newsmon.producers.config import FeedConfig
from newsmon.producers.poller import FeedReport, FeedWatch
from newsmon.producers.seen import SeenStore, read_polls
from newsmon.settings import Settings
from newsmon.status import Lag, stream_rows
from newsmon.supervisor import Board

FEED = FeedConfig(name="bbc", url="http://127.0.0.1:9/rss")
REFUSED = "unreachable (connection refused)"


def test_a_feed_is_logged_when_its_state_changes_not_at_every_retry(caplog):
    watch = FeedWatch()
    reports = [FeedReport("bbc", error=REFUSED), FeedReport("bbc", error=REFUSED), FeedReport("bbc", error=REFUSED),
               FeedReport("bbc", error="timeout (no answer within 15s)"), FeedReport("bbc", published=2, seen=1),
               FeedReport("bbc", seen=3)]
    with caplog.at_level(logging.DEBUG, logger="newsmon.producers"):
        for failures, report in zip([1, 2, 3, 4, 0, 0], reports, strict=True):
            watch.polled(FEED, report, failures, 30.0)
    shown = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert shown == [
        ("WARNING", f"feed bbc: {REFUSED}, retry in 30s (backing off; logged again when its state changes)"),
        ("WARNING", "feed bbc: timeout (no answer within 15s), retry in 30s (backing off; logged again when its "
                    "state changes)"),
        ("WARNING", "feed bbc: reachable again after 4 failed polls"),
        ("INFO", "feed bbc: 2 new, 1 already seen, next poll in 30s"),
    ]
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) == 3  # the repeats and the quiet poll


def test_the_summary_names_the_failing_feeds_and_their_next_try():
    watch = FeedWatch()
    watch.polled(FEED, FeedReport("bbc", error=REFUSED), 3, 120.0)
    watch.polled(FeedConfig(name="demo", url="http://127.0.0.1:8/feed.xml"), FeedReport("demo", published=3), 0, 60.0)
    failing, text = watch.summary()
    due = time.strftime("%H:%M", time.localtime(watch.last["bbc"].next_poll_at))
    assert failing and text == f"feeds: 1 of 2 ok, 1 failing: bbc (unreachable, 3 in a row, next try {due})"


def test_each_poll_is_recorded_where_status_reads_it(tmp_path):
    watch = FeedWatch()
    with SeenStore.in_dir(tmp_path) as store:
        store.record_poll(watch.polled(FEED, FeedReport("bbc", error=REFUSED), 2, 60.0))
        store.record_poll(watch.polled(FEED, FeedReport("bbc", error=REFUSED), 3, 120.0))
    [poll] = read_polls(tmp_path)
    assert (poll.feed, poll.outcome, poll.detail, poll.failures) == ("bbc", "unreachable", REFUSED, 3)
    assert 119 <= poll.next_poll_at - poll.polled_at <= 121
    assert read_polls(tmp_path / "nothing-here") == []


def test_status_shows_each_stage_and_each_feed(tmp_path):
    board = Board(tmp_path, ["processor", "sink"])
    board.started("processor")
    board.started("sink")
    board.failed("sink", "ConnectionError: Elasticsearch gone")
    with SeenStore.in_dir(tmp_path) as store:
        store.record_poll(FeedWatch().polled(FEED, FeedReport("bbc", error=REFUSED), 1, 30.0))
    out = Console(file=io.StringIO(), width=200)
    _print_stages(out, tmp_path)
    _print_feeds(out, tmp_path)
    text = out.file.getvalue()
    assert "stages of newsmon up" in text
    rows = {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") > 3}
    assert "running" in rows["processor"]
    assert "restarting" in rows["sink"] and "Elasticsearch gone" in rows["sink"]
    assert "unreachable" in rows["bbc"] and REFUSED in rows["bbc"]


def test_streams_are_counted_once():
    settings = Settings(kafka_bootstrap_servers="k:1", elasticsearch_url="http://e:2")
    sizes = {"newsmon.raw": 3, "newsmon.statements": 33, "newsmon.sightings": 2}
    counts = {"newsmon-statements": 30, "newsmon-articles": 3}
    lags = [Lag("newsmon-sink", "newsmon.statements", 28, 33), Lag("newsmon-processor", "newsmon.raw", 3, 3)]
    rows = {r.stream: r for r in stream_rows(settings, sizes, counts, lags)}
    assert (rows["statements"].count, rows["statements"].where) == (30, "index newsmon-statements")
    assert rows["statements"].waiting == {"newsmon-sink": 5}
    assert (rows["raw"].count, rows["raw"].where, rows["raw"].waiting) == (3, "topic newsmon.raw",
                                                                          {"newsmon-processor": 0})
    assert rows["sightings"].count == 2 and rows["events"].count is None


STATEMENT = {"id": "s1", "feed": "reuters-world", "via": "IRNA", "url": "https://example.org/a/1",
             "title": "Rouhani on Aleppo", "speaker": {"text": "Rouhani", "name": "Hassan Rouhani", "country": "IR"},
             "content": {"text": "Aleppo victory must be followed\nby political negotiations"}}
EVENT = {"id": "e1", "feed": "demo", "url": "http://127.0.0.1:8765/articles/001.html", "type": "consult",
         "trigger": {"text": "phone call"}, "actors": [{"text": "Zarif", "name": "Mohammad Javad Zarif"},
                                                       {"text": "Lavrov", "name": "Sergey Lavrov"}]}


def test_an_alert_shows_rule_speaker_outlet_first_line_and_link():
    alert = make_alert("Rouhani", "statements", STATEMENT, [])
    assert terminal_lines(alert) == ("Rouhani · Hassan Rouhani (IR) · reuters-world via IRNA",
                                     "“Aleppo victory must be followed”", "https://example.org/a/1")
    head, first, link = terminal_lines(make_alert("Zarif-Lavrov", "events", EVENT, []))
    assert head == "Zarif-Lavrov · Mohammad Javad Zarif, Sergey Lavrov · demo"
    assert first == "consult: phone call" and link == EVENT["url"]
    out = Console(file=io.StringIO(), width=60)
    Notifier.print(SimpleNamespace(console=out), alert)  # type: ignore[arg-type]
    printed = out.file.getvalue().splitlines()
    assert printed[0] == " ALERT  Rouhani · Hassan Rouhani (IR) · reuters-world via IRNA"  # not wrapped at 60
    assert printed[1].strip() == "“Aleppo victory must be followed”" and printed[2].strip() == STATEMENT["url"]


def test_piped_output_is_as_wide_as_its_content(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    piped = console()
    assert not piped.is_terminal and piped.width == PIPED_WIDTH
    piped.file = io.StringIO()
    piped.print("x" * 300)
    assert piped.file.getvalue() == "x" * 300 + "\n"
    monkeypatch.setenv("COLUMNS", "120")
    assert console().width == 120


def test_the_events_table_lists_actors():
    assert _get(EVENT, "actors.name|actors.text") == ["Mohammad Javad Zarif", "Sergey Lavrov"]
    assert _get({"actors": [{"text": "Damascus"}]}, "actors.name|actors.text") == ["Damascus"]
    assert _get({"actors": []}, "actors.name|actors.text") is None
