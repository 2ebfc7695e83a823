"""Acceptance: every search the README shows and every demo rule finds something on the demo.

The demo's own site (`serve_demo`) is polled once by the producer; the Faust worker (with the demo rules)
and the sink put the seed articles on the local stack, as `newsmon up --demo` does. Then each README
search runs through `newsmon.search` (what `newsmon search` calls), each rule shown in the README and in
`alerts/rules.demo.yaml` runs as a search and through the rule engine over the indexed records, and each
demo rule must have fired an alert.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import pytest
import yaml

from newsmon.alerts.query import Doc, FieldInfo, compile_query, fields_for
from newsmon.alerts.rules import Rule, load_rules
from newsmon.indices import make_client
from newsmon.producers.demo import serve_demo
from newsmon.producers.poller import poll_once
from newsmon.search import search
from newsmon.stack import DEMO_RULES
from tests.support import running_pipeline, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(text: str, lang: str = "") -> list[str]:
    """The fenced code blocks of a Markdown text (those of language `lang` when given)."""
    blocks, current, fence = [], [], None
    for line in text.splitlines():
        if line.startswith("```"):
            if fence is None:
                fence, current = line[3:].strip(), []
            else:
                if not lang or fence == lang:
                    blocks.append("\n".join(current))
                fence = None
        elif fence is not None:
            current.append(line)
    return blocks


def readme_searches() -> list[tuple[str, str]]:
    """(kind, query) of every `newsmon search` command line in the README's code blocks."""
    out = []
    for block in _blocks(README.read_text(encoding="utf-8")):
        for line in block.splitlines():
            words = shlex.split(line.split("#", 1)[0]) if "newsmon search" in line else []
            if not words:
                continue
            args = words[words.index("search") + 1:]
            kind = "statements"
            if "--kind" in args:
                i = args.index("--kind")
                kind = args[i + 1]
                del args[i:i + 2]
            out.append((kind, next(a for a in args if a != "--all")))  # --all: every copy, as many or more
    return out


def readme_rules() -> list[Rule]:
    """The rules of every YAML block in the README."""
    return [Rule.model_validate({k: v for k, v in r.items() if k != "destinations"})
            for block in _blocks(README.read_text(encoding="utf-8"), "yaml")
            for r in (yaml.safe_load(block) or {}).get("rules", [])]


DEMO = load_rules(DEMO_RULES).rules


def test_the_readme_shows_searches_and_rules():
    """The tables below are read from the README: they must not come out empty."""
    assert len(readme_searches()) >= 2 and readme_rules()


@pytest.fixture(scope="module")
def demo_stack(broker, search, tmp_path_factory):
    """The demo polled once and carried through worker and sink onto the local stack (names of its own)."""
    from newsmon.settings import Settings

    demo = serve_demo(port=0)
    settings = demo.settings(Settings(
        kafka_bootstrap_servers=broker.bootstrap, elasticsearch_url=search.url,
        data_dir=tmp_path_factory.mktemp("readme") / "data", topic_prefix="readme", index_prefix="readme",
        partitions=2, rules_file=DEMO_RULES, processor_batch_size=4, sink_max_wait_s=0.3))
    try:
        with running_pipeline(settings):
            report = poll_once(settings, [demo.feed()])
            assert report.published == 3, report.errors
            client = make_client(settings)
            fired = {r.name for r in DEMO}

            def alerted() -> set[str]:
                client.indices.refresh(index=settings.index("alerts"), ignore_unavailable=True)
                res = client.search(index=settings.index("alerts"), size=100, ignore_unavailable=True,
                                    query={"match_all": {}})
                return {h["_source"]["rule"] for h in res["hits"]["hits"]}

            # the rules' alerts arrive after the statements: wait for all of them, or for the timeout
            wait_for(lambda: fired <= alerted(), timeout=240)
            yield settings, alerted()
    finally:
        demo.stop()


def _as_written(kind: str) -> dict[str, FieldInfo]:
    """The fields of `kind` without normalizers and copied values: what the lite stand-in implements."""
    return {n: dataclasses.replace(f, normalize=lambda v: v, copies=()) for n, f in fields_for(kind).items()}


def skip_where_the_stand_in_departs(settings, stack_kind: str, kind: str, query: str) -> None:
    """On the lite stand-in, skip a query that finds something only through normalizers or copy_to."""
    if stack_kind != "lite":
        return
    fields = _as_written(kind)
    compiled = compile_query(query, fields)
    if not any(compiled.matches(Doc(d, fields)) for d in search(settings, "*", kind=kind, size=1000)[1]):
        pytest.skip("the lite stand-in has no normalizers or copy_to: this query finds the demo's records only "
                    "through them (names in any case and spelling)")


@pytest.mark.parametrize("kind,query", readme_searches(), ids=[q for _, q in readme_searches()])
def test_readme_search_finds_something_on_the_demo(demo_stack, stack_kind, kind, query):
    settings, _ = demo_stack
    skip_where_the_stand_in_departs(settings, stack_kind, kind, query)
    total, docs = search(settings, query, kind=kind)
    assert total > 0 and docs, f"{query!r} ({kind}) finds nothing on the demo"


RULES = readme_rules() + DEMO


@pytest.mark.parametrize("rule", RULES, ids=[f"{r.name}: {r.query}" for r in RULES])
def test_rule_finds_something_on_the_demo_in_the_index_and_the_engine(demo_stack, stack_kind, rule):
    settings, _ = demo_stack
    skip_where_the_stand_in_departs(settings, stack_kind, rule.kind, rule.query)
    total, docs = search(settings, rule.query, kind=rule.kind, size=200)
    assert total > 0, f"rule {rule.name!r} finds nothing in the {rule.kind} index"
    everything = search(settings, "*", kind=rule.kind, size=1000)[1]
    matched = [d for d in everything if rule.matches(d)]
    assert {d["id"] for d in matched} == {d["id"] for d in docs}, "the engine and the index disagree"


@pytest.mark.parametrize("rule", DEMO, ids=[r.name for r in DEMO])
def test_demo_rule_fires_on_the_demo(demo_stack, rule):
    _, alerted = demo_stack
    assert rule.name in alerted
