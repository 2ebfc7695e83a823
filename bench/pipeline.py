"""`newsmon bench pipeline`: articles/s through the whole pipeline vs plain `nlp.pipe`, measured in one run.

Pipeline: raw topic -> Faust worker (one process, extraction in one thread) -> output topics -> sink ->
Elasticsearch, on the local stand-ins. Baseline: `nlp.pipe` over the same texts with the same pipeline
in one process, measured before and after the pipeline run (their mean, to even out machine load).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import typer

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "polnear" / "train" / "text"


def load_raws(corpus: Path, limit: int) -> list:
    """The corpus texts as raw articles (first line = title), in file-name order."""
    from newsmon.records import RawArticle, stable_id

    paths = sorted(corpus.glob("*.txt"))[:limit]
    if not paths:
        raise typer.BadParameter(f"no .txt files in {corpus}")
    raws = []
    for path in paths:
        title, _, body = path.read_text(encoding="utf-8").strip().partition("\n")
        raws.append(RawArticle(id=stable_id("bench", path.name), feed="bench", url=f"http://bench.local/{path.stem}",
                               title=title[:300], content=body.strip(), content_source="feed"))
    return raws


def baseline_rate(nlp, texts: list[str], batch_size: int) -> tuple[float, float]:
    """(articles/s, articles per CPU-second) of plain `nlp.pipe` over `texts`."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in nlp.pipe(texts, batch_size=batch_size):
        pass
    return len(texts) / (time.perf_counter() - start), len(texts) / (time.process_time() - cpu)


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) used so far by process `pid` (Linux /proc), None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _count(client, index: str) -> int:
    return client.count(index=index)["count"]  # no forced refresh: the index refreshes itself every second


def pipeline_rate(settings, raws: list, timeout_s: float) -> tuple[float, float | None]:
    """(articles/s from the first raw record sent until the last article is indexed, worker already warm;
    CPU seconds the worker process used meanwhile)."""
    from newsmon.kafka import make_producer
    from newsmon.records import RawArticle
    from newsmon.stack import spawn_processor, stop_processor
    from newsmon.streams import RAW
    from newsmon.topics import ensure_topics
    from newsmon.sinks.consumer import run as run_sink
    from newsmon.indices import ensure_templates, make_client

    ensure_topics(settings)
    client = make_client(settings)
    ensure_templates(settings, client)
    articles = settings.index("articles")
    stop = threading.Event()
    sink = threading.Thread(target=run_sink, args=(settings, stop), daemon=True)
    sink.start()
    proc = spawn_processor(settings, os.environ.get("NEWSMON_BENCH_LOGLEVEL", "warning"))
    producer = make_producer(settings, acks="all", linger_ms=5)
    try:
        warm = RawArticle(id="bench-warmup", feed="bench", url="http://bench.local/warmup", title="Warm-up",
                          content="Vladimir Putin spoke with Hassan Rouhani about Syria.")
        producer.send(RAW.topic(settings), **RAW.message(warm)).get(30)
        _wait(lambda: _count(client, articles) >= 1, timeout_s, "the warm-up article")
        start, cpu = time.perf_counter(), cpu_seconds(proc.pid)
        for raw in raws:
            producer.send(RAW.topic(settings), **RAW.message(raw))
        producer.flush()
        _wait(lambda: _count(client, articles) >= len(raws) + 1, timeout_s, f"{len(raws)} articles", step=0.25)
        rate = len(raws) / (time.perf_counter() - start)
        end_cpu = cpu_seconds(proc.pid)
        return rate, (end_cpu - cpu) if cpu is not None and end_cpu is not None else None
    finally:
        producer.close()
        stop_processor(proc)
        stop.set()
        sink.join(30)


def _wait(predicate, timeout_s: float, what: str, step: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"pipeline did not deliver {what} within {timeout_s:.0f}s")
        time.sleep(step)


def command(corpus: Path = typer.Option(DEFAULT_CORPUS, help="Directory of .txt articles."),
            limit: int = typer.Option(120, help="Number of articles."),
            relevant_only: bool = typer.Option(False, "--relevant-only",
                                               help="Only articles that pass the watchlist gate, so the pipeline "
                                                    "parses every text too (measures pure pipeline overhead)."),
            timeout: float = typer.Option(900, help="Give up after this many seconds per stage.")) -> None:
    """Articles/s through the whole pipeline vs plain nlp.pipe on the same texts and model (target >= 0.8).

    The pipeline's extraction skips the parse of articles that mention no watchlist term; plain nlp.pipe
    parses everything. `--relevant-only` compares on texts both parse.
    """
    import logging
    import uuid

    from newsmon.servers.lite import LocalBroker, LocalSearch
    from newsmon.settings import get_settings
    from newsmon.processors.extraction import load_pipeline

    logging.basicConfig(level=logging.WARNING)
    settings = get_settings()
    nlp = load_pipeline(settings)
    relevance = nlp.get_pipe("newsmon_relevance")
    raws = load_raws(corpus, 10**9 if relevant_only else limit)
    if relevant_only:
        raws = [raw for raw in raws if relevance.assess(raw.text)[1]][:limit]
    texts = [raw.text for raw in raws]
    words = sum(len(t.split()) for t in texts)
    gated = sum(1 for t in texts if relevance.assess(t)[1])
    typer.echo(f"corpus: {len(raws)} articles, {words} words from {corpus}; {gated} pass the watchlist gate "
               f"(the pipeline parses those, nlp.pipe parses all)")
    typer.echo(f"model: {nlp.meta.get('lang')}_{nlp.meta.get('name')} {nlp.meta.get('version')}, "
               f"pipes {', '.join(nlp.pipe_names)}")
    before, before_cpu = baseline_rate(nlp, texts, settings.processor_batch_size)
    typer.echo(f"baseline nlp.pipe (1 process): {before:.2f} articles/s")
    name = "bench" + uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="newsmon-bench-") as tmp:
        broker = search = None
        try:
            updates = {"topic_prefix": name, "index_prefix": name, "data_dir": Path(tmp) / "data"}
            if not settings.kafka_bootstrap_servers:
                broker = LocalBroker(Path(tmp) / "tansu").start()
                updates["kafka_bootstrap_servers"] = broker.bootstrap
            if not settings.elasticsearch_url:
                search = LocalSearch(Path(tmp) / "noida").start()
                updates["elasticsearch_url"] = search.url
            rate, worker_cpu = pipeline_rate(settings.model_copy(update=updates), raws, timeout)
        finally:
            for service in (broker, search):
                if service is not None:
                    service.stop()
    typer.echo(f"pipeline raw -> Faust -> topics -> sink -> Elasticsearch: {rate:.2f} articles/s")
    after, after_cpu = baseline_rate(nlp, texts, settings.processor_batch_size)
    typer.echo(f"baseline nlp.pipe again: {after:.2f} articles/s")
    base = (before + after) / 2
    ratio = rate / base
    if worker_cpu:
        base_cpu = (before_cpu + after_cpu) / 2
        worker = len(raws) / worker_cpu
        typer.echo(f"per CPU-second (insensitive to machine load): worker {worker:.2f}, nlp.pipe {base_cpu:.2f} "
                   f"articles, ratio {worker / base_cpu:.2f}")
    typer.echo(f"ratio pipeline / nlp.pipe = {rate:.2f} / {base:.2f} = {ratio:.2f} (target >= 0.8: "
               f"{'met' if ratio >= 0.8 else 'NOT met'})")
