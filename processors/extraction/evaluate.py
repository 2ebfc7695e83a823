"""Extraction quality on annotated corpora (`newsmon eval ...`)."""

from __future__ import annotations

import typer

eval_app = typer.Typer(no_args_is_help=True)
