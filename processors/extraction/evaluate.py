"""Extraction quality on annotated corpora (`newsmon eval ...`).

`newsmon eval polnear --split dev` scores statement extraction against PolNeAR's attribution relations
with the reference metric of the dataset's README:

- a predicted statement matches a gold attribution when their content spans overlap by at least half of
  the gold content's characters (one-to-one, greedy by largest overlap); content P/R/F1 follow;
- a match is *attributed* when the predicted speaker span overlaps the gold Source span;
- direct-quote recall is the share of gold contents starting with a quotation mark that were matched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import typer

from newsmon.processors.extraction.datafiles import data_path
from newsmon.records import ExtractedStatement
from newsmon.settings import PACKAGE_ROOT, Settings

eval_app = typer.Typer(no_args_is_help=True)

DEFAULT_POLNEAR_ROOT = PACKAGE_ROOT.parent / "shared" / "datasets" / "polnear"
QUOTE_MARKS = "\"“”„«»‘’'`"

Pieces = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class GoldAttribution:
    """One annotated attribution: content pieces and (maybe) source pieces, as character ranges."""

    content: Pieces
    source: Pieces = ()
    direct: bool = False  # the content starts with a quotation mark


@dataclass(frozen=True)
class Predicted:
    """A predicted statement reduced to what the metric reads."""

    content: tuple[int, int]
    speaker: tuple[int, int] | None = None


@dataclass
class Counts:
    """Counts summed over documents; the scores are micro-averaged."""

    gold: int = 0
    predicted: int = 0
    matched: int = 0
    attributed: int = 0
    gold_direct: int = 0
    matched_direct: int = 0
    documents: int = 0

    def add(self, other: Counts) -> None:
        for k in asdict(self):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def scores(self) -> dict[str, float]:
        cp, cr = _ratio(self.matched, self.predicted), _ratio(self.matched, self.gold)
        ap, ar = _ratio(self.attributed, self.predicted), _ratio(self.attributed, self.gold)
        return {"content_p": cp, "content_r": cr, "content_f1": _f1(cp, cr),
                "attributed_p": ap, "attributed_r": ar, "attributed_f1": _f1(ap, ar),
                "direct_quote_recall": _ratio(self.matched_direct, self.gold_direct)}


@dataclass
class Document:
    name: str
    text: str
    gold: list[GoldAttribution] = field(default_factory=list)
    cues: list[Pieces] = field(default_factory=list)  # the gold Cue pieces, parallel to `gold`


# --- the metric -------------------------------------------------------------------------------------

def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _overlap(span: tuple[int, int], pieces: Pieces) -> int:
    s, e = span
    return sum(max(0, min(e, pe) - max(s, ps)) for ps, pe in pieces)


def score_document(gold: Sequence[GoldAttribution], predicted: Sequence[Predicted]) -> Counts:
    """Match predictions to gold attributions one-to-one (greedy by largest overlap) and count."""
    pairs = []
    for gi, g in enumerate(gold):
        need = 0.5 * sum(e - s for s, e in g.content)
        for pi, p in enumerate(predicted):
            ov = _overlap(p.content, g.content)
            if ov > 0 and ov >= need:
                pairs.append((ov, gi, pi))
    pairs.sort(key=lambda x: (-x[0], x[1], x[2]))
    used_g: set[int] = set()
    used_p: set[int] = set()
    c = Counts(gold=len(gold), predicted=len(predicted), gold_direct=sum(g.direct for g in gold), documents=1)
    for _, gi, pi in pairs:
        if gi in used_g or pi in used_p:
            continue
        used_g.add(gi)
        used_p.add(pi)
        g, p = gold[gi], predicted[pi]
        c.matched += 1
        c.matched_direct += g.direct
        if p.speaker is not None and g.source and _overlap(p.speaker, g.source) > 0:
            c.attributed += 1
    return c


# --- the corpus -------------------------------------------------------------------------------------

_T_LINE = re.compile(r"^(T\d+)\t(\S+) ([\d ;]+)\t")


def parse_ann(ann: str, text: str) -> list[GoldAttribution]:
    """Gold attributions of a brat standoff file (`E` lines tie Content, Source and Cue `T` spans)."""
    return [g for g, _ in _attributions(ann, text)]


def _attributions(ann: str, text: str) -> list[tuple[GoldAttribution, Pieces]]:
    """(attribution, its Cue pieces) for each `E` line with a content; discontinuous spans keep their pieces."""
    spans: dict[str, Pieces] = {}
    for line in ann.splitlines():
        m = _T_LINE.match(line)
        if m:
            spans[m.group(1)] = tuple(tuple(int(x) for x in part.split()) for part in m.group(3).split(";"))
    out = []
    for line in ann.splitlines():
        if not line.startswith("E"):
            continue
        args = dict(a.split(":", 1) for a in line.split("\t")[1].split() if ":" in a)
        content = tuple(p for role, ref in args.items() if role.startswith("Content") for p in spans.get(ref, ()))
        if not content:
            continue
        content = tuple(sorted(content))
        source = spans.get(args.get("Source", ""), ())
        first = text[content[0][0]:content[0][1]].lstrip()
        out.append((GoldAttribution(content=content, source=source, direct=bool(first) and first[0] in QUOTE_MARKS),
                    spans.get(args.get("Cue", ""), ())))
    return out


def load_polnear(root: Path, split: str, limit: int | None = None) -> list[Document]:
    """Articles of a PolNeAR split with their gold attributions (one annotation file per article,
    the first in sort order)."""
    base = root / split
    if not (base / "text").is_dir() or not (base / "attributions").is_dir():
        raise FileNotFoundError(f"{base} is not a PolNeAR split (needs text/ and attributions/)")
    anns: dict[str, Path] = {}
    for p in sorted((base / "attributions").glob("*.ann")):
        anns.setdefault(p.stem.rsplit("_", 1)[0], p)
    docs = []
    for name in sorted(anns):
        txt = base / "text" / f"{name}.txt"
        if not txt.exists():
            continue
        text = txt.read_text(encoding="utf-8")
        pairs = _attributions(anns[name].read_text(encoding="utf-8"), text)
        docs.append(Document(name, text, [g for g, _ in pairs], [c for _, c in pairs]))
        if limit is not None and len(docs) >= limit:
            break
    return docs


def predicted_of(statements: Iterable[ExtractedStatement]) -> list[Predicted]:
    """The content and speaker ranges the metric reads."""
    return [Predicted((s.content.start, s.content.end),
                      (s.speaker.start, s.speaker.end) if s.speaker is not None else None) for s in statements]


def evaluate_polnear(docs: Sequence[Document], settings: Settings | None = None) -> Counts:
    """Run the extraction pipeline over the articles and score its statements."""
    from newsmon.processors.extraction import extract_texts, load_pipeline

    nlp = load_pipeline(settings)
    total = Counts()
    # every article is scored, so none may skip the parse for lack of a watchlist term
    for doc, ex in zip(docs, extract_texts(nlp, [(d.text, None) for d in docs], gate=False), strict=True):
        total.add(score_document(doc.gold, predicted_of(ex.statements)))
    return total


# --- cue frames learned from the train split ----------------------------------------------------------

FRAME_TYPES = ("ccomp", "xcomp", "dobj", "oprd", "prep_for", "prep_on", "prep_about", "prep_to", "prep_with",
               "prep_of", "prep_as", "prep_against")
NOUN_FRAME_TYPES = ("acl", "ccomp", "prep_of", "prep_that", "prep_on", "prep_about")
# a predicative adjective ("is confident that ...", "are concerned about ...")
ADJ_FRAME_TYPES = ("ccomp", "xcomp", "prep_about", "prep_of", "prep_that", "prep_with", "prep_to")


def count_frames(docs: Sequence[Document], parsed: Iterable, extend=None) -> dict[tuple[str, str], list[int]]:
    """For each (lemma, complement type) seen under a verb or noun: [occurrences, occurrences where the
    token is a gold Cue and the complement's span matches that attribution's gold content]. `extend`
    (cue, tokens) -> tokens widens a complement the way the component does."""
    from newsmon.processors.extraction.statements import char_range, frame_key, complement_tokens

    stats: dict[tuple[str, str], list[int]] = {}
    for d, doc in zip(docs, parsed):
        for t in doc:
            if t.pos_ not in ("VERB", "NOUN") and not (t.pos_ == "ADJ" and t.dep_ == "acomp"):
                continue
            tr = (t.idx, t.idx + len(t))
            contents = [g.content for g, cue in zip(d.gold, d.cues) if _overlap(tr, cue) > 0]
            types = {"NOUN": NOUN_FRAME_TYPES, "ADJ": ADJ_FRAME_TYPES}.get(t.pos_, FRAME_TYPES)
            for ctype in types:
                toks = complement_tokens(t, ctype)
                r = char_range(extend(t, toks) if extend else toks, doc) if toks else None
                if r is None:
                    continue
                hit = any(0 < _overlap(r, g) and _overlap(r, g) >= 0.5 * sum(e - s for s, e in g) for g in contents)
                st = stats.setdefault((frame_key(t), ctype), [0, 0])
                st[0] += 1
                st[1] += hit
    return stats


def select_frames(stats: dict[tuple[str, str], list[int]], min_hits: int, min_precision: float,
                  min_noun_precision: float | None = None) -> dict[str, list[str]]:
    """Keep the frames that are right often enough; `ccomp` first, then by precision. Noun and adjective
    frames ("/n", "/a") may have a cut of their own (`min_noun_precision`): their complements are rarer."""
    frames: dict[str, list[tuple[float, str]]] = {}
    for (lemma, ctype), (n, k) in stats.items():
        cut = min_noun_precision if min_noun_precision is not None and "/" in lemma else min_precision
        if k >= min_hits and k / n >= cut:
            frames.setdefault(lemma, []).append((2.0 if ctype == "ccomp" else k / n, ctype))
    return {lemma: [c for _, c in sorted(v, reverse=True)] for lemma, v in sorted(frames.items())}


@eval_app.command("polnear-frames")
def polnear_frames(split: str = typer.Option("train", help="Split to learn from (never the held-out one)."),
                   root: Path = typer.Option(DEFAULT_POLNEAR_ROOT),
                   out: Path = typer.Option(data_path("frames.yaml")),
                   min_hits: int = typer.Option(3), min_precision: float = typer.Option(0.3),
                   min_noun_precision: float = typer.Option(0.2, help="The cut for noun and adjective frames.")) -> None:
    """Learn the cue frames (lemma -> complement types) of `newsmon_statements` from a PolNeAR split."""
    from newsmon.processors.extraction import load_pipeline
    from newsmon.processors.extraction.statements import StatementFinder, load_cues

    docs = load_polnear(root, split)
    nlp = load_pipeline()
    disabled = [n for n in nlp.pipe_names
                if n not in ("tok2vec", "newsmon_paragraphs", "tagger", "parser", "attribute_ruler", "lemmatizer")]
    finder = StatementFinder(load_cues("cues.yaml"))
    with nlp.select_pipes(disable=disabled):
        stats = count_frames(docs, nlp.pipe((d.text for d in docs), batch_size=32), finder.to_sentence_end)
    frames = select_frames(stats, min_hits, min_precision, min_noun_precision)
    write_frames(frames, out, f"--split {split} --min-hits {min_hits} --min-precision {min_precision} "
                              f"--min-noun-precision {min_noun_precision}")
    typer.echo(f"{len(frames)} lemmas written to {out}")


def write_frames(frames: dict[str, list[str]], out: Path, how: str) -> None:
    import yaml

    header = ("# Cue frames of `newsmon_statements`: lemma (\"/n\" for nouns, \"/a\" for adjectives) -> the\n"
              "# complement types that hold what was said, most reliable first. Learned from PolNeAR's\n"
              "# Cue/Content annotations by\n"
              f"# `newsmon eval polnear-frames {how}`.\n")
    out.write_text(header + yaml.safe_dump({"frames": frames}, sort_keys=False, allow_unicode=True), encoding="utf-8")


@eval_app.command("polnear")
def polnear(split: str = typer.Option("dev", help="Folder under the dataset root: train, dev, test, ..."),
            root: Path = typer.Option(DEFAULT_POLNEAR_ROOT, help="PolNeAR root (holds <split>/text, <split>/attributions)."),
            limit: int | None = typer.Option(None, help="Score only the first N articles."),
            json_out: bool = typer.Option(False, "--json", help="Print the scores as one JSON object.")) -> None:
    """Score statement extraction on a PolNeAR split: content and attributed P/R/F1, direct-quote recall."""
    try:
        docs = load_polnear(root, split, limit)
    except FileNotFoundError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from e
    counts = evaluate_polnear(docs)
    scores = counts.scores()
    if json_out:
        typer.echo(json.dumps({"split": split, **asdict(counts), **{k: round(v, 4) for k, v in scores.items()}}))
        return
    from newsmon.console import console as output_console
    from rich.table import Table

    table = Table(title=f"PolNeAR {split}: {counts.documents} articles, {counts.gold} gold, {counts.predicted} predicted")
    for col in ("", "P", "R", "F1"):
        table.add_column(col, justify="right" if col else "left")
    table.add_row("content", *(f"{scores[f'content_{k}']:.3f}" for k in ("p", "r", "f1")))
    table.add_row("attributed", *(f"{scores[f'attributed_{k}']:.3f}" for k in ("p", "r", "f1")))
    table.add_row("direct-quote recall", "", f"{scores['direct_quote_recall']:.3f}", "")
    output_console().print(table)
