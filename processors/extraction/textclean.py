"""Text made safe for the pipeline at its boundary, without moving any character offset.

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


def clean_text(text: str) -> str:
    """`text` with lone surrogates as U+FFFD and punctuation runs cut to `MAX_PUNCT_RUN` (same length)."""
    text = _SURROGATE.sub("\ufffd", text)
    return _PUNCT_RUN.sub(lambda m: m.group()[:MAX_PUNCT_RUN] + " " * (len(m.group()) - MAX_PUNCT_RUN), text)
