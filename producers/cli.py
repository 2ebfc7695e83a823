"""`newsmon produce`: poll the feeds and publish new items to the raw topic."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Optional

import typer

from newsmon.clierrors import exit_on_config_errors
from newsmon.endpoints import NoStackError, resolve
from newsmon.secrets import redact
from newsmon.settings import Settings, get_settings
from newsmon.topics import ensure_topics
from newsmon.producers.config import FeedConfigError, load_feeds
from newsmon.producers.poller import poll_once, run


@exit_on_config_errors
def produce(
    feeds: Optional[Path] = typer.Option(None, "--feeds",
                               help="Feed list (YAML); default: NEWSMON_FEEDS_FILE or producers/feeds.yaml."),
    once: bool = typer.Option(False, "--once", help="Poll every feed once, print what happened, exit."),
    demo: bool = typer.Option(False, "--demo", help="Also serve and poll a local feed of the three seed articles."),
    no_default_feeds: bool = typer.Option(False, "--demo-only", help="With --demo: poll only the demo feed."),
    loglevel: str = typer.Option("info", "--loglevel", help="Log level: debug, info, warning, error."),
) -> None:
    """Poll RSS feeds and publish new articles to the raw topic (Ctrl-C stops)."""
    from newsmon.health import serve_stage
    from newsmon.logs import setup_logging

    setup_logging(loglevel)
    settings = _settings()
    try:
        feed_list = [] if (demo and no_default_feeds) else load_feeds(feeds or settings.feeds_file)
    except FeedConfigError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    server = None
    if demo:
        from newsmon.producers.demo import serve_demo

        server = serve_demo()
        feed_list.append(server.feed())
        settings = server.settings(settings)
        typer.echo(f"demo feed of the seed articles at {server.feed_url}", err=True)
    try:
        ensure_topics(settings)
        if once:
            report = poll_once(settings, feed_list)
            for r in report.feeds.values():
                typer.echo(f"{r.feed:<24} {redact(r.describe())}")
            typer.echo(f"published {report.published}, already seen {report.seen}, "
                       f"malformed entries {report.rejected}, failed feeds {len(report.errors)} of {len(feed_list)}")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        observed = serve_stage(settings, "produce")
        try:
            run(settings, feed_list, stop)
        finally:
            if observed is not None:
                observed.stop()
    finally:
        if server is not None:
            server.stop()


def _settings() -> Settings:
    """Settings with the broker resolved: KAFKA_BOOTSTRAP_SERVERS, else the running local stack."""
    settings = get_settings()
    if settings.kafka_bootstrap_servers:
        return settings
    try:
        return resolve(settings)
    except NoStackError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None


