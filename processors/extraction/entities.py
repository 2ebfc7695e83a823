"""Entities: what a mention refers to (spaCy component `newsmon_entities`).

The gazetteer and places components label their matches with a knowledge-base key (`Span.kb_id_`)
and register a `Ref` for it in `doc._.refs`. This component then groups the remaining person names
of one article ("Hossein Jaber-Ansari", "Ansari") under one entity and sets `doc._.entities`.
Role descriptions ("the Russian president") become entities of the actor holding the role
(`role_holder`, which speaker resolution uses too).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from newsmon.processors.extraction.datafiles import read_yaml
from newsmon.records import Entity

__all__ = ["Ref", "Role", "Titles", "EntityResolver", "role_holder", "refs_of", "ref_of", "ENTITY_LABELS"]

ENTITY_LABELS = frozenset({"PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "EVENT", "LAW", "WORK_OF_ART"})

for _name in ("refs", "entities", "published", "actors", "titles"):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)


@dataclass(frozen=True)
class Role:
    """An office an actor holds, optionally for a period ("president" from 2012-05-07)."""

    name: str
    start: date | None = None
    end: date | None = None

    def held_on(self, day: date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day < self.end)


@dataclass(frozen=True)
class Ref:
    """What a mention refers to: an actor, a place, a country, or a person known only from the article."""

    key: str  # the `kb_id_` of the mentions
    name: str
    label: str  # spaCy entity label: PERSON, ORG, GPE, LOC, NORP, FAC
    type: str  # person, government, military, armed_group, intl_org, news_agency, country, capital, city, place
    country: str | None = None
    id: str | None = None  # Wikidata id, "geonames:<id>" or "newsmon:<key>"; None for unknown persons
    lat: float | None = None
    lon: float | None = None
    roles: tuple[Role, ...] = ()
    gender: str | None = None

    @property
    def is_place(self) -> bool:
        return self.label in ("GPE", "LOC", "FAC") and self.type in ("country", "capital", "city", "place")


def refs_of(doc: Doc) -> dict[str, Ref]:
    """The doc's knowledge-base entries by key (created on first use)."""
    if doc._.refs is None:
        doc._.refs = {}
    return doc._.refs


def ref_of(span: Span) -> Ref | None:
    """The `Ref` of an entity span, if it was resolved."""
    return (span.doc._.refs or {}).get(span.kb_id_) if span.kb_id_ else None


@dataclass(frozen=True)
class Titles:
    """Words that precede names ("President", "Dr") and role words ("president", "top diplomat")."""

    titles: frozenset[str]
    roles: dict[str, str]  # role phrase (lowercase) -> canonical role


def load_titles(path: str | Path) -> Titles:
    raw = read_yaml(path)
    roles = {}
    for role, synonyms in raw["roles"].items():
        for s in [role, *(synonyms or [])]:
            roles[s.lower()] = role
    return Titles(frozenset(t.lower() for t in raw["titles"]), roles)


@Language.factory("newsmon_entities", default_config={"titles_file": "titles.yaml"},
                  requires=["doc.ents", "doc._.refs", "doc._.actors"],
                  assigns=["doc.ents", "doc._.entities", "doc._.titles"])
def make_entity_resolver(nlp: Language, name: str, titles_file: str) -> EntityResolver:
    """The `newsmon_entities` component: groups name variants and sets `doc._.entities`."""
    return EntityResolver(nlp, load_titles(titles_file))


class EntityResolver:
    """Groups person-name variants of one article under one `Ref`, resolves role descriptions ("the
    Iranian president", "the President of Russia", "Russia's top diplomat") to the actor holding the
    role, and sets `doc._.entities`."""

    def __init__(self, nlp: Language, titles: Titles) -> None:
        self.titles = titles
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        for phrase, role in titles.roles.items():
            self.matcher.add(role, [nlp.make_doc(phrase)])

    def __call__(self, doc: Doc) -> Doc:
        refs = refs_of(doc)
        doc._.titles = self.titles
        ents = self._roles(doc, list(doc.ents))
        persons = [(i, e) for i, e in enumerate(ents) if e.label_ == "PERSON" and not e.kb_id_]
        if persons:
            changed = False
            groups: list[tuple[list[str], Ref]] = []  # actors named in full in this article come first
            for e in ents:
                ref = ref_of(e)
                if ref is not None and ref.label == "PERSON" and all(g[1].key != ref.key for g in groups):
                    groups.append((ref.name.replace("-", " - ").split(), ref))
            for i, e in sorted(persons, key=lambda p: -len(self._words(p[1]))):
                words = self._words(e)
                if not words:
                    continue
                ref = next((r for ws, r in groups if _variant(words, ws)), None)
                if ref is None:
                    full = " ".join(words).replace(" - ", "-").replace(" -", "-").replace("- ", "-")
                    ref = Ref(key=f"person:{full}", name=full, label="PERSON", type="person")
                    refs[ref.key] = ref
                    groups.append((words, ref))
                ents[i] = Span(doc, e.start, e.end, label="PERSON", kb_id=ref.key)
                changed = True
            if changed:
                doc.ents = ents
        doc._.entities = [self.record(e) for e in doc.ents if e.label_ in ENTITY_LABELS and _plausible(e)]
        return doc

    def _roles(self, doc: Doc, ents: list[Span]) -> list[Span]:
        """Role descriptions become entities of the actor holding the role (when one does)."""
        matches = self.matcher(doc, as_spans=True)
        if not matches:
            return ents
        resolved = [e for e in ents if ref_of(e) is not None]
        country_at = {i: e for e in resolved if ref_of(e).country and e.label_ in ("GPE", "NORP")
                      for i in range(e.start, e.end)}
        found = []
        for m in filter_spans(matches):
            mention = _role_mention(doc, m, country_at)
            if mention is None:
                continue
            span, country = mention
            ref = role_holder(doc, resolved, span.start_char, m.label_, {country})
            if ref is not None:
                refs_of(doc)[ref.key] = ref
                found.append(Span(doc, span.start, span.end, label="PERSON", kb_id=ref.key))
        if not found:
            return ents
        found = filter_spans(found)
        taken = {i for f in found for i in range(f.start, f.end)}
        ents = [e for e in ents if not any(i in taken for i in range(e.start, e.end))] + found
        doc.ents = sorted(ents, key=lambda e: e.start)
        return list(doc.ents)

    def _words(self, span: Span) -> list[str]:
        words = [t.text for t in span if not t.is_punct or t.text == "-"]
        while words and (words[0].lower().rstrip(".") in self.titles.titles or words[0].lower() == "the"):
            words.pop(0)
        while words and words[-1] in ("'s", "’s", "-"):
            words.pop()
        return words

    @staticmethod
    def record(span: Span) -> Entity:
        ref = ref_of(span)
        if ref is None:
            return Entity(start=span.start_char, end=span.end_char, text=span.text, label=span.label_)
        return Entity(start=span.start_char, end=span.end_char, text=span.text, label=span.label_, name=ref.name,
                      id=ref.id, type=ref.type, country=ref.country, lat=ref.lat, lon=ref.lon)


def _role_mention(doc: Doc, role: Span, country_at: dict[int, Span]) -> tuple[Span, str] | None:
    """The role description around a role word and the country it names: "the Iranian president",
    "the President of Russia", "Russia's top diplomat"."""
    i = role.start - 1
    if i >= 0 and (e := country_at.get(i)) is not None and e.start > 0 and doc[e.start - 1].lower_ == "the":
        return doc[e.start - 1:role.end], ref_of(e).country
    if i > 0 and doc[i].lower_ in ("'s", "’s") and (e := country_at.get(i - 1)) is not None:
        return doc[e.start:role.end], ref_of(e).country
    k = role.end
    if k + 1 < len(doc) and doc[k].lower_ == "of":
        k += 1 + (doc[k + 1].lower_ == "the")
        if (e := country_at.get(k)) is not None:
            start = role.start - (role.start > 0 and doc[role.start - 1].lower_ == "the")
            return doc[start:e.end], ref_of(e).country
    return None


def _variant(words: list[str], full: list[str]) -> bool:
    """Whether `words` is a shorter form of the name `full` ("Ansari" of "Hossein Jaber - Ansari")."""
    parts = [w for w in full if w != "-"]
    mine = [w for w in words if w != "-"]
    return bool(mine) and all(w in parts for w in mine) and mine[-1] == parts[-1]


def _plausible(span: Span) -> bool:
    """Drops NER noise: names of people, places and groups start with an upper-case letter or digit."""
    if span.kb_id_:
        return True
    return any(c.isupper() for c in span.text) and any(c.isalpha() for c in span.text)


# --- role holders -------------------------------------------------------------------------------------

def role_holder(doc: Doc, ents: list[Span], before: int, role: str, countries: set[str]) -> Ref | None:
    """Who holds `role`: the latest such actor named before, else (when the mention names a country) the
    one actor of the gazetteer holding it on the publication date (today when unknown)."""
    def fits(ref: Ref, day: date | None) -> bool:
        return (not countries or ref.country in countries) and \
            any(r.name == role and (day is None or r.held_on(day)) for r in ref.roles)

    named = [ref_of(e) for e in ents if e.end_char <= before]
    for ref in reversed(named):
        if fits(ref, None):
            return ref
    if not countries:
        return None  # "The President" with no president named before: unknown
    day = doc._.published or date.today()
    holders = [a for a in (doc._.actors or {}).values() if fits(a, day)]
    return holders[0] if len(holders) == 1 else None  # several: ambiguous
