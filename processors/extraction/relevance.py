"""Relevance (spaCy component `newsmon_relevance`): which watchlist countries a text concerns.

An Aho-Corasick automaton (pyahocorasick) over the watchlist's terms - country names and aliases,
demonyms, capitals and larger cities, places of data/places.yaml and the aliases of actors of those
countries (news agencies excepted) - counts whole-word, case-sensitive mentions per country. It is the
cheap gate run on raw text before the parse: `extract_texts` parses only texts with a hit.

Score per country: `1 - exp(-w / (1 + words / 400))`, where `w` counts mentions (those in the first
line, the title, count twice) and `words` is the text length; one mention in a 400-word article gives
0.39, five give 0.92.
"""

from __future__ import annotations

import math
from collections import Counter

import ahocorasick
from spacy.language import Language
from spacy.tokens import Doc

from newsmon.processors.extraction.gazetteer import load_actors
from newsmon.processors.extraction.multilingual import foreign_names
from newsmon.processors.extraction.places import place_index

__all__ = ["RelevanceGate"]

for _name in ("country_scores", "relevant"):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)


@Language.factory("newsmon_relevance", default_config={
    "watchlist": ["SY", "IR", "RU"], "actors_file": "actors.yaml", "places_file": "places.yaml", "min_mentions": 1,
    "title_weight": 2.0, "max_chars": 200_000, "foreign": False}, assigns=["doc._.country_scores", "doc._.relevant"])
def make_relevance(nlp: Language, name: str, watchlist: list[str], actors_file: str, places_file: str,
                   min_mentions: int, title_weight: float, max_chars: int, foreign: bool) -> RelevanceGate:
    """The `newsmon_relevance` component: sets `doc._.country_scores` and `doc._.relevant` (with `foreign`,
    counting the watchlist's names in Russian, Persian and Arabic too)."""
    return RelevanceGate(watchlist, actors_file, places_file, min_mentions=min_mentions, title_weight=title_weight,
                         max_chars=max_chars, foreign=foreign)


class RelevanceGate:
    """Counts watchlist-country mentions in raw text; scores them; decides whether to parse."""

    def __init__(self, watchlist: list[str], actors_file: str = "actors.yaml", places_file: str = "places.yaml",
                 min_mentions: int = 1, title_weight: float = 2.0, max_chars: int = 200_000,
                 foreign: bool = False) -> None:
        self.watchlist = [c.upper() for c in watchlist]
        self.foreign = foreign
        self.min_mentions = min_mentions
        self.title_weight = title_weight
        self.max_chars = max_chars
        self.terms = self._terms(set(self.watchlist), actors_file, places_file)
        self.automaton = ahocorasick.Automaton()
        for term, country in self.terms.items():
            self.automaton.add_word(term, (len(term), country))
        self.automaton.make_automaton()

    def _terms(self, watch: set[str], actors_file: str, places_file: str) -> dict[str, str]:
        index = place_index(places_file, tuple(sorted(watch)))
        terms: dict[str, str] = {}
        for table in (index.countries, index.demonyms, index.places, index.watchlist_cities):
            for name, ref in table.items():
                if ref.country in watch:
                    terms[name] = ref.country
        for code in watch:
            terms[index.country_by_code[code].name] = code
        for ref, aliases in load_actors(actors_file).values():
            if ref.country in watch and ref.type != "news_agency":
                for alias in aliases:
                    terms[alias] = ref.country
        return terms

    def mentions(self, text: str) -> Counter[str]:
        """Weighted whole-word mentions per watchlist country (longest match wins)."""
        title_end = text.find("\n")
        title_end = len(text) if title_end < 0 else title_end
        found: list[tuple[int, int, str]] = []
        for end, (length, country) in self.automaton.iter(text):
            start = end - length + 1
            if (start > 0 and text[start - 1].isalnum()) or (end + 1 < len(text) and text[end + 1].isalnum()):
                continue
            found.append((start, end + 1, country))
        found.sort(key=lambda m: (m[0], m[0] - m[1]))
        counts: Counter[str] = Counter()
        last_end = -1
        for start, end, country in found:
            if start < last_end:
                continue
            last_end = end
            counts[country] += self.title_weight if start < title_end else 1.0
        return counts

    def assess(self, text: str, foreign: bool = False) -> tuple[dict[str, float], bool]:
        """(score per mentioned watchlist country, highest first; whether the text passes the gate).
        With `foreign`, the watchlist's names in Russian, Persian and Arabic count too (for a text no
        model of its language parses)."""
        counts = self.mentions(text)
        if foreign:
            counts.update(foreign_names(tuple(sorted(self.watchlist))).mentions(text, self.title_weight))
        if not counts:
            return {}, False
        scale = 1 + len(text.split()) / 400
        scores = {c: round(1 - math.exp(-w / scale), 3) for c, w in counts.items()}
        ranked = dict(sorted(scores.items(), key=lambda kv: (-kv[1], self.watchlist.index(kv[0]))))
        return ranked, max(counts.values()) >= self.min_mentions

    def __call__(self, doc: Doc) -> Doc:
        doc._.country_scores, doc._.relevant = self.assess(doc.text, foreign=self.foreign)
        return doc
