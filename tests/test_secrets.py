"""Secrets: masked in every dump, read from `*_FILE` or a secrets directory, passed to children unprinted."""

from __future__ import annotations

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
