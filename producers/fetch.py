"""HTTP fetching of feeds and article pages: conditional GET, time and size bounds, clear errors."""

from __future__ import annotations

import asyncio
import errno
import socket
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from dataclasses import dataclass

import httpx

from newsmon.settings import Settings

USER_AGENT = "newsmon/0.1 (news monitor; RSS reader)"
FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"


class FetchError(Exception):
    """A fetch failed; `kind` is a short machine-readable reason, `str(err)` the readable one."""

    kind = "error"

    def __init__(self, url: str, reason: str):
        super().__init__(reason)
        self.url = url
        self.reason = reason


class Unreachable(FetchError):
    """The host could not be reached (DNS failure, connection refused, network down, broken connection)."""

    kind = "unreachable"


class FetchTimeout(FetchError):
    """The server did not answer, or not completely, in time."""

    kind = "timeout"


class TooLarge(FetchError):
    """The response is larger than `Settings.max_response_bytes`."""

    kind = "too large"


class HTTPStatusError(FetchError):
    """The server answered with an error status."""

    kind = "http error"

    def __init__(self, url: str, reason: str, status: int, retry_after_s: float | None = None):
        super().__init__(url, reason)
        self.status = status
        self.retry_after_s = retry_after_s  # from a Retry-After header (429, 503)


class TooManyRedirects(FetchError):
    """More redirects than `Settings.max_redirects`."""

    kind = "too many redirects"


@dataclass(frozen=True)
class Validators:
    """HTTP cache validators remembered per feed for conditional GET."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        h = {}
        if self.etag:
            h["If-None-Match"] = self.etag
        if self.last_modified:
            h["If-Modified-Since"] = self.last_modified
        return h


@dataclass
class FetchResult:
    """A completed fetch: the body (None on 304 Not Modified), the final URL and the new validators."""

    url: str
    status: int
    content: bytes | None
    content_type: str
    validators: Validators
    moved_to: str | None = None  # where a permanent redirect (301, 308) led


    @property
    def not_modified(self) -> bool:
        return self.status == 304


def make_client(settings: Settings) -> httpx.AsyncClient:
    """The shared HTTP client: redirect limit, timeouts and connection limits from the settings."""
    return httpx.AsyncClient(
        follow_redirects=True,
        max_redirects=settings.max_redirects,
        timeout=httpx.Timeout(settings.http_timeout_s),
        limits=httpx.Limits(max_connections=max(settings.max_concurrent_fetches, 1) * 2),
        headers={"User-Agent": USER_AGENT},
    )


async def fetch(client: httpx.AsyncClient, url: str, settings: Settings, validators: Validators | None = None,
                accept: str = "*/*") -> FetchResult:
    """GET `url` within `settings.http_timeout_s` (total) and `settings.max_response_bytes` (decoded body).

    Raises a `FetchError` subclass with a readable reason.
    """
    headers = {"Accept": accept, **(validators.headers() if validators else {})}
    try:
        return await asyncio.wait_for(_get(client, url, headers, settings.max_response_bytes),
                                      settings.http_timeout_s)
    except asyncio.TimeoutError:
        raise FetchTimeout(url, f"no complete answer within {settings.http_timeout_s:g}s") from None
    except httpx.TooManyRedirects:
        raise TooManyRedirects(url, f"more than {settings.max_redirects} redirects") from None
    except httpx.TimeoutException as exc:
        raise FetchTimeout(url, f"{_timeout_phase(exc)} timed out after {settings.http_timeout_s:g}s") from None
    except httpx.ConnectError as exc:
        raise Unreachable(url, _connect_reason(exc)) from None
    except httpx.UnsupportedProtocol as exc:
        raise FetchError(url, f"unsupported URL ({exc})") from None
    except httpx.TransportError as exc:
        raise Unreachable(url, f"{type(exc).__name__}: {exc or 'connection broken'}") from None


async def _get(client: httpx.AsyncClient, url: str, headers: dict[str, str], max_bytes: int) -> FetchResult:
    async with client.stream("GET", url, headers=headers) as resp:
        final = str(resp.url)
        moved = final if any(r.status_code in (301, 308) for r in resp.history) else None
        if resp.status_code == 304:
            return FetchResult(final, 304, None, "", _validators(resp), moved)
        if resp.status_code >= 400:
            raise HTTPStatusError(url, f"HTTP {resp.status_code} {resp.reason_phrase}".strip(), resp.status_code,
                                  _retry_after_s(resp.headers.get("Retry-After")))
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise TooLarge(url, f"response is {int(declared):,} bytes, limit {max_bytes:,}")
        body = bytearray()
        async for chunk in resp.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise TooLarge(url, f"response exceeds the limit of {max_bytes:,} bytes")
        return FetchResult(final, resp.status_code, bytes(body), resp.headers.get("Content-Type", ""),
                           _validators(resp), moved)


def _retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds()) if when.tzinfo else None


def _validators(resp: httpx.Response) -> Validators:
    return Validators(resp.headers.get("ETag"), resp.headers.get("Last-Modified"))


def _timeout_phase(exc: httpx.TimeoutException) -> str:
    return {httpx.ConnectTimeout: "connect", httpx.ReadTimeout: "read", httpx.WriteTimeout: "write",
            httpx.PoolTimeout: "connection pool"}.get(type(exc), "request")


def _connect_reason(exc: Exception) -> str:
    """The most specific cause in the exception chain, named (refused, DNS, network unreachable)."""
    causes: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(causes) < 10:
        causes.append(cur)
        cur = cur.__cause__ or cur.__context__
    for cause in reversed(causes):
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve host: {cause.strerror or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return f"network unreachable: {cause.strerror}"
    return str(exc) or type(exc).__name__
