"""`newsmon extract`: run extraction over text files and print JSON lines."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import typer


def _read(path: Path) -> str:
    """The text exactly as read (no newline translation); '-' is stdin."""
    data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    return data.decode("utf-8")


def _published(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--published") from None


def extract(paths: list[Path] = typer.Argument(..., help="Text files; '-' reads stdin."),
            json_out: bool = typer.Option(True, "--json", help="One JSON object per input, one per line."),
            published: str | None = typer.Option(None, help="Publication date YYYY-MM-DD (resolves relative dates)."),
            gate: bool = typer.Option(False, "--gate/--no-gate",
                                      help="Skip the parse for texts that mention no watchlist term.")) -> None:
    """Extract entities, statements, events and countries from plain-text articles.

    Prints one JSON object per input: {"source", "entities", "statements", "events", "countries", ...};
    offsets are character offsets into the input text as read. An unreadable input prints
    {"source", "error"} and makes the exit code 1; the other inputs are still extracted.
    """
    from newsmon.processors.extraction import extract_texts, load_pipeline

    day = _published(published)
    texts: dict[int, str] = {}
    errors: dict[int, str] = {}
    for i, path in enumerate(paths):
        try:
            texts[i] = _read(path)
        except (OSError, UnicodeDecodeError) as exc:
            errors[i] = f"{type(exc).__name__}: {exc}"
    results = {}
    if texts:
        nlp = load_pipeline()
        for i, ex in zip(texts, extract_texts(nlp, [(texts[i], day) for i in texts], gate=gate)):
            results[i] = ex
    for i, path in enumerate(paths):
        if i in errors:
            typer.echo(f"newsmon extract: cannot read {path}: {errors[i]}", err=True)
            line = {"source": str(path), "error": errors[i]}
        else:
            line = {"source": str(path), **results[i].model_dump(mode="json")}
        typer.echo(json.dumps(line, ensure_ascii=False) if json_out else json.dumps(line, ensure_ascii=False, indent=2))
    if errors:
        raise typer.Exit(code=1)
