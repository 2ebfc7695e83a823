"""The broker and search server a benchmark runs on: the configured ones, else local servers started for it.

Benchmarks measure newsmon on the engines it runs on in production, so the default is the same
choice `newsmon up` makes (`apache` where Java and Maven are found, else the `lite` stand-ins). The
servers live in the benchmark's temporary directory and are stopped (and their files removed) after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from newsmon.servers import choose, describe, make_broker, make_search, start_all
from newsmon.settings import Settings


@contextmanager
def bench_servers(settings: Settings, stack: str, tmp: Path, search: bool = True) -> Iterator[dict[str, Any]]:
    """Yield settings updates naming a broker (and, if `search`, a search server); local ones are stopped after."""
    updates: dict[str, Any] = {}
    started = []
    need_broker = not settings.kafka_bootstrap_servers
    need_search = search and not settings.elasticsearch_url
    if need_broker or need_search:
        kind = choose(stack, say=typer.echo)
        if need_broker:
            started.append(make_broker(kind, tmp, say=lambda _: None))
        if need_search:
            started.append(make_search(kind, tmp, say=lambda _: None))
    try:
        if started:
            start_all(*started)
            typer.echo("servers: " + "; ".join(describe(s) for s in started))
        for server in started:
            if hasattr(server, "bootstrap"):
                updates["kafka_bootstrap_servers"] = server.bootstrap
            else:
                updates["elasticsearch_url"] = server.url
        yield updates
    finally:
        for server in started:
            server.stop()
            discard = getattr(server, "discard", None)
            if discard is not None:
                discard()  # Elasticsearch's files outside the temporary directory (run as its own user)
