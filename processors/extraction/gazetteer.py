"""Gazetteer of actors (spaCy component `newsmon_gazetteer`).

Matches the aliases of data/actors.yaml with a PhraseMatcher (exact, case-sensitive) and makes the
matches the doc's entities, replacing overlapping NER entities ("Rouhani" tagged NORP, "Daesh" tagged
GPE). Each match carries its actor key as `kb_id_` and the actor's `Ref` is put in `doc._.refs`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from newsmon.processors.extraction.datafiles import data_path, read_yaml
from newsmon.processors.extraction.entities import Ref, Role, refs_of

__all__ = ["Gazetteer", "load_actors"]

LABELS = {"person": "PERSON", "government": "ORG", "military": "ORG", "armed_group": "ORG", "intl_org": "ORG",
          "news_agency": "ORG", "party": "ORG"}


@lru_cache(maxsize=8)
def load_actors(path: str | Path) -> dict[str, tuple[Ref, tuple[str, ...]]]:
    """Actors by key: their `Ref` and their aliases (the canonical name first)."""
    raw = read_yaml(path)
    actors = {}
    for key, a in raw.items():
        if a.get("type") not in LABELS:
            raise ValueError(f"{data_path(path)}: actor {key!r} has unknown type {a.get('type')!r}")
        ref = Ref(key=key, name=a["name"], label=LABELS[a["type"]], type=a["type"], country=a.get("country"),
                  id=a.get("wikidata") or f"newsmon:{key}", roles=tuple(_role(r) for r in a.get("roles") or ()),
                  gender=a.get("gender"))
        names = [a["name"], *(a.get("aliases") or ())]
        aliases = tuple(dict.fromkeys([*names, *(n.replace("'", "’") for n in names)]))  # curly apostrophes too
        actors[key] = (ref, aliases)
    return actors


def _role(spec: str | dict) -> Role:
    """A role of actors.yaml: "president", or {role: president, from: 2012-05-07, to: ...}."""
    if isinstance(spec, str):
        return Role(spec.lower())
    return Role(str(spec["role"]).lower(), spec.get("from"), spec.get("to"))


@Language.factory("newsmon_gazetteer", default_config={"actors_file": "actors.yaml"}, requires=["doc.ents"],
                  assigns=["doc.ents", "doc._.refs", "doc._.actors"])
def make_gazetteer(nlp: Language, name: str, actors_file: str) -> Gazetteer:
    """The `newsmon_gazetteer` component; the actors in `actors_file` (YAML, see data/actors.yaml)."""
    return Gazetteer(nlp, actors_file)


class Gazetteer:
    """Labels actor aliases as entities, resolved to their canonical actor."""

    def __init__(self, nlp: Language, actors_file: str | Path) -> None:
        actors = load_actors(actors_file)
        self.actors: dict[str, Ref] = {k: ref for k, (ref, _) in actors.items()}
        self.alias_refs: dict[str, Ref] = {alias: ref for ref, aliases in actors.values() for alias in aliases}
        self.matcher = PhraseMatcher(nlp.vocab, attr="ORTH")
        for key, (_, aliases) in actors.items():
            self.matcher.add(key, list(nlp.tokenizer.pipe(aliases)))

    def __call__(self, doc: Doc) -> Doc:
        doc._.actors = self.actors
        matches = self.matcher(doc, as_spans=True)
        if not matches:
            return doc
        refs = refs_of(doc)
        ents = doc.ents
        owner = {i: e for e in ents for i in range(e.start, e.end)}
        found = []
        for m in filter_spans(matches):
            ref = self.actors[m.label_]
            if ref.label == "ORG" and any(_inside(m, e) for i in range(m.start, m.end) if (e := owner.get(i))):
                continue  # part of a longer organisation name ("Russian Security Council")
            refs[ref.key] = ref
            found.append(Span(doc, m.start, m.end, label=ref.label, kb_id=ref.key))
        taken = {i for s in found for i in range(s.start, s.end)}
        kept = [e for e in ents if not any(i in taken for i in range(e.start, e.end))]
        doc.ents = sorted(kept + found, key=lambda s: s.start)
        return doc


def _inside(match: Span, ent: Span) -> bool:
    """Whether an NER organisation strictly contains the match, leaving aside a leading "the"."""
    start = ent.start + (ent[0].lower_ == "the")
    return ent.label_ == "ORG" and start <= match.start and match.end <= ent.end and ent.end - start > len(match)
