"""Entities in Russian, Persian and Arabic (spaCy component `newsmon_foreign_entities`).

No statistical model of these languages runs here (see docs/languages.md for why): the names of
data/names.yaml are the entities, matched on normalised inflected words (`multilingual.NameMatcher`) and
resolved to the same `Ref` as in English (canonical name, Wikidata or geonames id, country). Role
phrases of the language's lexicon ("министр иностранных дел Ирана", "وزير الخارجية الإيراني") become
entities of the actor holding the role, with the country named next to them, as `newsmon_entities`
does for "the Iranian foreign minister".
"""

from __future__ import annotations

from bisect import bisect_left

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from newsmon.processors.extraction.entities import ENTITY_LABELS, EntityResolver, Ref, ref_of, refs_of, role_holder
from newsmon.processors.extraction.gazetteer import load_actors
from newsmon.processors.extraction.multilingual import LanguageData, NameMatcher, language_data, name_table

__all__ = ["ForeignEntities"]


@Language.factory("newsmon_foreign_entities",
                  default_config={"names_file": "names.yaml", "places_file": "places.yaml",
                                  "actors_file": "actors.yaml", "watchlist": ["SY", "IR", "RU"]},
                  assigns=["doc.ents", "doc._.refs", "doc._.actors", "doc._.titles", "doc._.entities"])
def make_foreign_entities(nlp: Language, name: str, names_file: str, places_file: str, actors_file: str,
                          watchlist: list[str]) -> ForeignEntities:
    """The `newsmon_foreign_entities` component for the pipeline's language (`nlp.lang`)."""
    table = name_table(names_file, places_file, actors_file, tuple(sorted(c.upper() for c in watchlist)))
    actors = {key: ref for key, (ref, _) in load_actors(actors_file).items()}
    return ForeignEntities(table, actors, language_data(nlp.lang))


class ForeignEntities:
    """Names and role phrases of one language as resolved entities; sets `doc._.entities`."""

    def __init__(self, table: dict[str, tuple[Ref, str]], actors: dict[str, Ref], lexicon: LanguageData) -> None:
        self.names: NameMatcher[tuple[Ref, str]] = NameMatcher(table)
        self.actors = actors
        self.lexicon = lexicon
        self.recent_mentions = 50  # a role's holder named before is looked for among this many mentions

    def __call__(self, doc: Doc) -> Doc:
        refs = refs_of(doc)
        doc._.actors, doc._.titles = self.actors, None
        found: list[Span] = []
        for start, end, (ref, label) in self.names.find(doc.text):
            span = doc.char_span(start, end, label=label, kb_id=ref.key, alignment_mode="expand")
            if span is not None:
                refs[ref.key] = ref
                found.append(span)
        ents = filter_spans(found)
        ents = self._roles(doc, ents)
        doc.ents = ents
        doc._.entities = [EntityResolver.record(e) for e in doc.ents if e.label_ in ENTITY_LABELS]
        return doc

    def _roles(self, doc: Doc, ents: list[Span]) -> list[Span]:
        """Role phrases with the country next to them become entities of the role's holder. The country
        or organisation next to the phrase stays an entity of its own; a phrase followed by an actor's
        name ("президент России Владимир Путин") is left to the name, and one naming several countries
        ("президенты России, Ирана и Турции") to none."""
        text = doc.text
        out = list(ents)
        starts = [e.start_char for e in ents]
        taken: set[int] = set()  # tokens of the role entities made so far
        for start, end, (role, country) in self.lexicon.roles.find(text):
            i = bisect_left(starts, start - 40)  # mentions within reach of the phrase, not the whole text
            window = ents[i:bisect_left(starts, end + 40)]
            near = [e for e in window if _touches(text, start, end, e) and ref_of(e) is not None]
            place = next((e for e in near if ref_of(e).country and e.label_ in ("GPE", "NORP", "ORG")), None)
            if place is not None and _coordinated(text, place, window):
                continue
            country = country or (ref_of(place).country if place is not None else None)
            last = max(end, place.end_char if place is not None else end)
            if any(e.label_ == "PERSON" and _gap(text, last, e.start_char) for e in window):
                continue
            earlier = ents[max(0, i - self.recent_mentions):bisect_left(starts, start)]
            holder = role_holder(doc, earlier, start, role, {country} if country else set())
            if holder is None:
                continue
            inner = [e.start_char for e in near if start < e.start_char < end]  # "سخنگوی [وزارت امور خارجه ایران]"
            span = doc.char_span(start, min([end, *inner]), label="PERSON", kb_id=holder.key,
                                 alignment_mode="contract")
            if span is None or any(i in taken for i in range(span.start, span.end)) \
                    or any(e.start < span.end and span.start < e.end for e in window):
                continue
            refs_of(doc)[holder.key] = holder
            taken.update(range(span.start, span.end))
            out.append(span)
        return sorted(out, key=lambda e: e.start)


def _coordinated(text: str, place: Span, ents: list[Span]) -> bool:
    """Whether another country follows the place in a list ("России, Ирана и Турции", "روسيا وإيران")."""
    nxt = next((e for e in ents if e.start_char >= place.end_char), None)
    if nxt is None or ref_of(nxt) is None or ref_of(nxt).type != "country":
        return False
    gap = text[place.end_char:nxt.start_char]
    return nxt.start_char - place.end_char <= 4 and gap.strip(" ,،") in ("", "и", "و")


def _gap(text: str, end: int, start: int) -> bool:
    """Whether only spaces and light punctuation separate two spans (`end` <= `start`)."""
    return 0 <= start - end <= 3 and not text[end:start].strip(" \u00a0,-\u2014\u060c")


def _touches(text: str, start: int, end: int, ent: Span) -> bool:
    """Whether an entity overlaps the range or stands right next to it."""
    return (ent.start_char < end and ent.end_char > start) or _gap(text, end, ent.start_char) \
        or _gap(text, ent.end_char, start)
