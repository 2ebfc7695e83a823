"""`newsmon bench hostile`: worst-case texts through extraction, each at n, 2n and 4n repeats.

Printed per family: seconds at each size and the ratio of one doubling to the one before it, measured
in the same run (about 2 for linear time, 4 for quadratic). Families: a cue and a quote per line with no
full stop (one "sentence" of n cues), a run of n quote marks, lone surrogates.
"""

from __future__ import annotations

import time

import typer

FAMILIES = {
    "quote per line": lambda n: 'Putin said "Syria"\n' * n,
    "quote marks": lambda n: "Putin said " + '"' * (n * 100) + " about Syria.",
    "lone surrogates": lambda n: "Putin said \ud800 in Damascus. " * n,
}


def command(base: int = typer.Option(250, help="Repeats at the smallest size.")) -> None:
    """Time each family at base, 2*base and 4*base repeats and print the doubling ratios."""
    from newsmon.processors.extraction import extract_texts, load_pipeline

    nlp = load_pipeline()
    list(extract_texts(nlp, [("Putin said he would visit Syria.", None)], gate=False))  # warm up
    for name, make in FAMILIES.items():
        times = []
        for n in (base, 2 * base, 4 * base):
            started = time.perf_counter()
            list(extract_texts(nlp, [(make(n), None)], gate=False))
            times.append(time.perf_counter() - started)
        ratios = [b / a if a else float("inf") for a, b in zip(times, times[1:], strict=False)]
        typer.echo(f"{name:16} " + "  ".join(f"{t:7.2f}s" for t in times)
                   + "   doubling ratios " + ", ".join(f"{r:.2f}" for r in ratios))
