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
        quotes = self._quotes(text)
        cues = [_Cue(s, e, after) for s, e, after in self.lexicon.cues.find(text)]
        ws = list(words(text))
        people = [e for e in doc.ents if ref_of(e) is not None and e.label_ in ("PERSON", "ORG")
                  and not _inside(e.start_char, quotes)]
        found: list[StatementSpan] = []
        previous: Span | None = None
        used: set[int] = set()
        added: list[Span] = []
        for start, end in quotes:
            content = _strip(text, start + 1, end - 1)
            if sum(1 for w in ws if content[0] <= w[0] < content[1]) < self.min_quote_words:
                continue
            cue = self._quote_cue(text, cues, quotes, start, end, ws)
            if cue is None:
                continue
            used.add(cue.start)
            speaker = self._speaker(doc, cue, quotes, people, ws, previous, added)
            previous = speaker or previous
            found.append(StatementSpan(content=content, kind="direct", speaker=speaker,
                                       cue=doc.char_span(cue.start, cue.end, alignment_mode="expand")))
        if self.reported_speech:
            for cue in cues:
                if cue.start in used or _inside(cue.start, quotes):
                    continue
                content = self._reported(text, cue, quotes, ws)
                if content is None:
                    continue
                speaker = self._speaker(doc, cue, quotes, people, ws, previous, added, limit=content[0])
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

    def _quote_cue(self, text: str, cues: list[_Cue], quotes: list[tuple[int, int]], start: int, end: int,
                   ws: list[tuple[int, int, str]]) -> _Cue | None:
        """The cue of a quote: before it in its sentence when a colon leads into the quote, else right
        after it ("», — заявил"), else the last one before it in the sentence."""
        lo = max(_sentence_start(text, start, quotes), max((e for s, e in quotes if e <= start), default=0))
        hi = min(_sentence_end(text, end, quotes), min((s for s, e in quotes if s >= end), default=len(text)))
        before = [c for c in cues if lo <= c.start and c.end <= start]
        after = [c for c in cues if end <= c.start and c.end <= hi
                 and sum(1 for w in ws if end <= w[0] < c.start) <= self.max_cue_words]
        colon = text[lo:start].rstrip().endswith(_COLON)
        if colon and before:
            return before[-1]
        if after:
            return after[0]
        return before[-1] if before else None

    def _reported(self, text: str, cue: _Cue, quotes: list[tuple[int, int]],
                  ws: list[tuple[int, int, str]]) -> tuple[int, int] | None:
        """The reported content after a cue: from the complementizer following it (the speaker may stand
        between) to the end of the sentence."""
        end = _sentence_end(text, cue.end, quotes)
        following = [w for w in ws if cue.end <= w[0] < end][: self.max_speaker_words + 2]
        opener = next((w for w in following if w[2] in self.lexicon.complementizers), None)
        if opener is None:
            return None
        content = _strip(text, opener[1], end)
        if sum(1 for w in ws if content[0] <= w[0] < content[1]) < 3 or _inside(content[0], quotes):
            return None
        return content

    def _speaker(self, doc: Doc, cue: _Cue, quotes: list[tuple[int, int]], people: list[Span],
                 ws: list[tuple[int, int, str]], previous: Span | None, added: list[Span],
                 limit: int | None = None) -> Span | None:
        """The mention of who spoke: the resolved actor nearest to the cue within its clause."""
        text = doc.text
        lo = max(_sentence_start(text, cue.start, quotes), max((e for s, e in quotes if e <= cue.start), default=0))
        hi = min(limit if limit is not None else len(text), _sentence_end(text, cue.end, quotes),
                 min((s for s, e in quotes if s >= cue.end), default=len(text)))
        index = {w[0]: i for i, w in enumerate(ws)}

        def distance(e: Span) -> int:
            a, b = (cue.end, e.start_char) if e.start_char >= cue.end else (e.end_char, cue.start)
            return sum(1 for w in ws if a <= w[0] < b)

        clause_people = [e for e in people if lo <= e.start_char and e.end_char <= hi]
        clause_people = [e for e in clause_people if not _titles_person(text, e, clause_people)]
        if self.lexicon.subject_first and not cue.speaker_after:
            before = [e for e in clause_people if e.end_char <= cue.start]
            if before:
                return before[0]
        near = [e for e in clause_people if (e.start_char >= cue.end or not cue.speaker_after)
                and distance(e) <= self.max_speaker_words]
        if near:
            return min(near, key=lambda e: (distance(e), e.start_char < cue.start))
        antecedent = previous or next((e for e in reversed(people) if e.end_char <= cue.start
                                       and e.label_ == "PERSON"), None)
        if antecedent is None:
            return None
        i = index.get(cue.start, 0)
        clause = [w for w in ws if lo <= w[0] < cue.start]
        neighbours = [*clause[:1], *([ws[i - 1]] if i else []), *[w for w in ws if w[0] >= cue.end][:1]]
        pronoun = next((w for w in neighbours if w[2] in self.lexicon.pronouns and lo <= w[0] < hi), None)
        if pronoun is not None:
            span = doc.char_span(pronoun[0], pronoun[1], label="PERSON", kb_id=antecedent.kb_id_)
            if span is not None and not any(a.start < span.end and span.start < a.end for a in [*doc.ents, *added]):
                added.append(span)
                return span
        if not clause or pronoun is not None:  # "وأضاف: «...»": no subject of its own
            return antecedent
        return None


def _titles_person(text: str, ent: Span, near: list[Span]) -> bool:
    """Whether an organisation is part of a person's title ("пресс-секретарь Кремля Дмитрий Песков",
    "المتحدثة باسم وزارة الخارجية الروسية ماريا زاخاروفا"): the person speaks, not the organisation."""
    return ent.label_ == "ORG" and any(p.label_ == "PERSON" and 0 <= p.start_char - ent.end_char <= 3
                                       and not text[ent.end_char:p.start_char].strip(" ,،") for p in near)


def _inside(pos: int, ranges: list[tuple[int, int]]) -> bool:
    return any(s <= pos < e for s, e in ranges)


def _sentence_start(text: str, pos: int, quotes: list[tuple[int, int]]) -> int:
    """Where the sentence holding `pos` starts (sentence marks inside quotations do not count)."""
    for m in reversed(list(_SENTENCE_END.finditer(text, 0, pos))):
        if not _inside(m.start(), quotes):
            return m.end()
    return 0


def _sentence_end(text: str, pos: int, quotes: list[tuple[int, int]]) -> int:
    """Where the sentence holding `pos` ends (its final mark excluded)."""
    for m in _SENTENCE_END.finditer(text, pos):
        if not _inside(m.start(), quotes):
            return m.start()
    return len(text)


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    """The range without surrounding spaces and trailing commas or dashes."""
    while start < end and text[start] in " \u00a0\t":
        start += 1
    while end > start and text[end - 1] in " \u00a0\t,،-—":
        end -= 1
    return start, end
