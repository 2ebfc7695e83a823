"""Which language an article is in: py3langid's bundled model, with the feed's declared language as a hint.

Feeds declare a language per feed (or none), and a multilingual outlet declares one for all its
articles, so the declared language decides only when the text is too short or the detector unsure.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["decide_language", "detect_language", "primary_subtag"]

MIN_LETTERS = 20  # shorter texts (a headline) are left to the declared language when there is one
MIN_CONFIDENCE = 0.5  # normalised probability under which the declared language wins
DETECT_CHARS = 2000  # the detector reads this much of the text: as sure as 5,000 and half the time


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_DIR / MODEL_FILE, norm_probs=True)


def primary_subtag(tag: str | None) -> str | None:
    """"en-US" / "EN_gb" -> "en"; None or an empty tag -> None."""
    if not tag or not tag.strip():
        return None
    return tag.strip().replace("_", "-").split("-")[0].lower() or None


def detect_language(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, normalised probability) of the text, from py3langid."""
    lang, prob = _identifier().classify(text[:DETECT_CHARS])
    return lang, float(prob)


def decide_language(text: str, declared: str | None = None, default: str | None = None) -> str | None:
    """The article's language: the detector's answer, unless the text is too short or the detector
    unsure, when the declared language decides (else `default`, the language the caller reads best)."""
    fallback = primary_subtag(declared) or default
    if sum(c.isalpha() for c in text[:2000]) < MIN_LETTERS and fallback:
        return fallback
    lang, prob = detect_language(text)
    return fallback if fallback and prob < MIN_CONFIDENCE else lang
