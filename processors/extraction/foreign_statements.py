"""Statements in Russian, Persian and Arabic (spaCy component `newsmon_foreign_statements`).

Without a parse, a statement is found the way a reader scans a wire story: a quotation in the marks of
the script («…», „…“, “…”, "…") attributed by a speech verb of the language's lexicon standing next to
it ("…», — заявил Путин", "پوتین گفت: «…»", "وقال بوتين: «…»"), or reported speech opened by a
complementizer after such a verb ("заявил, что …", "گفت که …", "قال إن …"). The speaker is the
resolved entity nearest to the cue on the quote's side of the sentence (before or after the cue: word
order differs between the three languages); a pronoun ("он", "او") or a verb with no subject
("وأضاف: «…»") takes the previous statement's speaker, else the last person named before. The
`newsmon_speakers` component then resolves the mentions as it does in English.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from spacy.language import Language
from spacy.tokens import Doc, Span

from newsmon.processors.extraction.entities import ref_of
from newsmon.processors.extraction.multilingual import LanguageData, language_data, words
from newsmon.processors.extraction.statements import StatementSpan

__all__ = ["ForeignStatements"]

_SENTENCE_END = re.compile(r"[.!?؟…\n]")
_COLON = (":", "：")


@Language.factory("newsmon_foreign_statements",
                  default_config={"max_quote_chars": 2000, "min_quote_words": 2, "max_cue_words": 3,
                                  "max_speaker_words": 8, "reported_speech": True},
                  requires=["doc.ents"], assigns=["doc._.statements", "doc.ents"])
def make_foreign_statements(nlp: Language, name: str, max_quote_chars: int, min_quote_words: int,
                            max_cue_words: int, max_speaker_words: int, reported_speech: bool) -> ForeignStatements:
    """The `newsmon_foreign_statements` component for the pipeline's language (`nlp.lang`)."""
    return ForeignStatements(language_data(nlp.lang), max_quote_chars=max_quote_chars,
                             min_quote_words=min_quote_words, max_cue_words=max_cue_words,
                             max_speaker_words=max_speaker_words, reported_speech=reported_speech)


@dataclass(frozen=True)
class _Cue:
    start: int
    end: int
    speaker_after: bool  # "по словам Лаврова", "بحسب لافروف"


@dataclass
class ForeignStatements:
    """Direct quotes and reported speech with their cue and speaker mention."""

    lexicon: LanguageData
    max_quote_chars: int = 2000
    min_quote_words: int = 2
    max_cue_words: int = 3  # words between a quote and the cue after it ("», — заявил")
    max_speaker_words: int = 8  # words between the cue and its speaker
    reported_speech: bool = True

    def __post_init__(self) -> None:
        marks = []
        for o, c in self.lexicon.quotes:
            body = f"[^{re.escape(o + c)}\\n]{{1,{self.max_quote_chars}}}"
            marks.append(f"{re.escape(o)}{body}{re.escape(c)}")
        self.quote_re = re.compile("|".join(marks)) if marks else None

    def __call__(self, doc: Doc) -> Doc:
        text = doc.text
        lay = _Layout(text, self._quotes(text), list(words(text)))
        cues = [_Cue(s, e, after) for s, e, after in self.lexicon.cues.find(text)]
        lay.cue_starts = [c.start for c in cues]
        people = [e for e in doc.ents if ref_of(e) is not None and e.label_ in ("PERSON", "ORG")
                  and not lay.inside(e.start_char)]
        lay.people_starts = [e.start_char for e in people]
        found: list[StatementSpan] = []
        previous: Span | None = None
        used: set[int] = set()
        added: list[Span] = []
        for start, end in lay.quotes:
            content = _strip(text, start + 1, end - 1)
            if lay.words_between(*content) < self.min_quote_words:
                continue
            cue = self._quote_cue(lay, cues, start, end)
            if cue is None:
                continue
            used.add(cue.start)
            speaker = self._speaker(doc, lay, cue, people, previous, added)
            previous = speaker or previous
            found.append(StatementSpan(content=content, kind="direct", speaker=speaker,
                                       cue=doc.char_span(cue.start, cue.end, alignment_mode="expand")))
        if self.reported_speech:
            for cue in cues:
                if cue.start in used or lay.inside(cue.start):
                    continue
                content = self._reported(lay, cue)
                if content is None:
                    continue
                speaker = self._speaker(doc, lay, cue, people, previous, added, limit=content[0])
                previous = speaker or previous
                found.append(StatementSpan(content=content, kind="indirect", speaker=speaker,
                                           cue=doc.char_span(cue.start, cue.end, alignment_mode="expand")))
        if added:
            doc.ents = sorted([*doc.ents, *added], key=lambda e: e.start)
        doc._.statements = sorted(found, key=lambda st: st.content)
        return doc

    def _quotes(self, text: str) -> list[tuple[int, int]]:
        """(open mark, end of close mark) of each outermost quotation."""
        if self.quote_re is None:
            return []
        out: list[tuple[int, int]] = []
        for m in sorted(self.quote_re.finditer(text), key=lambda m: (m.start(), -m.end())):
            if not out or m.start() >= out[-1][1]:
                out.append((m.start(), m.end()))
        return out

    def _quote_cue(self, lay: _Layout, cues: list[_Cue], start: int, end: int) -> _Cue | None:
        """The cue of a quote: before it in its sentence when a colon leads into the quote, else right
        after it ("», — заявил"), else the last one before it in the sentence."""
        lo, hi = lay.clause_before(start), lay.clause_after(end)
        starts = lay.cue_starts
        before = [c for c in cues[bisect_left(starts, lo):bisect_left(starts, start)] if c.end <= start]
        after = [c for c in cues[bisect_left(starts, end):bisect_left(starts, hi)] if c.end <= hi][:1]
        after = [c for c in after if lay.words_between(end, c.start) <= self.max_cue_words]
        if before and lay.text[lo:start].rstrip().endswith(_COLON):
            return before[-1]
        if after:
            return after[0]
        return before[-1] if before else None

    def _reported(self, lay: _Layout, cue: _Cue) -> tuple[int, int] | None:
        """The reported content after a cue: from the complementizer following it (the speaker may stand
        between) to the end of the sentence."""
        end = lay.sentence_end(cue.end)
        following = lay.words_from(cue.end, end, self.max_speaker_words + 2)
        opener = next((w for w in following if w[2] in self.lexicon.complementizers), None)
        if opener is None:
            return None
        content = _strip(lay.text, opener[1], end)
        if lay.words_between(*content) < 3 or lay.inside(content[0]):
            return None
        return content

    def _speaker(self, doc: Doc, lay: _Layout, cue: _Cue, people: list[Span], previous: Span | None,
                 added: list[Span], limit: int | None = None) -> Span | None:
        """The mention of who spoke: the resolved actor nearest to the cue within its clause."""
        text = lay.text  # Doc.text joins every token: built once
        lo = lay.clause_before(cue.start)
        hi = min(limit if limit is not None else len(text), lay.clause_after(cue.end))

        def distance(e: Span) -> int:
            return lay.words_between(cue.end, e.start_char) if e.start_char >= cue.end \
                else lay.words_between(e.end_char, cue.start)

        starts = lay.people_starts
        clause_people = [e for e in people[bisect_left(starts, lo):bisect_left(starts, hi)] if e.end_char <= hi]
        clause_people = [e for e in clause_people if not _titles_person(text, e, clause_people)]
        if self.lexicon.subject_first and not cue.speaker_after:
            before = [e for e in clause_people if e.end_char <= cue.start]
            if before:
                return before[0]
        near = [e for e in clause_people if (e.start_char >= cue.end or not cue.speaker_after)
                and distance(e) <= self.max_speaker_words]
        if near:
            return min(near, key=lambda e: (distance(e), e.start_char < cue.start))
        antecedent = previous or next((e for e in reversed(people[:bisect_left(starts, cue.start)])
                                       if e.end_char <= cue.start and e.label_ == "PERSON"), None)
        if antecedent is None:
            return None
        clause = lay.words_from(lo, cue.start, 1)
        neighbours = [*clause, *lay.words_before(cue.start, 1), *lay.words_from(cue.end, len(text), 1)]
        pronoun = next((w for w in neighbours if w[2] in self.lexicon.pronouns and lo <= w[0] < hi), None)
        if pronoun is not None:
            span = doc.char_span(pronoun[0], pronoun[1], label="PERSON", kb_id=antecedent.kb_id_)
            if span is not None and span[0].ent_iob_ not in ("B", "I") and all(a.start != span.start for a in added[-2:]):
                added.append(span)
                return span
        if not clause or pronoun is not None:  # "وأضاف: «...»": no subject of its own
            return antecedent
        return None


class _Layout:
    """Where a text's quotations, sentence ends and words are, for lookups in log time (a long text with
    many quotes and cues stays linear)."""

    def __init__(self, text: str, quotes: list[tuple[int, int]], ws: list[tuple[int, int, str]]) -> None:
        self.text, self.quotes, self.ws = text, quotes, ws
        self.q_starts = [s for s, _ in quotes]
        self.q_ends = [e for _, e in quotes]
        self.w_starts = [w[0] for w in ws]
        self.ends = [m.start() for m in _SENTENCE_END.finditer(text) if not self.inside(m.start())]
        self.cue_starts: list[int] = []  # of the cues, in text order
        self.people_starts: list[int] = []  # of the actors that may speak, in text order

    def inside(self, pos: int) -> bool:
        """Whether `pos` is inside a quotation (marks included)."""
        i = bisect_right(self.q_starts, pos) - 1
        return i >= 0 and pos < self.q_ends[i]

    def sentence_start(self, pos: int) -> int:
        i = bisect_left(self.ends, pos) - 1
        return self.ends[i] + 1 if i >= 0 else 0

    def sentence_end(self, pos: int) -> int:
        """Where the sentence holding `pos` ends (its final mark excluded)."""
        i = bisect_left(self.ends, pos)
        return self.ends[i] if i < len(self.ends) else len(self.text)

    def clause_before(self, pos: int) -> int:
        """Start of the stretch before `pos` in its sentence, after any quotation."""
        i = bisect_right(self.q_ends, pos) - 1
        return max(self.sentence_start(pos), self.q_ends[i] if i >= 0 else 0)

    def clause_after(self, pos: int) -> int:
        """End of the stretch after `pos` in its sentence, before any quotation."""
        i = bisect_left(self.q_starts, pos)
        return min(self.sentence_end(pos), self.q_starts[i] if i < len(self.q_starts) else len(self.text))

    def words_between(self, a: int, b: int) -> int:
        return max(0, bisect_left(self.w_starts, b) - bisect_left(self.w_starts, a))

    def words_from(self, a: int, b: int, n: int) -> list[tuple[int, int, str]]:
        """Up to `n` words starting in [a, b)."""
        i = bisect_left(self.w_starts, a)
        return [w for w in self.ws[i:i + n] if w[0] < b]

    def words_before(self, pos: int, n: int) -> list[tuple[int, int, str]]:
        i = bisect_left(self.w_starts, pos)
        return self.ws[max(0, i - n):i]


def _titles_person(text: str, ent: Span, near: list[Span]) -> bool:
    """Whether an organisation is part of a person's title ("пресс-секретарь Кремля Дмитрий Песков",
    "المتحدثة باسم وزارة الخارجية الروسية ماريا زاخاروفا"): the person speaks, not the organisation."""
    return ent.label_ == "ORG" and any(p.label_ == "PERSON" and 0 <= p.start_char - ent.end_char <= 3
                                       and not text[ent.end_char:p.start_char].strip(" ,،") for p in near)


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    """The range without surrounding spaces and trailing commas or dashes."""
    while start < end and text[start] in " \u00a0\t":
        start += 1
    while end > start and text[end - 1] in " \u00a0\t,،-—":
        end -= 1
    return start, end
