"""`newsmon extract`: run extraction over text files and print JSON lines."""

from __future__ import annotations

from pathlib import Path

import typer


def extract(paths: list[Path] = typer.Argument(..., help="Text files; '-' reads stdin."),
            json_out: bool = typer.Option(True, "--json", help="One JSON object per input, one per line."),
            published: str | None = typer.Option(None, help="Publication date YYYY-MM-DD (resolves relative dates).")) -> None:
    """Extract entities, statements, events and countries from plain-text articles."""
    raise typer.Exit(code=2)  # replaced by the extraction module's implementation
