"""Hostile feeds and pages: refused with a reason or bounded, never a leak, never a crash of the whole feed.

Addresses other than loopback appear only as inputs of the pure policy function; everything that connects
does so to the loopback test server.
"""

from __future__ import annotations

import asyncio
import gzip
import time
import zlib

import pytest
from werkzeug import Response

from newsmon.records import RawArticle
from newsmon.settings import Settings
from newsmon.producers.addresses import AddressRefused, first_allowed, parse_networks, refusal, resolve
from newsmon.producers.bodies import BodyError, BodyTooLarge, decode_body
from newsmon.producers.config import FeedConfig
from newsmon.producers.fetch import Refused, TooLarge, fetch, make_client
from newsmon.producers.normalize import FeedItem, MalformedFeed, parse_feed
from newsmon.producers.pages import matches_item, with_page_text
from newsmon.producers.demo import rss_xml

FEED = FeedConfig(name="t", url="http://127.0.0.1/feed.xml")
LOOPBACK = parse_networks(["127.0.0.0/8"])


def settings(tmp_path, **kw) -> Settings:
    return Settings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1", **kw)


def get(url: str, s: Settings, trusted: bool = False):
    async def go():
        async with make_client(s) as clients:
            return await fetch(clients, url, s, trusted=trusted)
    return asyncio.run(go())


# --- the address policy, as a pure function of resolved addresses ---

@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "192.0.2.1", "198.18.0.1",
])
def test_internal_addresses_are_refused(address):
    assert refusal(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.216.34"])
def test_public_addresses_pass(address):
    assert refusal(address) is None


def test_allow_list_lets_loopback_through_and_nothing_else():
    assert refusal("127.0.0.1", LOOPBACK) is None and refusal("::ffff:127.0.0.1", LOOPBACK) is None
    assert refusal("10.0.0.1", LOOPBACK) is not None and refusal("::1", LOOPBACK) is not None


def test_one_internal_address_among_public_ones_refuses_the_host():
    assert first_allowed("h", ["93.184.216.34", "2606:4700:4700::1111"]) == "93.184.216.34"
    with pytest.raises(AddressRefused, match="169.254.169.254 is a link-local address"):
        first_allowed("h", ["93.184.216.34", "169.254.169.254"])
    with pytest.raises(AddressRefused):
        first_allowed("h", [])


@pytest.mark.parametrize("spelling", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.1"])
def test_odd_spellings_of_loopback_resolve_to_it_and_are_refused(spelling):
    addresses = asyncio.run(resolve(spelling, 80))  # numeric forms: resolved locally, no DNS query
    assert addresses == ["127.0.0.1"]
    with pytest.raises(AddressRefused):
        first_allowed(spelling, addresses)


def test_allow_list_setting_is_validated(tmp_path):
    assert settings(tmp_path).untrusted_allow_networks == []
    with pytest.raises(ValueError):
        settings(tmp_path, untrusted_allow_networks=["127.0.0.0/33"])


# --- end to end, loopback only ---

def test_untrusted_link_to_loopback_is_refused_by_default(httpserver, tmp_path):
    httpserver.expect_request("/page").respond_with_data("<html>secret</html>", content_type="text/html")
    s = settings(tmp_path)
    with pytest.raises(Refused, match="loopback"):
        get(httpserver.url_for("/page"), s)
    with pytest.raises(Refused, match="loopback"):  # the decimal form of 127.0.0.1
        get(f"http://2130706433:{httpserver.port}/page", s)
    assert httpserver.log == []  # not one request reached the server
    allowed = settings(tmp_path, untrusted_allow_networks=["127.0.0.0/8"])
    assert get(f"http://2130706433:{httpserver.port}/page", allowed).content == b"<html>secret</html>"


def test_trusted_feed_url_is_fetched_but_its_redirect_to_loopback_is_not(httpserver, tmp_path):
    httpserver.expect_request("/feed.xml").respond_with_data("<rss/>", content_type="application/rss+xml")
    httpserver.expect_request("/moved.xml").respond_with_response(
        Response(status=302, headers={"Location": httpserver.url_for("/internal")}))
    httpserver.expect_request("/internal").respond_with_data("internal page " * 400, content_type="text/html")
    s = settings(tmp_path)
    assert get(httpserver.url_for("/feed.xml"), s, trusted=True).content == b"<rss/>"
    with pytest.raises(Refused, match="loopback"):
        get(httpserver.url_for("/moved.xml"), s, trusted=True)
    assert [r.path for r, _ in httpserver.log] == ["/feed.xml", "/moved.xml"]


def test_redirect_to_a_non_http_scheme_is_refused(httpserver, tmp_path):
    httpserver.expect_request("/r").respond_with_response(Response(status=302, headers={"Location": "file:///etc/passwd"}))
    with pytest.raises(Refused, match="not an http"):
        get(httpserver.url_for("/r"), settings(tmp_path, untrusted_allow_networks=["127.0.0.0/8"]))


def item(link: str, title: str = "Syrian ministers meet in Damascus", summary: str = "Talks on the ceasefire.") -> FeedItem:
    return FeedItem(RawArticle(id="a", feed="t", url=link, title=title, summary=summary, content=summary,
                               content_source="summary"), link)


PAGE = "<html><body><article><h1>x</h1>" + "<p>Syrian ministers meet in Damascus for talks on the ceasefire.</p>" * 30 + "</article></body></html>"


def test_page_without_content_type_is_not_used(httpserver, tmp_path):
    httpserver.expect_request("/bare").respond_with_response(Response(PAGE, headers={}, content_type=None))
    s = settings(tmp_path, untrusted_allow_networks=["127.0.0.0/8"])
    article = asyncio.run(_with_page(item(httpserver.url_for("/bare")), s))
    assert article.content_source == "summary"


def test_item_link_to_loopback_keeps_the_summary_by_default(httpserver, tmp_path):
    httpserver.expect_request("/page").respond_with_data(PAGE, content_type="text/html")
    article = asyncio.run(_with_page(item(httpserver.url_for("/page")), settings(tmp_path)))
    assert article.content_source == "summary" and httpserver.log == []
    allowed = settings(tmp_path, untrusted_allow_networks=["127.0.0.0/8"])
    assert asyncio.run(_with_page(item(httpserver.url_for("/page")), allowed)).content_source == "page"


async def _with_page(it: FeedItem, s: Settings) -> RawArticle:
    async with make_client(s) as clients:
        return await with_page_text(clients, it, FEED, s)


def test_item_without_long_words_matches_no_page():
    article = RawArticle(id="a", feed="t", url="http://x/", title="Oh no! So bad", summary="")
    assert not matches_item("Any page at all, say a login form or an error page.", article)


# --- local files: the body is content, never a path ---

def test_feed_body_that_is_a_path_is_not_opened(tmp_path):
    secret = tmp_path / "feed.xml"
    secret.write_text(rss_xml([{"title": "From a local file", "link": "http://example.org/a", "summary": "s", "guid": "g",
                                "path": "/a", "published": None}]))
    for body in (str(secret).encode(), b"/dev/zero", b"file://" + str(secret).encode()):
        started = time.monotonic()
        with pytest.raises(MalformedFeed):
            parse_feed(body, FEED)
        assert time.monotonic() - started < 2


# --- decompression ---

def test_nested_gzip_bomb_is_refused_while_decoding(httpserver, tmp_path):
    bomb = gzip.compress(gzip.compress(b"\0" * 50_000_000, 9), 9)
    assert len(bomb) < 100_000
    httpserver.expect_request("/bomb").respond_with_data(
        bomb, headers={"Content-Encoding": "gzip, gzip"}, content_type="application/rss+xml")
    with pytest.raises(TooLarge, match="once decoded"):
        get(httpserver.url_for("/bomb"), settings(tmp_path, max_response_bytes=1_000_000), trusted=True)


def test_bounded_decode_of_each_layer():
    body = b"<rss>" + b"x" * 10_000 + b"</rss>"
    assert decode_body(gzip.compress(gzip.compress(body)), "gzip, gzip", 20_000) == body
    assert decode_body(zlib.compress(body), "deflate", 20_000) == body
    assert decode_body(gzip.compress(body[:100]) + gzip.compress(body[100:]), "gzip", 20_000) == body
    with pytest.raises(BodyTooLarge):
        decode_body(gzip.compress(body), "gzip", 5_000)
    with pytest.raises(BodyError, match="unsupported"):
        decode_body(body, "br", 20_000)
    with pytest.raises(BodyError, match="truncated"):
        decode_body(gzip.compress(body)[:50], "gzip", 20_000)


# --- entity expansion and attribute floods ---

LAUGHS = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
          + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
          + ']><rss version="2.0"><channel><title>t</title><item><title>x</title><link>http://example.org/</link>'
          '<description>&i;</description></item></channel></rss>')


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_entity_expansion_is_refused_before_parsing(encoding):
    started = time.monotonic()
    with pytest.raises(MalformedFeed, match="entity declarations"):
        parse_feed(LAUGHS.encode(encoding), FEED)
    assert time.monotonic() - started < 1


def test_attribute_flood_is_refused_before_parsing():
    attrs = " ".join(f'a{i}="x"' for i in range(200_000))
    doc = f'<rss version="2.0"><channel><title {attrs}>t</title></channel></rss>'.encode()
    started = time.monotonic()
    with pytest.raises(MalformedFeed, match="attribute flood"):
        parse_feed(doc, FEED)
    assert time.monotonic() - started < 1


# --- crash signatures found by fuzzing: each a reason, never an exception ---

RSS = ('<?xml version="1.0" encoding="{enc}"?><rss version="2.0"><channel><title>t</title>'
       '<item><title>{title}</title><link>http://example.org/a</link><description>ok</description></item>'
       '<item><title>fine</title><link>http://example.org/b</link><description>ok</description></item>'
       '</channel></rss>')


@pytest.mark.parametrize("body", [
    b"", b"   ", RSS.format(enc="utf-8", title="&#x110000;").encode(),
    RSS.format(enc="utf-8", title="&#9999999999;").encode(), RSS.format(enc="no-such-codec", title="x").encode(),
    RSS.format(enc="utf\0-8", title="x").encode(), RSS.format(enc="utf-8", title="\udcff").encode("utf-8", "surrogatepass"),
])
def test_crash_signatures_become_reasons(body):
    try:
        parsed = parse_feed(body, FEED)
    except MalformedFeed as exc:
        assert str(exc)
        return
    assert parsed.items, "a document that parses yields items"
    assert all(r.reason for r in parsed.rejected)


def test_long_texts_are_cut_and_stored_once():
    doc = RSS.format(enc="utf-8", title="big").replace("<description>ok</description>",
                                                      "<description>" + "word " * 1_000_000 + "</description>", 1)
    parsed = parse_feed(doc.encode(), FEED, max_chars=100_000, max_summary_chars=2_000)
    big = parsed.items[0].article
    assert len(big.content) <= 100_000 and len(big.summary) <= 2_000
    assert len(big.model_dump_json()) < 110_000
