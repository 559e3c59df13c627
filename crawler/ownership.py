"""Who owns a serving address: origin AS, netblock, country and registry, found with ipwhois.

ipwhois (unmodified) asks Team Cymru's origin-ASN records in DNS, then the regional registry's
RDAP service.  With no configuration that is production: the system resolver and the real RIR
endpoints.  ``dns_server`` and ``rdap_base_url`` point both at other servers (the sandbox on
loopback, in tests and the demo) through hooks ipwhois supports, without patching it:

* DNS: the ``dns.resolver.Resolver`` that ipwhois's ``Net`` object owns (``IPWhois.net``) gets
  the configured nameserver and port before the lookup.
* RDAP: ipwhois builds RIR URLs from its module-level ``ipwhois.rdap.RIR_RDAP`` table, and
  changing that table would redirect every ipwhois user in the process.  Instead each lookup
  gets a urllib opener (ipwhois's ``proxy_opener`` argument) whose request hook rewrites
  ``https://rdap.apnic.net/ip/X`` to ``<base>/apnic/ip/X`` (likewise for each registry and for
  entity URLs) and refuses any other URL, so a configured lookup cannot leak to the internet.
  Proxies from the environment are not used for it.

Configured lookups also ask nothing ipwhois would otherwise fall back to: ASN by DNS only (no
Cymru whois on port 43, no ARIN REST), and no JPNIC/KRNIC lookups.
"""
from __future__ import annotations

import ipaddress
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.error import URLError
from urllib.request import BaseHandler, OpenerDirector, ProxyHandler, Request, build_opener

import ipwhois
import ipwhois.rdap
from ipwhois.exceptions import IPDefinedError

__all__ = ["AddressOwner", "OwnershipResolver"]

OK = "ok"
UNKNOWN = "unknown"
RETRY_COUNT = 2
"""Attempts ipwhois makes per service (DNS lifetime is timeout x this)."""


@dataclass(frozen=True)
class AddressOwner:
    """The owner of one address as the registries say, or status "unknown" with the reason."""

    ip: str
    asn: int | None
    asn_cidr: str | None
    country: str | None
    registry: str | None
    network_name: str | None
    status: str
    error: str | None = None

    @classmethod
    def unknown(cls, ip: str, error: str) -> AddressOwner:
        return cls(ip, None, None, None, None, None, UNKNOWN, error)


class _RIRRewriter(BaseHandler):
    """urllib request hook mapping ipwhois's RIR RDAP URLs onto one base URL
    (``<base>/<registry>/ip/...``, ``<base>/<registry>/entity/...``) and refusing the rest."""

    def __init__(self, base_url: str) -> None:
        base = base_url.rstrip("/")
        self._prefixes: list[tuple[str, str]] = []
        for registry, urls in ipwhois.rdap.RIR_RDAP.items():
            for kind in ("ip", "entity"):
                template = urls[f"{kind}_url"]
                self._prefixes.append((template[: template.index("{0}")], f"{base}/{registry}/{kind}/"))

    def _rewrite(self, request: Request) -> Request:
        url = request.full_url
        for prefix, replacement in self._prefixes:
            if url.startswith(prefix):
                request.full_url = replacement + url[len(prefix):]
                return request
        raise URLError(f"{url} is not an RDAP registry URL; refused with a configured RDAP base")

    http_request = _rewrite
    https_request = _rewrite


class OwnershipResolver:
    """Looks up address owners with ipwhois; thread-safe, with an LRU cache per address.

    ``dns_server`` is (host, port) of the server answering Cymru's origin zones; ``rdap_base_url``
    the base under which ``/<registry>/ip/<address>`` is served.  Either left None uses the real
    service.  :meth:`lookup` never raises and never guesses.
    """

    def __init__(self, *, dns_server: tuple[str, int] | None = None, rdap_base_url: str | None = None,
                 timeout: float = 5.0, cache_size: int = 65536) -> None:
        self.dns_server = dns_server
        self.rdap_base_url = rdap_base_url
        self.timeout = timeout
        self.cache_size = cache_size
        self._cache: OrderedDict[str, AddressOwner] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, ip: str) -> AddressOwner:
        """The owner of ``ip``: status "ok" with ASN, CIDR, country, registry and network name,
        or status "unknown" with the reason (invalid or special-purpose address, no origin AS,
        registry unreachable...).  Answers are cached; transient failures are not."""
        try:
            key = str(ipaddress.ip_address(ip.strip()))
        except ValueError:
            return AddressOwner.unknown(ip, f"not an IP address: {ip!r}")
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        owner, final = self._lookup(key)
        if final:
            with self._lock:
                self._cache[key] = owner
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return owner

    def _lookup(self, ip: str) -> tuple[AddressOwner, bool]:
        """(owner, whether the answer is final enough to cache)."""
        opener = self._opener()
        try:
            whois = ipwhois.IPWhois(ip, timeout=self.timeout, proxy_opener=opener)
        except IPDefinedError as exc:
            return AddressOwner.unknown(ip, f"special-purpose address: {exc}"), True
        except Exception as exc:  # e.g. no resolver configuration on this machine
            return AddressOwner.unknown(ip, _describe(exc)), False
        if self.dns_server is not None:
            resolver = whois.net.dns_resolver
            resolver.nameservers = [self.dns_server[0]]
            resolver.port = self.dns_server[1]
        configured = self.dns_server is not None or self.rdap_base_url is not None
        try:
            result = whois.lookup_rdap(
                retry_count=RETRY_COUNT,
                depth=0,
                asn_methods=["dns"] if self.dns_server is not None else None,
                inc_nir=not configured,
                rate_limit_timeout=int(self.timeout),
            )
        except Exception as exc:  # ipwhois raises many kinds; every one means "not known"
            return AddressOwner.unknown(ip, _describe(exc)), False
        return _owner_from(ip, result)

    def _opener(self) -> OpenerDirector | None:
        if self.rdap_base_url is None:
            return None  # ipwhois's own opener: the real RIRs, honouring proxy settings
        return build_opener(ProxyHandler({}), _RIRRewriter(self.rdap_base_url))


def _owner_from(ip: str, result: dict[str, Any]) -> tuple[AddressOwner, bool]:
    """AddressOwner from an ipwhois lookup_rdap result; a result without an AS number is unknown."""
    asn_text = str(result.get("asn") or "").split()[0] if result.get("asn") else ""
    if not asn_text.isdigit():
        return AddressOwner.unknown(ip, f"no origin AS for {ip} (got {result.get('asn')!r})"), False
    network = result.get("network") or {}
    country = result.get("asn_country_code") or network.get("country")
    return AddressOwner(
        ip=ip,
        asn=int(asn_text),
        asn_cidr=result.get("asn_cidr") or None,
        country=country.upper() if country else None,
        registry=result.get("asn_registry") or None,
        network_name=network.get("name") or None,
        status=OK,
    ), True


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
