"""Which URLs the server may call: a shop's endpoint must not point into our own network.

Every address the host resolves to is checked, so that a name with one public and one
private address is refused too. Only globally routable addresses pass (not the shared
100.64.0.0/10 a cloud's metadata service may sit in, nor site-local IPv6), and IPv6
addresses that carry an IPv4 one (mapped, 6to4, Teredo, NAT64) are judged by that.

The check must hold for the address actually connected to: `CheckedResolver` is the HTTP
client's resolver, so the name is resolved once, checked, and those very addresses are
connected to. A name that resolves to a public address for the check and to a private one
a moment later (DNS rebinding) has no second look-up to exploit.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from backend.text_safety import hidden_character


class TargetRefusedError(ValueError):
    """The URL is not one the server calls; the message says why, without the URL."""


_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
_TEREDO = ipaddress.ip_network("2001::/32")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether the server may connect to `address`: globally routable, and so is any IPv4
    address an IPv6 one carries."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address.sixtofour is not None or address in _TEREDO or address in _SITE_LOCAL:
            return False
        if address in _NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and not address.is_multicast


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text.split("%", 1)[0])


def check_url_form(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL; TargetRefusedError for anything else."""
    if hidden_character(url) is not None:
        raise TargetRefusedError("the URL holds control or invisible characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefusedError("an http or https URL with a host is needed")
    if parts.username or parts.password:
        raise TargetRefusedError("credentials in the URL are not accepted")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefusedError("the port is not valid") from exc
    return parts.hostname, port


async def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse `url` when it is malformed, or (unless `allow_private`) when its host
    resolves to a private, loopback, link-local or otherwise non-public address."""
    host, port = check_url_form(url)
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefusedError("the host does not resolve") from exc
    for *_, sockaddr in infos:
        if not is_public(_address(str(sockaddr[0]))):
            raise TargetRefusedError("the host resolves to a private or loopback address")


class CheckedResolver(AbstractResolver):
    """An aiohttp resolver that refuses a host any of whose addresses is not public (unless
    `allow_private`), so that what is checked is what is connected to."""

    def __init__(self, *, allow_private: bool, base: AbstractResolver | None = None) -> None:
        self.allow_private = allow_private
        self._base = base or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._base.resolve(host, port, family)
        if not self.allow_private:
            for entry in found:
                if not is_public(_address(entry["host"])):
                    raise OSError(f"refused: {host} resolves to a non-public address")
        return found

    async def close(self) -> None:
        await self._base.close()


def checked_http_client(*, allow_private: bool) -> aiohttp.ClientSession:
    """An HTTP client for calling shops' endpoints: every connection through
    `CheckedResolver`, with no DNS cache, so every connection is checked afresh."""
    connector = aiohttp.TCPConnector(
        resolver=CheckedResolver(allow_private=allow_private), use_dns_cache=False
    )
    return aiohttp.ClientSession(connector=connector)
