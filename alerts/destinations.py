"""Alert destinations (apprise URLs): the label an inline URL travels under, whether apprise can load a URL,
and apprise's own log lines kept free of secrets.

A label names a URL without any part of its secrets: the scheme, the host when it is a host name or an
address (many apprise services put a token where the host goes: `tgram://{bot_token}/...`), and the rule
and position that give it, e.g. `mailtos://mail.example.org (Putin on Syria #2)`. The rule names in a file
are unique, so the label is too, and it is computed from the rules file alone: the processor that writes
it into alerts and the notifier that resolves it back (`RuleSet.urls`), in another process or container,
agree with no key or state to share. No hash of the URL is used: a hash of a URL with a password can be
brute-forced back to the password. Renaming a rule or reordering its destinations changes the labels (as
a rename changes its alert ids): deliveries still queued under the old label are dead-lettered with the
reason. Labels of earlier releases (privacy form and a short hash) are still resolved (`LEGACY_LABEL`), so
alerts and ledger rows from before an upgrade are delivered; they are never written.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from urllib.parse import urlsplit

from newsmon.logs import RedactSecrets
from newsmon.secrets import MASK, REFERENCE, redact

__all__ = ["label", "loadable", "mask", "LEGACY_LABEL"]

_HOST_NAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}|localhost", re.IGNORECASE)
# apprise's privacy forms keep a secret's first and last character (`s...w`) or its last four (`...abcd`)
_PRIVACY_FORM = re.compile(r"[^\s/:@?&=#]?\.\.\.[^\s/:@?&=#]{0,4}")
# labels of earlier releases: apprise's privacy form and a short hash of the URL (resolved, never written)
LEGACY_LABEL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://[^ ]*#(?P<hash>[0-9a-f]{8})$")


def _where(url: str) -> str:
    """`scheme://host[:port]` of a destination as written in the rules file (`${NAME}` parts not shown)."""
    scheme, sep, _ = url.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        names = REFERENCE.findall(url)
        return f"${{{names[0]}}}" if names and url.strip() == f"${{{names[0]}}}" else "…"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return f"{scheme}://…"
    if not _is_host(host):
        return f"{scheme}://…"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + (f":{port}" if port else "")


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOST_NAME.fullmatch(host))


def label(rule: str, position: int, url: str) -> str:
    """The label of the `position`-th (1-based) destination of `rule`, an inline apprise URL (see above)."""
    return f"{_where(url)} ({rule} #{position})"


def mask(text: str) -> str:
    """`text` (an apprise message) with URL credentials and apprise's privacy forms of secrets masked."""
    return _PRIVACY_FORM.sub(MASK, redact(text))


def loadable(url: str) -> bool:
    """Whether apprise can load `url` (a known service, well formed); its complaint is logged masked."""
    import apprise

    return apprise.Apprise.instantiate(url) is not None


class MaskApprise(RedactSecrets):
    """On the `apprise` logger: its lines quote URLs in a privacy form that keeps the first and last
    character of a password (`user:s...w`) or the last four of a token; none of that is logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return super().filter(record)


def _mask_apprise_logs() -> None:
    logger = logging.getLogger("apprise")
    if not any(isinstance(f, MaskApprise) for f in logger.filters):
        logger.addFilter(MaskApprise())


_mask_apprise_logs()
