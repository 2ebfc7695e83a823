"""Article pages: when a feed item carries only a summary, fetch its page and extract the main text."""

from __future__ import annotations

import asyncio
import logging
import re

import trafilatura

from newsmon.records import RawArticle
from newsmon.settings import Settings
from newsmon.producers.config import FeedConfig
from newsmon.producers.fetch import Clients, FetchError, fetch
from newsmon.producers.normalize import FeedItem

log = logging.getLogger("newsmon.producers")

HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"


class PageError(Exception):
    """The page was fetched but holds no usable article text."""


def extract_main_text(html: bytes | str, url: str | None = None, title: str | None = None) -> str:
    """The main text of an article page (trafilatura), one paragraph per line, without a leading headline
    equal to `title` (the record carries the title already); raises `PageError` if there is no text."""
    text = trafilatura.extract(html, url=url, include_comments=False, include_tables=False, favor_precision=True)
    text = (text or "").strip()
    if title:
        first, _, rest = text.partition("\n")
        if _squash(first) == _squash(title):
            text = rest.strip()
    if not text:
        raise PageError("no article text found on the page")
    return text


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


def _stems(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"\w{4,}", text.casefold())}


def matches_item(text: str, article: RawArticle, min_share: float = 0.4) -> bool:
    """Whether page text is about the item: at least `min_share` of the title and summary words occur in it
    (guards against consent pages, paywalls and error pages that trafilatura reads as an article)."""
    words = _stems(f"{article.title} {article.summary}")
    if not words:
        return False  # nothing to compare with: any page would pass, so none does
    return len(words & _stems(text)) >= min_share * len(words)


def wants_page(article: RawArticle, feed: FeedConfig, settings: Settings) -> bool:
    """Whether the feed gave only a summary (or nothing) and pages may be fetched."""
    return article.content_source != "feed" and feed.fetch_pages and settings.fetch_article_pages


async def page_text(clients: Clients, url: str, settings: Settings, title: str | None = None) -> str:
    """Fetch `url` as an untrusted link (address policy, same time and size bounds as feeds) and extract
    its main text."""
    result = await fetch(clients, url, settings, accept=HTML_ACCEPT)
    kind = result.content_type.split(";")[0].strip().lower()
    if not kind:
        raise PageError("the page has no Content-Type")
    if "html" not in kind and "xml" not in kind:
        raise PageError(f"not an HTML page ({kind})")
    return await asyncio.to_thread(extract_main_text, result.content or b"", result.url, title)


async def with_page_text(clients: Clients, item: FeedItem, feed: FeedConfig, settings: Settings) -> RawArticle:
    """The item's article with the page's main text as content; on failure the summary stays, with a log line."""
    article = item.article
    if not wants_page(article, feed, settings):
        return article
    link = item.link or article.url
    if not link.lower().startswith(("http://", "https://")):
        return article
    try:
        text = await page_text(clients, link, settings, article.title)
    except (FetchError, PageError) as exc:
        log.warning("feed %s: page %s not used (%s); keeping the %s", feed.name, link, exc,
                    "summary" if article.summary else "title only")
        return article
    if not matches_item(text, article):
        log.warning("feed %s: page %s not used (its text does not match the item: consent page, paywall or "
                    "wrong link?); keeping the summary", feed.name, link)
        return article
    if len(text) <= len(article.content):
        log.debug("feed %s: page %s has no more text than the feed; keeping the summary", feed.name, link)
        return article
    if len(text) > settings.max_text_chars:
        log.warning("feed %s: page %s text cut to %d of %d characters", feed.name, link, settings.max_text_chars,
                    len(text))
        text = text[:settings.max_text_chars]
    return article.model_copy(update={"content": text, "content_source": "page"})
