"""Novelty: is a statement's content new, or a near-duplicate of one already seen within the window?

Content is normalised (analysed tokens, apostrophes folded), shingled into character 5-grams and
summarised by a datasketch MinHash signature (robust to the punctuation, quote-mark and one-word edits
that syndicated copies carry); two statements are near-duplicates when their estimated Jaccard similarity reaches
`Settings.novelty_threshold`. State is a plain JSON-serialisable list per partition key (the speaker),
so it can live in a changelog-backed Faust table and survive restarts:

    [[statement_id, timestamp (epoch s), signature (base64 uint32s) or "", first_id or None], ...]

At most `max_entries` (newest) are kept per key, so a table value stays well under Kafka's 1 MB
message limit (about 0.7 KB per first sighting). A first sighting keeps its signature; a later
sighting only records which statement it repeats, so replaying the same record gives the same verdict.
Per speaker the signatures are compared directly (vectorised); the sets are small enough that an LSH
index would only add overhead.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from datasketch import MinHash

from newsmon.alerts.query import analyze
from newsmon.settings import Settings

__all__ = ["Verdict", "NoveltyDetector", "shingles"]

Entry = list  # [id, ts, signature_b64, first_id]


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

    def observe(self, state: list[Entry] | None, statement_id: str, text: str,
                timestamp: datetime | float) -> tuple[Verdict, list[Entry]]:
        """The verdict for a statement, and the state with it recorded (entries outside the window dropped)."""
        entries = [list(e) for e in state or []]
        for e in entries:  # a replay of a record already seen: same verdict as the first time
            if e[0] == statement_id:
                first = next((f for f in entries if f[0] == (e[3] or statement_id)), None)
                return Verdict(e[3] is None, e[3] or statement_id, first_ts=first[1] if first else None), entries
        ts = _ts(timestamp)
        latest = max([ts, *(e[1] for e in entries)])
        entries = [e for e in entries if e[1] >= latest - self.window_s][-self.max_entries:]
        sig = self.signature(text)
        firsts = [e for e in entries if e[2] and abs(e[1] - ts) <= self.window_s]
        verdict = Verdict(True, statement_id)
        if firsts and text.strip():
            matrix = np.stack([self._decode(e[2]) for e in firsts])
            sims = (matrix == sig).mean(axis=1)
            best = int(np.argmax(sims))  # first (oldest) among equals
            if sims[best] >= self.threshold:
                verdict = Verdict(False, firsts[best][0], float(sims[best]), first_ts=firsts[best][1])
        entries.append([statement_id, ts, self._encode(sig) if verdict.novel else "",
                        None if verdict.novel else verdict.first_id])
        return verdict, entries
