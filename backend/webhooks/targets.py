"""Which URLs the server may call: a shop's endpoint must not point into our own network.

Every address the host resolves to is checked, so that a name with one public and one
private address is refused too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class TargetRefusedError(ValueError):
    """The URL is not one the server calls; the message says why, without the URL."""


def _is_private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def check_url_form(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL; TargetRefusedError for anything else."""
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
        if _is_private(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])):
            raise TargetRefusedError("the host resolves to a private or loopback address")
