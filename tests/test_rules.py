"""Rule files: loading, refusal of bad rules with name and position, anchor prefilter equivalence."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from newsmon.alerts.query import analyze
from newsmon.alerts.rules import RuleError, RuleSet, load_rules, parse_rules

EXAMPLE = Path(__file__).resolve().parent.parent / "alerts" / "rules.example.yaml"

PUTIN = {"id": "s1", "@timestamp": "2016-12-24T21:00:00Z", "kind": "direct", "feed": "mehr",
         "content": {"text": "We suggest that the peace process be started in Kazakhstan"},
         "speaker": {"text": "the Russian president", "name": "Vladimir Putin", "country": "RU"},
         "about": ["Kazakhstan", "KZ", "SY"], "source_count": 1}


def _one(query: str, **extra) -> str:
    lines = [f"  - name: {extra.pop('name', 'r1')}", f"    query: '{query}'"]
    lines += [f"    {k}: {v}" for k, v in extra.items()]
    return "rules:\n" + "\n".join(lines) + "\n"


def test_example_file_loads():
    rules = load_rules(EXAMPLE)
    assert len(rules.rules) >= 3
    assert {r.kind for r in rules.rules} >= {"statements"}


def test_fields_defaults_and_throttle():
    rs = parse_rules(_one('speaker.name:"Vladimir Putin" AND about:SY', throttle="10m",
                          destinations='["json://127.0.0.1:1/x"]'))
    rule = rs.rules[0]
    assert rule.kind == "statements" and rule.throttle == timedelta(minutes=10)
    assert rs.match("statements", PUTIN) == [rule]
    assert rs.match("statements", {**PUTIN, "about": ["KZ"]}) == []


@pytest.mark.parametrize("query,position,fragment", [
    ('speaker.name:"Vladimir Putin', 13, "Illegal character"),
    ("putin AND", 9, "unexpected end"),
    ("(putin OR rouhani", 17, "unexpected end"),
    ("speaker.nam:Putin", 0, "unknown field 'speaker.nam'"),
    ("putin AND speakr.name:Putin", 10, "unknown field 'speakr.name'"),
    ("about:SY AND (kind:direct OR colour:red)", 29, "unknown field 'colour'"),
    ("source_count:many", 13, "needs a number"),
    ("@timestamp:[yesterday TO now]", 11, "needs dates"),
    ("novel:yes", 6, "true or false"),
    ("putin~1", 0, "fuzzy"),
    ("content.text:/ast.*/", 13, "regular-expression"),
])
def test_bad_query_refused_with_name_and_position(query, position, fragment):
    with pytest.raises(RuleError) as err:
        parse_rules(_one(query, name="Bad rule"))
    assert err.value.rule == "Bad rule"
    assert err.value.position == position
    assert fragment in str(err.value) and "Bad rule" in str(err.value)


def test_unknown_field_of_other_kind_refused():
    # `type` is an events field, not a statements one
    with pytest.raises(RuleError, match="unknown field 'type'"):
        parse_rules(_one("type:negotiate"))
    assert parse_rules(_one("type:negotiate", kind="events")).rules[0].kind == "events"


@pytest.mark.parametrize("text,fragment", [
    ("rules: nope", "top-level 'rules:' list"),
    ("rules:\n  - name: x\n", "query"),
    ("rules:\n  - name: x\n    query: a\n    kind: tweets\n", "kind"),
    ("rules:\n  - name: x\n    query: a\n    throttle: soon\n", "duration"),
    ("rules:\n  - name: x\n    query: a\n  - name: x\n    query: b\n", "duplicate"),
    ("rules:\n  - name: x\n    query: a\n    destinations: [nowhere]\n", "unknown destination 'nowhere'"),
    ("rules: [\n", "not valid YAML"),
])
def test_bad_file_refused(text, fragment):
    with pytest.raises(RuleError, match=fragment):
        parse_rules(text)


def test_named_destinations_resolve():
    rs = parse_rules("destinations:\n  desk: json://127.0.0.1:9/hook\n  both: [json://a/b, mailto://u:p@c.example.org]\n"
                     "rules:\n  - name: r\n    query: putin\n    destinations: [desk, both, 'json://d/e']\n")
    assert rs.urls("desk") == ["json://127.0.0.1:9/hook"]
    assert rs.urls("both") == ["json://a/b", "mailto://u:p@c.example.org"]
    assert rs.urls("nowhere") == []


def test_inline_urls_travel_as_labels_without_secrets():
    rs = parse_rules("rules:\n  - name: r\n    query: putin\n"
                     "    destinations: ['mailtos://user:s3cret@example.org?to=desk@example.org']\n")
    (alert,) = rs.alerts("statements", PUTIN | {"content": {"text": "Putin"}})
    (dest,) = alert.destinations
    assert "s3cret" not in alert.model_dump_json() and dest == "mailtos://example.org (r #1)"
    assert rs.urls(dest) == ["mailtos://user:s3cret@example.org?to=desk@example.org"]


def test_labels_show_no_part_of_a_secret_and_no_hash_of_the_url():
    """Scheme and host (when it is a host name or an address), rule and position: nothing derived from the
    password or token, so nothing to brute-force; computed from the rules file alone."""
    urls = ["mailtos://user:s3cretpw@mail.example.org:587?to=desk@example.org", "tgram://123456789:AAbotTOKENzz/4242",
            "json://127.0.0.1:9/hook?token=t0kenvalue", "${NEWSMON_TEST_HOOK}", "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnl"]
    text = "rules:\n  - name: desk feed\n    query: putin\n    destinations:\n" + "".join(f"      - '{u}'\n" for u in urls)
    import os

    os.environ["NEWSMON_TEST_HOOK"] = "json://hook.example.org/x?apikey=k3yvalue"
    try:
        rs = parse_rules(text)
        labels = rs.labels(rs.rules[0])
        assert labels == ["mailtos://mail.example.org:587 (desk feed #1)", "tgram://… (desk feed #2)",
                          "json://127.0.0.1:9 (desk feed #3)", "${NEWSMON_TEST_HOOK} (desk feed #4)",
                          "slack://… (desk feed #5)"]
        assert [rs.urls(x) for x in labels] == [[u] for u in urls[:3]] + [[os.environ["NEWSMON_TEST_HOOK"]], [urls[4]]]
        assert parse_rules(text).labels(rs.rules[0]) == labels  # another process computes the same labels
    finally:
        del os.environ["NEWSMON_TEST_HOOK"]


def test_labels_of_earlier_releases_still_resolve():
    """Alerts and ledger rows written before the upgrade name inline URLs as `privacy form#hash8`."""
    from newsmon.records import stable_id

    url = "mailtos://user:s3cret@example.org?to=desk@example.org"
    rs = parse_rules(f"rules:\n  - name: r\n    query: putin\n    destinations: ['{url}']\n")
    assert rs.urls(f"mailtos://user:****@example.org/#{stable_id(url)[:8]}") == [url]
    assert rs.urls("mailtos://user:****@example.org/#00000000") == []


@pytest.mark.parametrize("url", ["json://user:s3cretpw@", "foo://user:s3cretpw@example.org",
                                 "mailto://user:s3cretpw@127.0.0.1:99999"])
def test_a_destination_apprise_cannot_load_is_refused_at_load(url, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    text = f"rules:\n  - name: r\n    query: putin\n    destinations: [desk, '{url}']\ndestinations:\n  desk: json://a/b\n"
    with pytest.raises(RuleError, match=r"rule 'r': destination #2 \(\w+://\S* \(r #2\)\): not a URL apprise can load") as e:
        parse_rules(text)
    assert "s3cret" not in str(e.value)
    assert "s3cret" not in caplog.text and "s...w" not in caplog.text  # apprise's complaint is masked too


def test_a_named_destination_that_expands_to_an_unloadable_url_is_refused(monkeypatch):
    monkeypatch.setenv("NEWSMON_TEST_DESK_URL", "json://user:s3cretpw@")
    text = ("destinations:\n  desk: [json://a/b, '${NEWSMON_TEST_DESK_URL}']\n"
            "rules:\n  - name: r\n    query: putin\n    destinations: [desk]\n")
    with pytest.raises(RuleError, match=r"destination 'desk' #2: not a URL apprise can load") as e:
        parse_rules(text)
    assert "s3cret" not in str(e.value)


def test_apprise_log_lines_carry_no_part_of_a_secret(caplog):
    """apprise quotes URLs it loads or refuses in a privacy form that keeps a password's first and last
    letter (`user:s...w`) or a token's last four; the filter on its logger masks both."""
    import logging

    import apprise

    import newsmon.alerts.destinations  # noqa: F401 - installs the filter

    caplog.set_level(logging.DEBUG)
    for url in ("foo://user:s3cretpw@example.org", "tgram://123456789:AAbotTOKENzz/4242",
                "json://user:s3cretpw@example.org/x"):
        apprise.Apprise.instantiate(url)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("apprise")]
    assert lines, "apprise logged nothing to check"
    assert not [x for x in lines if "s3cretpw" in x or "s...w" in x or "...zz" in x or "A...z" in x or "1...z" in x]


def test_anchor_prefilter_gives_the_same_matches_as_evaluating_every_rule():
    """With many generated rules, `RuleSet.match` (anchor index) equals evaluating each rule."""
    rng = random.Random(7)
    words = sorted(set(analyze(PUTIN["content"]["text"] + " astana syria iran terrorism ceasefire talks")))
    fields = ["speaker.name:\"Vladimir Putin\"", "about:SY", "about:KZ", "kind:direct", "kind:indirect",
              "source_count:>1", "@timestamp:[2016-01-01 TO 2016-12-31]", "speaker.country:IR", "NOT about:SY"]
    queries = []
    for _ in range(400):
        a, b = rng.choice(words), rng.choice(words)
        queries.append(rng.choice([
            f"{a}", f"{a} AND {b}", f"{a} OR {b}", f'"{a} {b}"', f"{a} AND {rng.choice(fields)}",
            f"{rng.choice(fields)} AND NOT {b}", f"({a} OR {rng.choice(fields)}) AND {rng.choice(fields)}",
            f"content.text:{a[:3]}*", f"-{a}",
        ]))
    text = "rules:\n" + "".join(f"  - name: r{i}\n    query: '{q}'\n" for i, q in enumerate(queries))
    rs = parse_rules(text)
    records = [PUTIN, {**PUTIN, "content": {"text": "Astana talks on Syria"}, "kind": "indirect"},
               {**PUTIN, "speaker": {"name": "Hassan Rouhani", "country": "IR"}, "source_count": 3}]
    for rec in records:
        fired = rs.match("statements", rec)
        assert fired == [r for r in rs.rules if r.matches(rec)]
        assert 0 < len(fired) < len(rs.rules)
    assert sum(r.compiled.anchors is not None for r in rs.rules) > len(rs.rules) / 2


def test_ruleset_model_is_reusable():
    rs = RuleSet.model_validate({"rules": [{"name": "a", "query": "rouhani"}]}).compile()
    assert rs.match("statements", PUTIN) == []
    assert rs.match("events", PUTIN) == []
