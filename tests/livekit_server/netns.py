"""Keep every WebRTC packet on loopback: the private network namespace and aioice's host addresses.

libwebrtc (inside the livekit SDK) never gathers candidates on a loopback interface, so the room
tests run inside a private network namespace that holds `lo` plus a veth pair whose one end
carries 127.0.0.2/32 (`scripts/netns-run.sh` builds it). libwebrtc then gathers 127.0.0.2, which
the kernel delivers locally, and nothing can leave: the namespace has no other interface.

`namespace_problem()` says why the current process is NOT in such a namespace (None when it is):
the room tests refuse to run anywhere else.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

NETNS_ENV = "SHOPME_NETNS"  # set by scripts/netns-run.sh inside the namespace
UNAVAILABLE_ENV = "SHOPME_NETNS_UNAVAILABLE"  # set by scripts/run-tests.sh: why none could be made
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def _ipv4_addresses() -> list[str]:
    """IPv4 addresses of every interface, from the kernel (no external tool)."""
    addresses: list[str] = []
    fib = Path("/proc/net/fib_trie")
    if fib.exists():
        lines = fib.read_text().splitlines()
        for index, line in enumerate(lines):
            if "/32 host LOCAL" in line and index > 0:
                addresses.append(lines[index - 1].split()[-1])
    return addresses


def namespace_problem() -> str | None:
    """None inside the room-test namespace; otherwise a sentence saying what is wrong."""
    if os.environ.get(UNAVAILABLE_ENV):
        return os.environ[UNAVAILABLE_ENV]
    if os.environ.get(NETNS_ENV) != "1":
        return (
            "room tests run only inside the private network namespace made by "
            "scripts/netns-run.sh (use `make test`)"
        )
    interfaces = sorted(name for _, name in socket.if_nameindex())
    strangers = [name for name in interfaces if name != "lo" and not name.startswith("lkns")]
    if strangers:
        return f"not in a private network namespace: interfaces {strangers} are present"
    outside = [a for a in _ipv4_addresses() if ipaddress.ip_address(a) not in LOOPBACK]
    if outside:
        return f"not in a private network namespace: addresses {outside} are present"
    return None


def restrict_aioice_to_loopback() -> None:
    """Make aioice (aiortc's ICE) offer 127.0.0.1 only; it skips loopback by default."""
    from aioice import ice

    def loopback_only(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return ["127.0.0.1"] if use_ipv4 else []

    ice.get_host_addresses = loopback_only
