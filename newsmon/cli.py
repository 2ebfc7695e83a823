"""The `newsmon` command line. Each stage's commands live next to the stage; this mounts them."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

import typer

from newsmon.alerts_cli import app as alerts_app
from newsmon.bench.cli import app as bench_app
from newsmon.clierrors import check_settings, exit_on_config_errors, refuse
from newsmon.console import console as output_console
from newsmon.endpoints import NoStackError, resolve
from newsmon.logs import setup_logging
from newsmon.secrets import redact
from newsmon.settings import Settings, get_settings
from newsmon.processors.extraction.cli import extract
from newsmon.processors.extraction.evaluate import eval_app
from newsmon.processors.extraction.evaluate_events import events_command
from newsmon.processors.extraction.evaluate_languages import languages as eval_languages
from newsmon.producers.cli import produce

app = typer.Typer(help="newsmon: streaming news monitor (RSS -> Kafka -> spaCy/Faust -> Elasticsearch, alerts).",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)

app.command("extract")(extract)
app.command("produce")(produce)
eval_app.command("events")(events_command)
eval_app.command("languages")(eval_languages)
app.add_typer(eval_app, name="eval", help="Measure extraction quality on annotated corpora.")
app.add_typer(bench_app, name="bench", help="Benchmarks: each prints a ratio against a baseline measured in the same run.")
app.add_typer(alerts_app, name="alerts", help="Alert rules: validate, try offline, list recent alerts.")

log = logging.getLogger("newsmon")


@app.callback()
def main() -> None:
    """Every command starts by validating every setting: a bad one is refused with one line (the variable,
    its value, what is expected) before anything runs."""
    if not any(arg in ("--help", "-h") for arg in sys.argv[1:]):
        check_settings()

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
                                    help="How long to wait for each server to answer before giving up."),
         reindex: bool = typer.Option(False, "--reindex",
                                      help="Rebuild indices made by an older newsmon whose mapping falls short of "
                                           "the templates (stop the stack first).")) -> None:
    """Wait for Kafka and Elasticsearch, create the topics (configured partition count) and the index
    templates (and import Kibana's saved objects with --kibana), then exit. Idempotent.

    A template applies to indices created after it: an index made by an older newsmon keeps its mapping
    (e.g. names and codes matched case-sensitively) until `--reindex` rebuilds it from the template."""
    from newsmon.kibana import KibanaError, import_saved_objects
    from newsmon.readiness import ServerUnavailable, wait_for_stack
    from newsmon.indices import INDICES, RebuildError, ensure_templates, make_client, rebuild, stale_indices
    from newsmon.retention import retention_summary
    from newsmon.topics import ensure_topics

    settings = stack_settings()
    try:
        wait_for_stack(settings, timeout_s=wait, say=typer.echo)
        topics = ensure_topics(settings, timeout=wait)
        client = make_client(settings)
        ensure_templates(settings, client)
        typer.echo(f"topics ready ({settings.partitions} partitions): {', '.join(topics)}; index templates ready")
        typer.echo(retention_summary(settings, client))
        for index, fields in stale_indices(settings, client).items():
            short = next(s for s in sorted(INDICES, key=len, reverse=True) if index.startswith(settings.index(s)))
            if reindex:
                count = rebuild(settings, index, short, _with_aliases(short), client)
                typer.echo(f"{index}: rebuilt from its template ({count} documents)")
            else:
                typer.secho(f"{index} was made by an older newsmon: {', '.join(fields)} do not search as the "
                            f"template says (e.g. case-insensitively); run `newsmon init --reindex` with the stack "
                            f"stopped to rebuild it", fg="yellow", err=True)
        if kibana:
            count = import_saved_objects(kibana, settings, wait_s=wait, say=typer.echo)
            typer.echo(f"Kibana at {kibana}: {count} saved objects imported (dashboard \"newsmon: overview\")")
    except (ServerUnavailable, KibanaError, RebuildError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None


def _with_aliases(short: str):
    """A rebuilt document as newer records carry it: the gazetteer's other spellings of its actors (which
    the templates copy into the name fields) added from the actors' ids."""
    from newsmon.processors.extraction.conversion import aliases

    def ids(items) -> list:
        return [i.get("id") for i in items or [] if isinstance(i, dict)]

    def add(doc: dict) -> dict:
        if short == "statements":
            doc.setdefault("speaker_aliases", aliases(ids([doc.get("speaker")])))
        elif short == "events":
            doc.setdefault("actor_aliases", aliases(ids(doc.get("actors"))))
            doc.setdefault("target_aliases", aliases(ids(doc.get("targets"))))
        elif short == "articles":
            doc.setdefault("entity_aliases", aliases(ids(doc.get("entities"))))
        return doc
    return add


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
    from newsmon.indices import make_client

    gone = run_prune(settings, period, make_client(settings), delete=yes)
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
    "events": [("time", "@timestamp"), ("type", "type"), ("actors", "actors.name|actors.text"),
               ("trigger", "trigger.text"), ("targets", "targets.name|targets.text"), ("location", "location.name"),
               ("countries", "countries"), ("sources", "source_count"), ("url", "url")],
    "alerts": [("time", "@timestamp"), ("rule", "rule"), ("kind", "kind"), ("message", "message"),
               ("record", "record_id")],
    "dead-letters": [("time", "@timestamp"), ("stage", "stage"), ("error", "error"), ("topic", "topic"),
                     ("offset", "offset"), ("key", "key")],
}


def _get(doc: dict, paths: str):
    """The first non-empty of `|`-separated dotted paths; a path through a list (`actors.name`) gives the
    list of each item's value."""
    for path in paths.split("|"):
        value = _at(doc, path.split("."))
        if value not in (None, "", []):
            return value
    return None


def _at(value: Any, parts: list[str]) -> Any:
    if not parts:
        return value
    if isinstance(value, list):
        found = [_at(item, parts) for item in value]
        return [v for v in found if v not in (None, "", [])]
    return _at(value.get(parts[0]), parts[1:]) if isinstance(value, dict) else None


@app.command()
@exit_on_config_errors
def search(query: str = typer.Argument(..., help="Lucene query, e.g. 'speaker.name:\"Vladimir Putin\" AND about:SY'."),
           kind: str = typer.Option("statements", "--kind", "-k", help="statements, articles, events, alerts or dead-letters."),
           size: int = typer.Option(20, "--size", "-n", help="Number of results (newest first)."),
           unfold: bool = typer.Option(False, "--all", help="Also list the later copies of a statement or event "
                                       "(folded into their first sighting by default).")) -> None:
    """Search the indices with Lucene query syntax and print a table, newest first. Statements and events
    that repeat an earlier one are folded into it (its `sources`), unless --all."""
    from rich.table import Table

    from newsmon.search import search as run_search, validate
    from newsmon.vocabulary import review

    from elasticsearch import ApiError, TransportError

    try:  # checked as `alerts check` checks a rule, before finding the stack: a misspelt field is an error
        compiled = validate(query, kind)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if compiled is not None:
        from newsmon.alerts.query import fields_for

        for finding in review(compiled, fields_for(kind)):
            typer.secho(f"{'warning' if finding.warning else 'note'}: {finding}", err=True,
                        fg="yellow" if finding.warning else None)
    settings = stack_settings(("elasticsearch",))
    try:
        total, docs = run_search(settings, query, kind=kind, size=size, folded=not unfold)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    except ApiError as exc:
        reason = exc.body.get("error", {}).get("root_cause", [{}])[0].get("reason") if isinstance(exc.body, dict) else None
        typer.secho(f"search failed ({exc.meta.status}): {reason or exc.message}", fg="red", err=True)
        raise typer.Exit(1) from None
    except TransportError as exc:
        typer.secho(redact(f"Elasticsearch at {settings.elasticsearch_url} is unreachable: {exc}"), fg="red", err=True)
        raise typer.Exit(1) from None
    table = Table(title=f"{kind}: {total} match {query!r}" + (f" (newest {len(docs)})" if total > len(docs) else ""))
    widths = {"quote": 80, "title": 60, "message": 60, "error": 80, "url": 50, "actors": 60, "targets": 40}
    columns = COLUMNS[kind] + ([("repeats", "first_id")] if unfold and kind in ("statements", "events") else [])
    for header, _ in columns:
        table.add_column(header, overflow="fold")
    for doc in docs:
        table.add_row(*(_cell(_get(doc, path), widths.get(header, 30)) for header, path in columns))
    output_console().print(table)


@app.command()
@exit_on_config_errors
def status(lag: bool = typer.Option(False, "--lag", help="Also show each consumer group's offsets per topic.")) -> None:
    """Show the stages of `newsmon up` and their states, each feed's last poll, and per stream how many
    records there are and how many wait to be consumed."""
    from rich.table import Table

    from newsmon.status import index_counts, server_names, stream_rows, topic_lag, topic_sizes

    settings = stack_settings()
    console = output_console()
    kafka, elasticsearch = server_names(settings)
    console.print(f"broker: {kafka}\nsearch: {elasticsearch}", highlight=False)
    _print_stages(console, settings.data_dir)
    _print_feeds(console, settings.data_dir)
    lags = topic_lag(settings)
    streams = Table(title="streams (each counted once: documents where indexed, else records in its topic)")
    for col in ("stream", "count", "counted in", "waiting (consumer group: records not yet consumed)"):
        streams.add_column(col)
    for row in stream_rows(settings, topic_sizes(settings), index_counts(settings), lags):
        streams.add_row(row.stream, "missing" if row.count is None else str(row.count), row.where,
                        ", ".join(f"{group}: {n}" for group, n in row.waiting.items()) or "-")
    console.print(streams)
    if lag:
        details = Table(title="consumer lag")
        for col in ("group", "topic", "committed", "end", "lag"):
            details.add_column(col)
        for one in lags:
            details.add_row(one.group, one.topic, str(one.committed), str(one.end), str(one.lag))
        console.print(details)


def _when(epoch: float | None) -> str:
    """`14:02:11` today, else `2026-12-02 14:02`."""
    if not epoch:
        return "-"
    local = time.localtime(epoch)
    return time.strftime("%H:%M:%S" if local[:3] == time.localtime()[:3] else "%Y-%m-%d %H:%M", local)


def _print_stages(console, data_dir: Path) -> None:
    from rich.table import Table

    from newsmon.supervisor import read_board

    board = read_board(data_dir)
    if board is None:
        console.print(f"stages: no `newsmon up` has run on {data_dir} (a single stage reports on its /healthz)")
        return
    title = (f"stages of newsmon up (pid {board.get('pid')})" if board["live"] else
             f"stages of the last newsmon up (pid {board.get('pid')}, no longer running; last update "
             f"{_when(board.get('updated'))})")
    table = Table(title=title)
    for col in ("stage", "state", "since", "restarts", "last error", "next try"):
        table.add_column(col)
    for name, stage in board.get("stages", {}).items():
        state = stage.get("state", "?") if board["live"] or stage.get("state") == "failed" else "stopped"
        table.add_row(name, state, _when(stage.get("since")), str(stage.get("restarts", 0)),
                      stage.get("last_error") or "", _when(stage.get("next_try")) if stage.get("next_try") else "")
    console.print(table)


def _print_feeds(console, data_dir: Path) -> None:
    from rich.table import Table

    from newsmon.producers.seen import read_polls

    polls = read_polls(data_dir)
    if not polls:
        console.print(f"feeds: none polled yet by a producer on {data_dir}")
        return
    table = Table(title="feeds (as the producer last recorded them)")
    for col in ("feed", "last poll", "outcome", "detail", "failures in a row", "next try"):
        table.add_column(col)
    for p in polls:
        table.add_row(p.feed, _when(p.polled_at), p.outcome, p.detail, str(p.failures), _when(p.next_poll_at))
    console.print(table)


# --- everything together -----------------------------------------------------------------------------


@app.command()
@exit_on_config_errors
def up(demo: bool = typer.Option(False, "--demo", help="Serve and poll a local feed of the three seed articles "
                                  "(only that feed, unless --feeds or NEWSMON_FEEDS_FILE names others)."),
       feeds: Optional[Path] = typer.Option(None, "--feeds", metavar="FILE",
                                            help="Feed list (YAML) to poll; default: NEWSMON_FEEDS_FILE, else the "
                                                 "bundled producers/feeds.yaml (none with --demo)."),
       rules: Optional[Path] = typer.Option(None, "--rules", metavar="FILE",
                                            help="Alert rules (YAML); default: NEWSMON_RULES_FILE (the demo rules "
                                                 "with --demo)."),
       stack: str = typer.Option("auto", "--stack", help="Local servers when no endpoints are set: apache (Apache "
                                 "Kafka + Elasticsearch, needs Java 17+ and Maven), lite (pip-installed stand-ins), "
                                 "or auto (apache where it can run, else lite)."),
       loglevel: str = LOGLEVEL) -> None:
    """Run producer, processor, sink (and the notifier, when rules are set) together; Ctrl-C stops all.

    With neither KAFKA_BOOTSTRAP_SERVERS nor ELASTICSEARCH_URL set, local servers are started (see
    --stack) and recorded in the data directory, so other commands find them.
    """
    from newsmon.servers.lite import LocalStackError
    from newsmon.settings import ConfigurationError
    from newsmon.stack import Stack
    from newsmon.supervisor import StageFailed

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, `kill`, container stop: the same clean stop
        signal.signal(signum, interrupt)
    setup_logging(loglevel)
    from newsmon import metrics

    # the processor child counts into the same files; per `up` process, so two never mix
    metrics.use_multiprocess(get_settings().data_dir / "metrics" / str(os.getpid()))
    settings = get_settings()
    try:
        feed_list = None
        if feeds is not None:
            from newsmon.producers.config import load_feeds

            feed_list = load_feeds(feeds)
        if rules is not None:
            settings = settings.model_copy(update={"rules_file": _existing(rules, "--rules")})
        with Stack(settings, demo=demo, loglevel=loglevel, say=typer.echo, stack=stack, feeds=feed_list) as running:
            running.wait()
    except StageFailed as exc:
        refuse(f"newsmon up stopped: {exc}")
    except (ConfigurationError, LocalStackError) as exc:
        refuse(str(exc))


def _existing(path: Path, option: str) -> Path:
    """`path` when it is a file, else a one-line refusal naming the option."""
    if not path.is_file():
        refuse(f"{option} {path}: {'no such file' if not path.exists() else 'not a file'}")
    return path


if __name__ == "__main__":  # pragma: no cover
    app()
