"""`newsmon alerts check` and `newsmon alerts try` (offline: extraction, novelty, rules over text files)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from newsmon.cli import app
from tests.conftest import SEEDS_DIR

EXAMPLE = Path(__file__).resolve().parent.parent / "alerts" / "rules.example.yaml"
runner = CliRunner()


def test_check_accepts_the_example_and_refuses_a_bad_rule(tmp_path):
    ok = runner.invoke(app, ["alerts", "check", str(EXAMPLE)])
    assert ok.exit_code == 0 and "OK 6 rules" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: Typo\n    query: 'about:SY AND speaker.nme:Putin'\n")
    res = runner.invoke(app, ["alerts", "check", str(bad)])
    assert res.exit_code == 1
    assert ("rule 'Typo': unknown field 'speaker.nme'; did you mean 'speaker.name'? (query position 13)"
            in res.output)


def test_try_prints_each_firing_with_its_rule(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: Putin on Iran\n    query: 'speaker.name:\"Vladimir Putin\" AND about:IR'\n"
                     "  - name: Nobody\n    query: 'speaker.name:\"Nobody At All\"'\n")
    seed = next(SEEDS_DIR.glob("002_*.txt"))
    once = runner.invoke(app, ["alerts", "try", str(rules), str(seed), "--published", "2016-12-25"],
                         terminal_width=400)
    assert once.exit_code == 0, once.output
    lines = [ln for ln in once.output.splitlines() if ln.startswith("Putin on Iran ")]
    assert lines and all("Vladimir Putin (RU)" in ln for ln in lines)
    assert any("Tehran and Moscow's consultation and cooperation" in ln for ln in lines)
    assert "Nobody" not in once.output
    assert once.output.strip().endswith(f"{len(lines)} alerts from 1 files")
    twice = runner.invoke(app, ["alerts", "try", str(rules), str(seed), str(seed)], terminal_width=400)
    assert twice.output.strip().endswith(f"{len(lines)} alerts from 2 files"), "the same article alerts once"


def test_list_shows_recent_alerts_newest_first(stack_settings, search):
    from newsmon.alerts.message import make_alert
    from newsmon.settings import get_settings
    from newsmon.indices import ensure_templates, make_client
    from newsmon.sinks.elasticsearch import alert_action

    ensure_templates(stack_settings)
    client = make_client(stack_settings)
    for i, rule in enumerate(["Putin on Iran", "Rouhani"]):
        record = {"id": f"s{i}", "@timestamp": "2016-12-25T08:00:00Z", "feed": "mehr", "url": f"https://x.test/{i}",
                  "content": {"text": f"Quote {i}"}, "speaker": {"name": "Vladimir Putin"}}
        alert = make_alert(rule, "statements", record, [])
        action = alert_action(stack_settings, alert)
        client.index(index=action["_index"], id=action["_id"], document=action["_source"], refresh=True)
    get_settings.cache_clear()
    try:
        res = runner.invoke(app, ["alerts", "list", "-n", "5"], terminal_width=200,
                            env={"ELASTICSEARCH_URL": search.url, "NEWSMON_INDEX_PREFIX": stack_settings.index_prefix})
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    assert "2 of 2 alerts" in res.output
    assert "Putin on Iran" in res.output and "Rouhani" in res.output and "https://x.test/1" in res.output
