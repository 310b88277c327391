"""No egress: refuse, inside this process, every connection but the allowed ones.

A Python audit hook sees each `socket.connect`, `socket.sendto` and name lookup.
Allowed: Unix sockets (the Docker engine), loopback addresses and `localhost`, and
the hosts the user listed (the model endpoint, later the forge). Anything else
raises EgressRefusedError before a packet is sent. Audit hooks cannot be removed,
so the guard is installed once per process and only widened by `allow_hosts`.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Iterable
from typing import Any

from codegen_hook.errors import EgressRefusedError

__all__ = ["allow_hosts", "check_address", "install_egress_guard"]

_allowed_hosts: set[str] = set()
_allowed_ips: set[str] = set()
_installed = False
_resolving = False


def _loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def allow_hosts(hosts: Iterable[str]) -> None:
    """Also allow these hosts (names or addresses), e.g. a team's model server."""
    global _resolving
    for host in hosts:
        host = host.lower().strip("[]")
        _allowed_hosts.add(host)
        _resolving = True
        try:
            for *_, address in socket.getaddrinfo(host, None):
                _allowed_ips.add(str(address[0]))
        except OSError:
            pass  # unresolvable now: connections to it will be refused, with the reason
        finally:
            _resolving = False


def check_address(family: int, address: Any) -> None:
    """Raise EgressRefusedError unless a connection to `address` is allowed."""
    if family == socket.AF_UNIX or not isinstance(address, tuple) or not address:
        return
    host = str(address[0])
    if _loopback(host) or host.lower() in _allowed_hosts or host in _allowed_ips:
        return
    raise EgressRefusedError(
        f"refused a connection to {host}: codegen-hook only talks to this machine, the "
        "model endpoint and the forge you configured. If this host is your model server, "
        f"pass --allow-remote-host {host} (https only)")


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[1]
        check_address(getattr(sock, "family", socket.AF_INET), address)
    elif event == "socket.getaddrinfo" and not _resolving:
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode("idna", "replace")
        if host and not (_loopback(str(host)) or str(host).lower() in _allowed_hosts):
            check_address(socket.AF_INET, (str(host), args[1]))


def install_egress_guard(hosts: Iterable[str] = ()) -> None:
    """Install the guard in this process (once) and allow `hosts` besides loopback."""
    global _installed
    allow_hosts(hosts)
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
