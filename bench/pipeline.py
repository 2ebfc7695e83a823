"""`newsmon bench pipeline`: articles/s through the whole pipeline vs plain `nlp.pipe`, measured in one run.

Pipeline: raw topic -> Faust worker(s) (one process each, extraction in one thread) -> output topics ->
sink -> Elasticsearch, on the configured servers or local ones (`--stack`, as `newsmon up` chooses). Baseline: `nlp.pipe` over the same texts with the same pipeline
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


def pipeline_rate(settings, raws: list, timeout_s: float, workers: int = 1) -> tuple[float, float | None]:
    """(articles/s from the first raw record sent until the last article is indexed, workers already warm;
    CPU seconds the worker processes used meanwhile).

    With several workers the measurement starts only once each holds partitions, and every worker has
    extracted a warm-up article (one per partition), so no rebalance or model load falls inside it.
    """
    from newsmon.kafka import make_producer
    from newsmon.processors.app import app_id
    from newsmon.records import RawArticle
    from newsmon.stack import spawn_processor, stop_processor
    from newsmon.status import group_assignments
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
    loglevel = os.environ.get("NEWSMON_BENCH_LOGLEVEL", "warning")
    procs = [spawn_processor(settings, loglevel) for _ in range(workers)]
    producer = make_producer(settings, acks="all", linger_ms=5)
    try:
        _wait(lambda: len(a := group_assignments(settings, app_id(settings), RAW)) == workers and all(a.values()), timeout_s,
              f"partitions for {workers} worker(s)")
        for partition in range(settings.partitions):
            warm = RawArticle(id=f"bench-warmup-{partition}", feed="bench", url=f"http://bench.local/warmup/{partition}",
                              title="Warm-up", content="Vladimir Putin spoke with Hassan Rouhani about Syria.")
            producer.send(RAW.topic(settings), **RAW.message(warm), partition=partition).get(30)
        _wait(lambda: _count(client, articles) >= settings.partitions, timeout_s, "the warm-up articles")
        start, cpu = time.perf_counter(), _cpu(procs)
        for raw in raws:
            producer.send(RAW.topic(settings), **RAW.message(raw))
        producer.flush()
        _wait(lambda: _count(client, articles) >= len(raws) + settings.partitions, timeout_s,
              f"{len(raws)} articles", step=0.25)
        rate = len(raws) / (time.perf_counter() - start)
        end_cpu = _cpu(procs)
        return rate, (end_cpu - cpu) if cpu is not None and end_cpu is not None else None
    finally:
        producer.close()
        for proc in procs:
            stop_processor(proc)
        stop.set()
        sink.join(30)


def _cpu(procs) -> float | None:
    used = [cpu_seconds(proc.pid) for proc in procs]
    known = [u for u in used if u is not None]
    return sum(known) if len(known) == len(used) else None


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
            workers: str = typer.Option("1", help="Faust worker processes, e.g. `1,2` runs once per count."),
            stack: str = typer.Option("auto", help="Local servers when none are configured: apache, lite or auto."),
            timeout: float = typer.Option(900, help="Give up after this many seconds per stage.")) -> None:
    """Articles/s through the whole pipeline vs plain nlp.pipe on the same texts and model (target >= 0.8).

    The pipeline's extraction skips the parse of articles that mention no watchlist term; plain nlp.pipe
    parses everything. `--relevant-only` compares on texts both parse. With `--workers 1,2` the same
    articles go through one and then two worker processes (a fresh topic set each), and the speed-up
    of each count over one worker is printed too.
    """
    import logging
    import uuid

    from newsmon.bench.servers import bench_servers
    from newsmon.processors.extraction import load_pipeline
    from newsmon.processors.extraction.relevance import RelevanceGate
    from newsmon.settings import get_settings

    counts = _counts(workers)
    logging.basicConfig(level=logging.WARNING)
    settings = get_settings()
    nlp = load_pipeline(settings)
    relevance = nlp.get_pipe("newsmon_relevance")
    assert isinstance(relevance, RelevanceGate), "the pipeline has no watchlist gate"
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
    rates: dict[int, tuple[float, float | None]] = {}
    with tempfile.TemporaryDirectory(prefix="newsmon-bench-") as tmp:
        with bench_servers(settings, stack, Path(tmp)) as servers:
            for count in counts:
                name = "bench" + uuid.uuid4().hex[:8]
                run = settings.model_copy(update={**servers, "topic_prefix": name, "index_prefix": name,
                                                  "data_dir": Path(tmp) / name})
                rates[count] = pipeline_rate(run, raws, timeout, workers=count)
                typer.echo(f"pipeline raw -> Faust ({count} worker{'s' if count > 1 else ''}) -> topics -> sink -> "
                           f"Elasticsearch: {rates[count][0]:.2f} articles/s")
    after, after_cpu = baseline_rate(nlp, texts, settings.processor_batch_size)
    typer.echo(f"baseline nlp.pipe again: {after:.2f} articles/s")
    base, base_cpu = (before + after) / 2, (before_cpu + after_cpu) / 2
    for count, (rate, worker_cpu) in rates.items():
        label = f"{count} worker{'s' if count > 1 else ''}"
        if worker_cpu:
            worker = len(raws) / worker_cpu
            typer.echo(f"{label}, per CPU-second (insensitive to machine load): workers {worker:.2f}, "
                       f"nlp.pipe {base_cpu:.2f} articles, ratio {worker / base_cpu:.2f}")
        ratio = rate / base
        typer.echo(f"{label}: ratio pipeline / nlp.pipe = {rate:.2f} / {base:.2f} = {ratio:.2f} (target >= 0.8: "
                   f"{'met' if ratio >= 0.8 else 'NOT met'})")
        if count != counts[0] and counts[0] in rates:
            typer.echo(f"{label}: speed-up over {counts[0]} = {rate / rates[counts[0]][0]:.2f}")


def _counts(workers: str) -> list[int]:
    try:
        counts = [int(part) for part in workers.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise typer.BadParameter(f"--workers takes worker counts such as `1` or `1,2`, not {workers!r}")
    return counts
