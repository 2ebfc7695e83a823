"""Novelty: is a statement (or an event) new, or a repeat of one already seen within the window?

What is compared is the story's own words, not the way an outlet frames them: `novelty_text` drops the
headline, the dateline ("IDLIB, Syria (Reuters) - ") and wire credits ("(Reporting by ...)") that a quote
or an article lead may carry, so a copy with a rewritten headline or from another outlet is still a repeat.

Content is normalised (analysed tokens, apostrophes folded), shingled into character 5-grams and
summarised by a datasketch MinHash signature (robust to the punctuation, quote-mark and one-word edits
that syndicated copies carry); two statements are near-duplicates when their estimated Jaccard similarity reaches
`Settings.novelty_threshold`. State is a plain JSON-serialisable list per partition key (the speaker),
so it can live in a changelog-backed Faust table and survive restarts:

    [[record_id, timestamp (epoch s), signature (base64 uint32s) or "", first_id or None,
      fingerprint or None, day (ordinal) or None, group or None], ...]

The last three are optional (events only; state written without them reads the same): two records with
the same `fingerprint` (an event's type, actors, targets and place: `event_fingerprint`) whose days are at
most one apart are the same event even when their texts differ; records of one `group` (one article)
are never repeats of each other, since one article reports distinct events.

At most `max_entries` (newest) are kept per key, so a table value stays well under Kafka's 1 MB
message limit (about 0.7 KB per first sighting). A first sighting keeps its signature; a later
sighting only records which statement it repeats, so replaying the same record gives the same verdict.
Per speaker the signatures are compared directly (vectorised); the sets are small enough that an LSH
index would only add overhead.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from datasketch import MinHash

from newsmon.alerts.query import analyze
from newsmon.records import Event, Statement, stable_id
from newsmon.settings import Settings

__all__ = ["Verdict", "NoveltyDetector", "shingles", "novelty_text", "statement_text", "event_text",
           "event_fingerprint"]

Entry = list  # [id, ts, signature_b64, first_id, fingerprint?, day?, group?]


@dataclass(frozen=True)
class Verdict:
    """The outcome for one statement: `novel`, and the id of the first sighting (its own id if novel)."""

    novel: bool
    first_id: str
    similarity: float = 1.0
    first_ts: float | None = None  # epoch seconds of the first sighting, when known


_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\uff07": "'"})


def shingles(text: str, size: int = 5) -> set[str]:
    """Character `size`-grams of the normalised text (analysed tokens joined by spaces)."""
    norm = " ".join(analyze(text.translate(_APOSTROPHES)))
    if len(norm) <= size:
        return {norm} if norm else set()
    return {norm[i:i + size] for i in range(len(norm) - size + 1)}


# A dateline opening a paragraph: a place in capitals, optionally a region or a date, optionally the wire in
# brackets, then a dash ("IDLIB, Syria (Reuters) - ", "TEHRAN - ", "DAMASCUS, Jan 3 (AFP) -") or the end of
# the paragraph ("SOCHI, Russia (Reuters)").
_PLACE = r"[A-Z][A-Z.'\-]+(?:\s+[A-Z][A-Z.'\-]+){0,3}"
_AFTER = r"(?:,\s*[A-Z][A-Za-z.'\-]+(?:\s+[A-Za-z0-9.'\-]+){0,2}){0,2}"
_DATELINE = re.compile(rf"^\s*{_PLACE}{_AFTER}\s*(?:\([^()\n]{{1,40}}\))?\s*(?:[-\u2013\u2014]+\s+|$)")
# Wire credits: bracketed reporting lines and bracketed agency names anywhere.
_CREDIT = re.compile(r"\((?:(?:Reporting|Writing|Editing|Additional reporting|Compiled|Translated)\b[^()]*"
                     r"|Reuters|AFP|AP|dpa|DPA|Xinhua|TASS|IRNA|SANA|Anadolu|UPI|EFE|ANSA|Kyodo|Yonhap|ANI|PTI)\)")
_PARAGRAPHS = re.compile(r"\n\s*\n")


def _squash(text: str) -> str:
    return " ".join(text.split())


def novelty_text(text: str, headline: str = "") -> str:
    """The words of a quote or an article lead without its outlet's framing: paragraphs that are (part of)
    the `headline` dropped (the extracted text is headline, blank line, body, and a quote found at the top
    may take in the headline or its end), a dateline opening a paragraph and wire credits removed.
    When that leaves nothing, the paragraphs other than the headline, else the text as given (a headline
    that is itself the quote)."""
    head = _squash(headline).casefold()
    body = [flat for flat in map(_squash, _PARAGRAPHS.split(text)) if flat and not (head and flat.casefold() in head)]
    kept = [_squash(_CREDIT.sub(" ", _DATELINE.sub("", flat, count=1))) for flat in body]
    return " ".join(k for k in kept if k) or " ".join(body) or _squash(text)


def statement_text(statement: Statement) -> str:
    """What statement novelty compares: the quote alone."""
    return novelty_text(statement.content.text, statement.title)


def event_text(event: Event) -> str:
    """What event novelty compares as text: the lead of the article that reported it, without framing."""
    return novelty_text(event.lead, event.title)


def event_fingerprint(event: Event) -> str | None:
    """Who did what to whom where: the event's type, actors, targets and place, as one stable hash
    (None when the event names none of them: a bare "strikes" says too little to be matched)."""
    def names(entities) -> list[str]:
        return sorted({e.id or e.name or _squash(e.text).casefold() for e in entities})

    loc = event.location
    place = "" if loc is None else str(loc.geonameid or loc.name or loc.country or "")
    actors, targets = names(event.actors), names(event.targets)
    if not (actors or targets or place):
        return None
    return stable_id(event.type, "|".join(actors), "|".join(targets), place)


def _ts(value: datetime | float) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    return float(value)


class NoveltyDetector:
    """Decides novelty against a key's state list and returns the updated list."""

    def __init__(self, threshold: float = 0.8, window: timedelta = timedelta(days=7), num_perm: int = 128,
                 shingle_size: int = 5, max_entries: int = 1000):
        if not 0 < threshold <= 1:
            raise ValueError(f"novelty threshold must be in (0, 1], not {threshold}")
        self.threshold = threshold
        self.window_s = window.total_seconds()
        self.num_perm = num_perm
        self.shingle_size = shingle_size
        self.max_entries = max_entries
        # permutations are computed once and shared by every signature
        self._template = MinHash(num_perm=num_perm, scheme="affine32")

    @classmethod
    def from_settings(cls, settings: Settings) -> "NoveltyDetector":
        return cls(settings.novelty_threshold, timedelta(days=settings.novelty_window_days))

    def signature(self, text: str) -> np.ndarray:
        """The MinHash signature of a text (uint32 values)."""
        m = MinHash(num_perm=self.num_perm, permutations=self._template.permutations, scheme="affine32")
        m.update_batch([s.encode("utf-8") for s in shingles(text, self.shingle_size)])
        return m.hashvalues.astype(np.uint32)

    @staticmethod
    def _encode(sig: np.ndarray) -> str:
        return base64.b64encode(sig.astype("<u4").tobytes()).decode("ascii")

    @staticmethod
    def _decode(text: str) -> np.ndarray:
        return np.frombuffer(base64.b64decode(text), dtype="<u4")

    def observe(self, state: list[Entry] | None, record_id: str, text: str, timestamp: datetime | float,
                fingerprint: str | None = None, day: int | None = None,
                group: str | None = None) -> tuple[Verdict, list[Entry]]:
        """The verdict for a record, and the state with it recorded (entries outside the window dropped).

        A repeat is a first sighting within the window, not of the same `group`, with the same
        `fingerprint` (and a `day` at most one apart, when both have one), else with a near-duplicate
        `text`."""
        entries = [list(e) for e in state or []]
        for e in entries:  # a replay of a record already seen: same verdict as the first time
            if e[0] == record_id:
                first = next((f for f in entries if f[0] == (e[3] or record_id)), None)
                return Verdict(e[3] is None, e[3] or record_id, first_ts=first[1] if first else None), entries
        ts = _ts(timestamp)
        latest = max([ts, *(e[1] for e in entries)])
        entries = [e for e in entries if e[1] >= latest - self.window_s][-self.max_entries:]
        sig = self.signature(text)
        firsts = [e for e in entries if e[2] and abs(e[1] - ts) <= self.window_s
                  and (group is None or _at(e, 6) != group)]
        verdict = Verdict(True, record_id)
        same = [e for e in firsts if fingerprint is not None and _at(e, 4) == fingerprint
                and (day is None or _at(e, 5) is None or abs(_at(e, 5) - day) <= 1)]
        if same:
            verdict = Verdict(False, same[0][0], 1.0, first_ts=same[0][1])
        elif firsts and text.strip():
            matrix = np.stack([self._decode(e[2]) for e in firsts])
            sims = (matrix == sig).mean(axis=1)
            best = int(np.argmax(sims))  # first (oldest) among equals
            if sims[best] >= self.threshold:
                verdict = Verdict(False, firsts[best][0], float(sims[best]), first_ts=firsts[best][1])
        entry: Entry = [record_id, ts, self._encode(sig) if verdict.novel else "",
                        None if verdict.novel else verdict.first_id]
        if fingerprint is not None or day is not None or group is not None:
            entry += [fingerprint, day, group]
        entries.append(entry)
        return verdict, entries


def _at(entry: Entry, i: int):
    """Field `i` of a state entry (None where an older, shorter entry has none)."""
    return entry[i] if len(entry) > i else None
