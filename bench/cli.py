"""`newsmon bench ...`: each benchmark module exposes a typer `command`; they are mounted here."""

from __future__ import annotations

import typer

from newsmon.bench import alerts, extract, hostile, languages, pipeline
from newsmon.logs import setup_logging

app = typer.Typer(no_args_is_help=True)


@app.callback()
def quiet_clients() -> None:
    """Log as the other commands do: warnings of newsmon, client chatter (group joins, coordinator moves) hidden."""
    setup_logging("warning")


app.command("pipeline")(pipeline.command)
app.command("extract")(extract.command)
app.command("alerts")(alerts.command)
app.command("hostile")(hostile.command)
app.command("languages")(languages.command)
