"""Hostile rules and queries: refused at load time with a position, never a traceback, never a stall, and
one rule's failure never costs another rule its alerts."""

from __future__ import annotations

import fnmatch
import logging

import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from newsmon.alerts.query import (MAX_DEPTH, MAX_QUERY_CHARS, MAX_WILDCARDS, Query, QueryError, check_limits,
                                  compile_query, fields_for, wildcard_matcher)
from newsmon.alerts.rules import parse_rules
from newsmon.cli import app
from newsmon.settings import Settings
from newsmon.search import search

runner = CliRunner()
STATEMENTS = fields_for("statements")
BACKTRACKER = "content.text:*a*a*a*a*a*a*a*a*a*a*a*a*b"
NESTED = "(" * 2_000 + "a" + ")" * 2_000  # a RecursionError traceback without the limit


def rules_yaml(*queries: str) -> str:
    return "rules:\n" + "".join(f"  - name: r{i}\n    query: '{q}'\n" for i, q in enumerate(queries))


@pytest.mark.parametrize("query, message", [
    (BACKTRACKER, f"more than {MAX_WILDCARDS} wildcards in one term"),
    (NESTED, f"nested deeper than {MAX_DEPTH} levels"),
    ("(" * 10_000 + "a" + ")" * 10_000, "characters long"),
    ("a " * (MAX_QUERY_CHARS // 2 + 1), "characters long"),
    ("@timestamp:99999999999999999999", "between the years 1 and 9999"),
    ("@timestamp:[now-99999999y TO now]", "between the years 1 and 9999"),
    ("@timestamp:[* TO 9999-12-31||+1y]", "between the years 1 and 9999"),
])
def test_hostile_queries_are_refused_with_a_position(query, message):
    with pytest.raises(QueryError, match=message) as err:
        compile_query(query, STATEMENTS)
    assert 0 <= err.value.position <= len(query)


def test_limits_leave_ordinary_queries_alone():
    for q in ['speaker.name:"Vladimir Putin" AND about:SY', "content.text:syr*", "((a OR b) AND (c OR d))",
              '"(((((((((((((((((((((((((((((((((((" AND x', "@timestamp:[now-7d TO now]", "content.text:a?b*c*d*e"]:
        check_limits(q)
        compile_query(q, STATEMENTS)


def test_the_wildcard_limit_counts_one_term_at_a_time():
    check_limits(" ".join(["content.text:*a*b*"] * 20))
    with pytest.raises(QueryError) as err:
        check_limits("about:SY AND " + "x" + "*x" * (MAX_WILDCARDS + 1))
    assert err.value.position == len("about:SY AND ")


@settings(max_examples=300, deadline=None, database=None)
@given(pattern=st.text(alphabet="ab*?", max_size=12), value=st.text(alphabet="ab", max_size=14))
def test_wildcard_matcher_agrees_with_fnmatch(pattern, value):
    assert wildcard_matcher(pattern, lower=False)(value) == fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def test_many_wildcards_over_a_long_value_answer_without_backtracking():
    fits = wildcard_matcher("*a*a*a*a*a*a*a*b", lower=False)  # as a regular expression: minutes on this value
    assert not fits("a" * 5_000) and fits("a" * 5_000 + "b")


def test_alerts_check_refuses_deep_nesting_without_a_traceback(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(rules_yaml(NESTED))
    res = runner.invoke(app, ["alerts", "check", str(path)])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)  # a clean exit, not a crash
    assert f"rule 'r0': nested deeper than {MAX_DEPTH} levels (query position {MAX_DEPTH})" in res.output


def test_a_rule_failing_at_match_time_costs_the_others_nothing(caplog):
    ruleset = parse_rules(rules_yaml("about:SY", "about:SY AND speaker.name:Putin"))

    def breaks(doc):
        raise OverflowError("date value out of range")

    ruleset.rules[0]._compiled = Query("about:SY", breaks, None)
    record = {"id": "s1", "about": ["SY"], "speaker": {"name": "Putin"}, "content": {"text": "x"}}
    with caplog.at_level(logging.ERROR, logger="newsmon.alerts"):
        fired = ruleset.match("statements", record)
    assert [r.name for r in fired] == ["r1"]
    assert "rule 'r0' failed on a record" in caplog.text


def test_search_applies_the_limits_before_sending(tmp_path):
    unreachable = Settings(data_dir=tmp_path, elasticsearch_url="http://127.0.0.1:9")  # nothing listens there
    for query in (NESTED, BACKTRACKER):
        with pytest.raises(QueryError):
            search(unreachable, query)
