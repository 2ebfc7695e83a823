"""Where the broker and Elasticsearch are: configuration first, else the running local stack.

A running `newsmon up` records its servers in `<data_dir>/endpoints.json`, so that `search`, `status`
and single stages started from another terminal find them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import SecretStr

from newsmon.settings import Settings

ENDPOINTS_FILE = "endpoints.json"

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


def write_endpoints(data_dir: Path, bootstrap: str | None, es_url: str | None, *, stack: str | None = None,
                    servers: dict[str, str] | None = None) -> Path:
    """Record the running local stack so `search`, `status` etc. find it from another terminal."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / ENDPOINTS_FILE
    path.write_text(json.dumps({"kafka_bootstrap_servers": bootstrap, "elasticsearch_url": es_url,
                                "pid": os.getpid(), "stack": stack, "servers": servers or {}}))
    return path


def read_endpoints(data_dir: Path) -> dict | None:
    """The endpoints of a running local stack, or None when there is none (or its owner is gone)."""
    path = data_dir / ENDPOINTS_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid = data.get("pid")
    if pid:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
    return data


def clear_endpoints(data_dir: Path) -> None:
    (data_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
