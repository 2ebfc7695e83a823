"""Extraction quality per language on hand-made articles (`newsmon eval languages`).

The test set (tests/data/languages/<code>.yaml, described in its README) gives, for each article, the
expected language, entities (canonical names), watchlist countries, relevance and direct quotes with
their speakers. Each field is scored by precision and recall, micro-averaged over a language's articles:

- language: the share of articles whose decided language is the expected one (as P and R alike);
- entities, countries: the sets of canonical names / ISO codes per article (NORP mentions left out, as
  `entity_names` leaves them out of the index);
- relevance: the articles about the watchlist are the positives;
- quotes: a predicted direct quote matches an expected one when it covers at least half of its
  characters (one-to-one, largest overlap first); speakers: a matched quote whose speaker resolved to
  the expected canonical name, or to none where the article names no one (P over every predicted
  quote, R over every expected one).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import typer
import yaml

from newsmon.records import Extraction
from newsmon.settings import PACKAGE_ROOT

__all__ = ["LabelledArticle", "Tally", "load_articles", "score_article", "evaluate_languages", "languages"]

DEFAULT_ROOT = PACKAGE_ROOT / "tests" / "data" / "languages"
FIELDS = ("language", "entities", "countries", "relevance", "quotes", "speakers")


@dataclass(frozen=True)
class LabelledArticle:
    id: str
    language: str
    text: str
    published: date | None
    entities: frozenset[str]
    countries: frozenset[str]
    relevant: bool
    quotes: tuple[tuple[str, str | None], ...]  # (quoted text, canonical speaker or None)


@dataclass
class Tally:
    """True positives, predictions and expectations of one field."""

    tp: int = 0
    predicted: int = 0
    expected: int = 0

    def add(self, tp: int, predicted: int, expected: int) -> None:
        self.tp, self.predicted, self.expected = self.tp + tp, self.predicted + predicted, self.expected + expected

    def scores(self) -> dict[str, float]:
        p = self.tp / self.predicted if self.predicted else 0.0
        r = self.tp / self.expected if self.expected else 0.0
        return {"p": round(p, 3), "r": round(r, 3), "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0}


@dataclass
class LanguageScores:
    articles: int = 0
    tallies: dict[str, Tally] = field(default_factory=lambda: {f: Tally() for f in FIELDS})

    def add(self, other: dict[str, tuple[int, int, int]]) -> None:
        self.articles += 1
        for name, counts in other.items():
            self.tallies[name].add(*counts)


def load_articles(root: Path, languages: Iterable[str] | None = None) -> list[LabelledArticle]:
    """The labelled articles of every <code>.yaml under `root` (or of the languages given)."""
    files = sorted(root.glob("*.yaml"))
    if languages:
        wanted = set(languages)
        files = [f for f in files if f.stem in wanted]
    if not files:
        raise FileNotFoundError(f"no labelled articles (<code>.yaml) under {root}")
    out = []
    for f in files:
        for a in yaml.safe_load(f.read_text(encoding="utf-8")) or []:
            out.append(LabelledArticle(
                id=a["id"], language=a["language"], text=a["text"], published=a.get("published"),
                entities=frozenset(a.get("entities") or ()), countries=frozenset(a.get("countries") or ()),
                relevant=bool(a.get("relevant")),
                quotes=tuple((q["text"], q.get("speaker")) for q in a.get("quotes") or ())))
    return out


def _pairs(a: LabelledArticle, ex: Extraction) -> tuple[int, int]:
    """(matched quotes, matched quotes with the expected speaker), one-to-one by largest overlap."""
    direct = [s for s in ex.statements if s.kind == "direct"]
    candidates = []
    for gi, (quoted, _) in enumerate(a.quotes):
        start = a.text.find(quoted)
        if start < 0:
            raise ValueError(f"{a.id}: quote {quoted[:40]!r} is not in the text")
        end = start + len(quoted)
        for pi, s in enumerate(direct):
            overlap = min(end, s.content.end) - max(start, s.content.start)
            if overlap > 0 and overlap >= 0.5 * len(quoted):
                candidates.append((overlap, gi, pi))
    used_g: set[int] = set()
    used_p: set[int] = set()
    matched = attributed = 0
    for _, gi, pi in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
        if gi in used_g or pi in used_p:
            continue
        used_g.add(gi)
        used_p.add(pi)
        matched += 1
        speaker = direct[pi].speaker
        expected = a.quotes[gi][1]
        attributed += (speaker.name if speaker is not None else None) == expected
    return matched, attributed


def score_article(a: LabelledArticle, ex: Extraction) -> dict[str, tuple[int, int, int]]:
    """(true positives, predicted, expected) per field for one article."""
    names = {e.name or e.text for e in ex.entities if e.label != "NORP"}
    countries = set(ex.countries)
    direct = sum(s.kind == "direct" for s in ex.statements)
    matched, attributed = _pairs(a, ex)
    right = int(ex.language == a.language)
    return {"language": (right, 1, 1),
            "entities": (len(names & a.entities), len(names), len(a.entities)),
            "countries": (len(countries & a.countries), len(countries), len(a.countries)),
            "relevance": (int(ex.relevant and a.relevant), int(ex.relevant), int(a.relevant)),
            "quotes": (matched, direct, len(a.quotes)),
            "speakers": (attributed, direct, len(a.quotes))}


def evaluate_languages(articles: Sequence[LabelledArticle], nlp=None) -> dict[str, LanguageScores]:
    """Run the extraction over the articles (no gate, no declared language) and score it per language."""
    from newsmon.processors.extraction import extract_texts, load_pipeline

    nlp = nlp or load_pipeline()
    out: dict[str, LanguageScores] = {}
    items = [(a.text, a.published) for a in articles]
    for a, ex in zip(articles, extract_texts(nlp, items, gate=False), strict=True):
        out.setdefault(a.language, LanguageScores()).add(score_article(a, ex))
    return out


def languages(root: Path = typer.Option(DEFAULT_ROOT, help="Folder of <code>.yaml labelled articles."),
              language: list[str] = typer.Option([], "--language", "-l", help="Only these languages."),
              json_out: bool = typer.Option(False, "--json", help="Print the scores as one JSON object.")) -> None:
    """Score language, entities, countries, relevance, quotes and speakers per language on labelled articles."""
    try:
        articles = load_articles(root, language)
    except FileNotFoundError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from e
    results = evaluate_languages(articles)
    if json_out:
        typer.echo(json.dumps({lang: {"articles": s.articles, **{f: t.scores() for f, t in s.tallies.items()}}
                               for lang, s in sorted(results.items())}))
        return
    from rich.console import Console
    from rich.table import Table

    langs = sorted(results)
    table = Table(title=f"{len(articles)} labelled articles ({root}): precision / recall")
    table.add_column("field")
    for lang in langs:
        table.add_column(f"{lang} ({results[lang].articles})", justify="right")
    for f in FIELDS:
        table.add_row(f, *(f"{results[lang].tallies[f].scores()['p']:.2f} / {results[lang].tallies[f].scores()['r']:.2f}"
                           for lang in langs))
    Console().print(table)
