"""Producers against the real local broker (Tansu), with the seed feed served by pytest-httpserver."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from kafka import KafkaConsumer, TopicPartition
from werkzeug import Response

from newsmon.servers.lite import free_port
from newsmon.records import DeadLetter, RawArticle
from newsmon.settings import Settings
from newsmon.streams import DEAD_LETTER, RAW, Stream
from newsmon.topics import ensure_topics
from newsmon.producers.config import FeedConfig
from newsmon.producers.demo import page_html, rss_xml, seed_items
from newsmon.producers.poller import Poller, poll_once, run
from newsmon.producers.publish import Publisher, make_producer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def settings(broker, tmp_path, request) -> Settings:
    """Broker-only settings (no search server needed) with topics unique to the test."""
    name = "p" + str(abs(hash(request.node.nodeid)) % 10**8)
    s = Settings(kafka_bootstrap_servers=broker.bootstrap, data_dir=tmp_path / "data", topic_prefix=name,
                 untrusted_allow_networks=["127.0.0.0/8", "::1"],  # the seed pages are served on loopback
                 partitions=2, http_timeout_s=5)
    ensure_topics(s)
    return s


@pytest.fixture
def seed_site(httpserver):
    """The seed feed (summaries only, with an ETag) and its article pages; returns the feed config."""
    items = seed_items(httpserver.url_for("/").rstrip("/"))
    body = rss_xml(items)

    def feed(request):
        if request.headers.get("If-None-Match") == '"seed-1"':
            return Response(status=304)
        return Response(body, content_type="application/rss+xml", headers={"ETag": '"seed-1"'})

    httpserver.expect_request("/feed.xml").respond_with_handler(feed)
    for item in items:
        httpserver.expect_request(item["path"]).respond_with_data(page_html(item), content_type="text/html")
    return FeedConfig(name="seeds", url=httpserver.url_for("/feed.xml"), tags=["demo"])


def consume(settings: Settings, stream: Stream, expect: int, timeout: float = 10.0) -> list:
    """Every record of a topic (all partitions, no consumer group), waiting up to `timeout` for `expect`."""
    topic = stream.topic(settings)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(settings.partitions)])
        records, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            records += list(consumer)
            if len(records) >= expect:
                break
        time.sleep(0.5)
        records += list(consumer)  # anything beyond what was expected (duplicates) shows up too
        return records
    finally:
        consumer.close()


def test_seed_feed_lands_on_raw_topic_with_full_text(settings, seed_site, seed_texts):
    report = poll_once(settings, [seed_site])
    assert report.errors == {} and report.published == 3

    records = consume(settings, RAW, expect=3)
    articles = [RawArticle.model_validate_json(r.value) for r in records]
    assert len(articles) == 3
    assert all(r.key.decode() == a.id for r, a in zip(records, articles, strict=True))
    by_url = {a.url.rsplit("/", 1)[1]: a for a in articles}
    assert sorted(by_url) == ["000.html", "001.html", "002.html"]
    for num in ("000", "001", "002"):
        article = by_url[f"{num}.html"]
        assert article.content_source == "page" and article.feed == "seeds" and article.tags == ["demo"]
        assert squash(article.content) == squash(seed_texts[num])
        assert seed_texts[num].startswith(article.summary)
    assert by_url["002.html"].published.isoformat() == "2016-12-25T08:00:00+00:00"


def test_second_poll_and_restart_add_nothing(settings, seed_site, httpserver):
    assert poll_once(settings, [seed_site]).published == 3
    second = poll_once(settings, [seed_site])  # a fresh poller: same as a restart on the same data_dir
    assert second.published == 0 and second.feeds["seeds"].not_modified  # conditional GET: 304

    # without the validators (server ignores them) the seen store still skips all three
    httpserver.clear()
    items = seed_items(httpserver.url_for("/").rstrip("/"))
    httpserver.expect_request("/feed.xml").respond_with_data(rss_xml(items), content_type="application/rss+xml")
    third = poll_once(settings, [seed_site])
    assert third.published == 0 and third.seen == 3 and third.errors == {}
    assert len(consume(settings, RAW, expect=3)) == 3


def test_one_poller_polling_twice_adds_nothing(settings, seed_site):
    async def twice():
        async with Poller(settings) as poller:
            return await poller.poll_all([seed_site]), await poller.poll_all([seed_site])

    first, second = asyncio.run(twice())
    assert (first.published, second.published) == (3, 0)
    assert len(consume(settings, RAW, expect=3)) == 3


def test_same_story_in_two_feeds_is_published_once(settings, seed_site):
    twin = seed_site.model_copy(update={"name": "seeds-twin"})
    report = poll_once(settings, [seed_site, twin])
    assert report.published == 3 and report.seen == 3
    assert len(consume(settings, RAW, expect=3)) == 3


def test_unreachable_and_malformed_feeds_are_reported_and_good_feed_publishes(settings, seed_site, httpserver,
                                                                             caplog):
    httpserver.expect_request("/broken.xml").respond_with_data("<rss><channel><item><title>cut off",
                                                               content_type="application/rss+xml")
    feeds = [seed_site,
             FeedConfig(name="offline", url=f"http://127.0.0.1:{free_port()}/rss"),
             FeedConfig(name="broken", url=httpserver.url_for("/broken.xml"))]
    with caplog.at_level(logging.INFO, logger="newsmon.producers"):
        report = poll_once(settings, feeds)
    assert report.feeds["seeds"].published == 3
    assert report.errors == {"offline": "unreachable (connection refused)",
                             "broken": "malformed feed (not well-formed XML: no element found)"}
    assert "feed offline: unreachable (connection refused)" in caplog.text
    assert "feed broken: malformed feed (not well-formed XML: no element found)" in caplog.text
    assert "feed seeds: 3 new, 0 already seen" in caplog.text

    letters = [DeadLetter.model_validate_json(r.value) for r in consume(settings, DEAD_LETTER, expect=1)]
    assert len(letters) == 1
    assert letters[0].stage == "produce" and letters[0].key == "broken" and letters[0].error_type == "MalformedFeed"
    assert "cut off" in letters[0].payload["document"]

    again = poll_once(settings, feeds)  # same broken document: reported again, not dead-lettered again
    assert again.errors["broken"].startswith("malformed feed") and again.published == 0
    assert len(consume(settings, DEAD_LETTER, expect=1, timeout=2)) == 1


def test_malformed_entry_is_dead_lettered_once_and_the_rest_published(settings, httpserver):
    doc = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://x/</link>
<description>d</description>
<item><title>Good one</title><link>{good}</link><description>{text}</description></item>
<item><title>Orphan</title><description>no link, no guid</description></item>
</channel></rss>""".format(good=httpserver.url_for("/good"), text="Long enough text. " * 60)
    httpserver.expect_request("/mixed.xml").respond_with_data(doc, content_type="application/rss+xml")
    feed = FeedConfig(name="mixed", url=httpserver.url_for("/mixed.xml"))
    report = poll_once(settings, [feed])
    assert (report.published, report.rejected, report.errors) == (1, 1, {})
    article = RawArticle.model_validate_json(consume(settings, RAW, expect=1)[0].value)
    assert article.title == "Good one" and article.content_source == "feed"  # full text in the feed: no page fetch

    assert poll_once(settings, [feed]).published == 0
    letters = [json.loads(r.value) for r in consume(settings, DEAD_LETTER, expect=1, timeout=3)]
    assert len(letters) == 1
    assert letters[0]["error"] == "feed mixed: entry 'Orphan' has neither link nor guid"
    assert letters[0]["payload"]["entry"]["summary"] == "no link, no guid"


def test_run_in_a_thread_publishes_and_stops(settings, seed_site, caplog):
    offline = FeedConfig(name="offline", url=f"http://127.0.0.1:{free_port()}/rss", retry_base_s=40)
    stop = threading.Event()
    with caplog.at_level(logging.INFO, logger="newsmon.producers"):
        thread = threading.Thread(target=run, args=(settings, [seed_site, offline], stop))
        thread.start()
        try:
            records = consume(settings, RAW, expect=3, timeout=20)
        finally:
            stop.set()
            thread.join(15)
    assert not thread.is_alive()
    assert len(records) == 3
    assert "feed offline: unreachable (connection refused), retry in " in caplog.text


def test_run_without_broker_reports_and_stops(tmp_path, caplog):
    s = Settings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}", data_dir=tmp_path)
    stop = threading.Event()
    with caplog.at_level(logging.ERROR, logger="newsmon.producers"):
        thread = threading.Thread(target=run, args=(s, [FeedConfig(name="x", url="http://127.0.0.1:9/")], stop))
        thread.start()
        deadline = time.monotonic() + 30
        while "unreachable" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert f"broker {s.kafka_bootstrap_servers}: unreachable (" in caplog.text


PRODUCE = "import typer; from newsmon.producers.cli import produce; typer.run(produce)"


def cli_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "NEWSMON_DATA_DIR": str(settings.data_dir), "NEWSMON_TOPIC_PREFIX": settings.topic_prefix,
            "NEWSMON_PARTITIONS": str(settings.partitions), "NEWSMON_HTTP_TIMEOUT_S": "5",
            "NEWSMON_UNTRUSTED_ALLOW_NETWORKS": json.dumps(settings.untrusted_allow_networks)}


def test_produce_once_cli_reports_each_feed_and_a_restart_adds_nothing(settings, seed_site, tmp_path):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - name: offline\n    url: http://127.0.0.1:{free_port()}/rss\n"
                     f"  - name: seeds\n    url: {seed_site.url}\n")

    def produce_once() -> list[str]:
        done = subprocess.run([sys.executable, "-c", PRODUCE, "--once", "--feeds", str(feeds)],
                              env=cli_env(settings), capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, done.stderr
        assert "feed offline: unreachable (connection refused)" in done.stderr
        return [" ".join(line.split()) for line in done.stdout.splitlines()]

    first = produce_once()
    assert "offline unreachable (connection refused)" in first
    assert "seeds 3 new, 0 already seen" in first
    assert "published 3, already seen 0, malformed entries 0, failed feeds 1 of 2" in first
    second = produce_once()  # a new process on the same data directory
    assert "seeds not modified" in second
    articles = [RawArticle.model_validate_json(r.value) for r in consume(settings, RAW, expect=3)]
    assert len(articles) == 3 and sorted(a.content_source for a in articles) == ["page"] * 3


def test_produce_cli_runs_until_interrupted(settings):
    proc = subprocess.Popen([sys.executable, "-c", PRODUCE, "--demo", "--demo-only"], env=cli_env(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert len(consume(settings, RAW, expect=3, timeout=30)) == 3
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "feed demo: 3 new, 0 already seen, next poll in" in err


def test_items_not_acknowledged_are_not_marked_seen_and_go_out_next_poll(settings, seed_site):
    async def poll(publisher: Publisher):
        async with Poller(settings, publisher=publisher) as poller:
            return await poller.poll_all([seed_site])

    refusing = Publisher(settings, make_producer(settings, max_request_size=300))  # every record is too large
    try:
        failed = asyncio.run(poll(refusing))
    finally:
        refusing.close()
    assert failed.published == 0
    assert failed.errors["seeds"].startswith("publish failed for 3 of 3 items (MessageSizeTooLargeError")
    # nothing was marked seen and the feed's validators were not kept (no 304 next time): all three go out
    assert poll_once(settings, [seed_site]).published == 3
    assert len(consume(settings, RAW, expect=3)) == 3


def test_default_settings_poll_a_loopback_feed_but_not_its_loopback_links(settings, seed_site, httpserver):
    strict = settings.model_copy(update={"untrusted_allow_networks": []})  # the default: links reach public hosts only
    report = poll_once(strict, [seed_site])
    assert report.errors == {} and report.published == 3
    articles = [RawArticle.model_validate_json(r.value) for r in consume(strict, RAW, expect=3)]
    assert {a.content_source for a in articles} == {"summary"} and all(a.summary for a in articles)
    assert [r.path for r, _ in httpserver.log] == ["/feed.xml"]  # no page was requested


def many_items_feed(httpserver, n: int, description: str = "short") -> FeedConfig:
    items = "".join(f"<item><title>Item number {i}</title><link>{httpserver.url_for(f'/a/{i}')}</link>"
                    f"<description>{description}</description></item>" for i in range(n))
    doc = f'<?xml version="1.0"?><rss version="2.0"><channel><title>many</title>{items}</channel></rss>'
    httpserver.expect_request("/many.xml").respond_with_data(doc, content_type="application/rss+xml")
    return FeedConfig(name="many", url=httpserver.url_for("/many.xml"), fetch_pages=False)


def test_items_per_poll_are_capped_and_the_rest_follow(settings, httpserver):
    feed = many_items_feed(httpserver, 25)
    capped = settings.model_copy(update={"max_items_per_poll": 10})
    first = poll_once(capped, [feed]).feeds["many"]
    assert (first.published, first.deferred, first.error) == (10, 15, None)
    second = poll_once(capped, [feed]).feeds["many"]
    assert (second.published, second.seen, second.deferred) == (10, 10, 5)
    assert len(consume(capped, RAW, expect=20)) == 20


def test_oversize_record_is_dead_lettered_once_and_does_not_poison_the_feed(settings, httpserver):
    feed = many_items_feed(httpserver, 2, description="word " * 40_000)
    small = settings.model_copy(update={"max_record_bytes": 50_000})
    first = poll_once(small, [feed]).feeds["many"]
    assert (first.published, first.oversize, first.error) == (0, 2, None)
    second = poll_once(small, [feed]).feeds["many"]
    assert (second.published, second.seen, second.oversize, second.error) == (0, 2, 0, None)
    letters = [json.loads(r.value) for r in consume(small, DEAD_LETTER, expect=2, timeout=5)]
    assert len(letters) == 2 and {d["error_type"] for d in letters} == {"RecordTooLarge"}
    assert "exceeds the limit of 50,000" in letters[0]["error"] and letters[0]["payload"]["content_chars"] > 190_000
