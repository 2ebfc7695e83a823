"""The `newsmon` command line. Each stage's commands live next to the stage; this mounts them."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

import typer

from newsmon.alerts_cli import app as alerts_app
from newsmon.bench.cli import app as bench_app
from newsmon.clierrors import exit_on_config_errors
from newsmon.endpoints import NoStackError, resolve
from newsmon.logs import setup_logging
from newsmon.settings import Settings, get_settings
from newsmon.processors.extraction.cli import extract
from newsmon.processors.extraction.evaluate import eval_app
from newsmon.processors.extraction.evaluate_languages import languages as eval_languages
from newsmon.producers.cli import produce

app = typer.Typer(help="newsmon: streaming news monitor (RSS -> Kafka -> spaCy/Faust -> Elasticsearch, alerts).",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)

app.command("extract")(extract)
app.command("produce")(produce)
eval_app.command("languages")(eval_languages)
app.add_typer(eval_app, name="eval", help="Measure extraction quality on annotated corpora.")
app.add_typer(bench_app, name="bench", help="Benchmarks: each prints a ratio against a baseline measured in the same run.")
app.add_typer(alerts_app, name="alerts", help="Alert rules: validate, try offline, list recent alerts.")

log = logging.getLogger("newsmon")
LOGLEVEL = typer.Option("info", "--loglevel", help="Log level: debug, info, warning, error.")


def stack_settings(need: tuple[str, ...] = ("kafka", "elasticsearch")) -> Settings:
    """The settings with endpoints resolved, or a clear error and exit code 2."""
    try:
        return resolve(get_settings(), need)
    except NoStackError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None


# --- stages ------------------------------------------------------------------------------------------


@app.command()
@exit_on_config_errors
def init(kibana: str = typer.Option(None, "--kibana", metavar="URL",
                                    help="Also import the saved objects (data views, searches, dashboard, map) "
                                         "into the Kibana at URL, e.g. http://127.0.0.1:5601."),
         wait: float = typer.Option(180.0, "--wait", metavar="SECONDS",
                                    help="How long to wait for each server to answer before giving up.")) -> None:
    """Wait for Kafka and Elasticsearch, create the topics (configured partition count) and the index
    templates (and import Kibana's saved objects with --kibana), then exit. Idempotent."""
    from newsmon.kibana import KibanaError, import_saved_objects
    from newsmon.readiness import ServerUnavailable, wait_for_stack
    from newsmon.indices import ensure_templates
    from newsmon.topics import ensure_topics

    settings = stack_settings()
    try:
        wait_for_stack(settings, timeout_s=wait, say=typer.echo)
        topics = ensure_topics(settings, timeout=wait)
        ensure_templates(settings)
        typer.echo(f"topics ready ({settings.partitions} partitions): {', '.join(topics)}; index templates ready")
        if kibana:
            count = import_saved_objects(kibana, settings, wait_s=wait, say=typer.echo)
            typer.echo(f"Kibana at {kibana}: {count} saved objects imported (dashboard \"newsmon: overview\")")
    except (ServerUnavailable, KibanaError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None


@app.command()
@exit_on_config_errors
def process(loglevel: str = LOGLEVEL) -> None:
    """Run a processor worker (Faust): raw -> articles, statements, events (+ alert agents when rules are set)."""
    from newsmon.worker import run_worker

    setup_logging(loglevel)
    run_worker(stack_settings(("kafka",)), loglevel=loglevel)


@app.command()
@exit_on_config_errors
def sink(loglevel: str = LOGLEVEL) -> None:
    """Run the sink: articles, statements, events, alerts, sightings -> Elasticsearch, until Ctrl-C."""
    from newsmon.sinks.consumer import run

    from newsmon.health import serve_stage

    setup_logging(loglevel)
    settings = stack_settings()
    stop = threading.Event()
    _stop_on_signals(stop)
    server = serve_stage(settings, "sink", [lag_collector(settings)])
    try:
        stats = run(settings, stop)
    finally:
        if server is not None:
            server.stop()
    typer.echo(f"sink stopped: {stats.indexed} documents indexed, {stats.dead_letters} dead letters")


def lag_collector(settings: Settings):
    """`newsmon_consumer_lag` of this deployment's consumer groups, read from Kafka when scraped."""
    from newsmon.metrics import LagCollector
    from newsmon.status import topic_lag

    return LagCollector(lambda: topic_lag(settings))


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum, frame):
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


@app.command()
@exit_on_config_errors
def prune(older_than: str = typer.Option("90d", "--older-than", help="Retention period: 90d, 12w, 6m, 1y."),
          yes: bool = typer.Option(False, "--yes", help="Delete them (without it: only list what would go).")) -> None:
    """Drop the monthly index partitions whose whole month is older than the retention period."""
    from newsmon.retention import parse_period, prune as run_prune

    try:
        period = parse_period(older_than)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--older-than") from None
    settings = stack_settings(("elasticsearch",))
    if settings.index_partitioning == "none":
        typer.secho("indices are not partitioned (NEWSMON_INDEX_PARTITIONING=none): nothing to prune by month",
                    fg="yellow", err=True)
    gone = run_prune(settings, period, delete=yes)
    verb = "deleted" if yes else "would delete (dry run; --yes deletes)"
    typer.echo(f"{len(gone)} partitions older than {older_than} {verb}" + "".join(f"\n  {p.index}" for p in gone))


# --- queries -----------------------------------------------------------------------------------------


def _cell(value, width: int = 0) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    text = str(value).replace("\n", " ")
    return text if not width or len(text) <= width else text[: width - 1] + "…"


COLUMNS = {
    "statements": [("time", "@timestamp"), ("speaker", "speaker.name|speaker.text"), ("quote", "content.text"),
                   ("via", "via"), ("about", "about"), ("sources", "source_count"), ("url", "url")],
    "articles": [("time", "@timestamp"), ("feed", "feed"), ("title", "title"), ("countries", "countries"),
                 ("persons", "persons"), ("url", "url")],
    "events": [("time", "@timestamp"), ("type", "type"), ("trigger", "trigger.text"), ("location", "location.name"),
               ("countries", "countries"), ("url", "url")],
    "alerts": [("time", "@timestamp"), ("rule", "rule"), ("kind", "kind"), ("message", "message"),
               ("record", "record_id")],
    "dead-letters": [("time", "@timestamp"), ("stage", "stage"), ("error", "error"), ("topic", "topic"),
                     ("offset", "offset"), ("key", "key")],
}


def _get(doc: dict, paths: str):
    for path in paths.split("|"):
        value: Any = doc
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value not in (None, "", []):
            return value
    return None


@app.command()
@exit_on_config_errors
def search(query: str = typer.Argument(..., help="Lucene query, e.g. 'speaker.name:\"Vladimir Putin\" AND about:SY'."),
           kind: str = typer.Option("statements", "--kind", "-k", help="statements, articles, events, alerts or dead-letters."),
           size: int = typer.Option(20, "--size", "-n", help="Number of results (newest first).")) -> None:
    """Search the indices with Lucene query syntax and print a table, newest first."""
    from rich.console import Console
    from rich.table import Table

    from newsmon.search import search as run_search

    from elasticsearch import ApiError, TransportError

    settings = stack_settings(("elasticsearch",))
    try:
        total, docs = run_search(settings, query, kind=kind, size=size)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    except ApiError as exc:
        reason = exc.body.get("error", {}).get("root_cause", [{}])[0].get("reason") if isinstance(exc.body, dict) else None
        typer.secho(f"search failed ({exc.meta.status}): {reason or exc.message}", fg="red", err=True)
        raise typer.Exit(1) from None
    except TransportError as exc:
        typer.secho(f"Elasticsearch at {settings.elasticsearch_url} is unreachable: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    table = Table(title=f"{kind}: {total} match {query!r}" + (f" (newest {len(docs)})" if total > len(docs) else ""))
    widths = {"quote": 80, "title": 60, "message": 60, "error": 80, "url": 50}
    for header, _ in COLUMNS[kind]:
        table.add_column(header, overflow="fold")
    for doc in docs:
        table.add_row(*(_cell(_get(doc, path), widths.get(header, 30)) for header, path in COLUMNS[kind]))
    Console().print(table)


@app.command()
@exit_on_config_errors
def status() -> None:
    """Show consumer-group lag per topic and document counts per index."""
    from rich.console import Console
    from rich.table import Table

    from newsmon.status import index_counts, topic_lag, topic_sizes

    from newsmon.status import server_names

    settings = stack_settings()
    console = Console()
    kafka, elasticsearch = server_names(settings)
    console.print(f"broker: {kafka}\nsearch: {elasticsearch}")
    topics = Table(title="topics")
    for col in ("topic", "end offset (sum)"):
        topics.add_column(col)
    for topic, size in topic_sizes(settings).items():
        topics.add_row(topic, str(size))
    console.print(topics)
    lag = Table(title="consumer lag")
    for col in ("group", "topic", "committed", "end", "lag"):
        lag.add_column(col)
    for row in topic_lag(settings):
        lag.add_row(row.group, row.topic, str(row.committed), str(row.end), str(row.lag))
    console.print(lag)
    counts = Table(title="indices")
    for col in ("index", "documents"):
        counts.add_column(col)
    for index, count in index_counts(settings).items():
        counts.add_row(index, "missing" if count is None else str(count))
    console.print(counts)


# --- everything together -----------------------------------------------------------------------------


@app.command()
@exit_on_config_errors
def up(demo: bool = typer.Option(False, "--demo", help="Also serve and poll a local feed of the three seed articles."),
       stack: str = typer.Option("auto", "--stack", help="Local servers when no endpoints are set: apache (Apache "
                                 "Kafka + Elasticsearch, needs Java 17+ and Maven), lite (pip-installed stand-ins), "
                                 "or auto (apache where it can run, else lite)."),
       loglevel: str = LOGLEVEL) -> None:
    """Run producer, processor, sink (and the notifier, when rules are set) together; Ctrl-C stops all.

    With neither KAFKA_BOOTSTRAP_SERVERS nor ELASTICSEARCH_URL set, local servers are started (see
    --stack) and recorded in the data directory, so other commands find them.
    """
    from newsmon.alerts.rules import RuleError
    from newsmon.servers.lite import LocalStackError
    from newsmon.stack import Stack
    from newsmon.producers.config import FeedConfigError

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, `kill`, container stop: the same clean stop
        signal.signal(signum, interrupt)
    setup_logging(loglevel)
    from newsmon import metrics

    # the processor child counts into the same files; per `up` process, so two never mix
    metrics.use_multiprocess(get_settings().data_dir / "metrics" / str(os.getpid()))
    try:
        with Stack(get_settings(), demo=demo, loglevel=loglevel, say=typer.echo, stack=stack) as running:
            running.wait()
    except (FeedConfigError, LocalStackError, RuleError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None


if __name__ == "__main__":  # pragma: no cover
    app()
