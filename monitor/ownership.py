"""Who owns an address the registry cannot place: the crawler's ipwhois owner, or an origin-ASN
lookup of our own when ipwhois had no answer.

An address is *in China* for DESIGN.md §2 when an IP filing record covers it, or when its owner's
country is CN. The crawler records the owner (``owners[ip]``, from ipwhois); ipwhois refuses to
look up special-purpose addresses (loopback, private), and then — and only for addresses no IP
filing record covers — :func:`origin_owners` asks the same origin-ASN TXT records ipwhois asks
first (Team Cymru's ``<reversed ip>.origin.asn.cymru.com`` and ``AS<n>.asn.cymru.com``), through
the sweep's resolver. The AS name often names the company using the block; :func:`attribute`
matches it against the registry's providers to *suggest* who is responsible — a suggestion for
the analyst (``party_kind`` "analyst"), never an attribution by the registry.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

logger = logging.getLogger(__name__)

ORIGIN_ZONES = {4: "origin.asn.cymru.com", 6: "origin6.asn.cymru.com"}
ASN_ZONE = "asn.cymru.com"


@dataclass(frozen=True)
class Owner:
    """An address's owner as far as anyone could tell (status "ok" or "unknown")."""

    ip: str
    status: str
    asn: int | None = None
    cidr: str | None = None
    country: str | None = None
    registry: str | None = None
    as_name: str | None = None
    source: str = "ipwhois"   # "ipwhois" | "origin-asn"
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def from_observation(ip: str, owner: Mapping[str, Any] | None) -> Owner:
    """The crawler's ``owners[ip]`` record as an :class:`Owner`."""
    if not owner:
        return Owner(ip, "unknown", error="no ownership lookup recorded")
    return Owner(ip, str(owner.get("status") or "unknown"), owner.get("asn"), owner.get("asn_cidr"),
                 (owner.get("country") or None), owner.get("registry"), owner.get("network_name"),
                 "ipwhois", owner.get("error"))


def _hostport(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 53
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, int(port)
    return value, 53


def _origin_name(ip: str) -> str:
    address = ipaddress.ip_address(ip)
    if address.version == 4:
        return ".".join(reversed(str(address).split("."))) + "." + ORIGIN_ZONES[4]
    nibbles = address.exploded.replace(":", "")
    return ".".join(reversed(nibbles)) + "." + ORIGIN_ZONES[6]


def _txt(resolver: Any, name: str) -> list[str]:
    import dns.exception
    import dns.resolver

    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.exception.DNSException, OSError) as exc:
        logger.debug("origin lookup %s: %s", name, exc)
        return []
    return ["".join(part.decode("utf-8", "replace") for part in r.strings) for r in answer]


def origin_owners(ips: Iterable[str], resolver: str | None, timeout: float = 3.0) -> dict[str, Owner]:
    """Origin-ASN answers for ``ips`` (one query per address, one per AS), through ``resolver``
    ("HOST[:PORT]"; None: the system's). The most specific announced block wins."""
    import dns.resolver

    ips = list(dict.fromkeys(ips))
    if not ips:
        return {}
    where = _hostport(resolver)
    r = dns.resolver.Resolver(configure=where is None)
    if where is not None:
        r.nameservers, r.port = [where[0]], where[1]
    r.lifetime = timeout
    out: dict[str, Owner] = {}
    as_names: dict[int, str | None] = {}
    for ip in ips:
        best: tuple[int, list[str]] | None = None
        for txt in _txt(r, _origin_name(ip)):
            fields = [f.strip() for f in txt.split("|")]
            if len(fields) < 4 or not fields[0].split()[0].isdigit():
                continue
            try:
                prefix = ipaddress.ip_network(fields[1], strict=False).prefixlen
            except ValueError:
                prefix = -1
            if best is None or prefix > best[0]:
                best = (prefix, fields)
        if best is None:
            out[ip] = Owner(ip, "unknown", source="origin-asn", error="no origin-ASN record")
            continue
        fields = best[1]
        asn = int(fields[0].split()[0])
        if asn not in as_names:
            names = _txt(r, f"AS{asn}.{ASN_ZONE}")
            as_names[asn] = names[0].split("|")[-1].strip() if names else None
        out[ip] = Owner(ip, "ok", asn, fields[1], fields[2].upper() or None, fields[3] or None,
                        as_names[asn], "origin-asn")
    return out


def attribute(owner: Owner, providers: Mapping[str, str]) -> str | None:
    """The provider code whose registered name (``providers``: code → name) the owner's AS name
    mentions, longest name first; None when none does."""
    label = owner.as_name or ""
    if not label:
        return None
    for code, name in sorted(providers.items(), key=lambda kv: -len(kv[1] or "")):
        if name and name in label:
            return code
    return None
