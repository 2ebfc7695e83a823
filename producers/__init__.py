"""Producers: poll RSS feeds and publish new items as `RawArticle` records to the raw topic.

Modules: `config` (feed list), `fetch` (bounded HTTP), `normalize` (feedparser -> records), `pages`
(article text for summary-only items), `seen` (what was published), `publish` (Kafka), `poller`
(the loop: `poll_once`, `run`), `demo` (the seed-article feed), `cli` (`newsmon produce`).
"""
