"""Paragraph ends as sentence ends (spaCy component `newsmon_paragraphs`, placed before the parser).

An article's lines are its headline and paragraphs; a headline has no full stop, and the parser ran it
into the first sentence of the body ("In Avoiding Tax, Trump Is Merely a Small Fry.\\n\\nNot paying taxes
... Trump said" made the headline what Trump said). The parser keeps sentence starts that are set before
it runs, so each token that opens a line starts a sentence.
"""

from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Doc

__all__ = ["mark_paragraph_starts"]


@Language.component("newsmon_paragraphs", assigns=["token.is_sent_start"])
def mark_paragraph_starts(doc: Doc) -> Doc:
    """Set `is_sent_start` on the first word after each line break."""
    for prev, token in zip(doc[:-1], doc[1:]):
        if not token.is_space and ("\n" in prev.whitespace_ or (prev.is_space and "\n" in prev.text)):
            token.is_sent_start = True
    return doc
