"""Text made safe for the pipeline at its boundary, without moving any character offset.

Datelines and wire credits opening a paragraph ("SOCHI, Russia (Reuters) -", "TEHRAN -", "(AP) —") are
blanked: they name where a story was filed, and read as a speaker or as the start of what was said.

Two kinds of input broke extraction: lone surrogates (from `&#xD800;` in a feed, or a bad decode), which
crash spaCy's tokenizer on encoding; and long runs of punctuation (200,000 quote marks), which its prefix
and suffix splitting handles in quadratic time. Each fix replaces characters one for one, so entity and
statement offsets still point into the text as received.
"""

from __future__ import annotations

import re

MAX_PUNCT_RUN = 32  # no sentence needs more marks in a row; the rest of a run becomes spaces
_SURROGATE = re.compile("[\ud800-\udfff]")
_PUNCT_RUN = re.compile(r"[^\w\s]{%d,}" % (MAX_PUNCT_RUN + 1))


# a place in capitals with up to two more comma parts ("HEMPSTEAD, N.Y., Sept. 26") and a wire credit in
# parentheses, or either alone, then a dash: at the start of a line
_CREDIT = r"(?:\([A-Z][\w .&/-]{0,30}\)|/[A-Z][\w-]{1,15}/)"  # (Reuters), /TASS/
_DATELINE = re.compile(
    r"^[ \t]*(?:[A-Z][A-Z.'’ -]+[A-Z.](?:,[ \t]*[A-Z][\w.'’ ]{0,30}?){0,2}[ \t]*(?:%s)?|%s)"
    r"[ \t]*(?:[-—–]{1,2}|(?<=/)\.?)[ \t]+" % (_CREDIT, _CREDIT), re.MULTILINE)


def clean_text(text: str) -> str:
    """`text` with lone surrogates as U+FFFD, punctuation runs cut to `MAX_PUNCT_RUN` and datelines as
    spaces (same length)."""
    text = _SURROGATE.sub("\ufffd", text)
    text = _PUNCT_RUN.sub(lambda m: m.group()[:MAX_PUNCT_RUN] + " " * (len(m.group()) - MAX_PUNCT_RUN), text)
    return blank_datelines(text)


def blank_datelines(text: str) -> str:
    """`text` with each dateline or wire credit opening a line replaced by spaces (offsets kept)."""
    return _DATELINE.sub(lambda m: " " * len(m.group()), text)
