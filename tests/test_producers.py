"""Producers, unit level: feed list, canonical links, normalisation, fetch bounds, backoff, seen store, pages."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import datetime, timezone

import httpx
import pytest
from werkzeug import Response

from newsmon.records import stable_id
from newsmon.settings import Settings
from newsmon.producers.config import FeedConfig, FeedConfigError, load_feeds, parse_feeds
from newsmon.producers.demo import page_html, rss_xml, seed_items, serve_demo
from newsmon.producers.fetch import (FetchTimeout, HTTPStatusError, TooLarge, TooManyRedirects, Unreachable, Validators,
                             fetch, make_client)
from newsmon.servers.lite import free_port as closed_port
from newsmon.producers.normalize import MalformedFeed, canonical_url, html_to_text, parse_feed
from newsmon.producers.pages import extract_main_text, with_page_text
from newsmon.producers.poller import backoff_s, human_s, next_wait_s
from newsmon.producers.seen import SeenStore

FEED = FeedConfig(name="test", url="http://127.0.0.1/feed.xml")


def squash(text: str) -> str:
    return " ".join(text.split())


def settings(tmp_path, **kw) -> Settings:
    """Test settings: item links and pages on the loopback test server may be fetched (default: refused)."""
    kw.setdefault("untrusted_allow_networks", ["127.0.0.0/8", "::1"])
    return Settings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1", **kw)


def get(url: str, s: Settings, validators: Validators | None = None):
    async def go():
        async with make_client(s) as client:
            return await fetch(client, url, s, validators)
    return asyncio.run(go())


# --- feed list ---------------------------------------------------------------------------------------


def test_default_feed_list_is_valid_and_covers_all_sides():
    feeds = load_feeds(Settings().feeds_file)
    assert len(feeds) >= 15
    assert len({f.name for f in feeds}) == len(feeds)
    tags = {t for f in feeds for t in f.tags}
    assert {"SY", "IR", "RU", "state-media", "independent"} <= tags
    assert all(f.language == "en" and f.url.startswith("https://") for f in feeds)


def test_feed_list_defaults_apply_and_entries_override():
    feeds = parse_feeds({"defaults": {"interval_s": 120, "tags": ["x"]},
                         "feeds": [{"name": "a", "url": "https://a.example/rss"},
                                   {"name": "b", "url": "https://b.example/rss", "interval_s": 30}]})
    assert [f.interval_s for f in feeds] == [120, 30]
    assert feeds[0].tags == ["x"]


@pytest.mark.parametrize("text, message", [
    ("feeds: [", "not valid YAML"),
    ("- name: a\n", "feed a: url: Field required"),
    ("feeds:\n  - name: a\n    url: ftp://a.example/rss\n", "url must start with http"),
    ("feeds:\n  - {name: a, url: 'https://a.example'}\n  - {name: a, url: 'https://b.example'}\n",
     "duplicate feed names ['a']"),
    ("feeds:\n  - {name: a, url: 'https://a.example', interval: 5}\n", "feed a: interval: Extra inputs"),
    ("feeds:\n  - {name: a, url: 'https://a.example', interval_s: -1}\n", "interval_s: Input should be greater"),
    ("title: x\n", "expected a mapping with a 'feeds' list"),
])
def test_invalid_feed_list_has_clear_error(tmp_path, text, message):
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    with pytest.raises(FeedConfigError) as err:
        load_feeds(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_missing_feed_list_has_clear_error(tmp_path):
    with pytest.raises(FeedConfigError, match="cannot read feed list"):
        load_feeds(tmp_path / "nope.yaml")


# --- canonical links and normalisation ---------------------------------------------------------------


@pytest.mark.parametrize("url, expected", [
    ("HTTPS://WWW.Example.COM:443/World/Story-1?utm_source=rss&utm_medium=feed&id=7#comments",
     "https://www.example.com/World/Story-1?id=7"),
    ("http://example.com/a?fbclid=abc&gclid=def", "http://example.com/a"),
    ("http://example.com:80/a?b=2&a=1&mc_cid=9&xtor=RSS-3", "http://example.com/a?a=1&b=2"),
    ("  https://example.com/path/with%20space/#top ", "https://example.com/path/with%20space/"),
    ("https://example.com:8443/a", "https://example.com:8443/a"),
])
def test_canonical_url(url, expected):
    assert canonical_url(url) == expected


def test_same_story_with_tracking_params_gets_same_id():
    a = canonical_url("https://news.example/s/1?utm_campaign=x")
    b = canonical_url("https://NEWS.example/s/1#frag")
    assert a == b and stable_id(a) == stable_id(b)


def test_html_to_text_keeps_paragraphs_and_drops_markup():
    html = "<p>First &amp; <b>bold</b>.</p><script>x()</script><p>Second<br/>line</p>"
    assert html_to_text(html) == "First & bold.\nSecond\nline"
    assert html_to_text("plain   text\n\n more") == "plain text\nmore"
    assert html_to_text(None) == ""


def test_seed_feed_normalises(seed_texts):
    base = "http://127.0.0.1:8000"
    parsed = parse_feed(rss_xml(seed_items(base)).encode(), FEED, base + "/feed.xml", "application/rss+xml")
    arts = [i.article for i in parsed.items]
    assert len(arts) == 3 and not parsed.rejected
    assert [a.url for a in arts] == [f"{base}/articles/{n}.html" for n in ("000", "001", "002")]
    assert [a.id for a in arts] == [stable_id(a.url) for a in arts]
    assert [a.published for a in arts] == [datetime(2016, 3, 29, 9, tzinfo=timezone.utc),
                                           datetime(2017, 1, 10, 10, tzinfo=timezone.utc),
                                           datetime(2016, 12, 25, 8, tzinfo=timezone.utc)]
    assert all(a.content_source == "summary" and a.feed == "test" and a.language == "en" for a in arts)
    assert arts[0].title.startswith("Putin and Rouhani")
    assert seed_texts["001"].startswith(arts[1].summary)
    full = parse_feed(rss_xml(seed_items(base), full_content=True).encode(), FEED)
    for item, num in zip(full.items, ("000", "001", "002"), strict=True):
        assert item.article.content_source == "feed"
        assert squash(item.article.content) == squash(seed_texts[num])


RSS_ITEMS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>t</title><link>http://x.example/</link><description>d</description>
{items}
</channel></rss>"""


def test_published_is_converted_to_utc_and_missing_dates_stay_empty():
    doc = RSS_ITEMS.format(items="""
<item><title>A</title><link>http://x.example/a</link><pubDate>Tue, 29 Mar 2016 12:30:00 +0330</pubDate></item>
<item><title>B</title><link>http://x.example/b</link></item>""")
    a, b = (i.article for i in parse_feed(doc.encode(), FEED).items)
    assert a.published == datetime(2016, 3, 29, 9, 0, tzinfo=timezone.utc)
    assert b.published is None


def test_guid_is_the_id_when_there_is_no_link():
    doc = RSS_ITEMS.format(items='<item><title>A</title><guid isPermaLink="false">tag:x,2016:1</guid></item>')
    (item,) = parse_feed(doc.encode(), FEED).items
    assert item.article.id == stable_id("tag:x,2016:1") and item.link is None


def test_malformed_entry_is_rejected_and_the_rest_flows():
    doc = RSS_ITEMS.format(items="""
<item><title>Good</title><link>http://x.example/good</link><description>fine</description></item>
<item><title>No link or guid</title><description>orphan</description></item>
<item><title>Bad link</title><link>javascript:alert(1)</link></item>""")
    parsed = parse_feed(doc.encode(), FEED)
    assert [i.article.title for i in parsed.items] == ["Good"]
    reasons = [r.reason for r in parsed.rejected]
    assert reasons == ["entry 'No link or guid' has neither link nor guid",
                       "link is not an http(s) URL: 'javascript:alert(1)'"]
    assert parsed.rejected[0].entry["summary"] == "orphan"


@pytest.mark.parametrize("doc, reason", [
    (b"<rss><channel><item><title>unclosed", "not well-formed XML: no element found"),
    (b"<html><body><h1>Not found</h1></body></html>", "not an RSS or Atom document"),
    (b"\x00\x01\x02 binary junk", ""),
])
def test_malformed_feed_is_an_error_with_reason(doc, reason):
    with pytest.raises(MalformedFeed) as err:
        parse_feed(doc, FEED)
    assert reason in str(err.value) and str(err.value)


def test_empty_but_valid_feed_is_not_an_error():
    assert parse_feed(RSS_ITEMS.format(items="").encode(), FEED).items == []


# --- fetching ------------------------------------------------------------------------------------------


def test_conditional_get_returns_not_modified(httpserver, tmp_path):
    def handler(request):
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response("<rss/>", headers={"ETag": '"v1"', "Last-Modified": "Tue, 29 Mar 2016 09:00:00 GMT"})

    httpserver.expect_request("/feed").respond_with_handler(handler)
    s = settings(tmp_path)
    first = get(httpserver.url_for("/feed"), s)
    assert first.status == 200 and first.validators == Validators('"v1"', "Tue, 29 Mar 2016 09:00:00 GMT")
    second = get(httpserver.url_for("/feed"), s, first.validators)
    assert second.not_modified and second.content is None


def test_size_limit_declared_and_streamed(httpserver, tmp_path):
    s = settings(tmp_path, max_response_bytes=1000)
    httpserver.expect_request("/big").respond_with_data(b"x" * 5000)

    def chunked(_request):
        return Response((b"y" * 400 for _ in range(10)), direct_passthrough=True)  # no Content-Length

    httpserver.expect_request("/stream").respond_with_handler(chunked)
    httpserver.expect_request("/ok").respond_with_data(b"z" * 1000)
    with pytest.raises(TooLarge, match="5,000 bytes, limit 1,000"):
        get(httpserver.url_for("/big"), s)
    with pytest.raises(TooLarge, match="exceeds the limit of 1,000 bytes"):
        get(httpserver.url_for("/stream"), s)
    assert len(get(httpserver.url_for("/ok"), s).content) == 1000


def test_redirect_limit(httpserver, tmp_path):
    s = settings(tmp_path, max_redirects=2)
    for i in range(4):
        httpserver.expect_request(f"/r{i}").respond_with_response(
            Response(status=301, headers={"Location": httpserver.url_for(f"/r{i + 1}")}))
    httpserver.expect_request("/r4").respond_with_data("<rss/>")
    with pytest.raises(TooManyRedirects, match="more than 2 redirects"):
        get(httpserver.url_for("/r0"), s)
    result = get(httpserver.url_for("/r2"), s)
    assert result.url == httpserver.url_for("/r4") and result.content == b"<rss/>"


def test_http_error_status(httpserver, tmp_path):
    httpserver.expect_request("/gone").respond_with_data("no", status=410)
    with pytest.raises(HTTPStatusError, match="HTTP 410") as err:
        get(httpserver.url_for("/gone"), settings(tmp_path))
    assert err.value.status == 410


def test_unreachable_host_is_reported(tmp_path):
    with pytest.raises(Unreachable, match="connection refused") as err:
        get(f"http://127.0.0.1:{closed_port()}/feed", settings(tmp_path))
    assert err.value.kind == "unreachable"


def test_timeout(httpserver, tmp_path):
    def slow(_request):
        time.sleep(1.5)
        return Response("late")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    with pytest.raises(FetchTimeout, match="0.3s"):
        get(httpserver.url_for("/slow"), settings(tmp_path, http_timeout_s=0.3))


# --- schedule ------------------------------------------------------------------------------------------


def test_backoff_schedule_doubles_and_is_capped():
    feed = FeedConfig(name="f", url="https://f.example", interval_s=600, retry_base_s=30, retry_max_s=600)
    assert [backoff_s(feed, n) for n in range(7)] == [600, 30, 60, 120, 240, 480, 600]
    assert backoff_s(feed, 10_000) == 600


def test_waits_are_jittered_within_bounds():
    feed = FeedConfig(name="f", url="https://f.example", interval_s=100, jitter=0.2)
    rng = random.Random(1)
    waits = [next_wait_s(feed, 0, rng) for _ in range(200)]
    assert all(80 <= w <= 120 for w in waits) and len({round(w, 3) for w in waits}) > 100
    assert [human_s(s) for s in (40, 600, 3900)] == ["40s", "10m", "1h05m"]


# --- seen store ----------------------------------------------------------------------------------------


def test_seen_store_survives_restart(tmp_path):
    with SeenStore.in_dir(tmp_path) as store:
        assert store.unseen(["a", "b"]) == {"a", "b"}
        store.mark_seen([("a", "f", "http://x/a")])
        store.set_validators("f", "http://x/feed", Validators('"e1"', "Mon, 28 Mar 2016 10:00:00 GMT"))
    with SeenStore.in_dir(tmp_path) as store:
        assert store.unseen(["a", "b"]) == {"b"} and store.is_seen("a") and store.count() == 1
        assert store.validators("f", "http://x/feed") == Validators('"e1"', "Mon, 28 Mar 2016 10:00:00 GMT")
        assert store.validators("f", "http://x/moved") == Validators()  # a changed URL starts afresh


def test_seen_store_forgets_old_ids(tmp_path):
    with SeenStore.in_dir(tmp_path) as store:
        store.mark_seen([("a", "f", "u")])
        assert store.forget_older_than(1) == 0
        assert store.forget_older_than(-1) == 1 and store.unseen(["a"]) == {"a"}


# --- pages and demo site -------------------------------------------------------------------------------


def test_page_main_text_is_the_full_seed_text(seed_texts):
    for item in seed_items("http://127.0.0.1:8000"):
        text = extract_main_text(page_html(item).encode(), item["link"], item["title"])
        assert squash(text) == squash(seed_texts[item["id"]])


def test_page_failure_keeps_summary_with_log_line(httpserver, tmp_path, caplog):
    httpserver.expect_request("/articles/000.html").respond_with_data("gone", status=404)
    base = httpserver.url_for("/").rstrip("/")
    (item, *_) = parse_feed(rss_xml(seed_items(base)).encode(), FEED).items

    async def go():
        async with make_client(settings(tmp_path)) as client:
            return await with_page_text(client, item, FEED, settings(tmp_path))

    with caplog.at_level(logging.WARNING, logger="newsmon.producers"):
        article = asyncio.run(go())
    assert article.content_source == "summary" and article.content == item.article.summary
    assert f"feed test: page {base}/articles/000.html not used (HTTP 404 NOT FOUND); keeping the summary" \
        in caplog.text


def test_demo_server_serves_feed_pages_and_304(seed_texts):
    with serve_demo(port=0) as demo:
        feed = httpx.get(demo.feed_url)
        assert feed.status_code == 200 and "rss" in feed.headers["content-type"]
        parsed = parse_feed(feed.content, demo.feed(), demo.feed_url, feed.headers["content-type"])
        assert len(parsed.items) == 3 and all(i.article.content_source == "summary" for i in parsed.items)
        page = httpx.get(parsed.items[2].link)
        assert squash(extract_main_text(page.content)).endswith(squash(seed_texts["002"]))
        again = httpx.get(demo.feed_url, headers={"If-None-Match": feed.headers["etag"]})
        assert again.status_code == 304
        feed_config = demo.feed()
        assert feed_config.url == demo.feed_url and feed_config.name == "demo"


def test_page_that_does_not_match_the_item_is_not_used(httpserver, tmp_path, caplog):
    consent = ("<html><body><article><h1>Before you continue</h1>" + "<p>We use cookies and data to deliver and "
               "maintain services, measure audience engagement and show personalised advertising.</p>" * 8
               + "</article></body></html>")
    httpserver.expect_request("/articles/001.html").respond_with_data(consent, content_type="text/html")
    base = httpserver.url_for("/").rstrip("/")
    item = parse_feed(rss_xml(seed_items(base)).encode(), FEED).items[1]

    async def go():
        async with make_client(settings(tmp_path)) as client:
            return await with_page_text(client, item, FEED, settings(tmp_path))

    with caplog.at_level(logging.WARNING, logger="newsmon.producers"):
        article = asyncio.run(go())
    assert article.content_source == "summary"
    assert "does not match the item" in caplog.text


def test_retry_after_is_read_from_throttling_answers(httpserver, tmp_path):
    httpserver.expect_request("/busy").respond_with_data("slow down", status=429, headers={"Retry-After": "120"})
    with pytest.raises(HTTPStatusError, match="HTTP 429") as err:
        get(httpserver.url_for("/busy"), settings(tmp_path))
    assert err.value.retry_after_s == 120


def test_plain_text_titles_keep_angle_brackets_and_html_summaries_lose_markup():
    doc = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:t</id><updated>2017-01-09T00:00:00Z</updated>
<entry><title type="text">Tehran &lt;-&gt; Moscow: talks</title><id>urn:1</id><link href="http://x.example/1"/>
<updated>2017-01-09T18:00:00+03:00</updated>
<summary type="html">&lt;p&gt;Lavrov &amp;amp; Zarif &lt;b&gt;spoke&lt;/b&gt;.&lt;/p&gt;</summary></entry></feed>"""
    (item,) = parse_feed(doc.encode(), FEED).items
    assert item.article.title == "Tehran <-> Moscow: talks"
    assert item.article.summary == "Lavrov & Zarif spoke."
    assert item.article.published == datetime(2017, 1, 9, 15, tzinfo=timezone.utc)


def test_permanent_redirect_is_noted(httpserver, tmp_path):
    httpserver.expect_request("/old").respond_with_response(
        Response(status=301, headers={"Location": httpserver.url_for("/new")}))
    httpserver.expect_request("/tmp").respond_with_response(
        Response(status=302, headers={"Location": httpserver.url_for("/new")}))
    httpserver.expect_request("/new").respond_with_data("<rss/>")
    assert get(httpserver.url_for("/old"), settings(tmp_path)).moved_to == httpserver.url_for("/new")
    assert get(httpserver.url_for("/tmp"), settings(tmp_path)).moved_to is None
