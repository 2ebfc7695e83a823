"""`newsmon bench alerts`: alert latency through the pipeline, and the cost of 1,000 rules per record.

1. Rule cost: the corpus articles are extracted (the baseline: extraction time per statement), then
   every extracted statement is matched against N generated rules (`RuleSet.match`, as the stream
   does). Printed: evaluation time per statement, and its ratio to extraction time per statement
   (target < 0.10).
2. Latency: articles, each quoting Vladimir Putin, are published to the raw topic at a steady rate;
   a Faust worker (extraction, novelty, rules) and the notifier deliver the alerts to a local HTTP
   receiver (apprise `json://`). Printed: p50 and p99 from the publish to the receiver (target p99
   < 2 s), and the ratio to the same steps run in-process without the broker (extraction, rules,
   delivery to the same receiver), measured in the same run.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import typer

from newsmon.bench.pipeline import DEFAULT_CORPUS, load_raws

SPEAKERS = ["Vladimir Putin", "Hassan Rouhani", "Sergei Lavrov", "Mohammad Javad Zarif", "Bashar al-Assad",
            "Recep Tayyip Erdogan", "Donald Trump", "Barack Obama", "John Kerry", "Angela Merkel",
            "Emmanuel Macron", "Ali Khamenei", "Staffan de Mistura", "Antonio Guterres", "Ban Ki-moon"]
CODES = ["SY", "IR", "RU", "US", "TR", "IQ", "IL", "SA", "KZ", "GB", "FR", "DE", "UA", "LB", "JO"]


def generate_rules(n: int, vocabulary: list[str], seed: int = 1) -> str:
    """A rules YAML document of `n` varied rules: speakers, countries, terms, phrases, wildcards, ranges, NOT."""
    rng = random.Random(seed)
    word = lambda: rng.choice(vocabulary)  # noqa: E731
    shapes = [
        lambda: f'speaker.name:"{rng.choice(SPEAKERS)}" AND about:{rng.choice(CODES)}',
        lambda: f'speaker.name:"{rng.choice(SPEAKERS)}" AND content.text:({word()} OR {word()})',
        lambda: f'content.text:"{word()} {word()}"',
        lambda: f"{word()} AND {word()} AND NOT kind:indirect",
        lambda: f"about:({rng.choice(CODES)} OR {rng.choice(CODES)}) AND {word()}",
        lambda: f"speaker.country:{rng.choice(CODES)} AND content.text:{word()[:4]}*",
        lambda: f"countries:{rng.choice(CODES)} AND source_count:>=2 AND {word()}",
        lambda: f'{word()} AND @timestamp:[now-7d TO now] AND NOT speaker.name:"{rng.choice(SPEAKERS)}"',
        lambda: f"+{word()} +{word()} -{word()}",
        lambda: f'(speaker.name:"{rng.choice(SPEAKERS)}" OR speaker.name:"{rng.choice(SPEAKERS)}") AND {word()}',
    ]
    lines = ["rules:"]
    for i in range(n):
        query = shapes[i % len(shapes)]().replace("'", "''")
        lines += [f"  - name: r{i:04d}", f"    query: '{query}'"]
    return "\n".join(lines) + "\n"


def rule_cost(nlp, raws: list, n_rules: int) -> dict:
    """Extraction time per statement vs matching every statement against `n_rules` rules."""
    from newsmon.alerts.rules import parse_rules
    from newsmon.processors.agents import extract_articles

    start = time.perf_counter()
    extracted = extract_articles(nlp, raws)
    extraction_s = time.perf_counter() - start
    records = []
    for _, statements, _ in extracted:
        for st in statements:
            rec = st.model_dump(mode="json", by_alias=True)
            rec["novel"] = True
            records.append(rec)
    if not records:
        raise typer.BadParameter("the corpus produced no statements")
    vocabulary = sorted({w.lower() for r in records for w in re.findall(r"[A-Za-z]{4,}", r["content"]["text"])})
    start = time.perf_counter()
    ruleset = parse_rules(generate_rules(n_rules, vocabulary))
    compile_s = time.perf_counter() - start
    fired = 0
    start = time.perf_counter()
    for rec in records:
        fired += len(ruleset.match("statements", rec))
    match_s = time.perf_counter() - start
    return {"articles": len(raws), "statements": len(records), "rules": n_rules, "compile_s": compile_s,
            "extract_per_statement_s": extraction_s / len(records), "match_per_statement_s": match_s / len(records),
            "fired": fired}


class _Receiver(ThreadingHTTPServer):
    """Records the arrival time of the first alert per article URL."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        now = time.time()
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        for line in body.get("message", "").splitlines():
            if line.startswith("http"):
                self.server.arrivals.setdefault(line.strip(), now)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def _quoted(raws: list, quotes: list[str]) -> list:
    """Each article prefixed by a distinct Putin quote (so each is new and fires the rule)."""
    out = []
    for raw, quote in zip(raws, quotes, strict=False):  # as many as there are quotes
        lead = f"Russian President Vladimir Putin said on Monday: “{quote}”\n\n"
        out.append(raw.model_copy(update={"content": lead + raw.content[:3000], "url": raw.url + "?q"}))
    return out


def _sentences(raws: list, n: int) -> list[str]:
    found = []
    for raw in reversed(raws):  # quotes from other articles than the ones they lead
        for s in re.split(r"(?<=[.!?])\s+", raw.content):
            s = s.strip().strip("“”\"")
            if 60 <= len(s) <= 220 and "\n" not in s:
                found.append(s)
    if len(found) < n:
        raise typer.BadParameter(f"the corpus has too few sentences for {n} distinct quotes")
    return found[:n]


def in_process_latency(settings, nlp, ruleset, raws: list, receiver: _Receiver) -> list[float]:
    """The same work without the broker: extraction, novelty, rules, delivery, one article at a time."""
    from newsmon.alerts.notify import deliver
    from newsmon.alerts.novelty import NoveltyDetector
    from newsmon.alerts.stream import judge_statement
    from newsmon.processors.agents import extract_articles
    from newsmon.streams import ALERTS, statement_key

    detector = NoveltyDetector.from_settings(settings)
    state: dict[str, Any] = {}  # novelty state per statement key
    out: list[float] = []
    for raw in raws:
        start = time.time()
        (_, statements, _), = extract_articles(nlp, [raw])
        for st in statements:
            key = statement_key(st)
            _, state[key], outputs = judge_statement(detector, ruleset, state.get(key), st)
            for stream, _, value in outputs:
                if stream is ALERTS:
                    deliver(receiver.url, ALERTS.decode(value))
        if raw.url in receiver.arrivals:
            out.append(receiver.arrivals[raw.url] - start)
    return out


def pipeline_latency(settings, raws: list, rate: float, timeout_s: float,
                     receiver: _Receiver) -> tuple[list[float], dict[str, list[float]]]:
    """Publish `raws` to the raw topic at `rate`/s; latency of each article's first alert at the receiver,
    and the time spent per hop."""
    from newsmon.alerts.notify import run as run_notifier
    from newsmon.kafka import make_producer
    from newsmon.records import RawArticle
    from newsmon.stack import spawn_processor, stop_processor
    from newsmon.streams import RAW
    from newsmon.topics import ensure_topics

    ensure_topics(settings)
    stop = threading.Event()
    notifier = threading.Thread(target=run_notifier, args=(settings, stop), kwargs={"backoff_s": 0.2},
                                daemon=True)
    notifier.start()
    proc = spawn_processor(settings, "warning")
    producer = make_producer(settings, acks="all", linger_ms=0)
    sent: dict[str, float] = {}
    try:
        warm = RawArticle(id="bench-warmup", feed="bench", url="http://bench.local/warmup",
                          content="Russian President Vladimir Putin said on Monday: “The warm-up is over.”")
        producer.send(RAW.topic(settings), **RAW.message(warm)).get(30)
        _wait(lambda: warm.url in receiver.arrivals, timeout_s, "the warm-up alert", proc=proc)
        start = time.monotonic()
        for i, raw in enumerate(raws):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent[raw.url] = time.time()
            producer.send(RAW.topic(settings), **RAW.message(raw))
            producer.flush()
        _wait(lambda: all(u in receiver.arrivals for u in sent), timeout_s, f"{len(sent)} alerts", step=0.2,
              proc=proc)
        return [receiver.arrivals[u] - t for u, t in sent.items()], stage_times(settings, sent, receiver)
    finally:
        producer.close()
        stop_processor(proc)
        stop.set()
        notifier.join(30)


def stage_times(settings, sent: dict[str, float], receiver: _Receiver) -> dict[str, list[float]]:
    """Per article, seconds spent in each hop, from the broker timestamps of its first record per topic."""
    from newsmon.kafka import make_consumer
    from newsmon.streams import ALERTS, STATEMENTS, Stream

    def first_times(stream: Stream, url_of) -> dict[str, float]:
        consumer = make_consumer(settings, stream.topic(settings), auto_offset_reset="earliest",
                                 consumer_timeout_ms=2000)
        out: dict[str, float] = {}
        for rec in consumer:
            out.setdefault(url_of(json.loads(rec.value)), rec.timestamp / 1000)
        consumer.close()
        return out

    statements = first_times(STATEMENTS, lambda v: v.get("url"))
    alerts = first_times(ALERTS, lambda v: v.get("record", {}).get("url"))
    hops: dict[str, list[float]] = {"raw -> statements (processor)": [], "statements -> alerts (alert agent)": [],
                                    "alerts -> receiver (notifier)": []}
    for url, t0 in sent.items():
        if url in statements and url in alerts and url in receiver.arrivals:
            hops["raw -> statements (processor)"].append(statements[url] - t0)
            hops["statements -> alerts (alert agent)"].append(alerts[url] - statements[url])
            hops["alerts -> receiver (notifier)"].append(receiver.arrivals[url] - alerts[url])
    return hops


def _wait(predicate, timeout_s: float, what: str, step: float = 0.5, proc=None) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the processor worker exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"did not receive {what} within {timeout_s:.0f}s")
        time.sleep(step)


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def command(corpus: Path = typer.Option(DEFAULT_CORPUS, help="Directory of .txt articles."),
            articles: int = typer.Option(100, help="Articles published for the latency run."),
            rate: float = typer.Option(5.0, help="Articles per second published to the raw topic."),
            rules: int = typer.Option(1000, help="Rules loaded for the rule-cost measurement."),
            cost_articles: int = typer.Option(40, help="Articles extracted for the rule-cost measurement."),
            latency: bool = typer.Option(True, help="Run the latency measurement (needs a broker)."),
            stack: str = typer.Option("auto", help="Local broker when none is configured: apache, lite or auto."),
            timeout: float = typer.Option(300, help="Give up after this many seconds per stage.")) -> None:
    """Alert latency (p50/p99, target p99 < 2 s) and the cost of 1,000 rules per record (target < 10%)."""
    import logging
    import uuid

    from newsmon.alerts.rules import parse_rules
    from newsmon.bench.servers import bench_servers
    from newsmon.settings import get_settings
    from newsmon.processors.agents import extract_articles
    from newsmon.processors.extraction import load_pipeline

    logging.basicConfig(level=logging.WARNING)
    settings = get_settings()
    nlp = load_pipeline(settings)
    raws = load_raws(corpus, max(cost_articles, articles * 4))
    cost = rule_cost(nlp, raws[:cost_articles], rules)
    ratio = cost["match_per_statement_s"] / cost["extract_per_statement_s"]
    typer.echo(f"rule cost: {cost['rules']} rules compiled in {cost['compile_s']:.2f}s; {cost['statements']} "
               f"statements from {cost['articles']} articles; {cost['fired']} firings")
    typer.echo(f"  evaluation {cost['match_per_statement_s'] * 1e3:.3f} ms/statement vs extraction "
               f"{cost['extract_per_statement_s'] * 1e3:.1f} ms/statement: ratio {ratio:.4f} "
               f"(target < 0.10: {'met' if ratio < 0.10 else 'NOT met'})")
    if not latency:
        return
    receiver = _Receiver()
    candidates = _quoted(raws[:articles * 3], _sentences(raws, articles * 3))
    firing = [raw for raw, (_, sts, _) in zip(candidates, extract_articles(nlp, candidates), strict=True)
              if any(st.speaker and st.speaker.name == "Vladimir Putin" for st in sts)]
    if len(firing) < articles + 20:
        raise typer.BadParameter(f"only {len(firing)} corpus articles yield a Putin statement; lower --articles")
    items, base_items = firing[:articles], firing[articles:articles + 20]
    name = "bench" + uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="newsmon-bench-") as tmp:
        rules_file = Path(tmp) / "rules.yaml"
        rules_file.write_text(f"destinations:\n  desk: '{receiver.url}'\nrules:\n  - name: Putin\n"
                              f"    query: 'speaker.name:\"Vladimir Putin\"'\n    destinations: [desk]\n")
        ruleset = parse_rules(rules_file.read_text())
        updates = {"topic_prefix": name, "data_dir": Path(tmp) / "data", "rules_file": rules_file}
        base = in_process_latency(settings.model_copy(update=updates), nlp, ruleset, base_items, receiver)
        with bench_servers(settings, stack, Path(tmp), search=False) as servers:
            updates.update(servers)
            lat, hops = pipeline_latency(settings.model_copy(update=updates), items, rate, timeout, receiver)
    b50 = statistics.median(base)
    p50, p99 = statistics.median(lat), _pct(lat, 99)
    typer.echo(f"latency raw topic -> alert at HTTP receiver, {len(lat)} articles at {rate:g}/s: "
               f"p50 {p50:.3f}s, p99 {p99:.3f}s, max {max(lat):.3f}s (target p99 < 2s: "
               f"{'met' if p99 < 2 else 'NOT met'})")
    for hop, values in hops.items():
        if values:
            typer.echo(f"  {hop}: p50 {statistics.median(values):.3f}s, p99 {_pct(values, 99):.3f}s")
    typer.echo(f"baseline in-process (extraction, rules, delivery; no broker), {len(base)} articles: "
               f"p50 {b50:.3f}s; ratio pipeline p50 / in-process p50 = {p50 / b50:.2f}")
