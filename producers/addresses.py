"""Which addresses an untrusted link may reach, checked on the address actually connected to.

Item links, redirects and page URLs come from strangers: followed blindly they reach the loopback
interface, the private network or a cloud metadata service (SSRF). The policy is a pure function of
resolved addresses (`refusal`); `GuardedBackend` applies it inside the HTTP connection itself: it
resolves the host once, refuses if *any* address is not public, and connects to the checked address,
so a second DNS answer (rebinding) or an odd spelling of an address (`2130706433`, `0x7f.1`,
`::ffff:127.0.0.1`) cannot slip past. Operator-written feed URLs are trusted and do not pass here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Iterable, Sequence

import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressRefused(httpcore.ConnectError):
    """The host resolves to an address untrusted links may not reach (or does not resolve)."""


def parse_networks(values: Iterable[str]) -> list[IPNetwork]:
    """`127.0.0.0/8`, `::1` ... as networks (a bare address is a one-address network)."""
    return [ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip()]


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried inside an IPv6 one (mapped, 6to4, Teredo, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(address: str | IPAddress, allowed: Sequence[IPNetwork] = ()) -> str | None:
    """Why an untrusted link may not connect to `address` (None: it may).

    Refused: loopback, private, link-local, multicast, reserved, unspecified and any other address that is
    not globally routable, also when wrapped in an IPv6 form; `allowed` networks are let through (for
    local testing and demos: the default is none).
    """
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return f"not an IP address: {address!r}"
    target = _embedded_v4(ip) or ip  # an IPv6 wrapping is judged by the IPv4 address it leads to
    if any(target.version == net.version and target in net for net in allowed):
        return None
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(target, f"is_{kind}"):
            return f"{ip} is a {kind.replace('_', '-')} address"
    if not target.is_global:
        return f"{ip} is not a public address"
    return None


def first_allowed(host: str, addresses: Sequence[str], allowed: Sequence[IPNetwork] = ()) -> str:
    """The address to connect to: the first of `addresses`, provided none of them is refused.

    All must pass: a host that resolves to one public and one internal address is refused, since which one
    a later lookup returns is the attacker's choice. Raises `AddressRefused` with the reason.
    """
    if not addresses:
        raise AddressRefused(f"{host}: no address")
    for address in addresses:
        reason = refusal(address, allowed)
        if reason:
            raise AddressRefused(f"{host}: refused, {reason} (untrusted links reach public addresses only)")
    return addresses[0]


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order (an IP literal in any spelling included)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise AddressRefused(f"cannot resolve host: {exc.strerror or exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to addresses `refusal` lets through.

    The TLS layer still verifies the certificate against the host name (httpcore takes it from the URL),
    while the TCP connection goes to the address that was checked.
    """

    def __init__(self, allowed: Sequence[IPNetwork] = (), inner: httpcore.AsyncNetworkBackend | None = None):
        self.allowed = tuple(allowed)
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.AsyncNetworkStream:
        address = first_allowed(host, await resolve(host, port), self.allowed)
        return await self.inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                            socket_options=socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[typing.Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("unix sockets are not reachable from untrusted links")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
