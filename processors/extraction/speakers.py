"""Speakers (spaCy component `newsmon_speakers`): who each statement's speaker mention is.

`newsmon_statements` finds the speaker *mention* as it stands in the text ("he", "the Russian
president"). This component resolves each mention to an entity of the article (`resolve_mention`),
names the outlet a statement came through and what it is about, and sets `doc._.extracted_statements`
(list of `ExtractedStatement`, in text order). Mentions resolve in text order because a pronoun may
take the previous statement's speaker.
"""

from __future__ import annotations

from collections.abc import Iterable

from spacy.language import Language
from spacy.tokens import Doc, Span

from newsmon.processors.extraction.entities import Ref, Titles, role_holder, ref_of
from newsmon.records import ExtractedStatement, Speaker
from newsmon.records import Span as RecordSpan

__all__ = ["SpeakerResolver", "resolve_mention", "statements_of"]

if not Doc.has_extension("extracted_statements"):
    Doc.set_extension("extracted_statements", default=None)

PRONOUNS = {"he": "m", "him": "m", "she": "f", "her": "f"}
LABEL_RANK = {"PERSON": 0, "ORG": 1, "NORP": 3, "GPE": 2, "LOC": 4, "FAC": 4}


@Language.factory("newsmon_speakers", default_config={},
                  requires=["doc._.statements", "doc._.refs", "doc._.titles", "doc._.actors"],
                  assigns=["doc._.extracted_statements"])
def make_speaker_resolver(nlp: Language, name: str) -> SpeakerResolver:
    """The `newsmon_speakers` component: sets `doc._.extracted_statements`."""
    return SpeakerResolver()


class SpeakerResolver:
    """Turns the doc's `StatementSpan`s into `ExtractedStatement`s with resolved speakers."""

    def __call__(self, doc: Doc) -> Doc:
        doc._.extracted_statements = statements_of(doc)
        return doc


def statements_of(doc: Doc) -> list[ExtractedStatement]:
    """`doc._.statements` with resolved speakers, canonical outlets and what each is about."""
    found = doc._.statements
    if not found:
        return []
    quoted = [st.content for st in found if st.kind == "direct"]
    ents = [e for e in doc.ents if ref_of(e) is not None]
    text = doc.text  # built once: Doc.text joins every token
    out = []
    previous: tuple[int, Ref] | None = None  # (end of the last attributed statement, its speaker)
    for st in found:
        s, e = st.content
        speaker = None
        if st.headline and _names_a_place(st.speaker, ents):
            continue  # "Syria: IS destroys ...": a headline's topic, not its speaker
        if st.speaker is not None:
            ref = resolve_mention(st.speaker, skip=quoted, ents=ents, previous=previous)
            if ref is not None:
                previous = (max(e, st.speaker.end_char), ref)
            speaker = Speaker(start=st.speaker.start_char, end=st.speaker.end_char, text=st.speaker.text,
                              name=ref.name if ref else None, id=ref.id if ref else None,
                              country=ref.country if ref and ref.id else _mention_country(st.speaker, ents, ref))
        cue = RecordSpan(start=st.cue.start_char, end=st.cue.end_char, text=st.cue.text) \
            if st.cue is not None else None
        pieces = st.pieces or (st.content,)  # a quote split around its attribution: the parts, joined by a space
        out.append(ExtractedStatement(content=RecordSpan(start=s, end=e, text=" ".join(text[a:b] for a, b in pieces)),
                                      speaker=speaker, cue=cue, kind=st.kind, via=_via(st.via, ents),
                                      about=_about(ents, pieces)))
    return out


PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
PLACE_TYPES = frozenset({"country", "capital", "city", "place"})


def _names_a_place(span: Span | None, ents: list[Span]) -> bool:
    """Whether a mention is headed by a place ("Syria", "Northern Aleppo"), not a person or organisation."""
    if span is None:
        return False
    for e in ents:
        if e.start <= span.root.i < e.end:
            ref = ref_of(e)
            return e.label_ in PLACE_LABELS or (ref is not None and ref.type in PLACE_TYPES)
    return False


def _mention_country(span: Span, ents: list[Span], ref: Ref | None) -> str | None:
    """For a speaker known only from the article, the country its mention names ("a Syrian opposition
    spokesman, Ahmad Ramadan"); None for several speakers ("Putin and Rouhani")."""
    if ref is None and any(t.dep_ == "cc" for t in span):
        return None
    for e in ents:
        if e.start >= span.start and e.end <= span.end:
            inner = ref_of(e)
            if inner.country and (e.label_ == "NORP" or inner.type in ("country", "capital")):
                return inner.country
    return None


def _via(span: Span | None, ents: list[Span]) -> str | None:
    """The canonical outlet of a `via` mention: a news agency in it or right after it ("news agency IRNA")."""
    if span is None:
        return None
    near = [e for e in ents if e.end > span.start and e.start <= span.end + 2]
    agencies = [e for e in near if ref_of(e).type == "news_agency"]
    inside = [e for e in near if e.start >= span.start and e.end <= span.end]
    pick = (agencies or inside or [None])[0]
    if pick is not None:
        return ref_of(pick).name
    text = span.text
    return text[4:] if text.lower().startswith("the ") else text


def _about(ents: list[Span], pieces: Iterable[tuple[int, int]]) -> list[str]:
    """Canonical names of the entities in the content and ISO codes of the countries it mentions."""
    out: dict[str, None] = {}
    for s, t in pieces:
        for e in ents:
            if e.start_char < s or e.end_char > t:
                continue
            ref = ref_of(e)
            if e.label_ != "NORP":
                out[ref.name] = None
            if ref.country and (ref.type in ("country", "capital", "city", "place") or e.label_ == "NORP"):
                out[ref.country] = None
    return list(out)


# --- one mention ----------------------------------------------------------------------------------------

def resolve_mention(span: Span, skip: Iterable[tuple[int, int]] = (), ents: list[Span] | None = None,
                    previous: tuple[int, Ref] | None = None) -> Ref | None:
    """The entity a speaker mention refers to, or None.

    Read in order: a resolved entity inside the mention (`_named`); a pronoun ("he", "she") resolved to
    the previous statement's speaker or the most recent compatible person before it (`_pronoun`); a role
    description or a capital standing for its government (`_described`). A mention of several speakers
    ("Putin and Rouhani", "Presidents of Iran and Russia") resolves to none. `skip` are ranges of quoted
    speech (names there are not antecedents); `previous` is (where the previous attributed statement ends,
    its speaker); `ents` are the doc's resolved entities, when the caller has them at hand.
    """
    ents = [e for e in span.doc.ents if ref_of(e) is not None] if ents is None else ents
    inner = [e for e in ents if e.start >= span.start and e.end <= span.end and ref_of(e) is not None]
    people = [e for e in inner if ref_of(e).label in ("PERSON", "ORG") and ref_of(e).type != "country"]
    if _coordinated(span) and len(people) != 1:
        return None
    if people:
        return _named(span, people)
    if len(span) == 1 and span[0].lower_ in PRONOUNS:
        return _pronoun(span, ents, previous, skip)
    if span.root.tag_ in ("NNS", "NNPS") or any(t.dep_ == "cc" for t in span):
        return None
    return _described(span, inner, ents)


def _coordinated(span: Span) -> bool:
    """Whether the mention coordinates several phrases ("Putin and Rouhani")."""
    return any(t.dep_ == "cc" and t.head.i < t.i for t in span)


def _named(span: Span, people: list[Span]) -> Ref:
    """The person or organisation named in the mention: the one the mention is headed by, else a
    person before an organisation, the last named first."""
    head = [e for e in people if e.start <= span.root.i < e.end]
    pick = head[0] if head else min(people, key=lambda e: (LABEL_RANK.get(e.label_, 5), -e.start))
    return ref_of(pick)


def _pronoun(span: Span, ents: list[Span], previous: tuple[int, Ref] | None,
             skip: Iterable[tuple[int, int]]) -> Ref | None:
    """A personal pronoun: the previous statement's speaker when it fits and no other person became the
    subject of a main clause since; else the most recent person of that gender before it."""
    gender = PRONOUNS[span[0].lower_]
    if previous is not None and _keeps_speaker(previous, gender, span.start_char, ents):
        return previous[1]
    return _antecedent(ents, span.start_char, gender, skip)


def _keeps_speaker(previous: tuple[int, Ref], gender: str, before: int, ents: list[Span]) -> bool:
    """Whether the previous statement's speaker is still the one a pronoun at `before` refers to."""
    end, ref = previous
    if ref.label != "PERSON" or ref.gender not in (None, gender):
        return False
    return not any(end <= e.start_char < before and e.label_ == "PERSON" and e.root.dep_ in ("nsubj", "nsubjpass")
                   and e.root.head.dep_ == "ROOT" and ref_of(e).key != ref.key for e in ents)


def _described(span: Span, inner: list[Span], ents: list[Span]) -> Ref | None:
    """A role description ("the Russian president", "The President") resolved to the actor holding the
    role, or a country or capital heading the mention ("Moscow said ...": its government)."""
    role = _role(span)
    if role is not None:
        countries = {ref_of(e).country for e in inner if ref_of(e).country}
        return role_holder(span.doc, ents, span.start_char, role, countries)
    places = [e for e in inner if ref_of(e).type in ("country", "capital")]
    if places and span.root.i in range(places[0].start, places[0].end):
        return ref_of(places[0])
    return None


def _role(span: Span) -> str | None:
    """The canonical role the mention's longest role phrase names ("top diplomat" -> foreign minister)."""
    titles: Titles | None = span.doc._.titles
    if titles is None:
        return None
    words = [t.lower_ for t in span]
    best = None
    for n in (3, 2, 1):
        for i in range(len(words) - n + 1):
            phrase = " ".join(words[i:i + n])
            if phrase in titles.roles and (best is None or n > best[0]):
                best = (n, titles.roles[phrase])
        if best:
            break
    return best[1] if best else None


def _antecedent(ents: list[Span], before: int, gender: str, skip: Iterable[tuple[int, int]]) -> Ref | None:
    """The most recent person of a compatible gender named before `before`, outside quoted speech."""
    for e in reversed(ents):
        if e.end_char > before or e.label_ != "PERSON" or any(s <= e.start_char < t for s, t in skip):
            continue
        ref = ref_of(e)
        if ref is not None and (ref.gender in (None, gender)):
            return ref
    return None
