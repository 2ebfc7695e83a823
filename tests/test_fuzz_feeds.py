"""Mutated RSS and Atom documents through parsing and normalisation: every outcome is items, rejected entries
with a reason, or `MalformedFeed` with a reason; never another exception, never a slow input."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings, strategies as st

from newsmon.producers.config import FeedConfig
from newsmon.producers.normalize import MalformedFeed, parse_feed

FEED = FeedConfig(name="fuzz", url="http://127.0.0.1/feed.xml")
SLOW_S = 10.0
EXAMPLES = 3_000  # mutated documents (two seeds)

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Wire &amp; co</title>
<link>http://example.org/</link><description>d</description>
<item><title>Minister says talks resume</title><link>http://example.org/a?utm_source=x</link>
<guid isPermaLink="false">g-1</guid><pubDate>Sun, 25 Dec 2016 08:00:00 GMT</pubDate>
<description><![CDATA[<p>The minister said on <b>Sunday</b> that talks would resume.</p>]]></description>
<content:encoded><![CDATA[<p>Full text.</p><script>x()</script>]]></content:encoded></item>
<item><title>Second</title><link>/relative/b</link><description>Short &#233; text</description></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title type="html">Agency</title><id>urn:x</id>
<updated>2024-03-01T10:00:00Z</updated>
<entry><title>Envoy quoted</title><id>urn:e1</id><link href="http://example.org/e1"/>
<published>2024-03-01T09:00:00+02:00</published><summary type="html">&lt;p&gt;He said so.&lt;/p&gt;</summary>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Body</p></div></content></entry>
<entry><title>No link</title><id>urn:e2</id><updated>not a date</updated></entry>
</feed>"""

# fragments that crashed or slowed parsers before, and generic XML trouble makers
NASTY = [b"&#x110000;", b"&#9999999999;", b"&#0;", b"&#xD800;", b"\x00", b"\xff\xfe", b"\xed\xa0\x80", b"]]>",
         b"<![CDATA[", b"<!DOCTYPE rss>", b'encoding="\x00"', b'encoding="no-such"', b'encoding="utf-32"',
         b"<item>", b"</item>", b"<entry>", b"<link>", b"</channel>", b"<", b">", b"&", b"&amp", b'"', b"\r\n",
         b"<title>" + b"x" * 5000, b"\xef\xbb\xbf", b"<?xml", b"<rss version=\"0.91\">", b"9999-99-99T99:99:99Z",
         b"Sun, 99 Dec 99999 99:99:99 GMT", b"http://[::1", b"javascript:alert(1)", b"<a href='http://'>"]

mutation = st.tuples(st.floats(0, 1), st.sampled_from(["insert", "delete", "replace", "cut"]),
                     st.one_of(st.sampled_from(NASTY), st.binary(max_size=12)))


def mutate(doc: bytes, mutations: list[tuple[float, str, bytes]]) -> bytes:
    for where, op, piece in mutations:
        at = int(where * len(doc))
        if op == "insert":
            doc = doc[:at] + piece + doc[at:]
        elif op == "delete":
            doc = doc[:at] + doc[at + len(piece) + 1:]
        elif op == "replace":
            doc = doc[:at] + piece + doc[at + len(piece):]
        else:
            doc = doc[:at]
    return doc


class Tally:
    documents = 0
    malformed = 0
    rejected = 0
    slowest_s = 0.0


def check(doc: bytes) -> None:
    started = time.monotonic()
    try:
        parsed = parse_feed(doc, FEED, "http://127.0.0.1/feed.xml", "application/rss+xml")
    except MalformedFeed as exc:
        assert str(exc), "a refused document says why"
        Tally.malformed += 1
    else:
        assert all(r.reason for r in parsed.rejected)
        Tally.rejected += len(parsed.rejected)
        for item in parsed.items:
            item.article.model_dump_json()  # every item can be serialised for the broker
    took = time.monotonic() - started
    Tally.documents += 1
    Tally.slowest_s = max(Tally.slowest_s, took)
    assert took < SLOW_S, f"{took:.1f}s for one document"


def test_mutated_feeds_never_crash_the_parser(capsys):
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(seed=st.sampled_from([RSS, ATOM]), mutations=st.lists(mutation, min_size=1, max_size=6))
    def one(seed, mutations):
        check(mutate(seed, mutations))

    one()
    with capsys.disabled():  # the counts the closing note quotes
        print(f"\nfuzz feeds: {Tally.documents} documents, {Tally.malformed} refused as malformed, "
              f"{Tally.rejected} entries rejected, 0 uncaught exceptions, slowest {Tally.slowest_s:.2f}s")
    assert Tally.documents >= EXAMPLES
