"""Secrets: masked in every dump, read from `*_FILE` or a secrets directory, passed to children unprinted."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr, ValidationError

from newsmon.endpoints import settings_env
from newsmon.settings import Settings

SECRET = "es-pa55-word"


def test_elasticsearch_password_and_api_key_are_masked():
    settings = Settings(elasticsearch_username="elastic", elasticsearch_password=SECRET, elasticsearch_api_key=SECRET)
    assert isinstance(settings.elasticsearch_password, SecretStr)
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())
    assert settings.elasticsearch_password_secret.get_secret_value() == SECRET


def test_elasticsearch_secrets_from_files(tmp_path):
    (tmp_path / "pw").write_text(SECRET + "\n", encoding="utf-8")
    (tmp_path / "key").write_text("api-key-value", encoding="utf-8")
    settings = Settings(elasticsearch_username="elastic", elasticsearch_password_file=tmp_path / "pw",
                        elasticsearch_api_key_file=tmp_path / "key")
    assert settings.elasticsearch_password_secret.get_secret_value() == SECRET
    assert settings.elasticsearch_api_key_secret.get_secret_value() == "api-key-value"
    env = settings_env(settings)
    assert env["NEWSMON_ELASTICSEARCH_PASSWORD_FILE"] == str(tmp_path / "pw")
    assert SECRET not in "".join(env.values())  # the child reads the file itself


def test_a_secret_and_its_file_together_are_refused(tmp_path):
    (tmp_path / "pw").write_text(SECRET, encoding="utf-8")
    with pytest.raises(ValidationError, match="ELASTICSEARCH_PASSWORD or ELASTICSEARCH_PASSWORD_FILE, not both"):
        Settings(elasticsearch_password="x", elasticsearch_password_file=tmp_path / "pw")


def test_an_unreadable_secret_file_is_named_without_content(tmp_path):
    with pytest.raises(ValidationError, match="ELASTICSEARCH_API_KEY_FILE .*missing: cannot be read"):
        Settings(elasticsearch_api_key_file=tmp_path / "missing")


def test_a_secrets_directory_supplies_settings_by_name(tmp_path, monkeypatch):
    (tmp_path / "elasticsearch_password").write_text(SECRET, encoding="utf-8")
    monkeypatch.delenv("ELASTICSEARCH_PASSWORD", raising=False)
    settings = Settings(_secrets_dir=tmp_path)
    assert settings.elasticsearch_password_secret.get_secret_value() == SECRET


def test_environment_wins_over_the_secrets_directory(tmp_path, monkeypatch):
    (tmp_path / "elasticsearch_password").write_text("from-dir", encoding="utf-8")
    monkeypatch.setenv("ELASTICSEARCH_PASSWORD", "from-env")
    assert Settings(_secrets_dir=tmp_path).elasticsearch_password_secret.get_secret_value() == "from-env"


# --- `${NAME}` in alert destinations ------------------------------------------------------------------------

from newsmon.alerts.rules import RuleError, parse_rules  # noqa: E402
from newsmon.secrets import MissingSecret, expand  # noqa: E402

RULES = """destinations:
  desk: ${NEWSMON_TEST_DESK_URL}
rules:
  - name: Putin
    query: 'speaker.name:"Vladimir Putin"'
    destinations: [desk]
"""


def test_expand_reads_the_variable_or_its_file(tmp_path):
    (tmp_path / "url").write_text("json://127.0.0.1:9/from-file\n", encoding="utf-8")
    assert expand("${A}/x", {"A": "json://h"}) == "json://h/x"
    assert expand("${A}", {"A_FILE": str(tmp_path / "url")}) == "json://127.0.0.1:9/from-file"
    assert expand("no reference", {}) == "no reference"
    with pytest.raises(MissingSecret, match=r"\$\{A\} is used but neither A nor A_FILE is set"):
        expand("${A}", {})


def test_rule_destinations_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("NEWSMON_TEST_DESK_URL", "mailtos://user:s3cr3t@127.0.0.1:9?from=newsmon@example.org&to=desk@example.org")
    rules = parse_rules(RULES)
    assert rules.urls("desk") == ["mailtos://user:s3cr3t@127.0.0.1:9?from=newsmon@example.org&to=desk@example.org"]
    assert rules.labels(rules.rules[0]) == ["desk"]  # alerts carry the name, never the URL


def test_a_missing_destination_secret_stops_the_rules_at_load(monkeypatch):
    monkeypatch.delenv("NEWSMON_TEST_DESK_URL", raising=False)
    monkeypatch.delenv("NEWSMON_TEST_DESK_URL_FILE", raising=False)
    with pytest.raises(RuleError, match="neither NEWSMON_TEST_DESK_URL nor NEWSMON_TEST_DESK_URL_FILE"):
        parse_rules(RULES)


@pytest.mark.integration
@pytest.mark.timeout(400)  # the first test of a session also waits for the servers to start
def test_a_failing_secret_destination_leaves_no_secret_anywhere(stack_settings, monkeypatch, caplog):
    """A `mailtos://user:secret@...` destination that cannot deliver: the secret is in none of the logs,
    the alerts and dead-letter topics, the dead letters' index documents or the delivery ledger."""
    import logging
    import socket

    from newsmon.alerts.message import make_alert
    from newsmon.sinks.elasticsearch import dead_letter_action
    from newsmon.streams import ALERTS, DEAD_LETTER
    from newsmon.topics import ensure_topics
    from tests.support import topic_records
    from tests.test_notify import publish, run_until, statement

    password = "pw-5ecret-0f-the-desk"
    with socket.socket() as s:  # a port nobody listens on: delivery fails, the alert is dead-lettered
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("NEWSMON_TEST_DESK_URL", f"mailtos://desk:{password}@127.0.0.1:{port}?from=newsmon@example.org&to=desk@example.org")
    caplog.set_level(logging.DEBUG)
    ensure_topics(stack_settings)
    rules = parse_rules(RULES)
    alert = make_alert("Putin", "statements", statement(1), rules.labels(rules.rules[0]))
    publish(stack_settings, [alert])
    stats = run_until(stack_settings, rules, lambda s: s.dead_letters >= 1, retry_budget_s=1.0, backoff_s=0.2)
    assert stats.dead_letters == 1
    letters = topic_records(stack_settings, DEAD_LETTER)
    alerts = topic_records(stack_settings, ALERTS)
    assert letters and alerts
    from newsmon.records import DeadLetter

    documents = [json.dumps(dead_letter_action(stack_settings, DeadLetter.model_validate_json(r.value)))
                 for r in letters]
    ledger = b"".join(p.read_bytes() for p in stack_settings.data_dir.rglob("*") if p.is_file())
    everything = {"logs": caplog.text, "dead letters": b"".join(r.value for r in letters).decode(),
                  "alerts": b"".join(r.value for r in alerts).decode(), "index documents": "".join(documents),
                  "ledger": ledger.decode("utf-8", "replace")}
    assert ledger  # the delivery ledger was written (and is searched too)
    leaked = [where for where, text in everything.items() if password in text]
    assert leaked == []
    hint = f"desk:{password[0]}...{password[-1]}@"  # apprise's privacy form keeps the first and last letter
    assert [where for where, text in everything.items() if hint in text] == []
    assert "delivery failed" in everything["dead letters"]


# --- URLs redacted wherever printed or logged ----------------------------------------------------------------

from newsmon.secrets import redact  # noqa: E402


@pytest.mark.parametrize(("text", "shown"), [
    ("http://elastic:pa55@127.0.0.1:9200", "http://elastic:****@127.0.0.1:9200"),
    ("https://u:p@ss@es.example.org/x?y=1", "https://u:****@es.example.org/x?y=1"),  # the last @ ends it
    ("Elasticsearch at https://e:pw@es:9200: unreachable (boom)", "Elasticsearch at https://e:****@es:9200: unreachable (boom)"),
    ("SASL_SSL://u:pw@broker:9092,b2:9092", "SASL_SSL://u:****@broker:9092,b2:9092"),
    ("https://h/feed.xml?token=abc&page=2&apikey=zz", "https://h/feed.xml?token=****&page=2&apikey=****"),
    ("https://h/f?access_token=abc#x", "https://h/f?access_token=****#x"),
    ("http://127.0.0.1:9200", "http://127.0.0.1:9200"),
    ("desk@example.org wrote", "desk@example.org wrote"),
])
def test_redact_masks_url_passwords_and_token_parameters(text, shown):
    assert redact(text) == shown


def test_every_log_line_is_redacted_by_the_newsmon_handler():
    import logging

    from newsmon.logs import RedactSecrets

    record = logging.LogRecord("newsmon.x", logging.ERROR, __file__, 1, "cannot reach %s: %s", (
        f"http://elastic:{SECRET}@127.0.0.1:1", "refused"), None)
    try:
        raise ConnectionError(f"http://elastic:{SECRET}@127.0.0.1:1 refused")
    except ConnectionError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactSecrets().filter(record)
    line = logging.Formatter().format(record)
    assert SECRET not in line and "http://elastic:****@127.0.0.1:1" in line


def _credential_url(url: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://elastic:{password}@{rest}"


@pytest.mark.integration
@pytest.mark.timeout(400)
def test_status_search_and_sink_start_print_no_password(stack_settings, caplog, tmp_path):
    """`ELASTICSEARCH_URL` with user:password (reachable and not): `newsmon status`, `newsmon search` and the
    sink's start log show `elastic:****@`, never the password."""
    import logging
    import socket
    import threading

    from newsmon.indices import ensure_templates, make_client
    from newsmon.sinks.consumer import run as run_sink
    from newsmon.topics import ensure_topics
    from tests.test_cli import clean_env, newsmon

    password = "pw-0f-the-search-server"
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    outputs = []
    for url in (stack_settings.elasticsearch_url, closed):
        env = clean_env(tmp_path) | {"ELASTICSEARCH_URL": _credential_url(url, password),
                                     "KAFKA_BOOTSTRAP_SERVERS": str(stack_settings.kafka_bootstrap_servers)}
        for args in (["status"], ["search", "*"]):
            result = newsmon(*args, env=env)
            outputs.append((args[0], url, result.stdout + result.stderr))
    assert [(cmd, url) for cmd, url, out in outputs if password in out] == []
    status_up, _, status_down, search_down = (out for _, _, out in outputs)
    assert "elastic:****@127.0.0.1" in status_up and "elastic:****@127.0.0.1" in status_down
    assert "unreachable" in search_down and "elastic:****@127.0.0.1" in search_down

    settings = stack_settings.model_copy(update={"elasticsearch_url": _credential_url(stack_settings.elasticsearch_url,
                                                                                      password)})
    ensure_topics(settings)
    ensure_templates(settings, make_client(settings))
    caplog.set_level(logging.INFO)
    stop = threading.Event()
    run_sink(settings, stop, idle_exit_s=1.0)
    started = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sink: consuming")]
    assert started and "elastic:****@127.0.0.1" in started[0]
    assert password not in caplog.text


def test_deliveries_queued_under_an_earlier_label_are_still_delivered(tmp_path):
    """Ledger rows an earlier release queued under its label (privacy form + short hash of the URL) resolve
    to the same URL after the upgrade: delivered, not dead-lettered as unknown."""
    import time

    from newsmon.alerts.message import make_alert
    from newsmon.alerts.notify import Ledger, Notifier
    from newsmon.records import stable_id
    from tests.test_notify import statement

    url = "json://127.0.0.1:9/hook?token=t0ken"
    rules = parse_rules(f"rules:\n  - name: Putin\n    query: putin\n    destinations: ['{url}']\n")
    old_label = f"json://127.0.0.1:9/hook#{stable_id(url)[:8]}"
    settings = Settings(data_dir=tmp_path / "data", topic_prefix="t")
    ledger = Ledger.for_settings(settings)
    alert = make_alert("Putin", "statements", statement(1), [old_label])
    target = stable_id(old_label, url)
    ledger.enqueue(alert, target, old_label)
    sent, letters = [], []
    notifier = Notifier(settings, rules, ledger, letters.append, send=lambda u, a: sent.append((u, a.id)))
    notifier.start()
    deadline = time.monotonic() + 10
    while ledger.status(alert.id, target) != "sent" and time.monotonic() < deadline:
        time.sleep(0.05)
    notifier.stop(5)
    assert sent == [(url, alert.id)] and letters == [] and ledger.status(alert.id, target) == "sent"
    ledger.close()
