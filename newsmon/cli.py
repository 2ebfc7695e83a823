"""The `newsmon` command line. Each stage's commands live next to the stage; this mounts them."""

from __future__ import annotations

import typer

from alerts.cli import app as alerts_app
from bench.cli import app as bench_app
from processors.extraction.cli import extract
from processors.extraction.evaluate import eval_app

app = typer.Typer(help="newsmon: streaming news monitor (RSS -> Kafka -> spaCy/Faust -> Elasticsearch, alerts).",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)

app.command("extract")(extract)
app.add_typer(eval_app, name="eval", help="Measure extraction quality on annotated corpora.")
app.add_typer(bench_app, name="bench", help="Benchmarks: each prints a ratio against a baseline measured in the same run.")
app.add_typer(alerts_app, name="alerts", help="Alert rules: validate, try offline, list recent alerts.")

if __name__ == "__main__":  # pragma: no cover
    app()
