"""Response bodies decoded with a bound on every Content-Encoding layer (no decompression bombs).

httpx would inflate `Content-Encoding: gzip, gzip` completely, on the event loop, before any size check:
6,777 bytes become 4 GiB. Here each layer is inflated at most `max_bytes + 1` bytes at a time and the
work runs in a thread (the caller's job), so a bomb costs one bounded decode and a `BodyTooLarge`.
"""

from __future__ import annotations

import zlib

ACCEPT_ENCODING = "gzip, deflate"  # the only codings decoded here; others are refused


class BodyError(ValueError):
    """The body cannot be decoded as declared; the message says why."""


class BodyTooLarge(BodyError):
    """A decoded layer exceeds the limit."""


def codings(header: str) -> list[str]:
    """The codings of a Content-Encoding header in the order they were applied (identity dropped)."""
    names = [c.strip().lower() for c in header.split(",")]
    return [c for c in names if c and c != "identity"]


def decode_body(raw: bytes, content_encoding: str, max_bytes: int) -> bytes:
    """`raw` with every coding of `content_encoding` undone, last applied first, each layer capped."""
    data = raw
    for coding in reversed(codings(content_encoding)):
        data = _inflate(data, coding, max_bytes)
    if len(data) > max_bytes:
        raise BodyTooLarge(f"response exceeds the limit of {max_bytes:,} bytes")
    return data


def _inflate(data: bytes, coding: str, max_bytes: int) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return _zlib_members(data, 16 + zlib.MAX_WBITS, coding, max_bytes)
    if coding == "deflate":
        try:  # RFC 9110 says zlib-wrapped; some servers send raw deflate
            return _zlib_members(data, zlib.MAX_WBITS, coding, max_bytes)
        except BodyTooLarge:
            raise
        except BodyError:
            return _zlib_members(data, -zlib.MAX_WBITS, coding, max_bytes)
    raise BodyError(f"unsupported Content-Encoding {coding!r} (accepted: {ACCEPT_ENCODING})")


def _zlib_members(data: bytes, wbits: int, coding: str, max_bytes: int) -> bytes:
    """Inflate every member (gzip allows several back to back) without ever holding more than the limit."""
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(wbits)
        try:
            out += inflater.decompress(data, max_bytes + 1 - len(out))
        except zlib.error as exc:
            raise BodyError(f"{coding} body cannot be decoded ({exc})") from None
        if len(out) > max_bytes or inflater.unconsumed_tail:
            raise BodyTooLarge(f"response exceeds the limit of {max_bytes:,} bytes once decoded ({coding})")
        if not inflater.eof:
            raise BodyError(f"{coding} body is truncated")
        data = inflater.unused_data
    return bytes(out)
