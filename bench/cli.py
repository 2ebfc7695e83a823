"""`newsmon bench ...`: each benchmark module exposes a typer `command`; they are mounted here."""

from __future__ import annotations

import typer

from newsmon.bench import pipeline

app = typer.Typer(no_args_is_help=True)

# Mounted as they land: app.command("pipeline")(bench.pipeline.command), "extract", "alerts".
app.command("pipeline")(pipeline.command)
app.command("extract")(__import__("newsmon.bench.extract", fromlist=["command"]).command)
app.command("alerts")(__import__("newsmon.bench.alerts", fromlist=["command"]).command)
app.command("hostile")(__import__("newsmon.bench.hostile", fromlist=["command"]).command)
app.command("languages")(__import__("newsmon.bench.languages", fromlist=["command"]).command)
