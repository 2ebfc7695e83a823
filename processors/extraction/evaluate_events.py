"""Event extraction quality on a hand-annotated sample of sentences (`newsmon eval events`).

The sample (tests/data/events_en.yaml; its header says how it was written and annotated) lists, for each
sentence and its publication date, the events it reports with their type, actors, targets and date.
Each sentence runs alone through `extract_texts`, the function the Faust agents call. Within a sentence,
predicted and expected events of the same type are paired one to one (nearest trigger first); then

- type: P = paired / predicted events, R = paired / expected events;
- actor, target: every (event, canonical name) is one item, right when its event is paired and the
  name expected there (case-insensitive);
- date: a predicted date is right when its event is paired and the expected date is the same day.

Precision and recall are micro-averaged over the sample.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from newsmon.records import ExtractedEvent
from newsmon.settings import PACKAGE_ROOT, Settings

if TYPE_CHECKING:
    from spacy.language import Language

__all__ = ["ExpectedEvent", "Sentence", "FieldCounts", "EventScores", "load_event_sample", "score_sentence",
           "evaluate_event_sample", "events_command", "DEFAULT_EVENT_SAMPLE", "FIELDS"]

DEFAULT_EVENT_SAMPLE = PACKAGE_ROOT / "tests" / "data" / "events_en.yaml"
FIELDS = ("type", "actor", "target", "date")


@dataclass(frozen=True)
class ExpectedEvent:
    """One annotated event of a sentence."""

    type: str
    trigger: str
    actors: frozenset[str] = frozenset()
    targets: frozenset[str] = frozenset()
    date: date | None = None


@dataclass(frozen=True)
class Sentence:
    """One sentence of the sample with its publication date and expected events."""

    id: str
    text: str
    published: date | None
    expected: tuple[ExpectedEvent, ...]


@dataclass
class FieldCounts:
    """Items predicted, expected and right for one field."""

    predicted: int = 0
    expected: int = 0
    right: int = 0

    @property
    def precision(self) -> float:
        return self.right / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.right / self.expected if self.expected else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class EventScores:
    """Counts per field, summed over sentences, and each sentence's mismatches (for error analysis)."""

    fields: dict[str, FieldCounts] = field(default_factory=lambda: {f: FieldCounts() for f in FIELDS})
    sentences: int = 0
    errors: list[dict] = field(default_factory=list)

    def add(self, other: EventScores) -> None:
        for name, c in other.fields.items():
            mine = self.fields[name]
            mine.predicted += c.predicted
            mine.expected += c.expected
            mine.right += c.right
        self.sentences += other.sentences
        self.errors += other.errors

    def as_dict(self) -> dict:
        return {"sentences": self.sentences,
                **{name: {"predicted": c.predicted, "expected": c.expected, "right": c.right,
                          "p": round(c.precision, 4), "r": round(c.recall, 4), "f1": round(c.f1, 4)}
                   for name, c in self.fields.items()}}


def _names(values: Iterable[str] | None) -> frozenset[str]:
    return frozenset(str(v) for v in values or ())


def load_event_sample(path: Path) -> list[Sentence]:
    """The sentences of a sample file (see tests/data/events_en.yaml for the format)."""
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for s in raw["sentences"]:
        expected = tuple(ExpectedEvent(type=e["type"], trigger=str(e.get("trigger", "")), actors=_names(e.get("actors")),
                                       targets=_names(e.get("targets")), date=e.get("date"))
                         for e in s.get("expected") or ())
        out.append(Sentence(id=str(s["id"]), text=s["text"], published=s.get("published"), expected=expected))
    return out


def _key(name: str) -> str:
    return name.casefold().strip()


def _pair(sentence: Sentence, predicted: Sequence[ExtractedEvent]) -> list[tuple[int, int]]:
    """(predicted index, expected index) pairs: same type, one to one, nearest trigger first."""
    candidates = []
    for gi, g in enumerate(sentence.expected):
        at = sentence.text.find(g.trigger) if g.trigger else -1
        for pi, p in enumerate(predicted):
            if p.type == g.type:
                candidates.append((abs(p.trigger.start - at) if at >= 0 else 0, pi, gi))
    pairs, used_p, used_g = [], set(), set()
    for _, pi, gi in sorted(candidates):
        if pi not in used_p and gi not in used_g:
            used_p.add(pi)
            used_g.add(gi)
            pairs.append((pi, gi))
    return pairs


def _entity_names(entities) -> set[str]:
    return {_key(e.name or e.text) for e in entities}


def score_sentence(sentence: Sentence, predicted: Sequence[ExtractedEvent]) -> EventScores:
    """Count predicted, expected and right items of each field in one sentence."""
    scores = EventScores(sentences=1)
    f = scores.fields
    pairs = dict(_pair(sentence, predicted))
    f["type"].predicted, f["type"].expected, f["type"].right = len(predicted), len(sentence.expected), len(pairs)
    for g in sentence.expected:
        f["actor"].expected += len(g.actors)
        f["target"].expected += len(g.targets)
        f["date"].expected += g.date is not None
    for pi, p in enumerate(predicted):
        g = sentence.expected[pairs[pi]] if pi in pairs else None
        for role, names in (("actor", _entity_names(p.actors)), ("target", _entity_names(p.targets))):
            want = {_key(n) for n in (g.actors if role == "actor" else g.targets)} if g else set()
            f[role].predicted += len(names)
            f[role].right += len(names & want)
        if p.date is not None:
            f["date"].predicted += 1
            f["date"].right += g is not None and g.date == p.date
    if _mismatched(sentence, predicted, pairs):
        scores.errors.append({"id": sentence.id, "text": sentence.text,
                              "expected": [_show_expected(g) for g in sentence.expected],
                              "predicted": [_show_predicted(p) for p in predicted]})
    return scores


def _show_expected(g: ExpectedEvent) -> dict:
    return {"type": g.type, "trigger": g.trigger, "actors": sorted(g.actors), "targets": sorted(g.targets),
            "date": g.date.isoformat() if g.date else None}


def _show_predicted(p: ExtractedEvent) -> dict:
    return {"type": p.type, "trigger": p.trigger.text, "actors": [e.name or e.text for e in p.actors],
            "targets": [e.name or e.text for e in p.targets], "date": p.date.isoformat() if p.date else None}


def _mismatched(sentence: Sentence, predicted: Sequence[ExtractedEvent], pairs: dict[int, int]) -> bool:
    if len(pairs) != len(predicted) or len(pairs) != len(sentence.expected):
        return True
    for pi, gi in pairs.items():
        p, g = predicted[pi], sentence.expected[gi]
        if _entity_names(p.actors) != {_key(n) for n in g.actors} or \
                _entity_names(p.targets) != {_key(n) for n in g.targets} or p.date != g.date:
            return True
    return False


def evaluate_event_sample(sentences: Sequence[Sentence], settings: Settings | None = None,
                          nlp: Language | None = None) -> EventScores:
    """Run the extraction pipeline (`nlp`, else loaded from `settings`) on each sentence, as its own text
    with its publication date, and score its events."""
    from newsmon.processors.extraction import extract_texts, load_pipeline

    nlp = nlp or load_pipeline(settings)
    total = EventScores(sentences=0)
    items = [(s.text, s.published) for s in sentences]
    # every sentence is scored, so none may skip the parse for lack of a watchlist term
    for s, ex in zip(sentences, extract_texts(nlp, items, gate=False), strict=True):
        total.add(score_sentence(s, ex.events))
    return total


def events_command(sample: Path = typer.Option(DEFAULT_EVENT_SAMPLE, help="Annotated sentences (YAML)."),
                   json_out: bool = typer.Option(False, "--json", help="Print the scores as one JSON object."),
                   errors: bool = typer.Option(False, "--errors", help="Also list each sentence whose events differ.")
                   ) -> None:
    """Score event extraction on annotated sentences: P/R/F1 of type, actor, target and date."""
    try:
        sentences = load_event_sample(sample)
    except (OSError, KeyError, TypeError) as e:
        typer.echo(f"error: cannot read the event sample {sample}: {e}", err=True)
        raise typer.Exit(code=2) from e
    scores = evaluate_event_sample(sentences)
    if json_out:
        out = {"sample": str(sample), **scores.as_dict()}
        if errors:
            out["errors"] = scores.errors
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Events: {scores.sentences} sentences, {scores.fields['type'].expected} expected events, "
                        f"{scores.fields['type'].predicted} predicted")
    for col in ("field", "predicted", "expected", "right", "P", "R", "F1"):
        table.add_column(col, justify="left" if col == "field" else "right")
    for name, c in scores.fields.items():
        table.add_row(name, str(c.predicted), str(c.expected), str(c.right),
                      f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}")
    console = Console()
    console.print(table)
    if errors:
        for err in scores.errors:
            console.print(f"[bold]{err['id']}[/bold] {err['text']}", highlight=False, soft_wrap=True)
            console.print(f"  expected  {json.dumps(err['expected'], ensure_ascii=False)}", highlight=False, soft_wrap=True)
            console.print(f"  predicted {json.dumps(err['predicted'], ensure_ascii=False)}", highlight=False, soft_wrap=True)
