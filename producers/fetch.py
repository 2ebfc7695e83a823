"""HTTP fetching of feeds and article pages: conditional GET, time and size bounds, an address policy for
what comes from a feed, clear errors."""

from __future__ import annotations

import asyncio
import errno
import socket
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from dataclasses import dataclass

import httpcore
import httpx

from newsmon.settings import Settings
from newsmon.producers.addresses import AddressRefused, GuardedBackend, parse_networks
from newsmon.producers.bodies import ACCEPT_ENCODING, BodyError, BodyTooLarge, decode_body

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


class Refused(FetchError):
    """An untrusted link leads to an address it may not reach, or is not an http(s) URL."""

    kind = "refused"


class Clients:
    """The two HTTP clients of the producer.

    `trusted` connects anywhere and serves only the first request for a feed URL the operator wrote;
    `untrusted` connects only where the address policy allows (`addresses.GuardedBackend`) and serves
    everything that comes from a feed: item links, pages and every redirect, a feed's own included.
    Neither follows redirects by itself: `fetch` follows them, switching to `untrusted` after the first hop.
    """

    def __init__(self, trusted: httpx.AsyncClient, untrusted: httpx.AsyncClient):
        self.trusted = trusted
        self.untrusted = untrusted

    async def aclose(self) -> None:
        await self.trusted.aclose()
        await self.untrusted.aclose()

    async def __aenter__(self) -> "Clients":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def make_client(settings: Settings) -> Clients:
    """The producer's clients: timeouts, connection limits and the address policy from the settings."""
    limits = httpx.Limits(max_connections=max(settings.max_concurrent_fetches, 1) * 2)
    timeout = httpx.Timeout(settings.http_timeout_s)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING}
    guarded = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    # the pool as httpx builds it, with the one change that matters: connections go through the policy
    guarded._pool = httpcore.AsyncConnectionPool(
        ssl_context=guarded._pool._ssl_context, max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(parse_networks(settings.untrusted_allow_networks)))
    return Clients(httpx.AsyncClient(limits=limits, follow_redirects=False, timeout=timeout, headers=headers),
                   httpx.AsyncClient(transport=guarded, trust_env=False, follow_redirects=False, timeout=timeout,
                                     headers=headers))


async def fetch(clients: Clients, url: str, settings: Settings, validators: Validators | None = None,
                accept: str = "*/*", trusted: bool = False) -> FetchResult:
    """GET `url` within `settings.http_timeout_s` (total) and `settings.max_response_bytes` (decoded body).

    `trusted` is for feed URLs from the feed list only: their first request may reach any address;
    redirects, and every untrusted URL, pass the address policy. Raises a `FetchError` with a readable reason.
    """
    headers = {"Accept": accept, **(validators.headers() if validators else {})}
    try:
        return await asyncio.wait_for(_follow(clients, url, headers, settings, trusted), settings.http_timeout_s)
    except asyncio.TimeoutError:
        raise FetchTimeout(url, f"no complete answer within {settings.http_timeout_s:g}s") from None
    except httpx.TimeoutException as exc:
        raise FetchTimeout(url, f"{_timeout_phase(exc)} timed out after {settings.http_timeout_s:g}s") from None
    except httpx.ConnectError as exc:
        refused = _cause(exc, AddressRefused)
        if refused is not None:
            raise Refused(url, str(refused)) from None
        raise Unreachable(url, _connect_reason(exc)) from None
    except httpx.UnsupportedProtocol as exc:
        raise FetchError(url, f"unsupported URL ({exc})") from None
    except httpx.InvalidURL as exc:
        raise Refused(url, f"invalid URL ({exc})") from None
    except httpx.TransportError as exc:
        raise Unreachable(url, f"{type(exc).__name__}: {exc or 'connection broken'}") from None


async def _follow(clients: Clients, url: str, headers: dict[str, str], settings: Settings,
                  trusted: bool) -> FetchResult:
    """Request `url`, then each redirect target through the untrusted client, up to `max_redirects` hops."""
    client, target, permanent = (clients.trusted if trusted else clients.untrusted), url, True
    for hop in range(settings.max_redirects + 1):
        if not target.lower().startswith(("http://", "https://")):
            raise Refused(url, f"not an http(s) URL: {target[:200]!r}")
        async with client.stream("GET", target, headers=headers) as resp:
            nxt = resp.next_request if resp.is_redirect else None
            if nxt is None:
                moved = str(resp.url) if hop and permanent else None
                return await _result(url, resp, settings.max_response_bytes, moved)
            permanent = permanent and resp.status_code in (301, 308)
            target, client = str(nxt.url), clients.untrusted
    raise TooManyRedirects(url, f"more than {settings.max_redirects} redirects")


async def _result(url: str, resp: httpx.Response, max_bytes: int, moved: str | None) -> FetchResult:
    final = str(resp.url)
    if resp.status_code == 304:
        return FetchResult(final, 304, None, "", _validators(resp), moved)
    if resp.status_code >= 400:
        raise HTTPStatusError(url, f"HTTP {resp.status_code} {resp.reason_phrase}".strip(), resp.status_code,
                              _retry_after_s(resp.headers.get("Retry-After")))
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(url, f"response is {int(declared):,} bytes, limit {max_bytes:,}")
    raw = bytearray()
    async for chunk in resp.aiter_raw():  # as sent: decoding happens below, bounded and off the event loop
        raw += chunk
        if len(raw) > max_bytes:
            raise TooLarge(url, f"response exceeds the limit of {max_bytes:,} bytes")
    try:
        body = await asyncio.to_thread(decode_body, bytes(raw), resp.headers.get("Content-Encoding", ""), max_bytes)
    except BodyTooLarge as exc:
        raise TooLarge(url, str(exc)) from None
    except BodyError as exc:
        raise FetchError(url, str(exc)) from None
    return FetchResult(final, resp.status_code, body, resp.headers.get("Content-Type", ""), _validators(resp), moved)


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    cur: BaseException | None = exc
    depth = 0
    while cur is not None and depth < 10:
        if isinstance(cur, kind):
            return cur
        cur, depth = cur.__cause__ or cur.__context__, depth + 1
    return None


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
