"""`${NAME}` in configuration text (alert destinations): the value of environment variable NAME, or the
content of the file named by NAME_FILE (Docker / Kubernetes secrets under /run/secrets). A rules file can
then name its apprise URLs without holding their tokens and passwords.

`redact` masks the credentials of URLs (and of text quoting them) before they are printed or logged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingSecret(ValueError):
    """A `${NAME}` with neither NAME nor NAME_FILE set (the message names the variable, never a value)."""


def references(text: str) -> list[str]:
    """The variable names `text` refers to, in order."""
    return REFERENCE.findall(text)


def lookup(name: str, environ: Mapping[str, str] | None = None) -> str:
    """NAME, else the content of the file NAME_FILE points to (one trailing newline dropped)."""
    env = os.environ if environ is None else environ
    if name in env:
        return env[name]
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise MissingSecret(f"{name}_FILE {path}: cannot be read ({exc.strerror or exc})") from None
    raise MissingSecret(f"${{{name}}} is used but neither {name} nor {name}_FILE is set")


def expand(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every `${NAME}` replaced by its value (see `lookup`)."""
    return REFERENCE.sub(lambda m: lookup(m.group(1), environ), text)


# --- redaction: URLs as they may be printed or logged ----------------------------------------------------------

_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+._-]*://[^:@/\s?#]*):(?P<password>[^/\s?#]*)@")
_TOKEN_PARAMETER = re.compile(
    r"(?P<head>[?&;](?:[A-Za-z_-]*(?:token|key|secret|password|passwd|pass|pwd|auth|signature|sig|credential)"
    r"[A-Za-z_-]*)=)(?P<value>[^&#\s]*)", re.IGNORECASE)
MASK = "****"


def redact(text: str) -> str:
    """`text` with the password of every `scheme://user:password@host` and the value of every secret-looking
    query parameter (`?token=`, `apikey=`, `access_token=`, `password=`, ...) replaced by `****`.

    Works on a bare URL and on any message that quotes one (an exception's text, a log line), so every
    URL that is printed or logged goes through here: `ELASTICSEARCH_URL`, Kafka and feed URLs may carry
    credentials."""
    text = _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
    return _TOKEN_PARAMETER.sub(lambda m: f"{m.group('head')}{MASK}" if m.group("value") else m.group(0), text)
