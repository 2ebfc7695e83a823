"""Where the broker and Elasticsearch are: configuration first, else the running local stack."""

from __future__ import annotations

import json

from pydantic import SecretStr

from newsmon.localstack import read_endpoints
from newsmon.settings import Settings

NO_STACK = ("no stack running: start `newsmon up` or set KAFKA_BOOTSTRAP_SERVERS / ELASTICSEARCH_URL "
            "(looked for a local stack in {data_dir})")


class NoStackError(RuntimeError):
    """Neither configured endpoints nor a running local stack."""


FIELDS = {"kafka": "kafka_bootstrap_servers", "elasticsearch": "elasticsearch_url"}


def resolve(settings: Settings, need: tuple[str, ...] = ("kafka", "elasticsearch")) -> Settings:
    """`settings` with the endpoints filled in: from env / config file, else `<data_dir>/endpoints.json`.

    `need` names the services the caller uses; only a missing one of those is an error.
    """
    if all(getattr(settings, FIELDS[n]) for n in need):
        return settings
    found = read_endpoints(settings.data_dir)
    if not found:
        raise NoStackError(NO_STACK.format(data_dir=settings.data_dir))
    return settings.model_copy(update={
        "kafka_bootstrap_servers": settings.kafka_bootstrap_servers or found["kafka_bootstrap_servers"],
        "elasticsearch_url": settings.elasticsearch_url or found["elasticsearch_url"],
    })


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that rebuild `settings` in a child process (`NEWSMON_<FIELD>`).

    Secrets (`SecretStr`, masked in every dump and log) are passed with their real value, in the
    environment only (never on a command line); a password read from `KAFKA_SASL_PASSWORD_FILE` is
    not copied at all: the child gets the file's path and reads it itself.
    """
    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        secret = getattr(settings, name)
        if isinstance(secret, SecretStr):
            value = secret.get_secret_value()
        env[f"NEWSMON_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env
