"""`newsmon bench extract`: throughput of the extraction pipeline, as ratios measured in one run.

Over a mixed stream (default: the PolNeAR train texts, about 16% about the watchlist):
1. gated pipeline (`extract_texts`, the default) vs the full pipeline on every article (`gate=False`):
   target >= 3x articles/s;
2. on the relevant articles alone: the full newsmon pipeline vs plain `nlp.pipe` of the same model
   (newsmon's components disabled): target >= 0.8x.
Same model, same process, same cores; the model is loaded and warmed up before timing, and each
measurement is repeated (interleaved) with the fastest run kept, since on shared cores noise only adds time.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from newsmon.settings import PACKAGE_ROOT

DEFAULT_CORPUS = PACKAGE_ROOT.parent / "shared" / "datasets" / "polnear" / "train" / "text"


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def command(corpus: Path = typer.Option(DEFAULT_CORPUS, help="Directory of .txt articles (the stream)."),
            limit: int = typer.Option(150, help="Articles to use, spread evenly over the corpus; 0 = all."),
            batch_size: int = typer.Option(16, help="spaCy batch size."),
            repeat: int = typer.Option(2, min=1, help="Runs per measurement; the fastest counts.")) -> None:
    """Articles/s: gated vs full pipeline on a mixed stream; newsmon vs plain nlp.pipe on relevant articles."""
    from newsmon.processors.extraction import NEWSMON_PIPES, extract_texts, load_pipeline

    files = sorted(corpus.glob("*.txt"))
    if limit and limit < len(files):
        files = [files[i * len(files) // limit] for i in range(limit)]  # spread over the whole corpus
    if not files:
        raise typer.BadParameter(f"no .txt files in {corpus}", param_hint="--corpus")
    texts = [f.read_text(encoding="utf-8") for f in files]
    nlp = load_pipeline()
    for gate in (False, True):  # warm-up
        list(extract_texts(nlp, [(t, None) for t in texts[:8]], batch_size=batch_size, gate=gate))

    def run(items, **kw) -> tuple[float, list]:
        t0 = time.perf_counter()
        out = list(extract_texts(nlp, items, batch_size=batch_size, **kw))
        return time.perf_counter() - t0, out

    def plain(docs) -> float:
        disabled = [p for p in nlp.pipe_names if p in NEWSMON_PIPES or p.startswith("newsmon_")]
        with nlp.select_pipes(disable=disabled):
            t0 = time.perf_counter()
            for _ in nlp.pipe(docs, batch_size=batch_size):
                pass
            return time.perf_counter() - t0

    items = [(t, None) for t in texts]
    gated_s = full_s = float("inf")
    for _ in range(repeat):
        seconds, gated = run(items)
        gated_s = min(gated_s, seconds)
        full_s = min(full_s, run(items, gate=False)[0])
    relevant = [t for t, ex in zip(texts, gated, strict=True) if ex.relevant]
    words = sum(len(t.split()) for t in texts)
    typer.echo(f"stream: {len(texts)} articles, {words} words from {corpus}; "
               f"{len(relevant)} pass the watchlist gate ({100 * len(relevant) / len(texts):.1f}%)")
    gated_rate, full_rate = _rate(len(texts), gated_s), _rate(len(texts), full_s)
    typer.echo(f"gated pipeline:        {gated_rate:8.1f} articles/s ({gated_s:.1f} s, fastest of {repeat})")
    typer.echo(f"full pipeline, all:    {full_rate:8.1f} articles/s ({full_s:.1f} s)")
    typer.echo(f"ratio gated/full:      {gated_rate / full_rate:8.2f}x (target >= 3)")
    if not relevant:
        typer.echo("no relevant articles in the stream: relevant-only comparison skipped")
        return
    plain_s = ours_s = float("inf")
    for _ in range(repeat):
        plain_s = min(plain_s, plain(relevant))
        ours_s = min(ours_s, run([(t, None) for t in relevant])[0])
    plain_rate, ours_rate = _rate(len(relevant), plain_s), _rate(len(relevant), ours_s)
    typer.echo(f"relevant only, newsmon:     {ours_rate:8.1f} articles/s ({ours_s:.1f} s)")
    typer.echo(f"relevant only, nlp.pipe:    {plain_rate:8.1f} articles/s ({plain_s:.1f} s)")
    typer.echo(f"ratio newsmon/plain:        {ours_rate / plain_rate:8.2f}x (target >= 0.8)")
