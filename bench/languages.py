"""`newsmon bench languages`: what language detection costs on English, and throughput per language.

Measured in one run, in one process, the model loaded and warmed up first, the fastest of `repeat`
interleaved runs kept (on shared cores noise only adds time):
1. language detection (`decide_language`, py3langid) over the English stream, as a share of the time
   the gated pipeline takes over the same stream (the detection is part of that pipeline) and of the
   full pipeline's;
2. articles/s of the full extraction for each language: the English stream and the hand-made Russian,
   Persian and Arabic articles (tests/data/languages), each also as a ratio to English in words/s,
   since the articles differ in length.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import typer

from newsmon.bench.extract import DEFAULT_CORPUS
from newsmon.settings import PACKAGE_ROOT

DEFAULT_LABELLED = PACKAGE_ROOT / "tests" / "data" / "languages"


def _fastest(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def command(corpus: Path = typer.Option(DEFAULT_CORPUS, help="Directory of English .txt articles."),
            labelled: Path = typer.Option(DEFAULT_LABELLED, help="Folder of <code>.yaml labelled articles."),
            limit: int = typer.Option(60, help="English articles, spread evenly over the corpus; 0 = all."),
            copies: int = typer.Option(5, min=1, help="Times each labelled article is repeated (a longer run)."),
            repeat: int = typer.Option(2, min=1, help="Runs per measurement; the fastest counts.")) -> None:
    """Language detection's share of English extraction time; articles/s and words/s per language."""
    from newsmon.processors.extraction import extract_texts, load_pipeline
    from newsmon.processors.extraction.evaluate_languages import load_articles
    from newsmon.processors.extraction.language import decide_language

    files = sorted(corpus.glob("*.txt"))
    if limit and limit < len(files):
        files = [files[i * len(files) // limit] for i in range(limit)]
    if not files:
        raise typer.BadParameter(f"no .txt files in {corpus}", param_hint="--corpus")
    english = [f.read_text(encoding="utf-8") for f in files]
    by_lang: dict[str, list[str]] = {"en": english}
    for a in load_articles(labelled):
        by_lang.setdefault(a.language, []).extend([a.text] * copies)
    nlp = load_pipeline()
    for texts in by_lang.values():  # warm-up: the model, each language's pipeline, the detector
        list(extract_texts(nlp, [(t, None) for t in texts[:4]], gate=False))

    detect_s = _fastest(lambda: [decide_language(t, None, default="en") for t in english], repeat)
    gated_s = _fastest(lambda: list(extract_texts(nlp, [(t, None) for t in english])), repeat)
    rates: dict[str, tuple[float, float]] = {}
    def full(texts: list[str]) -> Callable[[], object]:
        return lambda: list(extract_texts(nlp, [(t, None) for t in texts], gate=False))

    for lang, texts in by_lang.items():
        seconds = _fastest(full(texts), repeat)
        rates[lang] = (len(texts) / seconds, sum(len(t.split()) for t in texts) / seconds)
    full_s = len(english) / rates["en"][0]
    typer.echo(f"English stream: {len(english)} articles from {corpus}")
    typer.echo(f"language detection:   {detect_s * 1e3 / len(english):7.2f} ms/article; "
               f"share of the gated pipeline {detect_s / gated_s:6.1%}, of the full pipeline {detect_s / full_s:6.1%}")
    typer.echo(f"{'language':10}{'articles':>9}{'articles/s':>12}{'words/s':>10}{'words/s vs en':>15}")
    for lang, (per_s, words_s) in rates.items():
        typer.echo(f"{lang:10}{len(by_lang[lang]):9d}{per_s:12.1f}{words_s:10.0f}{words_s / rates['en'][1]:14.2f}x")
