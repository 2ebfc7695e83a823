"""The demo feed: the three seed articles as an RSS feed (summaries only) plus their article pages.

`serve_demo()` serves them on 127.0.0.1 so `newsmon up --demo` shows the whole pipeline offline, and
exercises the page-fetch path (the feed has only summaries; the pages have the full text).
Tests serve `rss_xml(seed_items(url))` with pytest-httpserver instead.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from feedgen.feed import FeedGenerator

from newsmon.settings import ConfigurationError, Settings
from newsmon.producers.config import FeedConfig

log = logging.getLogger("newsmon.producers")

SEEDS_DIR = Path(__file__).resolve().parent / "seeds"  # shipped as package data: the demo needs nothing beside it
DEMO_FEED_NAME = "demo"
DEMO_TITLE = "newsmon demo: Iran-Russia contacts on Syria"
DEMO_PORT = 8765  # preferred port: article ids derive from the links, so a stable port keeps them stable

# Metadata the seed texts do not carry (see the seeds README): titles written from their content,
# publication times from the dates the texts give.
SEED_META: dict[str, dict[str, Any]] = {
    "000": {"title": "Putin and Rouhani agree to strengthen contacts on Syria after Palmyra recapture",
            "published": datetime(2016, 3, 29, 9, 0, tzinfo=timezone.utc)},
    "001": {"title": "Zarif and Lavrov discuss upcoming intra-Syrian peace talks in Astana",
            "published": datetime(2017, 1, 10, 10, 0, tzinfo=timezone.utc)},
    "002": {"title": "Rouhani, Putin: Aleppo victory must be followed by political negotiations",
            "published": datetime(2016, 12, 25, 8, 0, tzinfo=timezone.utc)},
}


class SeedsNotFound(ConfigurationError, FileNotFoundError):
    """The seed articles are not where the repository layout puts them."""


def seed_texts(seeds_dir: Path | None = None) -> dict[str, str]:
    """The seed article texts by number ('000', '001', '002'), from `seeds_dir` (default: `SEEDS_DIR`)."""
    seeds_dir = seeds_dir or SEEDS_DIR
    files = sorted(seeds_dir.glob("[0-9][0-9][0-9]_*.txt")) if seeds_dir.is_dir() else []
    if not files:
        raise SeedsNotFound(f"seed articles not found in {seeds_dir} (they ship with newsmon as "
                            "producers/seeds/*.txt: reinstall the package)")
    return {p.name[:3]: p.read_text(encoding="utf-8") for p in files}


def _first_sentence(text: str, max_chars: int = 320) -> str:
    para = text.strip().split("\n", 1)[0]
    match = re.match(r"(.+?[.!?][\"”]?)(\s|$)", para)
    sentence = match.group(1) if match else para
    return sentence if len(sentence) <= max_chars else sentence[:max_chars].rsplit(" ", 1)[0] + "…"


def seed_items(base_url: str) -> list[dict[str, Any]]:
    """The seed articles as feed items, with links under `base_url` (`<base_url>/articles/<id>.html`).

    Keys: id, title, link, guid, path, published (UTC datetime), summary (first sentence), text (full text).
    """
    base = base_url.rstrip("/")
    items = []
    for num, text in seed_texts().items():
        meta = SEED_META.get(num, {"title": _first_sentence(text, 80), "published": None})
        path = f"/articles/{num}.html"
        items.append({"id": num, "title": meta["title"], "link": base + path, "guid": f"newsmon-seed-{num}",
                      "path": path, "published": meta["published"], "summary": _first_sentence(text),
                      "text": text})
    return items


def rss_xml(items: list[dict[str, Any]], title: str = DEMO_TITLE, link: str | None = None,
            full_content: bool = False) -> str:
    """A valid RSS 2.0 document of `items` (from `seed_items`): summaries only, or with the full text as
    `content:encoded` when `full_content`."""
    fg = FeedGenerator()
    fg.title(title)
    fg.link(href=link or (items[0]["link"].rsplit("/articles/", 1)[0] + "/" if items else "http://127.0.0.1/"))
    fg.description("The newsmon seed articles, served locally.")
    fg.language("en")
    dates = [i["published"] for i in items if i.get("published")]
    if dates:
        fg.lastBuildDate(max(dates))  # same items, same document (and ETag) on every run
    for item in reversed(items):  # feedgen prepends: keep the given order in the document
        fe = fg.add_entry()
        fe.title(item["title"])
        fe.link(href=item["link"])
        fe.guid(item["guid"], permalink=False)
        if item.get("published"):
            fe.pubDate(item["published"])
        fe.description(item["summary"])
        if full_content:
            fe.content(_paragraphs_html(item["text"]), type="CDATA")
    return fg.rss_str(pretty=True).decode("utf-8")


def _paragraphs_html(text: str) -> str:
    return "\n".join(f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n") if p.strip())


def page_html(item: dict[str, Any]) -> str:
    """The article page of a seed item: site chrome around an <article> with the full text."""
    title = html.escape(item["title"])
    date = item["published"].isoformat() if item.get("published") else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | newsmon demo</title>
<meta property="og:title" content="{title}"><meta property="article:published_time" content="{date}"></head>
<body>
<header><nav><a href="/">Home</a> | <a href="/feed.xml">RSS</a> | <a href="/about">About</a></nav></header>
<main><article>
<h1>{title}</h1>
<p class="meta"><time datetime="{date}">{date[:10]}</time></p>
{_paragraphs_html(item["text"])}
</article></main>
<footer><p>newsmon demo site. Served locally for the offline demo.</p></footer>
</body></html>
"""


@dataclass
class DemoServer:
    """A local HTTP server (background thread) serving `/feed.xml` and `/articles/<id>.html`."""

    server: ThreadingHTTPServer
    thread: threading.Thread
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def feed_url(self) -> str:
        return self.url + "/feed.xml"

    def feed(self, name: str = DEMO_FEED_NAME, interval_s: float = 60.0) -> FeedConfig:
        """The feed entry for this server."""
        return FeedConfig(name=name, url=self.feed_url, interval_s=interval_s, tags=["demo"])

    def settings(self, settings: Settings) -> Settings:
        """`settings` with this server's address allowed for item links (its pages are on loopback), unless
        the operator set `untrusted_allow_networks` already."""
        if "untrusted_allow_networks" in settings.model_fields_set:
            return settings
        host = self.server.server_address[0]
        return settings.model_copy(update={"untrusted_allow_networks": [host]})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def __enter__(self) -> "DemoServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_demo(host: str = "127.0.0.1", port: int | None = None) -> DemoServer:
    """Start the demo site in a background thread; `stop()` it when done.

    `port=None` takes `DEMO_PORT` if free (same links, so same article ids, across restarts), else any free
    port; `port=0` takes any free port.
    """
    routes: dict[str, tuple[str, bytes]] = {}
    try:
        server = ThreadingHTTPServer((host, DEMO_PORT if port is None else port), _handler(routes))
    except OSError:
        if port is not None:
            raise
        server = ThreadingHTTPServer((host, 0), _handler(routes))
    demo = DemoServer(server, threading.Thread(target=server.serve_forever, name="newsmon-demo", daemon=True))
    demo.items = seed_items(demo.url)
    routes["/feed.xml"] = ("application/rss+xml; charset=utf-8", rss_xml(demo.items).encode("utf-8"))
    for item in demo.items:
        routes[item["path"]] = ("text/html; charset=utf-8", page_html(item).encode("utf-8"))
    demo.thread.start()
    log.debug("demo feed at %s", demo.feed_url)
    return demo


def _handler(routes: dict[str, tuple[str, bytes]]) -> type[BaseHTTPRequestHandler]:
    started = formatdate(usegmt=True)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                self.send_error(404)
                return
            ctype, body = route
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", started)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("demo server: " + fmt, *args)

    return Handler
