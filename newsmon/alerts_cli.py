"""`newsmon alerts ...` commands: check rules, try them offline on text files, list recent alerts, notify.

They sit with the CLI rather than in the alerts stage because they wire stages together: `try` runs
the processor's extraction before the rules, `list` searches the alerts index.
"""

from __future__ import annotations

import signal
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import typer
from newsmon.console import console as output_console
from rich.markup import escape
from rich.table import Table

from newsmon.alerts.rules import RuleError, RuleSet, load_rules
from newsmon.clierrors import exit_on_config_errors

app = typer.Typer(no_args_is_help=True)
console = output_console()

RULES_ARG = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="Rules YAML file.")


def _load(path: Path) -> RuleSet:
    try:
        return load_rules(path)
    except RuleError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from None


@app.command()
def check(rules: Path = RULES_ARG) -> None:
    """Validate a rules file: every query parses, names known fields and fits their types; warn about terms
    that match nothing the extraction can produce (a name or country code it never writes)."""
    from newsmon.alerts.query import fields_for
    from newsmon.vocabulary import review

    ruleset = _load(rules)
    warnings = 0
    for rule in ruleset.rules:
        for finding in review(rule.compiled, fields_for(rule.kind)):
            warnings += finding.warning
            style = "yellow" if finding.warning else "dim"
            console.print(f"[{style}]{'warning' if finding.warning else 'note'}: rule {escape(repr(rule.name))}: "
                          f"{escape(str(finding))}[/]", highlight=False, soft_wrap=True)
    kinds = ", ".join(f"{sum(r.kind == k for r in ruleset.rules)} {k}" for k in sorted(ruleset.kinds()))
    console.print(f"[green]OK[/] {len(ruleset.rules)} rules ({kinds or 'none'}), "
                  f"{len(ruleset.destinations)} named destinations"
                  + (f", [yellow]{warnings} warnings[/]" if warnings else ""))


def _published(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"not an ISO date: {value!r} (e.g. 2016-12-25 or 2016-12-25T08:00:00Z)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


@app.command("try")
def try_rules(rules: Path = RULES_ARG,
              paths: list[Path] = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                                 help="Plain-text article files (a first line followed by "
                                                      "a blank line is the title)."),
              published: str = typer.Option(None, "--published", help="Publication date of the articles (ISO, "
                                             "e.g. 2016-12-25); used by date rules and the novelty window.")
              ) -> None:
    """Run extraction, novelty and the rules over text files offline; print each firing with its rule."""
    from newsmon.alerts.novelty import NoveltyDetector
    from newsmon.alerts.stream import judge_event, judge_statement, record_outputs
    from newsmon.records import RawArticle, stable_id
    from newsmon.settings import get_settings
    from newsmon.streams import ALERTS, event_key, statement_key
    from newsmon.processors.agents import extract_articles
    from newsmon.processors.extraction import load_pipeline

    ruleset = _load(rules)
    when = _published(published)
    settings = get_settings()
    raws = []
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        title, blank, body = text.partition("\n\n")
        if not blank or "\n" in title.strip() or not body.strip():  # no headline line: all of it is the body
            title, body = "", text
        # the text extracted is the same either way (title, blank line, body); a known title lets novelty
        # compare quotes without it, as it does for feed items
        raws.append(RawArticle(id=stable_id("file", path.resolve()), feed=path.stem, url=path.resolve().as_uri(),
                               title=title.strip(), content=body, content_source="feed", published=when))
    nlp = load_pipeline(settings)
    detector = NoveltyDetector.from_settings(settings)
    state: dict[str, Any] = {}  # novelty state per statement key
    event_state: dict[str, Any] = {}  # and per event key
    fired, printed = 0, set()
    for article, statements, events in extract_articles(nlp, raws):
        outputs = record_outputs(ruleset, "articles", article)
        for ev in events:
            key = event_key(ev)
            verdict, event_state[key], found = judge_event(detector, ruleset, event_state.get(key), ev)
            if not verdict.novel:
                console.print(f"[dim]repeat ({verdict.similarity:.2f}) of event {verdict.first_id}: "
                              f"{escape(ev.type)} {escape(ev.trigger.text)}[/]", soft_wrap=True)
            outputs += found
        for st in statements:
            key = statement_key(st)
            verdict, state[key], found = judge_statement(detector, ruleset, state.get(key), st)
            if not verdict.novel:
                console.print(f"[dim]repeat ({verdict.similarity:.2f}) of {verdict.first_id}: "
                              f"{escape(st.content.text[:80])}[/]", soft_wrap=True)
            outputs += found
        for stream, alert_id, value in outputs:
            if stream is not ALERTS or alert_id in printed:  # a file given twice: its alerts are the same
                continue
            printed.add(alert_id)
            alert = ALERTS.decode(value)
            fired += 1
            first, _, rest = alert.message.partition("\n")
            console.print(f"[bold red]{escape(alert.rule)}[/] ({article.feed}) {escape(first)} "
                          f"{escape(rest.splitlines()[0] if rest else '')}", highlight=False, soft_wrap=True)
    console.print(f"{fired} alerts from {len(raws)} files")


@app.command("list")
@exit_on_config_errors
def list_alerts(size: int = typer.Option(20, "--size", "-n", help="How many (newest first)."),
                query: str = typer.Option("*", "--query", "-q", help="Lucene filter, e.g. 'rule:\"Putin on Syria\"'.")
                ) -> None:
    """Recent alerts from the alerts index."""
    from newsmon.endpoints import NoStackError, resolve
    from newsmon.settings import get_settings
    from newsmon.search import search

    try:
        settings = resolve(get_settings(), ("elasticsearch",))
    except NoStackError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    total, docs = search(settings, query, kind="alerts", size=size)
    states = _delivery_states(settings, [doc.get("id", "") for doc in docs])
    table = Table(title=f"{len(docs)} of {total} alerts, newest first", show_lines=False)
    columns = ("time", "rule", "alert", "link") + (("delivery",) if states else ())  # with a local ledger only
    for col in columns:
        table.add_column(col, overflow="fold")
    for doc in docs:
        lines = (doc.get("message") or "").splitlines()
        link = next((ln for ln in lines if ln.startswith(("http://", "https://", "file:"))), "")
        delivery = ", ".join(f"{d}: {s}" for d, s in states.get(doc.get("id", ""), {}).items())
        cells = [str(doc.get("@timestamp", ""))[:19].replace("T", " "), escape(doc.get("rule", "")),
                 escape(" ".join(lines[:2])), escape(link)]
        table.add_row(*cells, *([escape(delivery or "-")] if states else []))
    console.print(table)


def _delivery_states(settings, alert_ids: list[str]) -> dict[str, dict[str, str]]:
    """Per alert, the state of each destination's delivery, from this machine's notifier ledger (if any)."""
    from newsmon.alerts.notify import Ledger, ledger_path

    if not ledger_path(settings).exists():
        return {}
    ledger = Ledger(ledger_path(settings))
    try:
        return {alert_id: ledger.states(alert_id) for alert_id in alert_ids}
    finally:
        ledger.close()


@app.command()
@exit_on_config_errors
def redeliver(since: str = typer.Option(None, "--since", help="Only deliveries dead-lettered since this ISO time "
                                                                  "(e.g. 2026-12-02T08:00:00Z); default: all.")
              ) -> None:
    """Queue dead deliveries again (after the receiver is back); the running notifier sends them within a
    second, else the next `newsmon alerts notify` or `newsmon up` does."""
    from newsmon.alerts.notify import Ledger, ledger_path
    from newsmon.settings import get_settings

    settings = get_settings()
    after = _published(since)
    path = ledger_path(settings)
    if not path.exists():
        typer.secho(f"no delivery ledger at {path}: nothing was delivered from this data directory", fg="red",
                    err=True)
        raise typer.Exit(2)
    ledger = Ledger(path)
    try:
        count = ledger.redeliver(after.timestamp() if after else None)
    finally:
        ledger.close()
    console.print(f"{count} dead deliveries queued again")


@app.command()
@exit_on_config_errors
def notify(rules: Path = typer.Option(None, "--rules", exists=True, dir_okay=False,
                                      help="Rules file (destinations); default: NEWSMON_RULES_FILE."),
           loglevel: str = typer.Option("info", "--loglevel")) -> None:
    """Run the notifier stage alone: deliver alerts from the alerts topic until Ctrl-C."""
    from newsmon.alerts.notify import run
    from newsmon.endpoints import NoStackError, resolve
    from newsmon.health import serve_stage
    from newsmon.logs import setup_logging
    from newsmon.settings import get_settings

    setup_logging(loglevel)
    try:
        settings = resolve(get_settings(), ("kafka",))
    except NoStackError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    if rules:
        settings = settings.model_copy(update={"rules_file": rules})
    if not settings.rules_file:
        typer.secho("no rules file: pass --rules or set NEWSMON_RULES_FILE", fg="red", err=True)
        raise typer.Exit(2)
    ruleset = _load(settings.rules_file)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    from newsmon.metrics import LagCollector
    from newsmon.status import topic_lag

    server = serve_stage(settings, "notify", [LagCollector(lambda: topic_lag(settings))])
    try:
        stats = run(settings, stop, rules=ruleset)
    finally:
        if server is not None:
            server.stop()
    console.print(f"notifier stopped: {stats.sent} sent, {stats.skipped} already sent, {stats.throttled} throttled, "
                  f"{stats.dead_letters} dead letters")
