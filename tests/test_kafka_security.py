"""Kafka security settings: the option builders of each client family (no server), and the real thing:
an Apache Kafka with a SASL_PLAINTEXT (PLAIN) listener, reached through newsmon's own clients."""

from __future__ import annotations

import ast
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr, ValidationError

from newsmon import kafka as clients
from newsmon.endpoints import settings_env
from newsmon.records import RawArticle
from newsmon.settings import Settings, settings_error
from newsmon.streams import ARTICLES, RAW
from tests.support import topic_records, wait_for

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "s3cret-Kafka-pw"
WRONG = "not-the-Kafka-pw"
USER = "newsmon"


def sasl(**kw) -> Settings:
    return Settings(**{"kafka_bootstrap_servers": "k1:9093,k2:9093", "kafka_security_protocol": "SASL_PLAINTEXT",
                       "kafka_sasl_username": USER, "kafka_sasl_password": PASSWORD, **kw})


def refusal(**kw) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings(**kw)
    return settings_error(caught.value)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> dict[str, Path]:
    """A self-signed CA/certificate and its key (openssl), for building TLS contexts."""
    if not shutil.which("openssl"):
        pytest.skip("openssl not on PATH: cannot make a test certificate")
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=kafka.test",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return {"cafile": cert, "certfile": cert, "keyfile": key}


# --- settings ----------------------------------------------------------------------------------------


def test_defaults_are_plaintext_and_env_names_follow_the_kafka_style(monkeypatch, tmp_path):
    assert Settings().kafka_security_protocol == "PLAINTEXT" and Settings().kafka_sasl_mechanism == "PLAIN"
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "sasl_ssl")  # case as people type it
    monkeypatch.setenv("NEWSMON_KAFKA_SASL_MECHANISM", "scram-sha-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", USER)
    monkeypatch.setenv("NEWSMON_KAFKA_SASL_PASSWORD", PASSWORD)
    s = Settings()
    assert (s.kafka_security_protocol, s.kafka_sasl_mechanism, s.kafka_sasl_username) == ("SASL_SSL", "SCRAM-SHA-512", USER)
    assert s.kafka_sasl_secret.get_secret_value() == PASSWORD


def test_the_password_is_never_shown():
    s = sasl()
    for text in (repr(s), str(s), json.dumps(s.model_dump(mode="json")), s.model_dump_json(), repr(s.model_dump())):
        assert PASSWORD not in text
    assert isinstance(s.kafka_sasl_password, SecretStr)


def test_the_password_can_come_from_a_file(tmp_path, monkeypatch):
    secret = tmp_path / "kafka_password"
    secret.write_text(PASSWORD + "\n")  # as `echo` writes it
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(secret))
    s = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username=USER)
    assert s.kafka_sasl_password is None and s.kafka_sasl_secret.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(s)
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "other")
    assert "not both" in refusal(kafka_security_protocol="SASL_SSL", kafka_sasl_username=USER)


@pytest.mark.parametrize("kw, expected", [
    ({"kafka_security_protocol": "SASL_SSL"},
     "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": USER},
     "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT needs KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": USER, "kafka_sasl_password": ""},
     "needs KAFKA_SASL_PASSWORD"),
    ({"kafka_sasl_username": USER, "kafka_sasl_password": PASSWORD},
     "SASL credentials are set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": USER, "kafka_sasl_password_file": "/nonexistent/pw"},
     "KAFKA_SASL_PASSWORD_FILE /nonexistent/pw: cannot be read"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nonexistent/ca.pem"}, "KAFKA_SSL_CAFILE /nonexistent/ca.pem: no such file"),
    ({"kafka_security_protocol": "TLS"}, "KAFKA_SECURITY_PROTOCOL=TLS: expected one of 'PLAINTEXT', 'SSL', "),
    ({"kafka_sasl_mechanism": "GSSAPI"}, "KAFKA_SASL_MECHANISM=GSSAPI: expected one of 'PLAIN', "),
])
def test_combinations_that_cannot_work_are_refused_clearly(kw, expected):
    message = refusal(**kw)
    assert message.startswith("invalid configuration: ") and expected in message, message
    assert PASSWORD not in message and "\n" not in message


def test_tls_files_need_a_tls_protocol(tls_files):
    assert "KAFKA_SSL_CAFILE set but KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT" in refusal(
        kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username=USER, kafka_sasl_password=PASSWORD,
        kafka_ssl_cafile=tls_files["cafile"])
    assert "KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE" in refusal(kafka_security_protocol="SSL",
                                                                     kafka_ssl_keyfile=tls_files["keyfile"])


# --- option builders ---------------------------------------------------------------------------------


def test_plaintext_builds_plain_clients():
    s = Settings(kafka_bootstrap_servers="k:9092")
    assert clients.security_options(s) == {"security_protocol": "PLAINTEXT"}
    assert clients.client_options(s, client_id="x") == {"bootstrap_servers": "k:9092", "security_protocol": "PLAINTEXT",
                                                        "client_id": "x"}
    assert clients.ssl_context(s) is None and clients.faust_credentials(s) is None
    assert credentials_to_aiokafka_auth(clients.faust_credentials(s)) == {"security_protocol": "PLAINTEXT"}


def test_sasl_options_for_kafka_python_aiokafka_and_faust():
    s = sasl(kafka_sasl_mechanism="SCRAM-SHA-512")
    expected = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_plain_username": USER, "sasl_plain_password": PASSWORD}
    assert clients.security_options(s) == expected
    config = clients.consumer_config(s, "g", "c")
    assert {k: config[k] for k in expected} == expected and config["bootstrap_servers"] == "k1:9093,k2:9093"
    assert clients.aiokafka_security_options(s) == {**expected, "ssl_context": None}
    credentials = clients.faust_credentials(s)
    assert isinstance(credentials, faust.SASLCredentials) and PASSWORD not in repr(credentials)
    assert credentials_to_aiokafka_auth(credentials) == {**expected, "ssl_context": None}  # what Faust hands aiokafka


def test_tls_options_for_each_family(tls_files):
    files = {f"kafka_ssl_{k}": v for k, v in tls_files.items()}
    tls = Settings(kafka_security_protocol="SSL", **files)
    assert clients.security_options(tls) == {"security_protocol": "SSL", **{f"ssl_{k}": str(v) for k, v in tls_files.items()}}
    context = clients.ssl_context(tls)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    credentials = clients.faust_credentials(tls)
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials_to_aiokafka_auth(credentials)["security_protocol"] == "SSL"

    both = sasl(kafka_security_protocol="SASL_SSL", kafka_ssl_cafile=tls_files["cafile"])
    assert clients.security_options(both)["ssl_cafile"] == str(tls_files["cafile"])
    auth = credentials_to_aiokafka_auth(clients.faust_credentials(both))
    assert auth["security_protocol"] == "SASL_SSL" and isinstance(auth["ssl_context"], ssl.SSLContext)
    assert auth["sasl_plain_password"] == PASSWORD
    # no CA file: the system's CAs verify the broker (never an unverified context)
    system = clients.ssl_context(sasl(kafka_security_protocol="SASL_SSL"))
    assert system.verify_mode == ssl.CERT_REQUIRED


def test_settings_env_passes_the_password_in_the_environment_only(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith(("KAFKA_", "NEWSMON_KAFKA_")):
            monkeypatch.delenv(key)
    s = sasl(data_dir=tmp_path)
    env = settings_env(s)
    assert env["NEWSMON_KAFKA_SASL_PASSWORD"] == PASSWORD  # the value, not SecretStr's "**********"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings() == s

    secret = tmp_path / "pw"
    secret.write_text(PASSWORD)
    from_file = sasl(data_dir=tmp_path, kafka_sasl_password=None, kafka_sasl_password_file=secret)
    env = settings_env(from_file)
    assert "NEWSMON_KAFKA_SASL_PASSWORD" not in env and PASSWORD not in json.dumps(env)  # the child reads the file
    assert env["NEWSMON_KAFKA_SASL_PASSWORD_FILE"] == str(secret)


def test_no_kafka_client_is_built_outside_newsmon_kafka():
    """One code path: the stages build kafka-python/aiokafka clients only through newsmon.kafka, and the
    Faust app always gets its broker credentials from there."""
    constructors = {"KafkaProducer", "KafkaConsumer", "KafkaAdminClient", "AIOKafkaProducer", "AIOKafkaConsumer",
                    "AIOKafkaClient", "AIOKafkaAdminClient"}
    allowed = {REPO / "newsmon" / "kafka.py",
               REPO / "newsmon" / "servers" / "kafka.py"}  # the readiness probe of a broker it started (PLAINTEXT)
    offenders, apps = [], []
    for package in ("newsmon", "producers", "processors", "sinks", "alerts", "bench"):
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in constructors and path not in allowed:
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {name}")
                if ast.unparse(node.func) in ("faust.App", "ProcessorApp"):  # ProcessorApp: a faust.App
                    apps.append((path, {k.arg for k in node.keywords}))
    assert not offenders, offenders
    assert apps and all("broker_credentials" in keywords for _, keywords in apps), apps


# --- a real broker with a SASL listener --------------------------------------------------------------


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory):
    """Apache Kafka with a SASL_PLAINTEXT (PLAIN) listener knowing one user, for this module only."""
    from newsmon.servers.kafka import KafkaServer
    from newsmon.servers.runtime import apache_unavailable_reason

    if reason := apache_unavailable_reason():
        pytest.skip(f"Apache Kafka cannot run here: {reason}")
    server = KafkaServer(tmp_path_factory.mktemp("sasl-kafka"), sasl_users={USER: PASSWORD}, say=lambda line: None)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def secure(sasl_broker, tmp_path, request) -> Settings:
    """Settings that reach the broker through its SASL listener only, with names unique to the test."""
    name = "s" + str(abs(hash(request.node.nodeid)) % 10**8)
    return Settings(kafka_bootstrap_servers=sasl_broker.sasl_bootstrap, kafka_security_protocol="SASL_PLAINTEXT",
                    kafka_sasl_username=USER, kafka_sasl_password=PASSWORD, elasticsearch_url="http://127.0.0.1:9",
                    data_dir=tmp_path / "data", topic_prefix=name, index_prefix=name, partitions=2)


def wrong(settings: Settings) -> Settings:
    return settings.model_copy(update={"kafka_sasl_password": SecretStr(WRONG)})


def our_topics(settings: Settings) -> set[str]:
    """Topics of this test's prefix, asked with the right credentials."""
    right = settings.model_copy(update={"kafka_sasl_password": SecretStr(PASSWORD)})
    admin = clients.make_admin(right, client_id="test-admin")
    try:
        return {t for t in admin.list_topics() if t.startswith(settings.topic_prefix + ".")}
    finally:
        admin.close()


def seed_article(seed_texts) -> RawArticle:
    title, _, body = seed_texts["000"].partition("\n")
    return RawArticle(id="seed-000", feed="seeds", url="http://news.test/000", title=title, content=body)


def cli_env(settings: Settings, password: str) -> dict[str, str]:
    """The environment an operator would set: the documented variables, nothing else of newsmon's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "NEWSMON_", "ELASTICSEARCH_"))}
    env.update(KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers, ELASTICSEARCH_URL="http://127.0.0.1:9",
               KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", KAFKA_SASL_USERNAME=USER, KAFKA_SASL_PASSWORD=password,
               NEWSMON_DATA_DIR=str(settings.data_dir), NEWSMON_TOPIC_PREFIX=settings.topic_prefix)
    return env


@pytest.mark.integration
def test_sasl_listener_is_advertised_and_demands_a_login(sasl_broker):
    assert sasl_broker.sasl_bootstrap != sasl_broker.bootstrap
    props = (sasl_broker.data_dir / "server.properties").read_text()
    assert f"SASL_PLAINTEXT://{sasl_broker.sasl_bootstrap}" in props and "sasl.enabled.mechanisms=PLAIN" in props
    assert oct((sasl_broker.data_dir / "server.properties").stat().st_mode)[-3:] == "600"  # it holds the password


@pytest.mark.integration
def test_right_password_topics_publish_and_consume_over_sasl(secure, seed_texts):
    from newsmon.producers.publish import Publisher

    from newsmon.topics import ensure_topics, topic_names

    assert ensure_topics(secure) == topic_names(secure)
    assert our_topics(secure) == set(topic_names(secure))
    article = seed_article(seed_texts)
    publisher = Publisher(secure)
    try:
        result = publisher.publish([article])
    finally:
        publisher.close()
    assert result.acked == [article.id] and not result.failed
    records = topic_records(secure, RAW)
    assert [(r.key, RawArticle.model_validate_json(r.value).url) for r in records] == [(b"seed-000", article.url)]


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_faust_worker_over_sasl_turns_a_raw_article_into_an_article(secure, seed_texts, tmp_path):
    """The worker is a child process (`newsmon process`): it gets the password file's path through the
    environment, never the password on its command line, and reaches the broker through Faust/aiokafka."""
    from newsmon.stack import spawn_processor, stop_processor
    from newsmon.topics import ensure_topics
    from newsmon.producers.publish import Publisher
    from newsmon.worker import create_app

    secret = tmp_path / "kafka_password"
    secret.write_text(PASSWORD + "\n")
    settings = Settings(**{**secure.model_dump(exclude={"kafka_sasl_password"}), "kafka_sasl_password_file": secret})
    assert isinstance(create_app(settings).conf.broker_credentials, faust.SASLCredentials)
    ensure_topics(settings)
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = spawn_processor(settings, "warning", stdout=out, stderr=subprocess.STDOUT)
    try:
        assert PASSWORD not in " ".join(map(str, proc.args))
        publisher = Publisher(settings)
        try:
            assert publisher.publish([seed_article(seed_texts)]).acked == ["seed-000"]
        finally:
            publisher.close()
        articles = wait_for(lambda: topic_records(settings, ARTICLES, idle_ms=1000) if proc.poll() is None else [True],
                            timeout=180, step=1.0)
        assert proc.poll() is None, f"the worker died: {log.read_text()[-3000:]}"
        assert [(r.key, json.loads(r.value)["url"]) for r in articles] == [(b"seed-000", "http://news.test/000")]
    finally:
        assert stop_processor(proc) == 0, log.read_text()[-3000:]
    assert PASSWORD not in log.read_text()


@pytest.mark.integration
def test_wrong_password_init_fails_with_one_line_and_writes_nothing(secure):
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "newsmon", "init"], env=cli_env(secure, WRONG), cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    assert "authentication failed" in lines[0] and "Invalid username or password" in lines[0], lines[0]
    assert secure.kafka_bootstrap_servers in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert WRONG not in result.stderr + result.stdout and PASSWORD not in result.stderr + result.stdout
    assert elapsed < 30, f"took {elapsed:.0f}s: the refusal should not wait for a bootstrap timeout"
    assert our_topics(secure) == set()


@pytest.mark.integration
def test_wrong_password_worker_stops_with_one_line_and_writes_nothing(secure):
    from newsmon.stack import spawn_processor

    proc = spawn_processor(wrong(secure), "info", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 2, err[-3000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "authentication failed" in lines[0], err[-3000:]
    assert "Traceback" not in err + out
    assert WRONG not in err + out and PASSWORD not in err + out
    assert our_topics(secure) == set()


@pytest.mark.integration
def test_wrong_password_clients_raise_one_clear_error(secure):
    with pytest.raises(clients.KafkaAuthError) as caught:
        clients.make_producer(wrong(secure))
    message = str(caught.value)
    assert message.startswith(f"Kafka at {secure.kafka_bootstrap_servers}: authentication failed (SASL PLAIN")
    assert WRONG not in message and "\n" not in message
