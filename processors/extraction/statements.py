"""Statements: who said what, from direct quotes and reported speech (spaCy component `newsmon_statements`).

The component reads the parse (dependencies, lemmas) and sets `doc._.statements`, a list of
`StatementSpan`s in text order. It finds the speaker *mention* as it stands in the text ("he",
"the Russian president"); resolving mentions to canonical entities is done downstream.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from newsmon.processors.extraction.datafiles import read_yaml

__all__ = ["StatementSpan", "StatementFinder", "load_cues", "complement_tokens", "char_range", "frame_key",
           "headline_end"]

if not Doc.has_extension("statements"):
    Doc.set_extension("statements", default=None)


@dataclass(frozen=True)
class StatementSpan:
    """One statement found in a Doc.

    `content` is the (start, end) character range of what was said; for a quote split around its
    attribution or running over several paragraphs, `pieces` holds the quoted parts and `content`
    covers them all. `speaker` is the mention as it stands in the text (carried over from the previous
    quote for a continuation), `cue` the attribution verb or phrase, `via` the outlet it came through
    ("IRNA" in "X was quoted by IRNA as saying"), `addressee` whom it was said to.
    """

    content: tuple[int, int]
    kind: Literal["direct", "indirect"]
    speaker: Span | None = None
    cue: Span | None = None
    via: Span | None = None
    addressee: Span | None = None
    pieces: tuple[tuple[int, int], ...] = ()
    quotes: tuple[tuple[int, int], ...] = ()  # quoted words inside reported speech ("he was "optimistic"")
    continued: bool = False  # the speaker was carried over from the previous quote
    partial: bool = False  # this statement is such a quoted phrase (with `separate_partial_quotes`)
    headline: bool = False  # what is said stands in the headline (see `headline_end`)

    def text(self, doc: Doc) -> str:
        """The content text; the pieces joined by a space when the quote was split."""
        pieces = self.pieces or (self.content,)
        text = doc.text
        return " ".join(text[s:e] for s, e in pieces)


@dataclass(frozen=True)
class Cues:
    """The attribution lexicon (see data/cues.yaml)."""

    verbs: frozenset[str]
    quote_verbs: frozenset[str]
    passive_quote_verbs: frozenset[str]
    source_preps: frozenset[str]
    clause_openers: frozenset[str]
    open_quotes: frozenset[str]
    close_quotes: frozenset[str]
    straight_quotes: frozenset[str]
    agent_nouns: frozenset[str] = frozenset()
    survey_nouns: frozenset[str] = frozenset()
    frames: dict[str, tuple[str, ...]] = field(default_factory=dict)


@lru_cache(maxsize=8)
def load_cues(path: str | Path, frames_path: str | Path | None = None) -> Cues:
    """Read a cues file and a frames file (YAML; relative paths are looked up in the data directory)."""
    raw = read_yaml(path)
    frames = {}
    if frames_path:
        data = read_yaml(frames_path) or {}
        frames = {str(k).lower(): tuple(v) for k, v in data.get("frames", {}).items()}
    frames.update({str(k).lower(): tuple(v) for k, v in (raw.get("frames") or {}).items()})  # set by hand
    for lemma in raw.get("not_cues") or ():
        frames.pop(str(lemma).lower(), None)
    return Cues(**{k: frozenset(str(v) if k.endswith("quotes") else str(v).lower() for v in raw.get(k) or [])
                   for k in Cues.__dataclass_fields__ if k != "frames"}, frames=frames)


@Language.factory(
    "newsmon_statements",
    default_config={"cues_file": "cues.yaml", "frames_file": "frames.yaml", "max_quote_chars": 4000,
                    "max_cue_distance": 40, "min_unattributed_words": 6, "embedded_share": 0.6, "max_split_gap": 250,
                    "reported_speech": True, "speaker_lines": True, "extend_clauses": True, "nested": False,
                    "separate_partial_quotes": False},
    requires=["token.dep", "token.lemma", "doc.sents"],
    assigns=["doc._.statements"],
)
def make_statement_finder(nlp: Language, name: str, cues_file: str, frames_file: str, max_quote_chars: int,
                          max_cue_distance: int, min_unattributed_words: int, embedded_share: float,
                          max_split_gap: int, reported_speech: bool, speaker_lines: bool, extend_clauses: bool,
                          nested: bool, separate_partial_quotes: bool) -> StatementFinder:
    """The `newsmon_statements` component: the lexicon in `cues_file`, the learned frames in `frames_file`
    (both under data/ unless absolute; an empty `frames_file` leaves reported speech to the cue verbs)."""
    return StatementFinder(load_cues(cues_file, frames_file or None), max_quote_chars=max_quote_chars,
                           max_cue_distance=max_cue_distance, min_unattributed_words=min_unattributed_words,
                           embedded_share=embedded_share, max_split_gap=max_split_gap,
                           reported_speech=reported_speech, speaker_lines=speaker_lines,
                           extend_clauses=extend_clauses, nested=nested,
                           separate_partial_quotes=separate_partial_quotes)


@dataclass
class _Quote:
    """A run of quoted text: one or more segments (several when it runs over paragraphs or is split)."""

    segments: list[tuple[int, int, int, int]]  # (open mark, content start, content end, close mark end)
    closed: bool
    cue: Token | None = None
    roles: tuple[Span | None, Span | None, Span | None] = (None, None, None)  # speaker, via, addressee
    partial: bool = False
    continued: bool = False

    @property
    def start(self) -> int:
        return self.segments[0][0]

    @property
    def end(self) -> int:
        return self.segments[-1][3]


@dataclass
class StatementFinder:
    """Finds direct quotes and reported speech in a parsed Doc (the `newsmon_statements` component)."""

    cues: Cues
    max_quote_chars: int = 4000  # a longer "quote" is a mismatched mark
    max_cue_distance: int = 40  # tokens between a quote and its cue
    min_unattributed_words: int = 6  # shorter quotes with no speaker are scare quotes or titles
    embedded_share: float = 0.6  # a quote under this share of its cue's clause is part of reported speech
    max_split_gap: int = 250  # characters between the parts of a split quote
    reported_speech: bool = True
    speaker_lines: bool = True  # "Name: words" lines
    extend_clauses: bool = True  # a complement runs on to the end of its sentence
    nested: bool = False  # keep reported statements inside what another statement reports
    separate_partial_quotes: bool = False  # also a statement of its own for "optimistic" in he was "optimistic"
    # a cue in a longer "sentence" (a list, a table, text without full stops) reports nothing: each cue's
    # complement spans its sentence, so such runs made the scan quadratic (1,000 cues: 19 s)
    max_sentence_tokens: int = 300
    _quote_re: re.Pattern = field(init=False, repr=False)
    _verbs: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        marks = sorted(self.cues.open_quotes | self.cues.close_quotes, key=len, reverse=True)
        self._quote_re = re.compile("|".join(re.escape(m) for m in marks))
        self._verbs = self.cues.verbs | self.cues.quote_verbs

    def __call__(self, doc: Doc) -> Doc:
        text = doc.text  # spaCy joins the tokens on every access: read it once
        quotes = self.find_quotes(text)
        statements = self._direct(doc, text, quotes)
        if self.reported_speech:
            statements += self._reported(doc, quotes, statements)
        if self.speaker_lines:
            statements = self._speaker_lines(doc, text, statements)
        if not self.nested:
            statements = _outermost(statements)
        statements = self._in_headline(text, statements)
        doc._.statements = sorted(statements, key=lambda s: s.content)
        doc.user_data.pop(_SENTENCE_BOUNDS, None)  # read for this component only: later ones may retokenize
        return doc

    def _in_headline(self, text: str, statements: list[StatementSpan]) -> list[StatementSpan]:
        """Statements in the headline are marked, and kept only when the headline is itself an attribution:
        `X: ...` or `X says ...` (a verb of saying with its subject). A headline is a summary of the story
        ("Syria: IS destroys ..."), not what someone said."""
        end = headline_end(text)
        if not end:
            return statements
        out = []
        for st in statements:
            if st.content[0] >= end or st.content[1] > end:
                out.append(st)  # what is said runs on in the body (a quote over paragraphs): no headline
            elif st.speaker is not None and st.cue is not None and st.speaker.start_char < end \
                    and (st.cue.text == ":" or self.is_cue(st.cue.root)):
                out.append(replace(st, headline=True))
        return out

    def _speaker_lines(self, doc: Doc, text: str, statements: list[StatementSpan]) -> list[StatementSpan]:
        """`Name: what they said` lines (headlines, transcripts); they replace an unattributed quote there."""
        out = []
        headline = headline_end(text)
        for m in _SPEAKER_LINE.finditer(text):
            if len(m.group("name").split()) > 6 or len(m.group("content").split()) < 3:
                continue
            name = doc.char_span(m.start("name"), m.end("name"), alignment_mode="contract")
            colon = doc.char_span(m.end("name"), m.end("name") + 1, alignment_mode="expand")
            s, e = m.start("content"), m.end("content")
            while e > s and text[e - 1] in ".”\"'’» ":
                e -= 1
            while s < e and text[s] in "“\"'‘« ":
                s += 1  # `X: "..."`: what is said, without its marks
            if name is None or colon is None or not any(t.pos_ in ("PROPN", "NOUN") for t in name) \
                    or name[-1].lemma_.lower() in _LABELS:
                continue  # "Correction: ...", "Editor’s note: ...": no speaker
            clash = [st for st in statements if st.content[0] < e and s < st.content[1]]
            if any(st.cue is not None for st in clash) and e > headline:
                continue  # in the headline, `X: ...` is the attribution, whatever the parse made of the rest
            statements = [st for st in statements if st not in clash]
            out.append(StatementSpan(content=(s, e), kind="direct", speaker=_trim(doc, name.start, name.end),
                                     cue=colon))
        return statements + out

    # --- quotes -------------------------------------------------------------------------------------

    def find_quotes(self, text: str) -> list[_Quote]:
        """Quoted runs of `text`, paragraph by paragraph; an unclosed quote runs to the paragraph end and
        continues into the next paragraph when that one opens with a quotation mark."""
        opens, closes = self.cues.open_quotes, self.cues.close_quotes
        quotes: list[_Quote] = []
        for para in re.finditer(r"[^\n]+", text):
            open_at: tuple[int, int] | None = None  # (mark start, mark end)
            depth = 0  # quotes nested in the open one ("... what he calls “hell” than ...")
            marks = list(self._quote_re.finditer(text, para.start(), para.end()))
            closers = [m.start() for m in marks if m.group() in closes and m.group() not in opens]
            for m in marks:
                ch, pos, end = m.group(), m.start(), m.end()
                before = text[pos - 1] if pos > para.start() else " "
                after = text[end] if end < para.end() else " "
                if open_at is None:
                    if ch in opens or (not before.isalnum() and after.isalnum()):
                        open_at = (pos, end)
                elif ch in closes:
                    if ch in opens and ch not in self.cues.straight_quotes and before.isspace() and after.isalnum():
                        if len(closers) - bisect_left(closers, end) >= 2:
                            depth += 1  # a quote inside the quote
                            continue
                        # an opening mark inside an open quote: the first one was never closed
                        self._add(quotes, text, open_at, pos, pos, closed=False)
                        open_at = (pos, end)
                        continue
                    if depth and ch not in self.cues.straight_quotes:
                        depth -= 1
                        continue
                    self._add(quotes, text, open_at, pos, end, closed=True)
                    open_at = None
            if open_at is not None:
                self._add(quotes, text, open_at, para.end(), para.end(), closed=False)
        return quotes

    def _add(self, quotes: list[_Quote], text: str, mark: tuple[int, int], inner_end: int, end: int,
             closed: bool) -> None:
        s, e = mark[1], inner_end
        while s < e and text[s].isspace():
            s += 1
        while e > s and (text[e - 1].isspace() or text[e - 1] in ",;:"):
            e -= 1
        if e <= s or e - s > self.max_quote_chars:
            return
        seg = (mark[0], s, e, end)
        prev = quotes[-1] if quotes else None
        if prev is not None and not prev.closed and text[prev.end:mark[0]].strip() == "" \
                and "\n" in text[prev.end:mark[0]] and not _opens_speaker_line(text, mark[0]):
            prev.segments.append(seg)  # a quote running over paragraphs
            prev.closed = closed
            return
        quotes.append(_Quote([seg], closed))

    # --- direct speech ------------------------------------------------------------------------------

    def _direct(self, doc: Doc, text: str, quotes: list[_Quote]) -> list[StatementSpan]:
        """Direct quotes, read in steps: each quote's cue and roles (`_attribute`), split quotes joined
        (`_merge_split`), quotes embedded in a reported sentence set aside (`_embedded_in_report`), a
        speaker carried over to quotes without a cue (`_carry_speaker`), unattributed scare quotes
        dropped (`_keeps`); the reported sentences around embedded quotes close the list."""
        for q in quotes:
            self._attribute(doc, text, q)
        quotes = self._merge_split(text, quotes)
        out: list[StatementSpan] = []
        embedded: dict[int, list[tuple[int, int]]] = {}  # cue token -> the quoted pieces its report holds
        prev: _Quote | None = None
        prev_anchor = 0  # where the previous kept quote's statement ends (quote, roles or cue)
        for q in quotes:
            pieces = tuple((s, e) for _, s, e, _ in q.segments)
            if q.cue is not None and self._embedded_in_report(text, q, pieces):
                q.partial = True  # quoted words inside a reported sentence
                embedded.setdefault(q.cue.i, []).extend(pieces)
            self._carry_speaker(doc, text, q, prev, prev_anchor)
            if not self._keeps(text, q, pieces):
                continue
            out.append(self._direct_statement(q, pieces))
            prev, prev_anchor = q, _anchor(q)
        return out + [self._around_quotes(doc[i], quoted) for i, quoted in embedded.items()]

    def _attribute(self, doc: Doc, text: str, q: _Quote) -> None:
        """A quote's cue (the verb governing it or `He said:` before it) and roles; when the parse puts
        the speaker inside the quote, the phrase next to the cue instead; with no cue, `"..." ― Name`."""
        q.partial = self._is_partial(text, q)
        q.cue = self._quote_cue(doc, text, q) or self._colon_cue(doc, text, q)
        if q.cue is None:
            self._dash_attribution(doc, text, q)
            return
        q.roles = self.roles(q.cue)
        speaker = q.roles[0]
        if speaker is not None and any(s <= speaker.start_char < e for _, s, e, _ in q.segments):
            q.roles = (self._speaker_near(doc, q, q.cue), *q.roles[1:])

    def _embedded_in_report(self, text: str, q: _Quote, pieces: tuple[tuple[int, int], ...]) -> bool:
        """Whether the quote is a small part of what its cue reports ("he said the talks were "useful"
        and ..."): the cue's content covers the quote, and the quote is under `embedded_share` of it."""
        rng = self.content_of(q.cue)
        if rng is None:
            return False
        last = pieces[-1][1]
        while last > pieces[-1][0] and text[last - 1] in ".!?":
            last -= 1
        quoted = sum(e - s for s, e in pieces)
        return rng[0] <= q.start and rng[1] >= last and quoted < self.embedded_share * (max(rng[1], q.end) - rng[0])

    def _carry_speaker(self, doc: Doc, text: str, q: _Quote, prev: _Quote | None, prev_anchor: int) -> None:
        """A quote without a cue continues the previous statement when it follows closely, or takes the
        speaker of the sentence just before it ("Bystrom agreed. "..."")."""
        if q.cue is not None or q.partial:
            return
        if prev is not None and prev.roles[0] is not None and self._continues(text, prev_anchor, q.start):
            q.roles, q.continued = prev.roles, True
            return
        speaker = self._previous_speaker(doc, text, q)
        if speaker is not None:
            q.roles, q.continued = (speaker, None, None), True

    def _keeps(self, text: str, q: _Quote, pieces: tuple[tuple[int, int], ...]) -> bool:
        """Whether a quote becomes a direct statement: not a short unattributed quote (a scare quote or a
        title), and a partial quote only as its own statement with `separate_partial_quotes` and a cue."""
        if q.cue is None:
            words = sum(len(text[s:e].split()) for s, e in pieces)
            # a quote that only carries the previous speaker on needs a few words (not a handle or a link)
            if words < (3 if q.continued else self.min_unattributed_words) or (q.partial and not q.continued):
                return False
        return not (q.partial and (not self.separate_partial_quotes or q.cue is None))

    def _direct_statement(self, q: _Quote, pieces: tuple[tuple[int, int], ...]) -> StatementSpan:
        speaker, via, addressee = q.roles
        return StatementSpan(content=(pieces[0][0], pieces[-1][1]), kind="direct", speaker=speaker,
                             cue=self._cue_span(q.cue) if q.cue is not None else None, via=via,
                             addressee=addressee, pieces=pieces if len(pieces) > 1 else (),
                             continued=q.continued, partial=q.partial)

    def _around_quotes(self, cue: Token, quoted: list[tuple[int, int]]) -> StatementSpan:
        """The reported statement of a cue whose content holds quoted words, running to the last quote."""
        start, end = self.content_of(cue)
        speaker, via, addressee = self.roles(cue)
        return StatementSpan(content=(start, max(end, quoted[-1][1])), kind="indirect", speaker=speaker,
                             cue=self._cue_span(cue), via=via, addressee=addressee, quotes=tuple(quoted))

    def _is_partial(self, text: str, q: _Quote) -> bool:
        """A quoted phrase inside a sentence: a word right before the opening mark and no sentence end inside."""
        i = q.start - 1
        while i >= 0 and text[i] == " ":
            i -= 1
        if i < 0 or text[i] == "\n" or not text[i].isalnum():
            return False
        inner = text[q.segments[0][1]:q.segments[-1][2]]
        word_before = text[max(0, i - 5):i + 1].split()[-1].lower() if text[max(0, i - 5):i + 1].split() else ""
        if word_before in self.cues.clause_openers:
            return False
        # quoted words running on in the sentence, or a one-sentence quote closing it ("it is "unfit to
        # serve."): part of what the cue reports; a quote of several sentences is speech of its own
        return _sentence_ends(re.sub(r"[.!?]\W*$", "", inner) + " ") == 0

    def _quote_cue(self, doc: Doc, text: str, q: _Quote) -> Token | None:
        """The cue governing a quote: an ancestor of the quote's words or a dependent clause next to it."""
        spans = [doc.char_span(o, c, alignment_mode="expand") for o, _, _, c in q.segments]
        inside = {t.i for sp in spans if sp is not None for t in sp}
        if not inside:
            return None
        lo, hi = min(inside), max(inside)
        start, end = _sentence_bounds(doc[lo])
        long_sentence = end - start > self.max_sentence_tokens  # ancestor chains as long as the doc
        best: tuple[int, Token] | None = None
        for i in inside:
            t = doc[i]
            cands: list[Token] = []
            if t.head.i not in inside and not long_sentence:
                for a in [t.head, *t.head.ancestors]:
                    if a.i not in inside and self.is_cue(a):
                        cands.append(a)
                        break
            cands += [c for c in t.children if c.i not in inside and c.dep_ in ("parataxis", "ccomp", "advcl")
                      and self.is_cue(c)]
            for c in cands:
                dist = lo - c.i if c.i < lo else c.i - hi
                if dist <= self.max_cue_distance and text.count("\n", min(c.idx, q.start), max(c.idx, q.end)) \
                        <= text.count("\n", q.start, q.end) and (best is None or dist < best[0]):
                    best = (dist, c)
        if best is None:
            best = self._window_cue(doc, q, hi)
        return best[1] if best else None

    def _previous_speaker(self, doc: Doc, text: str, q: _Quote) -> Span | None:
        """A quote opening a sentence right after one where someone speaks ("Bystrom agreed. "...""):
        the subject of that sentence's last cue."""
        i = q.start
        while i > 0 and text[i - 1].isspace():
            i -= 1
        if i == 0 or text[i - 1] not in ".:!?":
            return None
        before = doc.char_span(i - 1, i, alignment_mode="expand")
        if before is None:
            return None
        start, end = _sentence_bounds(before[0])
        if end - start > self.max_sentence_tokens:
            return None
        for t in reversed(doc[start:end]):
            if (self.is_cue(t) or frame_key(t) in self.cues.frames) and t.pos_ == "VERB":
                subj = _subject(t)
                if subj is not None and subj.idx < i:
                    return _phrase(subj)
        return None

    @staticmethod
    def _speaker_near(doc: Doc, q: _Quote, cue: Token) -> Span | None:
        """When the parse puts the subject inside the quote: the noun phrase between quote and cue,
        or right after the cue ("..., said the minister")."""
        lo = doc.char_span(q.end, q.end, alignment_mode="expand")
        start = lo.start if lo is not None else cue.i
        between = [t for t in doc[min(start, cue.i):cue.i] if t.pos_ in ("PROPN", "NOUN", "PRON")]
        after = [t for t in doc[cue.i + 1:min(len(doc), cue.i + 6)] if t.pos_ in ("PROPN", "NOUN", "PRON")]
        head = between[-1] if between else (after[0] if after else None)
        return _phrase(head) if head is not None and head.idx >= q.end else None

    def _colon_cue(self, doc: Doc, text: str, q: _Quote) -> Token | None:
        """`He said:` closing the paragraph (or the words) just before the quote."""
        i = q.start
        while i > 0 and text[i - 1].isspace():
            i -= 1
        if i == 0 or text[i - 1] != ":":
            return None
        colon = doc.char_span(i - 1, i, alignment_mode="expand")
        if colon is None:
            return None
        for j in range(colon.start - 1, max(-1, colon.start - self.max_cue_distance), -1):
            t = doc[j]
            if "\n" in t.text or t.text in (".", "!", "?") or self._quote_re.fullmatch(t.text):
                break
            if self.is_cue(t) and t.lower_ not in self.cues.source_preps:
                return t
            if t.pos_ == "NOUN" and frame_key(t) in self.cues.frames and j == colon.start - 1:
                return t  # "X issued a statement:"
        return None

    def _dash_attribution(self, doc: Doc, text: str, q: _Quote) -> None:
        """`"..." ― Name`: a dash and a name right after the closing mark."""
        m = re.match(r"[ \t\xa0]*([―—–])[ \t\xa0]*([^\n.“”\"(]{2,80})", text[q.end:q.end + 120])
        if not m:
            return
        dash = doc.char_span(q.end + m.start(1), q.end + m.end(1), alignment_mode="expand")
        name = doc.char_span(q.end + m.start(2), q.end + m.end(2), alignment_mode="contract")
        if dash is None or name is None or not any(t.pos_ == "PROPN" for t in name):
            return
        q.cue = dash[0]
        q.roles = (_trim(doc, name.start, name.end), None, None)

    def _window_cue(self, doc: Doc, q: _Quote, hi: int) -> tuple[int, Token] | None:
        """Fallback when the parse does not link quote and cue: `"...," said X` / `"...," X said` right after."""
        for j in range(hi + 1, min(hi + 8, len(doc))):
            t = doc[j]
            if t.text in ".!?\n" or self._quote_re.match(t.text) or "\n" in t.text:
                return None
            if self.is_cue(t) and t.pos_ in ("VERB", "AUX"):
                return (j - hi, t)
        return None

    def _merge_split(self, text: str, quotes: list[_Quote]) -> list[_Quote]:
        """`"A," he said, "B."` and `"A," he said. "B."`: B takes A's cue and both become one statement."""
        out: list[_Quote] = []
        for q in quotes:
            prev = out[-1] if out else None
            if prev is not None and prev.cue is not None and prev.closed and not q.partial and not prev.partial:
                gap = text[prev.end:q.start]
                same_cue = q.cue is not None and q.cue.i == prev.cue.i
                if "\n" not in gap and (same_cue or (q.cue is None and prev.end <= prev.cue.idx < q.start
                                                     and len(gap) <= self.max_split_gap
                                                     and _sentence_ends(gap) <= 1)):
                    prev.segments += q.segments
                    prev.closed = q.closed
                    continue
            out.append(q)
        return out

    @staticmethod
    def _continues(text: str, anchor: int, start: int) -> bool:
        """Whether a quote starting at `start` continues the statement whose last part ends at `anchor`."""
        gap = text[anchor:start]
        return len(gap) < 300 and _sentence_ends(gap + " ") <= 1 and gap.count("\n") <= 2

    # --- reported speech ----------------------------------------------------------------------------

    def _reported(self, doc: Doc, quotes: list[_Quote], direct: list[StatementSpan]) -> list[StatementSpan]:
        quoted = _union([(s, e) for q in quotes for _, s, e, _ in q.segments if not q.partial])
        used = {st.cue.start for st in direct if st.cue is not None and not st.partial}
        out: list[StatementSpan] = []
        for t in doc:
            if self._in_survey(t) and not _inside(t.idx, quoted):
                out.extend(self._survey_finding(t))
                continue
            if t.i in used or not (self.is_cue(t) or frame_key(t) in self.cues.frames) or _inside(t.idx, quoted):
                continue
            content = self.content_of(t)
            if content is None:
                continue
            s, e = content
            covered = sum(max(0, min(e, qe) - max(s, qs)) for qs, qe in quoted)
            if covered >= 0.5 * (e - s):
                continue
            speaker, via, addressee = self.roles(t)
            out.append(StatementSpan(content=(s, e), kind="indirect", speaker=speaker, cue=self._cue_span(t),
                                     via=via, addressee=addressee))
        return out

    def _in_survey(self, t: Token) -> bool:
        """Whether `t` is the "in" of "in a poll" hung on a clause whose verb is no cue of its own."""
        if t.lower_ != "in" or t.dep_ != "prep" or t.head.pos_ not in ("VERB", "AUX") or self.is_cue(t.head):
            return False
        obj = _child(t, "pobj")
        return obj is not None and obj.tag_ == "NN" and obj.lemma_.lower() in self.cues.survey_nouns

    def _survey_finding(self, t: Token) -> list[StatementSpan]:
        """"In a CBS News poll, Clinton leads": the clause without the phrase, with the survey as speaker."""
        drop = set(range(t.left_edge.i, t.right_edge.i + 1))
        toks = [u for u in t.head.subtree if u.i not in drop]
        content = char_range(_in_paragraph(t, toks), t.doc)
        if content is None or t.right_edge.i <= t.i:
            return []
        return [StatementSpan(content=content, kind="indirect", speaker=_trim(t.doc, t.i + 1, t.right_edge.i + 1),
                              cue=t.doc[t.i:t.i + 1])]

    def content_of(self, cue: Token) -> tuple[int, int] | None:
        """The character range of what a cue reports: its clausal complement, the clause around
        "according to X", or the main clause a parenthetical `X said` interrupts; never beyond the cue's
        paragraph (the parser runs sentences over paragraph ends, what is said there is another statement)."""
        doc = cue.doc
        start, end = _sentence_bounds(cue)
        if end - start > self.max_sentence_tokens:
            return None
        if cue.lower_ in self.cues.source_preps:
            head = cue.head
            lo, hi = self._source_phrase_range(cue)
            drop = set(range(min(lo, cue.left_edge.i), max(hi, cue.right_edge.i + 1)))
            toks = [t for t in head.subtree if t.i not in drop]
            return char_range(_in_paragraph(cue, toks), doc)
        comp = self.complement(cue)
        if not comp:
            comps = [c for c in cue.children if c.dep_ == "ccomp"] if self.is_cue(cue) else []
            if comps:
                comp = list(max(comps, key=lambda c: len(list(c.subtree))).subtree)
        if comp:
            return char_range(_in_paragraph(cue, self.to_sentence_end(cue, comp) if self.extend_clauses else comp), doc)
        passive = _passive_subject(cue)
        if passive is not None:  # "X has been endorsed by Y": what Y endorsed is X
            return char_range(_in_paragraph(cue, list(passive.subtree)), doc)
        if cue.dep_ == "parataxis" or _as_clause(cue) \
                or (cue.dep_ in ("advcl", "conj") and cue.i > cue.head.i and _has_subject(cue)
                    and not [c for c in cue.children if c.dep_ in ("dobj", "xcomp", "prep")]):
            # "The museum," he said, "would ..." / "..., he said.": the clause around the cue
            drop = set(range(cue.left_edge.i, cue.right_edge.i + 1))
            toks = [t for t in cue.head.subtree if t.i not in drop]
            return char_range(_in_paragraph(cue, toks), doc)
        return None

    def to_sentence_end(self, cue: Token, comp: list[Token]) -> list[Token]:
        """A complement after its cue runs on to the end of the sentence when the parser hung the rest
        ("X said A, but B") on the cue; when the rest holds another cue, up to that cue's clause."""
        first, last = min(t.i for t in comp), max(t.i for t in comp)
        if first < cue.i:
            if last > cue.i:
                return comp
            rest = cue.doc[_sentence_bounds(cue)[0]:first]
            if not len(rest) or any(self.is_cue(t) or self._quote_re.fullmatch(t.text) for t in rest):
                return comp
            return list(rest) + comp
        rest = cue.doc[last + 1:_sentence_bounds(cue)[1]]
        other = next((t for t in rest if self.is_cue(t) or (t.pos_ == "VERB" and frame_key(t) in self.cues.frames)
                      or self._coordinated_cue(cue, t)), None)
        if other is not None:  # up to the clause of the other cue: "X said A, but beyond that, [she wants ...]"
            rest = cue.doc[last + 1:max(last + 1, min(other.left_edge.i, other.i))]
        while len(rest) and (rest[-1].is_punct or rest[-1].pos_ in ("CCONJ", "SCONJ", "ADP")):
            rest = rest[:-1]
        return _before_semicolon(cue, comp + list(rest))

    def _coordinated_cue(self, cue: Token, t: Token) -> bool:
        """Whether `t` is a second reporting verb coordinated with the cue ("called X "outrageous" and
        called for Y"): another statement of the same speaker."""
        return t.dep_ == "conj" and t.head.i == cue.i and t.pos_ == "VERB" and frame_key(t) in self.cues.frames

    def complement(self, cue: Token) -> list[Token] | None:
        """The tokens of the complement a frame of the cue's lemma selects: `ccomp`, `xcomp`, `dobj`,
        `acl`, `oprd` (object and predicate: "called X a liar"), `what` (an object that is no name: "what
        he said") or `prep_<word>` ("called for X")."""
        for ctype in self.cues.frames.get(frame_key(cue), ()):
            toks = complement_tokens(cue, ctype)
            if toks:
                return toks
        return None

    # --- roles --------------------------------------------------------------------------------------

    def is_cue(self, t: Token) -> bool:
        if t.lower_ in self.cues.source_preps:
            return any(c.lower_ == "to" for c in t.children)
        return t.pos_ in ("VERB", "AUX") and lemma_of(t) in self._verbs

    def roles(self, cue: Token) -> tuple[Span | None, Span | None, Span | None]:
        """(speaker, via, addressee) mentions of a cue."""
        if cue.lower_ in self.cues.source_preps:
            lo, hi = self._source_phrase_range(cue)
            return (_trim(cue.doc, lo, hi) if hi > lo else None, None, None)
        quoting = self._quoting_verb(cue)
        if quoting is not None:
            passive = _child(quoting, "nsubjpass")
            agent = _child(quoting, "agent") or _child(cue, "agent") or _by_phrase(cue)
            via = _child(agent, "pobj") if agent is not None else None
            via_span = _with_name(_phrase(via)) if via is not None else None
            if passive is not None:
                return (_phrase(passive), via_span, None)
            obj, subj = _child(quoting, "dobj"), _child(quoting, "nsubj")
            if obj is not None:
                return (_phrase(obj), _phrase(subj) if subj is not None else None, None)
        if cue.pos_ == "NOUN":
            poss = _child(cue, "poss")
            if poss is not None:
                return (_phrase(poss), None, None)
            by = next((c for c in cue.children if c.dep_ == "prep" and c.lower_ in ("by", "from")), None)
            agent = _child(by, "pobj") if by is not None else None
            if agent is not None and agent.pos_ in ("PROPN", "NOUN", "PRON"):
                return (_phrase(agent), None, None)  # "a statement by the ministry", "a warning from X"
            if cue.dep_ == "appos" and cue.head.pos_ in ("PROPN", "NOUN"):
                head = _phrase(cue.head)  # "X, a supporter of Y": X
                return (_trim(cue.doc, head.start, max(head.start + 1, min(head.end, cue.left_edge.i))), None, None)
            if cue.dep_ == "attr" and cue.head.pos_ in ("AUX", "VERB"):
                subj = _subject(cue.head)  # "X is a supporter of Y"
                return (_phrase(subj) if subj is not None else None, None, None)
            if cue.lemma_.lower() in self.cues.agent_nouns:
                return (_trim(cue.doc, cue.left_edge.i, cue.i + 1), None, None)  # "supporters of Y say"
            if cue.dep_ in ("dobj", "pobj") and cue.head.pos_ in ("VERB", "ADP"):
                verb = cue.head if cue.head.pos_ == "VERB" else cue.head.head
                subj = _subject(verb)
                return (_phrase(subj) if subj is not None else None, None, None)
            return (None, None, None)
        agent = _child(_child(cue, "agent"), "pobj")
        if agent is not None and _has_subject(cue):
            return (_phrase(agent), None, None)  # "X was reported by Y": Y speaks
        subj = self._reporter_of_participle(cue) or _subject(cue.head if cue.pos_ == "ADJ" and cue.dep_ == "acomp" else cue)
        if subj is None and cue.pos_ == "VERB":
            subj = _noun_before(cue) or _subject_after(cue) or _ancestor_subject(cue)
        addressee = None
        if cue.lemma_.lower() == "tell":
            obj = _child(cue, "dobj") or _child(cue, "dative")
            addressee = _phrase(obj) if obj is not None else None
        speaker = _phrase(subj) if subj is not None else None
        if speaker is not None and _line_break_between(speaker, cue):
            speaker = _line_subject(cue)  # the parse ran over a paragraph end ("The Latest ...:\n\nX says")
        return (speaker, None, addressee)

    def _reporter_of_participle(self, cue: Token) -> Token | None:
        """The speaker of a participle clause after a comma that closes what another cue reports ("X
        said A, arguing that B"): the subject of that cue, not of the verb the parser hung the clause on."""
        if not (cue.tag_ == "VBG" and cue.dep_ in ("advcl", "xcomp", "conj") and cue.i > 0
                and cue.doc[cue.i - 1].text == ","):
            return None
        for a in cue.ancestors:
            if self.is_cue(a) and a.i < cue.i:
                return _subject(a)
        return None

    @staticmethod
    def _source_phrase_range(cue: Token) -> tuple[int, int]:
        """Token range of X in "according to X": the object phrase, up to the comma when the phrase
        opens the sentence ("According to Guards chief General Jafari, ...")."""
        doc = cue.doc
        to = next((c for c in cue.children if c.lower_ == "to"), None)
        if to is None:
            return cue.i + 1, cue.i + 1
        lo, hi = to.i + 1, to.right_edge.i + 1
        sent_start, sent_end = _sentence_bounds(cue)
        if cue.i == sent_start or (cue.i > 0 and doc[cue.i - 1].is_punct):
            j = hi
            while j < sent_end and j - lo < 25 and doc[j].text not in (",", ";", ":", ".", "—", "–"):
                j += 1
            if j < sent_end and doc[j].text == ",":
                hi = j
        return lo, hi

    def _quoting_verb(self, cue: Token) -> Token | None:
        """The verb of "X was quoted (by Y) as saying" / "Y quoted X as saying", if `cue` sits in one."""
        if cue.lemma_.lower() in self.cues.quote_verbs:
            # "quoted X as saying", not "cited X as an example": the object speaks only with a verb of saying
            as_saying = any((c.lower_ == "as" and any(self.is_cue(g) for g in c.children))
                            or (c.dep_ in ("advcl", "xcomp") and self.is_cue(c)) for c in cue.children)
            return cue if as_saying or _child(cue, "nsubjpass") is not None else None
        t = cue
        for _ in range(2):
            if t.dep_ in ("ROOT",) or t.head is t:
                return None
            t = t.head
            if t.lemma_.lower() in self.cues.passive_quote_verbs and t.pos_ in ("VERB", "AUX"):
                return t
        return None

    @staticmethod
    def _cue_span(t: Token) -> Span:
        doc = t.doc
        if t.lower_ == "according":
            to = next((c for c in t.children if c.lower_ == "to"), None)
            return doc[t.i:(to.i if to is not None else t.i) + 1]
        prt = [c for c in t.children if c.dep_ == "prt" and c.i == t.i + 1]
        return doc[t.i:t.i + 1 + len(prt)]


# --- dependency helpers -------------------------------------------------------------------------------

def _child(t: Token | None, dep: str) -> Token | None:
    if t is None:
        return None
    return next((c for c in t.children if c.dep_ == dep), None)


def _by_phrase(t: Token) -> Token | None:
    """A `by` phrase under the cue or its `as`: "quoted as saying by IRNA"."""
    for c in t.subtree:
        if c.lower_ == "by" and c.dep_ in ("agent", "prep"):
            return c
    return None


def complement_tokens(cue: Token, ctype: str) -> list[Token]:
    """The tokens of one complement type of a cue (empty when the cue has none); an object with what the
    cue calls it runs on to the `as` phrase ("cited X as an example of Y", "referred to X as Y")."""
    toks = _complement_tokens(cue, ctype)
    if toks and ctype in _WITH_AS:
        last = max(t.i for t in toks)
        as_ = next((c for c in cue.children if c.dep_ == "prep" and c.lower_ == "as" and c.i > last), None)
        if as_ is not None:
            toks = [*toks, *cue.doc[last + 1:as_.right_edge.i + 1]]
    return toks


def _complement_tokens(cue: Token, ctype: str) -> list[Token]:
    if ctype.startswith("prep_"):
        for c in cue.children:
            if c.dep_ == "prep" and c.lower_ == ctype[5:]:
                obj = next((g for g in c.children if g.dep_ in ("pobj", "pcomp")), None)
                if obj is not None:
                    return _object_before(cue, list(obj.subtree))
        return []
    if ctype == "what":  # an object that is no name: "what he said", "said as much", "said the same"
        obj = _child(cue, "dobj")
        return list(obj.subtree) if obj is not None and obj.pos_ != "PROPN" else []
    if ctype == "oprd":
        obj, pred = _child(cue, "dobj"), _child(cue, "oprd")
        return [*obj.subtree, *pred.subtree] if obj is not None and pred is not None else []
    comps = [c for c in cue.children if c.dep_ == ctype]
    if ctype == "xcomp" and not comps:  # "is calling on the US to step up ...": parsed as an adverbial clause
        comps = [c for c in cue.children if c.dep_ == "advcl" and c.i > cue.i
                 and any(a.dep_ == "aux" and a.tag_ == "TO" for a in c.children)]
    if not comps:
        return []
    # of two clauses ("Despite A, X said B"; a quoted part before the cue), the one after the cue
    comp = next((c for c in comps if c.i > cue.i), comps[0]) if ctype == "ccomp" else comps[0]
    if ctype not in _OBJECT_FIRST:
        return list(comp.subtree)
    toks = _object_before(cue, list(comp.subtree))
    subj = _child(cue, "nsubjpass")
    if subj is not None and subj.i < cue.i:  # "X is expected to win": what is expected is that X wins
        toks = [*subj.subtree, *toks]
    return toks


_OBJECT_FIRST = frozenset({"xcomp"})  # "urged Congress to act": the object belongs to what is urged
_WITH_AS = frozenset({"dobj", "what"})  # an object that runs on to the cue's "as" phrase ("cited X as Y")


def _object_before(cue: Token, toks: list[Token]) -> list[Token]:
    """The cue's direct object with a complement that follows it: what is said is the whole verb phrase
    after the cue ("accused him of sexism", "portrayed her use of the server as a danger")."""
    obj = _child(cue, "dobj")
    if obj is None:  # "called on Congress to act"
        on = next((c for c in cue.children if c.dep_ == "prep" and c.lower_ in ("on", "upon")), None)
        obj = _child(on, "pobj") if on is not None else None
    if obj is None or not cue.i < obj.i or obj.right_edge.i >= min(t.i for t in toks):
        return toks
    return [*obj.subtree, *toks]


# the labels newspapers put before a colon: what follows is the paper's own note, no one's statement
_LABELS = frozenset("note correction update clarification disclosure editor".split())
_SPEAKER_LINE = re.compile(r"^[ \t]*[\"“]?(?P<name>[A-Z][^:\n\d\"“”]{1,60}?):[ \t]+(?P<content>[^\n]*\S)", re.MULTILINE)
_ABBREVIATIONS = frozenset("mr mrs ms dr st sen rep gov gen lt col jr sr inc co corp no vs prof rev sgt capt".split())
_SENTENCE_END = re.compile(r"(\w*)([.!?])[\"'”’]*\s")  # not "(R-Fla.)"


def _sentence_ends(text: str) -> int:
    """How many sentences end in `text` (abbreviations such as "Mr." and initials do not count)."""
    return sum(1 for m in _SENTENCE_END.finditer(text)
               if not (m.group(2) == "." and (m.group(1).lower() in _ABBREVIATIONS or len(m.group(1)) == 1)))


MAX_HEADLINE_CHARS = 250
_FIRST_PARAGRAPH = re.compile(r"[ \t]*([^\n]{1,%d}?)[ \t]*\n[ \t]*\n" % MAX_HEADLINE_CHARS)


def headline_end(text: str) -> int:
    """Where the headline ends: a text opening with one short line of one sentence, a blank line and
    more text (as a feed item's title and body are joined) has that line as headline; else 0."""
    m = _FIRST_PARAGRAPH.match(text)
    if m is None or not text[m.end():].strip():
        return 0
    line = m.group(1)
    return m.end(1) if _sentence_ends(line.rstrip(".!?\"'”’ ") + " ") == 0 else 0


def _anchor(q: _Quote) -> int:
    """Where a quote's statement ends in the text: the quote, its roles or its cue, whichever is last."""
    anchors = [q.end] + [sp.end_char for sp in q.roles if sp is not None]
    if q.cue is not None:
        anchors.append(q.cue.idx + len(q.cue))
    return max(anchors)


def _opens_speaker_line(text: str, pos: int) -> bool:
    """Whether the paragraph at `pos` is a transcript line (`"PENCE: Well, ...`): a new speaker, so an
    unclosed quote of the paragraph before does not run on into it."""
    end = text.find("\n", pos)
    return _SPEAKER_LINE.match(text[pos:end if end >= 0 else len(text)]) is not None


def _line_break_between(span: Span, cue: Token) -> bool:
    """Whether a line break separates a speaker mention from its cue."""
    doc = cue.doc
    lo, hi = (span.end - 1, cue.i) if span.end <= cue.i else (cue.i, span.start)
    return any("\n" in doc[k].text or "\n" in doc[k].whitespace_ for k in range(lo, hi))


def _line_subject(cue: Token) -> Span | None:
    """The words opening the cue's line up to the first verb ("Donald Trump" in "Donald Trump is
    encouraging ..."), when they hold a name or noun; else None."""
    doc = cue.doc
    start = cue.i
    while start > 0 and "\n" not in doc[start - 1].text and "\n" not in doc[start - 1].whitespace_:
        start -= 1
    end = start
    while end < cue.i and doc[end].pos_ not in ("VERB", "AUX"):
        end += 1
    if end == start or not any(t.pos_ in ("PROPN", "NOUN", "PRON") for t in doc[start:end]):
        return None
    return _trim(doc, start, end)


def _outermost(statements: list[StatementSpan]) -> list[StatementSpan]:
    """Drop reported statements whose cue lies inside what another statement reports."""
    keep = []
    for st in statements:
        if st.kind == "indirect" and st.cue is not None and any(
                s <= st.cue.start_char < e for other in statements if other is not st
                for s, e in other.pieces or (other.content,)):
            continue
        keep.append(st)
    return keep


def frame_key(t: Token) -> str:
    """Frames are keyed by lemma, with `/n` for nouns ("claim/n": "the claim that ...") and `/a` for
    adjectives ("confident/a": "is confident that ...")."""
    return lemma_of(t) + {"NOUN": "/n", "ADJ": "/a"}.get(t.pos_, "")


@lru_cache(maxsize=1)
def _lemma_fixes() -> dict[str, str]:
    return {str(k).lower(): str(v).lower() for k, v in (read_yaml("cues.yaml").get("lemma_fixes") or {}).items()}


def lemma_of(t: Token) -> str:
    """The token's lowercase lemma; for a verb form the model lemmatizes wrongly ("hoping" -> "hop"),
    the right one (`lemma_fixes` in data/cues.yaml)."""
    if t.pos_ in ("VERB", "AUX"):
        fixed = _lemma_fixes().get(t.lower_)
        if fixed is not None:
            return fixed
    return t.lemma_.lower()


def _passive_subject(cue: Token) -> Token | None:
    """The subject of a passive cue with its agent ("X is supported by Y"), else None."""
    subj = _child(cue, "nsubjpass")
    if subj is None or subj.pos_ not in ("NOUN", "PROPN"):  # not "which was endorsed by ...": says nothing
        return None
    return subj if _child(_child(cue, "agent"), "pobj") is not None else None


def _has_subject(t: Token) -> bool:
    return any(c.dep_ in ("nsubj", "nsubjpass") for c in t.children)


def _subject(cue: Token) -> Token | None:
    """The subject of a cue verb, through coordination, relative clauses and control verbs."""
    t = cue
    for _ in range(4):
        subj = next((c for c in t.children if c.dep_ in ("nsubj", "nsubjpass")), None)
        if subj is not None:
            return subj
        if t.dep_ in ("conj", "xcomp", "advcl") and t.head is not t:
            t = t.head
            if t.dep_ == "acomp" and t.pos_ == "ADJ":
                t = t.head  # "He was able to tout ...": the subject of "was"
            continue
        if t.dep_ == "pcomp" and t.head.dep_ == "prep" and t.head.head.pos_ in ("VERB", "AUX"):
            t = t.head.head  # "..., by saying ..."
            continue
        if t.dep_ == "pcomp" and t.head.dep_ == "prep":
            holder = _holder(t.head.head)
            if holder is None:
                return None
            if holder.pos_ not in ("VERB", "AUX"):
                return holder  # "his campaign theme of questioning ...": whose theme
            t = holder  # "stopped short of calling ...", "have no way of knowing ..."
            continue
        if t.dep_ == "acl" and t.head.dep_ in ("dobj", "pobj"):
            verb = _governing_verb(t.head)
            subj = _subject(verb) if verb is not None else None
            if subj is not None:
                return subj  # "X issued a statement saying ...", "X spent his speech defending ..."
        if t.dep_ in ("relcl", "acl") and t.head.pos_ in ("NOUN", "PROPN", "PRON"):
            return t.head  # "Smith, who said ..." / "a statement announcing ..."
        return None
    return None


def _ancestor_subject(cue: Token) -> Token | None:
    """The subject of the nearest verb above a cue that has one."""
    for a in cue.ancestors:
        if a.pos_ in ("VERB", "AUX"):
            subj = next((c for c in a.children if c.dep_ in ("nsubj",)), None)
            if subj is not None and subj.pos_ in ("PROPN", "NOUN", "PRON") and subj.tag_ not in ("WP", "WDT"):
                return subj
    return None


def _before_semicolon(cue: Token, toks: list[Token]) -> list[Token]:
    """What a cue reports ends at a semicolon after it that opens a clause of its own ("X estimates A;
    Y puts the figure at B")."""
    semis = [t.i for t in toks if t.text == ";" and t.i > cue.i]
    if not semis:
        return toks
    cut = semis[0]
    after = [t for t in toks if t.i > cut]
    if not any(t.dep_ in ("nsubj", "nsubjpass") for t in after):
        return toks
    return [t for t in toks if t.i < cut]


def _as_clause(cue: Token) -> bool:
    """"As the Post reported, ...": a cue in an `as` clause with its own subject reports the clause it
    hangs on."""
    mark = _child(cue, "mark")
    return cue.dep_ == "advcl" and mark is not None and mark.lower_ == "as" and _has_subject(cue) \
        and _child(cue, "ccomp") is None and _child(cue, "dobj") is None


def _holder(t: Token) -> Token | None:
    """Who holds the phrase a prepositional clause hangs on: a noun's possessor ("his theme of ..."), or
    the verb the phrase depends on ("stopped short of ...", "had no way of ...")."""
    for _ in range(3):
        if t.pos_ in ("VERB", "AUX"):
            return t
        poss = _child(t, "poss")
        if poss is not None:
            return poss
        if t.head is t or t.dep_ not in ("advmod", "acomp", "dobj", "attr", "npadvmod", "prep", "pobj"):
            return None
        t = t.head
    return None


def _governing_verb(noun: Token) -> Token | None:
    """The verb a noun is the object of, directly or through prepositions ("issued a statement",
    "spent much of his speech")."""
    t = noun
    for _ in range(4):
        if t.dep_ not in ("dobj", "pobj", "prep") or t.head is t:
            return None
        t = t.head
        if t.pos_ in ("VERB", "AUX"):
            return t
    return None


def _noun_before(cue: Token) -> Token | None:
    """The noun right before a cue verb the parser left without a subject ("the minimum $20 million
    experts say it costs"): past adverbs and auxiliaries, in the same sentence, not a quote's last word."""
    k, sent_start = cue.i - 1, _sentence_bounds(cue)[0]
    while k >= sent_start and cue.doc[k].pos_ in ("ADV", "AUX", "PART"):
        k -= 1
    if k < sent_start:
        return None
    t = cue.doc[k]
    if t.text == "," and k > sent_start:
        return _appositive_head(cue.doc[k - 1], cue)
    return t if t.pos_ in ("NOUN", "PROPN", "PRON") and t.dep_ not in ("dobj", "dative", "attr") else None


def _appositive_head(t: Token, cue: Token) -> Token | None:
    """"Richard Trumka, president of the A.F.L.-C.I.O., said ...": the name an appositive just before the
    cue describes, when the parser attached the name elsewhere."""
    for a in [t, *t.ancestors]:
        if a.i >= cue.i:
            return None
        if a.dep_ == "appos" and a.head.i < a.i and a.head.pos_ in ("PROPN", "NOUN"):
            return a.head
    return None


def _subject_after(cue: Token) -> Token | None:
    """"..., said Robert Reich, who ...": the name right after a cue verb that reports what comes before
    it, when the parser made it anything but the subject."""
    doc = cue.doc
    k = cue.i + 1
    while k < len(doc) and doc[k].pos_ == "ADV":
        k += 1
    if k >= len(doc) or doc[k].pos_ != "PROPN" or cue.i == 0 or not (doc[cue.i - 1].is_punct
                                                                       or doc[cue.i - 1].is_quote):
        return None
    t = doc[k]
    while t.head.pos_ == "PROPN" and t.head.i > cue.i and t.head.i - cue.i < 6 and t.dep_ in ("compound", "flat"):
        t = t.head
    return t


def _phrase(t: Token) -> Span:
    """The noun phrase a token heads, without relative clauses and trailing punctuation; for a relative
    pronoun ("who said"), the phrase it refers to up to the pronoun ("Mr. Obama, who")."""
    doc = t.doc
    if t.tag_ in ("WP", "WDT") and t.head.dep_ == "relcl" and t.head.head.i < t.i:
        head = t.head.head
        return _trim(doc, _phrase(head).start, t.i + 1)
    start, end = t.left_edge.i, t.right_edge.i + 1
    for c in t.children:
        if c.dep_ in ("relcl", "acl") and c.i > t.i:
            end = min(end, c.left_edge.i)
    while end + 1 < len(doc) and doc[end].text in ("-", "‐") and not doc[end - 1].whitespace_ \
            and not doc[end].whitespace_:
        end += 2  # "Bashar al-Assad" split by the tokenizer
    for k in range(t.i - 1, start - 1, -1):
        if "\n" in doc[k].text or "\n" in doc[k].whitespace_:
            start = k + 1  # a phrase does not run over a line break ("4:40 p.m.\nSanders says")
            break
    for k in range(t.i, end):
        if "\n" in doc[k].text or "\n" in doc[k].whitespace_:
            end = k + 1
            break
    for k in range(start, min(t.i, start + 4)):
        if doc[k].text in ("-", "—", "–") and all(x.is_upper for x in doc[start:k]):
            start = k + 1  # a dateline: "TEHRAN - Presidents of ..."
            break
    return _trim(doc, start, end)


def _with_name(span: Span) -> Span:
    """An outlet mention with the name that follows it: "Iran's state news agency" + "IRNA"."""
    doc, end = span.doc, span.end
    while end < len(doc) and doc[end].pos_ == "PROPN" and doc[end - 1].whitespace_:
        end += 1
    return doc[span.start:end]


def _trim(doc: Doc, start: int, end: int) -> Span:
    while end > start + 1 and (doc[end - 1].is_punct or doc[end - 1].is_space):
        end -= 1
    while start < end - 1 and (doc[start].is_punct or doc[start].is_space):
        start += 1
    return doc[start:end]


def char_range(toks: list[Token], doc: Doc) -> tuple[int, int] | None:
    """The character range the tokens cover, without surrounding punctuation (quote marks kept)."""
    toks = [t for t in toks if not t.is_space]
    if not toks:
        return None
    toks.sort(key=lambda t: t.i)
    while toks and toks[-1].is_punct and toks[-1].text not in "”\"')":
        toks.pop()
    while toks and toks[0].is_punct and toks[0].text not in "“\"'(":
        toks.pop(0)
    if not toks:
        return None
    return toks[0].idx, toks[-1].idx + len(toks[-1])


def _in_paragraph(cue: Token, toks: list[Token]) -> list[Token]:
    """The tokens on the cue's paragraph (between the line breaks around it)."""
    doc = cue.doc
    lo = cue.i
    while lo > 0 and "\n" not in doc[lo - 1].text and "\n" not in doc[lo - 1].whitespace_:
        lo -= 1
    hi = cue.i
    while hi < len(doc) - 1 and "\n" not in doc[hi].text and "\n" not in doc[hi].whitespace_:
        hi += 1
    return [t for t in toks if lo <= t.i <= hi]


def _inside(pos: int, ranges: list[tuple[int, int]]) -> bool:
    """Whether `pos` falls in one of `ranges` (sorted by start, not overlapping: quotations), by bisection,
    so a text of many quotes is not scanned once per token."""
    k = bisect_left(ranges, (pos + 1,)) - 1
    return k >= 0 and ranges[k][0] <= pos < ranges[k][1]


def _union(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character ranges sorted and merged where they overlap (a quote nested in another)."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(ranges):
        if out and s < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


_SENTENCE_BOUNDS = "newsmon.sentence_bounds"


def _sentence_bounds(token: Token) -> tuple[int, int]:
    """The (start, end) token indexes of the token's sentence, read once per Doc: spaCy's `Token.sent`
    walks the sentence on every access, which over one long sentence (a hostile text of thousands of
    tokens and no full stop) costs its length per cue and makes the statements quadratic."""
    doc = token.doc
    bounds = doc.user_data.get(_SENTENCE_BOUNDS)
    if bounds is None or len(bounds) != len(doc):
        bounds = [(0, 0)] * len(doc)
        for sent in doc.sents:
            bounds[sent.start:sent.end] = [(sent.start, sent.end)] * (sent.end - sent.start)
        doc.user_data[_SENTENCE_BOUNDS] = bounds
    return bounds[token.i]

