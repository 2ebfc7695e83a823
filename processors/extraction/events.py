"""Events (spaCy component `newsmon_events`): typed events with actors, targets, place and date.

Triggers come from the ontology in data/events.yaml (types modelled on PLOVER/CAMEO), matched on
lemmas. Actors and targets are read from the parse around the trigger; an event whose actors are
only described ("the presidents of both countries exchanged views") takes those of the event just
before it. Triggers inside direct quotes are skipped (that is what someone said, not reported fact).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from spacy.attrs import LOWER
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span, Token
from spacy.util import filter_spans

from newsmon.records import ExtractedEvent, Place
from newsmon.records import Span as RecordSpan
from newsmon.processors.extraction.datafiles import read_yaml
from newsmon.processors.extraction.entities import EntityResolver, Ref, ref_of

__all__ = ["EventType", "EventFinder", "GovernorVerbs", "load_ontology", "load_governor_verbs"]

if not Doc.has_extension("events"):
    Doc.set_extension("events", default=None)

ACTOR_TYPES = frozenset({"person", "government", "military", "armed_group", "intl_org", "party", "organization",
                         "country", "capital"})
LOCATION_PREPS = frozenset({"in", "at", "near", "outside", "inside", "across", "throughout"})
TARGET_PREPS = frozenset({"with", "to", "on", "against", "for", "over", "from"})
ACTOR_PREPS = frozenset({"between", "by", "among"})
SUBJECTS = ("nsubj", "nsubjpass", "csubj")


@dataclass(frozen=True)
class EventType:
    """One type of the ontology."""

    name: str
    plover: str
    cameo: str
    doc: str
    triggers: tuple[str, ...]
    topic_object: frozenset[str] = frozenset()  # verb lemmas whose object is what is talked about
    of_undergoer: frozenset[str] = frozenset()  # noun lemmas whose "of" phrase undergoes the event
    possessor_undergoer: frozenset[str] = frozenset()  # noun lemmas whose lone possessor undergoes it


@lru_cache(maxsize=4)
def load_ontology(path: str | Path = "events.yaml") -> dict[str, EventType]:
    """The event types of an ontology file (see data/events.yaml)."""
    raw = read_yaml(path)
    return {name: EventType(name=name, plover=t["plover"], cameo=str(t["cameo"]), doc=t.get("doc", ""),
                            triggers=tuple(t["triggers"]), topic_object=frozenset(t.get("topic_object") or ()),
                            of_undergoer=frozenset((t.get("undergoer") or {}).get("of") or ()),
                            possessor_undergoer=frozenset((t.get("undergoer") or {}).get("possessor") or ()))
            for name, t in raw.items() if isinstance(t, dict) and "triggers" in t}


@dataclass(frozen=True)
class GovernorVerbs:
    """Verbs that govern a noun trigger as their object, by what their subject does in its event: `acts`
    ("Russia carried out airstrikes", "held talks", "imposed sanctions") or `undergoes` ("Assad received
    support", "Russia faces sanctions"). Under any other verb the noun is only a topic ("Rouhani recalled
    the assassination"): the verb's subject is not a participant."""

    acts: frozenset[str] = frozenset()
    undergoes: frozenset[str] = frozenset()


@lru_cache(maxsize=4)
def load_governor_verbs(path: str | Path = "events.yaml") -> GovernorVerbs:
    """The `governors` section of an ontology file."""
    raw = read_yaml(path).get("governors") or {}
    return GovernorVerbs(acts=frozenset(raw.get("acts") or ()), undergoes=frozenset(raw.get("undergoes") or ()))


def _trigger(trigger: str) -> tuple[list[str], tuple[str | None, ...]]:
    """Lemmas and part-of-speech constraints of a trigger ("talk/NOUN" -> ["talk"], ("NOUN",))."""
    parts = [w.partition("/") for w in trigger.split()]
    return [lemma for lemma, _, _ in parts], tuple(pos or None for _, _, pos in parts)


@Language.factory("newsmon_events", default_config={"ontology_file": "events.yaml", "inherit_sentences": 3},
                  requires=["token.dep", "token.lemma", "doc.ents", "doc._.refs", "doc._.dates", "doc._.statements"],
                  assigns=["doc._.events"])
def make_event_finder(nlp: Language, name: str, ontology_file: str, inherit_sentences: int) -> EventFinder:
    """The `newsmon_events` component: sets `doc._.events` (list of `ExtractedEvent`)."""
    return EventFinder(nlp, load_ontology(ontology_file), inherit_sentences=inherit_sentences,
                       governors=load_governor_verbs(ontology_file))


@dataclass
class _Found:
    type: str
    trigger: Span
    actors: list[Span]
    targets: list[Span]
    location: Ref | None
    date: object
    described: bool  # the actors are only described ("the presidents", "they"): may take the previous ones
    sent: int  # first token of the trigger's sentence
    rank: int = 0  # position of the trigger in its type's list: the more specific, the lower


class EventFinder:
    """Finds typed events in a parsed, entity-resolved Doc."""

    def __init__(self, nlp: Language, ontology: dict[str, EventType], inherit_sentences: int = 3,
                 governors: GovernorVerbs | None = None) -> None:
        self.ontology = ontology
        self.governors = governors or load_governor_verbs()
        self.inherit_sentences = inherit_sentences
        self.matcher = PhraseMatcher(nlp.vocab, attr="LEMMA")
        self.triggers: dict[str, tuple[str, tuple[str | None, ...], int]] = {}  # key -> (type, POS, rank)
        for name, t in ontology.items():
            for rank, trigger in enumerate(t.triggers):
                lemmas, pos = _trigger(trigger)
                key = f"{name}:{trigger}"
                self.triggers[key] = (name, pos, rank)
                self.matcher.add(key, [Doc(nlp.vocab, words=lemmas, lemmas=lemmas)])

    def __call__(self, doc: Doc) -> Doc:
        quoted = [st.content for st in (doc._.statements or ()) if st.kind == "direct"]
        triggers = []
        for sp in filter_spans([m for m in self.matcher(doc, as_spans=True) if self._fits(m)]):
            if not any(s <= sp.start_char < e for s, e in quoted):
                name, _, rank = self.triggers[sp.label_]
                triggers.append((Span(doc, sp.start, sp.end, label=name), rank))
        if not triggers:
            doc._.events = []
            return doc
        sources = _according_to(doc)
        ents = {i: e for e in doc.ents if ref_of(e) is not None and e.start not in sources
                for i in range(e.start, e.end)}
        unique = list({id(e): e for e in ents.values()}.values())
        places = [(e, ref_of(e)) for e in unique if ref_of(e).is_place]
        resolved = doc._.dates or {}
        dates = [(e, ref.date) for e in doc.ents if e.label_ == "DATE"
                 and (ref := resolved.get((e.start_char, e.end_char))) is not None and ref.granularity == "day"]
        types_at = {i: span.label_ for span, _ in triggers for i in range(span.start, span.end)}
        found = [self._event(doc, span, ents, places, dates, rank, types_at) for span, rank in triggers]
        merged = self._merge(self._inherit(_unnest(found)))
        doc._.events = [self._record(doc, f) for f in merged if f.actors or f.targets or f.location]
        return doc

    # --- one trigger ----------------------------------------------------------------------------------

    def _fits(self, match: Span) -> bool:
        """Whether a lemma match has the parts of speech its trigger asks for."""
        return all(p is None or t.pos_ == p for t, p in zip(match, self.triggers[match.label_][1]))

    def _event(self, doc: Doc, span: Span, ents: dict[int, Span], places: list[tuple[Span, Ref]],
               dates: list[tuple[Span, object]], rank: int = 0, types_at: dict[int, str] | None = None) -> _Found:
        """One trigger's event: its roles read from the parse (`verbal_roles` for a verb, `nominal_roles`
        for a noun), then its place and date in the trigger's clause. A noun trigger whose clause verb is
        the trigger of another type of event ("Turkey condemned the assassination") is what that event is
        about: it has no clause of its own, so the verb's subject, date and place are not its."""
        t = span.root
        verb = clause_verb(t)
        if verb is not None and verb is not t and (types_at or {}).get(verb.i, span.label_) != span.label_:
            verb = None
        etype = self.ontology.get(span.label_)
        lemma = t.lemma_.lower()
        roles = verbal_roles(t, ents, etype is not None and lemma in etype.topic_object) \
            if t.pos_ in ("VERB", "AUX") else nominal_roles(
            span, ents, verb, of_undergoes=etype is not None and lemma in etype.of_undergoer,
            possessor_undergoes=etype is not None and lemma in etype.possessor_undergoer, governors=self.governors)
        actors = _clean([e for e in roles.actors if ref_of(e).type in ACTOR_TYPES])
        targets = _clean([e for e in roles.targets if ref_of(e).type in ACTOR_TYPES and e not in actors])
        location = roles.location or self._location(t, verb, places, actors + targets)
        inner = {i for i in (types_at or {}) if not span.start <= i < span.end}
        return _Found(span.label_, span, actors, targets, location, self._date(t.sent, dates, t, verb, inner),
                      roles.described, t.sent.start, rank)

    @staticmethod
    def _location(t: Token, verb: Token | None, places: list[tuple[Span, Ref]], taken: list[Span]) -> Ref | None:
        best: tuple[int, Ref] | None = None
        for e, ref in places:
            if e in taken:
                continue
            head = e.root.head
            if not (e.root.dep_ == "pobj" and head.lower_ in LOCATION_PREPS):
                continue
            if not _governs(e.root, t, verb):
                continue
            rank = 0 if ref.lat is not None else 1
            if best is None or rank < best[0]:
                best = (rank, ref)
        return best[1] if best else None

    @staticmethod
    def _date(sent: Span, dates: list[tuple[Span, object]], t: Token, verb: Token | None,
              others: Collection[int] = ()):
        """The day of the sentence's DATE that belongs to the trigger's clause, nearest first; a date in the
        phrase of another trigger is that one's ("blamed Israel for the assassination ... on January 11")."""
        best = None
        for e, day in dates:
            if not (sent.start <= e.start < sent.end) or not _governs(e.root, t, verb):
                continue
            if any(h.i in others for h in _path_up(e.root, t)):
                continue
            if best is None or abs(e.start - t.i) < best[0]:
                best = (abs(e.start - t.i), day)
        return best[1] if best else None

    # --- across triggers ------------------------------------------------------------------------------

    def _inherit(self, found: list[_Found]) -> list[_Found]:
        """Described or missing actors take those of the latest earlier event a few sentences back."""
        sents = {}
        for f in found:
            sents.setdefault(f.sent, len(sents))
        for i, f in enumerate(found):
            if f.actors:
                continue
            same_sent = [p for p in found[:i] if p.sent == f.sent and p.actors
                         and p.type == f.type]
            if not f.described and not same_sent:
                continue
            for p in reversed(same_sent or found[:i]):
                if p.actors and sents[f.sent] - sents[p.sent] <= self.inherit_sentences:
                    f.actors = list(p.actors)
                    f.targets = f.targets or [e for e in p.targets if e not in f.actors]
                    break
        return found

    @staticmethod
    def _merge(found: list[_Found]) -> list[_Found]:
        """One event per mention chain: same type, and the same (named) actors or a noun mention naming none
        within two sentences ("the conversation") and no other target, with compatible dates and places;
        later mentions complete the first. Two mentions that both name no actor are not one event for that."""
        sent_no: dict[int, int] = {}
        for f in found:
            sent_no.setdefault(f.sent, len(sent_no))
        out: list[_Found] = []
        for f in found:
            keys = {ref_of(e).key for e in f.actors}
            for o in reversed(out):
                okeys = {ref_of(e).key for e in o.actors}
                close = sent_no[f.sent] - sent_no[o.sent] <= 2
                bare = f if not keys else o  # a mention naming no actors joins when it is a noun ("the talks")
                if o.type == f.type and ((keys and keys == okeys) or ((not keys or not okeys) and close and _same_targets(f, o)
                                                           and bare.trigger.root.pos_ in ("NOUN", "PROPN"))) \
                        and (o.date is None or f.date is None or o.date == f.date) \
                        and (o.location is None or f.location is None or o.location.key == f.location.key):
                    if f.rank < o.rank:  # the most specific mention stands for the event ("phone call")
                        o.trigger, o.rank = f.trigger, f.rank
                    o.actors += [e for e in f.actors if ref_of(e).key not in okeys]
                    o.targets += [e for e in f.targets if e not in o.targets]
                    o.date = o.date or f.date
                    o.location = o.location or f.location
                    break
            else:
                out.append(f)
        return out

    def _record(self, doc: Doc, f: _Found) -> ExtractedEvent:
        actors = _unique(f.actors)
        targets = [e for e in _unique(f.targets) if ref_of(e).key not in {ref_of(a).key for a in actors}]
        loc = f.location
        place = None if loc is None else Place(
            name=loc.name, country=loc.country, lat=loc.lat, lon=loc.lon,
            geonameid=int(loc.id.split(":")[1]) if loc.id and loc.id.startswith("geonames:") and loc.type != "country"
            else None)
        countries = []
        for c in [*(ref_of(e).country for e in actors + targets), loc.country if loc else None]:
            if c and c not in countries:
                countries.append(c)
        return ExtractedEvent(type=f.type, trigger=RecordSpan(start=f.trigger.start_char, end=f.trigger.end_char,
                                                              text=f.trigger.text),
                              actors=[EntityResolver.record(e) for e in actors],
                              targets=[EntityResolver.record(e) for e in targets], location=place, date=f.date,
                              countries=countries)


# --- the roles of one trigger ---------------------------------------------------------------------------

@dataclass
class Roles:
    """What the parse around one trigger says: who acts, on whom, where; `described` when the actor is
    only described ("the presidents", "they") and may be taken from the event before."""

    actors: list[Span] = field(default_factory=list)
    targets: list[Span] = field(default_factory=list)
    location: Ref | None = None
    described: bool = False


def clause_verb(t: Token) -> Token | None:
    """The verb of the trigger's clause: the trigger itself, or the verb a noun trigger is the object,
    subject or "over/by/via" complement of ("held a phone call"); None when the noun only sits in a
    phrase of another clause ("During the phone conversation, Rouhani referred to ...")."""
    verb = t if t.pos_ in ("VERB", "AUX") else _governor(t)
    if verb is t or verb is None:
        return verb
    if t.dep_ in ("dobj", "nsubj", "nsubjpass", "attr") and t.head == verb:
        return verb
    if t.dep_ == "pobj" and t.head.head == verb and t.head.lower_ in ("over", "by", "via"):
        return verb
    if _object_of(t, verb):
        return verb  # "sent a message of sympathy", "launched a wave of airstrikes"
    return None


def verbal_roles(t: Token, ents: dict[int, Span], object_is_topic: bool = False) -> Roles:
    """Roles of a verb trigger: subject and agent (passive: the subject is the target), the owner of
    the noun a gerund completes, then objects and prepositions. With `object_is_topic` the direct object
    is what is talked about, not a target ("discussed the Syrian crisis"; `topic_object` in events.yaml)."""
    roles = _subject_roles(t, ents)
    if _subject(t) is None and t.dep_ == "pcomp" and t.head.head.pos_ == "NOUN":
        owner = next((c for c in t.head.head.children if c.dep_ == "poss"), None)
        if owner is not None:
            roles.actors += _ents(owner, ents)  # "Assad's success in recapturing Palmyra"
    for c in t.children:
        if c.dep_ == "dobj" and (e := ents.get(c.i)) is not None and ref_of(e).type in ("city", "place"):
            roles.location = ref_of(e)  # "recapturing Palmyra"
        elif c.dep_ == "dobj" and object_is_topic:
            continue
        elif c.dep_ in ("dobj", "dative", "attr", "xcomp", "ccomp") or \
                (c.dep_ == "prep" and c.lower_ in TARGET_PREPS):
            roles.targets += _ents(c, ents)
        elif c.dep_ == "prep" and c.lower_ in ACTOR_PREPS:
            roles.actors += _ents(c, ents)
    return roles


def _subject_roles(t: Token, ents: dict[int, Span]) -> Roles:
    """Actors and targets from a verb's subject: active subject acts; passive subject is acted on and
    the `by` agent acts."""
    roles = Roles()
    subj = _subject(t)
    if subj is None:
        return roles
    if _passive(t, subj):
        roles.targets += _ents(subj, ents)
        agent = next((c for c in t.children if c.dep_ == "agent"), None)
        if agent is not None:
            roles.actors += _ents(agent, ents)
        return roles
    roles.actors += _ents(subj, ents)
    roles.described = not roles.actors and subj.pos_ in ("PRON", "NOUN", "DET", "NUM")
    return roles


def nominal_roles(span: Span, ents: dict[int, Span], verb: Token | None, of_undergoes: bool = False,
                  possessor_undergoes: bool = False, governors: GovernorVerbs | None = None) -> Roles:
    """Roles of a noun trigger: its modifiers and prepositions ("Russian airstrikes on Aleppo"), the
    actors of a clause attached to it, else those of the verb it is the object of. `of_undergoes`: the
    noun's "of" phrase names who undergoes the event ("the assassination of the ambassador");
    `possessor_undergoes`: so does its possessor when no "of" phrase follows ("the ambassador's
    assassination"). These come from the ontology (`undergoer` in data/events.yaml), as do the verbs whose
    subject acts in or undergoes the event of their object (`governors`; default: those of events.yaml)."""
    t = span.root
    roles = _modifier_roles(span, ents, of_undergoes, possessor_undergoes)
    for c in [*(t.rights if t.pos_ == "NOUN" else ()), *t.children]:
        if c.dep_ == "acl":
            roles.actors += [e for e in _ents(c, ents) if ref_of(e).type in ACTOR_TYPES - {"capital"}]
    if not roles.actors and verb is not None and _object_of(t, verb):
        _governor_roles(span, ents, verb, roles, governors or load_governor_verbs())
    return roles


def _modifier_roles(span: Span, ents: dict[int, Span], of_undergoes: bool = False,
                    possessor_undergoes: bool = False) -> Roles:
    """Roles from a noun trigger's own dependents: modifiers name actors or the place (a city, or a
    capital as a name modifier: "the Ankara bombing"), `by`/`between` phrases actors, `on`/`against`/...
    phrases targets. A possessor acts and an `of` phrase undergoes ("Moscow's support of Assad"); alone,
    each acts unless the noun says otherwise (`of_undergoes`, `possessor_undergoes`)."""
    roles = Roles()
    children = [c for c in span.root.children if c.i not in span_range(span)]
    has_of = any(c.dep_ == "prep" and c.lower_ == "of" for c in children)
    has_possessor = any(c.dep_ == "poss" for c in children)
    for c in children:
        if c.dep_ in ("compound", "amod", "poss", "nmod", "npadvmod"):
            for e in _ents(c, ents):
                if ref_of(e).type in ("city", "place") or (c.dep_ == "compound" and ref_of(e).type == "capital"):
                    roles.location = roles.location or ref_of(e)
                elif c.dep_ == "poss" and possessor_undergoes and not has_of:
                    roles.targets.append(e)
                else:
                    roles.actors.append(e)
        elif c.dep_ == "prep" and c.lower_ == "of":
            if of_undergoes or has_possessor:
                roles.targets += _ents(c, ents)
            else:
                roles.actors += _ents(c, ents)
        elif c.dep_ == "prep" and c.lower_ in ACTOR_PREPS:
            roles.actors += _ents(c, ents)
        elif c.dep_ == "prep" and c.lower_ in TARGET_PREPS:
            roles.targets += _ents(c, ents)
    return roles


def _governor_roles(span: Span, ents: dict[int, Span], verb: Token, roles: Roles, governors: GovernorVerbs) -> None:
    """A noun trigger naming no actor takes the subject of the verb governing it when that verb's subject
    acts ("Russia carried out airstrikes on positions of Daesh") and, lacking targets, that verb's target
    phrases; when the verb's subject undergoes the event ("Assad received support from Iran"), the subject
    is a target and a `from` phrase names the actor."""
    lemma = verb.lemma_.lower()
    subj = _subject(verb)
    if lemma in governors.undergoes:
        if subj is not None and subj.i not in span_range(span) and not _passive(verb, subj):
            roles.targets += _ents(subj, ents)
        for c in verb.children:
            if c.dep_ == "prep" and c.lower_ == "from":
                roles.actors += _ents(c, ents)
        return
    if lemma not in governors.acts:
        return
    if subj is not None and subj.i not in span_range(span):
        roles.actors += _ents(subj, ents)
        roles.described = not roles.actors
    for c in verb.children:
        if c.dep_ == "prep" and c.lower_ in ACTOR_PREPS:
            roles.actors += _ents(c, ents)
        elif c.dep_ in ("prep", "dative") and c.lower_ in TARGET_PREPS - {"from"} and not roles.targets:
            roles.targets += _ents(c, ents)  # "offered condolences to Erdogan"


# --- parse helpers --------------------------------------------------------------------------------------

def span_range(span: Span) -> range:
    return range(span.start, span.end)


def _governor(t: Token) -> Token | None:
    """The verb a noun trigger hangs from ("held a phone call", "began carrying out airstrikes")."""
    h = t
    for _ in range(4):
        if h.head is h:
            return None
        h = h.head
        if h.pos_ in ("VERB", "AUX"):
            return h
    return None


def _path_up(x: Token, t: Token) -> list[Token]:
    """The heads from `x` up to (not including) `t`; all of `x`'s heads when `t` is not among them."""
    out = []
    for h in x.ancestors:
        if h.i == t.i:
            break
        out.append(h)
    return out


def _governs(date_root: Token, t: Token, verb: Token | None) -> bool:
    """Whether a date belongs to the trigger's clause: the first verb above it is the trigger, its verb, or a
    relative clause of the trigger ("the phone conversation that took place late on Saturday")."""
    for h in date_root.ancestors:
        if h.i == t.i:
            return True
        if h.pos_ in ("VERB", "AUX"):
            return (verb is not None and h.i == verb.i) or (h.dep_ in ("relcl", "acl") and h.head.i == t.i)
    return False


def _object_of(t: Token, verb: Token | None) -> bool:
    """Whether a noun is what `verb` acts on: its object ("carried out airstrikes"), the subject of its
    passive, or the `of` complement of its object ("sent a message of sympathy")."""
    if verb is None:
        return False
    if t.dep_ in ("dobj", "attr", "nsubjpass") and t.head == verb:
        return True
    return t.dep_ == "pobj" and t.head.lower_ == "of" and t.head.head.dep_ in ("dobj", "attr") \
        and t.head.head.head == verb


def _passive(t: Token, subj: Token) -> bool:
    """Whether `subj` undergoes `t`: `t` is passive, or `subj` is the passive subject of `t` itself
    ("Palmyra was recaptured") or of a passive verb coordinated with it, not of a verb `t` completes
    ("Erdogan is expected to visit")."""
    if any(c.dep_ == "auxpass" for c in t.children):
        return True  # also without a subject of its own ("the leader who ... before being assassinated")
    return subj.dep_ == "nsubjpass" and (subj.head == t or (t.dep_ == "conj" and t.tag_ == "VBN"))


def _subject(t: Token) -> Token | None:
    """The subject of a verb, through coordination and control ("began carrying out", "agreed to cooperate",
    "is due to visit", "was praised for fighting"); the object of the verb a gerund completes when there is
    one ("accused Ankara of supporting", "blamed Israel for attacking")."""
    for _ in range(5):
        subj = next((c for c in t.children if c.dep_ in SUBJECTS), None)
        if subj is not None:
            return subj
        if t.dep_ == "pcomp" and t.head.lower_ in ("of", "for") and t.head.head.pos_ in ("VERB", "AUX"):
            obj = next((c for c in t.head.head.children if c.dep_ == "dobj"), None)
            if obj is not None:
                return obj
        if t.dep_ in ("conj", "xcomp", "advcl", "pcomp", "acomp") and t.head is not t:
            t = t.head
            continue
        if t.dep_ == "prep" and t.head.pos_ in ("VERB", "AUX"):
            t = t.head
            continue
        if t.dep_ == "relcl":
            return t.head
        return None
    return None


def _ents(t: Token, ents: dict[int, Span]) -> list[Span]:
    """The resolved entities in a token's subtree, skipping relative clauses."""
    out: list[Span] = []
    skip: set[int] = set()
    located: set[int] = set()  # places in "in/near/at ..." phrases say where, not who
    for c in t.children:
        if c.dep_ in ("relcl", "acl", "advcl", "ccomp"):
            skip.update(x.i for x in c.subtree)
    for x in t.subtree:
        if x is not t and x.dep_ == "prep" and x.lower_ in LOCATION_PREPS:
            located.update(y.i for y in x.subtree)
    for x in t.subtree:
        e = ents.get(x.i)
        if e is None or x.i in skip or (x.i in located and ref_of(e).is_place):
            continue
        if not out or out[-1] is not e:
            out.append(e)
    return out


def _same_targets(f: _Found, o: _Found) -> bool:
    """Whether two mentions may be one event by what they are directed at: one names none, or they share
    one ("the assassination of Kennedy" is not the attack on Heidi Cruz of the sentence before)."""
    mine, other = {ref_of(e).key for e in f.targets}, {ref_of(e).key for e in o.targets}
    return not mine or not other or bool(mine & other)


def _unnest(found: list[_Found]) -> list[_Found]:
    """An event named inside another event's phrase keeps what it undergoes: "Iran condemned the US
    airstrike on Syrian troops" is directed at the United States (the airstrike's actor), not at Syria
    (its target); "Turkey condemned the ambassador's assassination" at no one named."""
    for outer in found:
        root = outer.trigger.root
        for inner in found:
            if inner is outer or inner.type == outer.type or not inner.targets:
                continue
            if inner.trigger.root.i != root.i and root in inner.trigger.root.ancestors:
                gone = {(e.start, e.end) for e in inner.targets}
                outer.actors = [e for e in outer.actors if (e.start, e.end) not in gone]
                outer.targets = [e for e in outer.targets if (e.start, e.end) not in gone]
    return found


def _clean(spans: list[Span]) -> list[Span]:
    """Drops demonyms and countries restating a named actor's country ("Russian President Vladimir Putin")."""
    named = {ref_of(e).country for e in spans if ref_of(e).type not in ("country", "capital")}
    return [e for e in spans if not (ref_of(e).type == "country" and e.label_ == "NORP" and ref_of(e).country in named)]


def _unique(spans: list[Span]) -> list[Span]:
    seen, out = set(), []
    for e in spans:
        if ref_of(e).key not in seen:
            seen.add(ref_of(e).key)
            out.append(e)
    return out


def _according_to(doc: Doc) -> set[int]:
    """Start tokens of entities that are sources ("According to the Kremlin, ..."), not actors."""
    out: set[int] = set()
    if not (doc.to_array(LOWER) == doc.vocab.strings.add("according")).any():
        return out
    for t in doc:
        if t.lower_ == "according":
            to = next((c for c in t.children if c.lower_ == "to"), None)
            if to is not None:
                for x in to.subtree:
                    out.add(x.i)
    return {e.start for e in doc.ents if e.start in out}
