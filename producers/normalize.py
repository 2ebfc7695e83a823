"""Feed parsing (feedparser) and normalisation of items into `RawArticle` records."""

from __future__ import annotations

import calendar
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.sax import SAXParseException

import feedparser
import lxml.html
from courlan import normalize_url, scrub_url
from lxml.etree import ParserError

from newsmon.records import RawArticle, stable_id
from newsmon.producers.config import FeedConfig

log = logging.getLogger("newsmon.producers")

_BLOCK_TAGS = {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure",
               "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "ol", "p", "pre",
               "section", "table", "tr", "ul"}


class MalformedFeed(ValueError):
    """The document is not a readable RSS/Atom feed; the message says why."""


class MalformedEntry(ValueError):
    """One feed entry cannot become an article; the message says why."""


@dataclass
class FeedItem:
    """A normalised feed item: the record to publish and the link exactly as the feed gave it."""

    article: RawArticle
    link: str | None


@dataclass
class Rejected:
    """A feed entry that was skipped, with the reason and what the entry held."""

    reason: str
    entry: dict[str, Any]


@dataclass
class ParsedFeed:
    title: str
    items: list[FeedItem] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    warning: str | None = None  # feedparser noticed a problem but could still read entries


def canonical_url(url: str) -> str:
    """The link without tracking parameters (utm_*, fbclid, gclid, ...) or fragment, scheme and host in
    lower case, default port dropped, query parameters sorted."""
    url = url.strip()
    parts = urlsplit(scrub_url(url))
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise MalformedEntry(f"link is not an http(s) URL: {url!r}")
    clean = normalize_url(parts)
    return urlunsplit(urlsplit(clean)._replace(fragment=""))


def html_to_text(html: str | None, content_type: str = "text/html") -> str:
    """Plain text of an HTML fragment: one line per block element, whitespace squeezed (plain text as it is)."""
    if not html or not html.strip():
        return ""
    html = html.encode("utf-8", "replace").decode("utf-8")  # lone surrogates (from &#xD800;) become "?"
    if "<" in html and "html" in content_type:
        try:
            root = lxml.html.fragment_fromstring(html, create_parent="div")
        except (ParserError, ValueError):
            root = None
        if root is not None:
            for el in list(root.iter("script", "style")):
                el.drop_tree()
            for el in root.iter(*_BLOCK_TAGS):
                el.tail = "\n" + (el.tail or "")
            html = root.text_content()
    lines = (" ".join(line.split()) for line in html.splitlines())
    return "\n".join(line for line in lines if line)


# `<!ENTITY` in any of the byte layouts an XML document may use (UTF-8/Latin, UTF-16, UTF-32): letters
# separated by up to three NUL bytes. Entity declarations are refused before feedparser sees the document:
# its loose parser expands them (a 207 KB feed became a 500,000,000-character summary).
_ENTITY_DECL = re.compile(b"<" + b"".join(b"\\x00{0,3}" + bytes([c]) for c in b"!ENTITY"), re.IGNORECASE)
MAX_TAG_BYTES = 32_768  # no real feed element needs a longer start tag; 200,000 attributes make parsing quadratic
_LONG_TAG = re.compile(b"<[^<>]{%d}" % MAX_TAG_BYTES)
MAX_ENTRIES = 5_000  # entries read from one document; more are cut with a warning


def prescan(content: bytes) -> None:
    """Refuse documents built to make the parser expand or crawl; raises `MalformedFeed` with the reason."""
    if _ENTITY_DECL.search(content):
        raise MalformedFeed("entity declarations are not accepted (possible entity expansion)")
    if _LONG_TAG.search(content):
        raise MalformedFeed(f"an element's start tag is longer than {MAX_TAG_BYTES:,} bytes (attribute flood)")


def parse_feed(content: bytes, feed: FeedConfig, url: str | None = None, content_type: str = "",
               max_chars: int = 200_000, max_summary_chars: int = 5_000) -> ParsedFeed:
    """Parse a fetched feed document into items; a single bad entry is rejected, the rest still flows.

    The document goes to feedparser as a stream: bytes or a str would be taken as a file name or URL when
    they look like one (a body `/etc/passwd` was opened and read). Raises `MalformedFeed` when the document
    cannot be read as a feed at all, with the reason (never another exception).
    """
    if not content.strip():
        raise MalformedFeed("empty document")
    prescan(content)
    headers = {"content-location": url or feed.url}
    if content_type:
        headers["content-type"] = content_type
    try:
        parsed = feedparser.parse(io.BytesIO(content), response_headers=headers, sanitize_html=True,
                                  resolve_relative_uris=True)
    except Exception as exc:  # feedparser crashes on some documents (bad code points, encoding names)
        raise MalformedFeed(f"unreadable document ({type(exc).__name__}: {_short(exc)})") from None
    problem = _bozo_reason(parsed)
    entries = parsed.get("entries") or []
    if not entries and (problem or not parsed.get("version")):
        raise MalformedFeed(problem or "not an RSS or Atom document")
    if len(entries) > MAX_ENTRIES:
        problem = f"{len(entries):,} entries, only the first {MAX_ENTRIES:,} read"
    result = ParsedFeed(title=_clip(html_to_text(_safe_get(parsed.get("feed") or {}, "title")), 1_000),
                        warning=problem)
    for entry in entries[:MAX_ENTRIES]:
        try:
            result.items.append(normalize_entry(entry, feed, max_chars, max_summary_chars,
                                                _safe_get(parsed.get("feed") or {}, "language") or None))
        except MalformedEntry as exc:
            result.rejected.append(Rejected(str(exc), _plain(entry)))
        except Exception as exc:  # one odd entry must not drop the feed: it is rejected with the reason
            result.rejected.append(Rejected(f"entry cannot be read ({type(exc).__name__}: {_short(exc)})",
                                            _plain(entry)))
    if problem and not result.items:
        raise MalformedFeed(problem)  # e.g. a truncated document: what feedparser salvaged is unusable
    return result


def _safe_get(mapping: Any, key: str) -> str:
    value = mapping.get(key) if hasattr(mapping, "get") else None
    return value if isinstance(value, str) else ""


def _short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "..."


def _clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters at a word boundary when one is near."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit - 200, limit)
    return text[:cut if cut > 0 else limit]


def normalize_entry(entry: Any, feed: FeedConfig, max_chars: int = 200_000, max_summary_chars: int = 5_000,
                    language: str | None = None) -> FeedItem:
    """One feedparser entry as a `RawArticle` (id = stable id of the canonical link, else of the guid).

    The body is cut to `max_chars` and the summary to `max_summary_chars`: when the summary *is* the
    body (no content element) its full text is kept once, in `content`. `language` is what the feed
    document declares (`<language>`, `xml:lang`); it wins over the feed list's setting. Either is only
    a hint: extraction detects the language from the text.
    """
    link = (entry.get("link") or "").strip() or None
    guid = (entry.get("id") or "").strip() or None
    if link is None and guid is None:
        raise MalformedEntry(f"entry {_label(entry)!r} has neither link nor guid")
    url = canonical_url(link) if link else guid
    title = _text(entry, "title")
    summary = _text(entry, "summary")
    contents = [html_to_text(c.get("value"), c.get("type") or "text/html") for c in entry.get("content") or []]
    content = max(contents, key=len, default="")
    if not (title or summary or content or link):
        raise MalformedEntry(f"entry {guid!r} has no title, text or link")
    body = _clip(content if len(content) >= len(summary) else summary, max_chars)
    title, summary = _clip(title, 2_000), _clip(summary, max_summary_chars)
    # Long text is the article (some feeds put it all in <description>); short text is a summary.
    source = "none" if not body else "feed" if len(body) >= feed.full_text_min_chars else "summary"
    return FeedItem(
        article=RawArticle(
            id=stable_id(url), feed=feed.name, url=url, guid=guid, title=title, summary=summary,
            content=body, content_source=source,
            language=(entry.get("language") or language or feed.language), published=published_utc(entry), tags=list(feed.tags),
        ),
        link=link,
    )


def _text(entry: Any, key: str) -> str:
    detail = entry.get(f"{key}_detail") or {}
    return html_to_text(entry.get(key), detail.get("type") or "text/html")


def published_utc(entry: Any) -> datetime | None:
    """Publication time in UTC (published, else updated, else created); None when the feed gives none."""
    for key in ("published", "updated", "created"):
        parsed = entry.get(f"{key}_parsed")
        if parsed:
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), tz=timezone.utc)
            except (OverflowError, ValueError, OSError):
                log.debug("entry %r: %s date out of range", _label(entry), key)
                return None
        if entry.get(key):
            log.debug("entry %r: unreadable %s date %r", _label(entry), key, entry.get(key))
    return None


def _bozo_reason(parsed: Any) -> str | None:
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    if isinstance(exc, (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)):
        return None  # a wrong or missing Content-Type header; feedparser read the document all the same
    if isinstance(exc, SAXParseException):
        return f"not well-formed XML: {exc.getMessage()}"  # (feedparser's line numbers are of its rewritten copy)
    return f"{type(exc).__name__}: {exc}" if exc else "malformed document"


def _label(entry: Any) -> str:
    return entry.get("title") or entry.get("id") or entry.get("link") or "(untitled)"


def _plain(entry: Any) -> dict[str, Any]:
    """The entry's readable fields (for the dead-letter record)."""
    keys = ("title", "link", "id", "published", "updated", "summary")
    return {k: _clip(str(entry.get(k)), 2_000) for k in keys if entry.get(k)}
