"""Settings are validated before any command runs: one line naming the variable, its value and what is
expected; lists as JSON or comma-separated; every number within its range."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from newsmon.settings import Settings, settings_error
from tests.test_cli import clean_env, newsmon


def refusal(monkeypatch, **env: str) -> str:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    return settings_error(caught.value)


@pytest.mark.parametrize("value", ["SY,IR", " sy , ir ", '["SY", "IR"]', '["sy","ir"]'])
def test_lists_accept_json_and_comma_separated_values(monkeypatch, value):
    monkeypatch.setenv("NEWSMON_WATCHLIST", value)
    assert Settings().watchlist == ["SY", "IR"]


def test_networks_accept_comma_separated_values(monkeypatch):
    monkeypatch.setenv("NEWSMON_UNTRUSTED_ALLOW_NETWORKS", "127.0.0.0/8, ::1")
    assert Settings().untrusted_allow_networks == ["127.0.0.0/8", "::1"]


@pytest.mark.parametrize("env, line", [
    ({"NEWSMON_PARTITIONS": "abc"}, "NEWSMON_PARTITIONS=abc: expected a whole number >= 1"),
    ({"NEWSMON_PARTITIONS": "0"}, "NEWSMON_PARTITIONS=0: expected a whole number >= 1"),
    ({"ELASTICSEARCH_VERIFY_CERTS": "maybe"}, "ELASTICSEARCH_VERIFY_CERTS=maybe: expected true or false"),
    ({"NEWSMON_NOVELTY_THRESHOLD": "1.5"}, "NEWSMON_NOVELTY_THRESHOLD=1.5: expected a number > 0 and <= 1"),
    ({"NEWSMON_SINK_BATCH_SIZE": "-3"}, "NEWSMON_SINK_BATCH_SIZE=-3: expected a whole number >= 1"),
    ({"NEWSMON_WATCHLIST": "Syria"}, "NEWSMON_WATCHLIST=Syria: expected two-letter country codes"),
    ({"NEWSMON_WATCHLIST": "[SY"}, "NEWSMON_WATCHLIST=[SY: expected a JSON list"),
    ({"NEWSMON_INDEX_PREFIX": "News Mon"}, "NEWSMON_INDEX_PREFIX=News Mon: expected lower-case letters"),
    ({"NEWSMON_METRICS_ADDRESS": "9464"}, "NEWSMON_METRICS_ADDRESS=9464: expected host:port"),
    ({"NEWSMON_RULES_FILE": "/nonexistent/rules.yaml"}, "NEWSMON_RULES_FILE=/nonexistent/rules.yaml: no such file"),
    ({"NEWSMON_LOG_FORMAT": "xml"}, "NEWSMON_LOG_FORMAT=xml: expected one of 'text' or 'json'"),
])
def test_a_bad_setting_is_named_with_its_value_and_what_is_expected(monkeypatch, env, line):
    message = refusal(monkeypatch, **env)
    assert message == f"invalid configuration: {line}" or message.startswith(f"invalid configuration: {line}")
    assert "\n" not in message


def test_every_problem_is_on_the_one_line_and_secrets_are_never_shown(monkeypatch):
    message = refusal(monkeypatch, NEWSMON_PARTITIONS="0", NEWSMON_DEAD_LETTER_WINDOW="0")
    assert "NEWSMON_PARTITIONS=0" in message and "NEWSMON_DEAD_LETTER_WINDOW=0" in message and "\n" not in message
    monkeypatch.delenv("NEWSMON_PARTITIONS")
    monkeypatch.delenv("NEWSMON_DEAD_LETTER_WINDOW")
    monkeypatch.setenv("ELASTICSEARCH_PASSWORD", "hunter2-is-secret")
    monkeypatch.setenv("NEWSMON_REPLICATION_FACTOR", "0")
    message = refusal(monkeypatch)
    assert "NEWSMON_REPLICATION_FACTOR=0: expected a whole number >= 1" in message
    assert "hunter2" not in message


COMMANDS = [["search", "*"], ["status"], ["up", "--demo"], ["produce", "--once"], ["process"], ["sink"], ["init"],
            ["alerts", "list"], ["alerts", "check", "alerts/rules.demo.yaml"], ["prune"]]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args))
def test_every_command_refuses_a_bad_setting_with_one_line(tmp_path, args):
    env = clean_env(tmp_path)
    env["NEWSMON_PARTITIONS"] = "0"
    result = newsmon(*args, env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "invalid configuration: NEWSMON_PARTITIONS=0: expected a whole number >= 1"
    assert result.stdout == ""
    assert not (tmp_path / "endpoints.json").exists()  # nothing was started


@pytest.mark.parametrize("env, line", [
    ({"NEWSMON_PARTITIONS": "abc"}, "NEWSMON_PARTITIONS=abc: expected a whole number >= 1"),
    ({"NEWSMON_WATCHLIST": "SY,IR", "ELASTICSEARCH_VERIFY_CERTS": "maybe"},
     "ELASTICSEARCH_VERIFY_CERTS=maybe: expected true or false (or 1/0, yes/no, on/off)"),
])
def test_the_values_of_the_report_are_refused_without_a_traceback(tmp_path, env, line):
    result = newsmon("up", "--demo", env={**clean_env(tmp_path), **env}, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == f"invalid configuration: {line}"
    assert "Traceback" not in result.stderr and "╭" not in result.stderr


def test_help_works_whatever_the_settings(tmp_path):
    result = newsmon("search", "--help", env={**clean_env(tmp_path), "NEWSMON_PARTITIONS": "0"}, timeout=60)
    assert result.returncode == 0 and "Lucene query" in result.stdout


def test_a_bad_value_from_the_config_file_is_named_there(tmp_path):
    env = clean_env(tmp_path)
    (tmp_path / "none.yaml").write_text("partitions: 0\nwatchlist: [SY, IR]\n")  # the file NEWSMON_CONFIG names
    result = newsmon("status", env=env, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"invalid configuration: partitions: 0 (in {tmp_path / 'none.yaml'}): "
                                     "expected a whole number >= 1")
