"""The extraction pipeline: the configured spaCy model plus newsmon's components, in one ordered list.

`COMPONENTS` is the only place the order is written. Each component declares what it `requires` and
`assigns` on its factory; `load_pipeline` checks those declarations once, when the pipeline is built,
so a component added before what it reads fails at load time with the missing attributes named.
A keyword automaton over the watchlist terms (the relevance component) runs first on the raw text:
texts that mention no watchlist term skip the parse and get the basic fields only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from functools import lru_cache
from itertools import islice
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc

# the modules register their factories and extensions with spaCy on import
from newsmon.processors.extraction import (dates, entities, events, foreign_entities,  # noqa: F401
                                           foreign_statements, gazetteer, paragraphs, places, relevance, speakers,
                                           statements)
from newsmon.processors.extraction.conversion import records_of, to_extraction
from newsmon.processors.extraction.language import decide_language
from newsmon.processors.extraction.multilingual import ScriptTokenizer, supported_languages
from newsmon.processors.extraction.textclean import clean_text
from newsmon.records import Article, Event, Extraction, RawArticle, Statement
from newsmon.settings import Settings

__all__ = ["COMPONENTS", "FOREIGN_COMPONENTS", "NEWSMON_PIPES", "load_pipeline", "language_pipeline", "add_components", "check_pipeline", "extract_texts", "model_name",
           "extract_articles", "extract_article"]

log = logging.getLogger(__name__)


def _watchlist(settings: Settings) -> list[str]:
    return [c.upper() for c in settings.watchlist]


# (component name, its config from the settings), in pipeline order
COMPONENTS: tuple[tuple[str, Callable[[Settings], dict[str, Any]]], ...] = (
    ("newsmon_gazetteer", lambda s: {}),  # actors of the watchlist, resolved to their canonical entry
    ("newsmon_places", lambda s: {"watchlist": _watchlist(s)}),  # places, countries, demonyms
    ("newsmon_entities", lambda s: {}),  # name variants and role descriptions
    ("newsmon_dates", lambda s: {}),  # DATE entities resolved against the publication date
    ("newsmon_statements", lambda s: {}),  # direct quotes and reported speech with speaker mentions
    ("newsmon_speakers", lambda s: {}),  # speaker mentions resolved to entities
    ("newsmon_events", lambda s: {}),  # typed events (triggers inside quotes are skipped)
    ("newsmon_relevance", lambda s: {"watchlist": _watchlist(s), "max_chars": s.max_text_chars}),
)
NEWSMON_PIPES = tuple(name for name, _ in COMPONENTS)

# the pipeline of a language with a lexicon under data/languages/ and no model of its own: spaCy's
# tokenizer for it, names and role phrases, quotes and speech verbs, then the English speaker resolution
FOREIGN_COMPONENTS: tuple[tuple[str, Callable[[list[str], int], dict[str, Any]]], ...] = (
    ("newsmon_foreign_entities", lambda w, n: {"watchlist": w}),  # names of data/names.yaml, role phrases
    ("newsmon_foreign_statements", lambda w, n: {}),  # quotes and reported speech by the cue lexicon
    ("newsmon_speakers", lambda w, n: {}),  # speaker mentions resolved to entities
    ("newsmon_relevance", lambda w, n: {"watchlist": w, "max_chars": n, "foreign": True}),
)
FOREIGN_MODEL_VERSION = "1.0"


def load_pipeline(settings: Settings | None = None) -> Language:
    """Load the configured spaCy model (falling back to the bundled copy) with newsmon's components."""
    import spacy

    settings = settings or Settings()
    try:
        nlp = spacy.load(settings.spacy_model)
    except OSError:
        log.info("spaCy model %s not installed, using %s", settings.spacy_model, settings.fallback_spacy_model)
        nlp = spacy.load(settings.fallback_spacy_model)
    return add_components(nlp, settings)


def add_components(nlp: Language, settings: Settings | None = None) -> Language:
    """Add newsmon's components to a loaded model, in order, and check what each needs is there; a model
    with a parser first gets `newsmon_paragraphs` before it (a line break ends a sentence)."""
    settings = settings or Settings()
    if "parser" in nlp.pipe_names and "newsmon_paragraphs" not in nlp.pipe_names:
        nlp.add_pipe("newsmon_paragraphs", before="parser")
    for name, config in COMPONENTS:
        nlp.add_pipe(name, config=config(settings))
    return check_pipeline(nlp)


def check_pipeline(nlp: Language) -> Language:
    """The pipeline itself, when every component finds what it `requires` assigned by one before it."""
    problems = {name: missing for name, missing in nlp.analyze_pipes()["problems"].items() if missing}
    if problems:
        detail = "; ".join(f"{name} needs {', '.join(missing)}" for name, missing in problems.items())
        raise ValueError(f"spaCy pipeline {nlp.pipe_names} is out of order: {detail}")
    return nlp


@lru_cache(maxsize=16)
def language_pipeline(lang: str, watchlist: tuple[str, ...], max_chars: int = 200_000) -> Language | None:
    """The rule-based pipeline of a language other than the model's, or None when there is no lexicon
    for it (the article is then marked `unsupported_language`)."""
    import spacy

    if lang not in supported_languages():
        return None
    try:
        nlp = spacy.blank(lang)
    except ImportError:  # spaCy has no tokenizer for it
        return None
    nlp.tokenizer = ScriptTokenizer(nlp.vocab)
    nlp.meta.update(name="newsmon_rules", version=FOREIGN_MODEL_VERSION)
    for name, config in FOREIGN_COMPONENTS:
        nlp.add_pipe(name, config=config(list(watchlist), max_chars))
    return check_pipeline(nlp)


def model_name(nlp: Language) -> str:
    """The name and version of the spaCy model under the pipeline ("en_core_web_sm-3.8.0")."""
    meta = nlp.meta
    return f"{meta.get('lang', nlp.lang)}_{meta.get('name', 'pipeline')}-{meta.get('version', '0')}"


def extract_texts(nlp: Language, items: Iterable[tuple[str, date | None] | tuple[str, date | None, str | None]],
                  batch_size: int = 16, gate: bool = True) -> Iterator[Extraction]:
    """Extract from (text, publication date[, declared language]) tuples, in order, one `Extraction` each.

    Each text's language is decided first (`decide_language`: detected, the declared one as a hint).
    A text in a language the pipeline's model does not read is never parsed by it: it gets
    `analysis="unsupported_language"` with the countries and relevance its watchlist names in that
    language give. With `gate` (the default), texts that mention no watchlist term are not parsed
    (`analysis="gated"`, `relevant=False`). Texts longer than the relevance component's `max_chars`
    are cut to that length (offsets stay valid for what is kept).
    """
    if "newsmon_relevance" not in nlp.pipe_names:
        raise ValueError("this spaCy pipeline lacks newsmon's components: load it with load_pipeline()")
    gate_pipe = nlp.get_pipe("newsmon_relevance")
    model = model_name(nlp)
    it = iter(items)
    while chunk := list(islice(it, batch_size * 4)):
        docs: list[Doc] = []
        slots: list[Extraction | None] = []
        for text, published, *declared in chunk:
            if not isinstance(text, str):
                raise TypeError(f"extract_texts needs str texts, got {type(text).__name__}")
            text = clean_text(text[: gate_pipe.max_chars])  # lone surrogates, punctuation runs: offsets kept
            language = decide_language(text, declared[0] if declared else None, default=nlp.lang)
            day = published.date() if isinstance(published, datetime) else published
            other = None if language == nlp.lang else \
                language_pipeline(language or "", tuple(gate_pipe.watchlist), gate_pipe.max_chars)
            scores, relevant = gate_pipe.assess(text, foreign=language != nlp.lang)
            if language != nlp.lang and other is None:
                slots.append(Extraction(relevant=relevant, countries=list(scores), country_scores=scores,
                                        language=language, analysis="unsupported_language"))
            elif gate and not relevant:
                slots.append(Extraction(relevant=False, countries=list(scores), country_scores=scores,
                                        language=language, analysis="gated"))
            elif other is not None:
                slots.append(_extract_one(other, text, day, language))
            else:
                doc = nlp.make_doc(text)
                doc._.published = day
                docs.append(doc)
                slots.append(None)
        parsed = nlp.pipe(docs, batch_size=batch_size)
        for slot in slots:
            if slot is None:
                slot = to_extraction(next(parsed))
                slot.language, slot.model = nlp.lang, model
            yield slot


def _extract_one(nlp: Language, text: str, published: date | None, language: str | None) -> Extraction:
    """One text through a (cheap, rule-based) pipeline of another language."""
    doc = nlp.make_doc(text)
    doc._.published = published
    ex = to_extraction(nlp(doc))
    ex.language, ex.model = language, model_name(nlp)
    return ex


def extract_articles(nlp: Language, raws: list[RawArticle]) -> list[tuple[Article, list[Statement], list[Event]]]:
    """Extract a batch of raw articles into the indexed records (article, its statements, its events)."""
    items = [(raw.text, (raw.published or raw.fetched).date(), raw.language) for raw in raws]
    batch = max(1, min(len(raws), 16))
    watchlist = nlp.get_pipe("newsmon_relevance").watchlist
    return [records_of(raw, ex, watchlist)
            for raw, ex in zip(raws, extract_texts(nlp, items, batch_size=batch), strict=True)]


def extract_article(nlp: Language, raw: RawArticle) -> tuple[Article, list[Statement], list[Event]]:
    """Extract one raw article into the indexed records."""
    return extract_articles(nlp, [raw])[0]
