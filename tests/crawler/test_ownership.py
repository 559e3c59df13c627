"""crawler.ownership: ipwhois (unmodified) against the sandbox's origin-ASN DNS and RDAP server.

Every lookup here goes only to servers on loopback; the addresses looked up are public-looking
numbers that no traffic is ever sent to.
"""
from __future__ import annotations

import ast
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError

import pytest

import crawler.ownership
from crawler.ownership import AddressOwner, OwnershipResolver
from sandbox.dns import SandboxDNS, Zone
from sandbox.rdap import AddressBlock, RDAPServer, origin_records

BLOCKS = [
    AddressBlock("1.80.0.0/13", 4134, "CHINANET-SN", "CN", description="China Telecom Shaanxi"),
    AddressBlock("1.80.4.0/24", 4808, "UNICOM-BJ", "CN", description="China Unicom Beijing"),
    AddressBlock("5.9.0.0/16", 24940, "HETZNER-NET", "DE", registry="ripencc"),
    AddressBlock("240e::/20", 4134, "CHINANET-V6", "CN"),
]


def loopback_host() -> str:
    return f"127.0.0.{random.randint(53, 250)}"


@pytest.fixture(scope="module")
def services() -> Iterator[tuple[SandboxDNS, RDAPServer]]:
    zone = Zone(records={})
    zone.add_rows(origin_records(BLOCKS))
    with SandboxDNS(zone, host=loopback_host(), port=0) as dns_server, \
            RDAPServer(BLOCKS, host=loopback_host()) as rdap_server:
        yield dns_server, rdap_server


@pytest.fixture
def owners(services: tuple[SandboxDNS, RDAPServer]) -> OwnershipResolver:
    dns_server, rdap_server = services
    return OwnershipResolver(dns_server=dns_server.address, rdap_base_url=rdap_server.base_url, timeout=1.0)


def test_owner_of_an_address(owners: OwnershipResolver) -> None:
    assert owners.lookup("1.83.200.1") == AddressOwner(
        ip="1.83.200.1", asn=4134, asn_cidr="1.80.0.0/13", country="CN", registry="apnic",
        network_name="CHINANET-SN", status="ok")


def test_most_specific_block_wins(owners: OwnershipResolver) -> None:
    owner = owners.lookup("1.80.4.77")
    assert (owner.asn, owner.asn_cidr, owner.network_name) == (4808, "1.80.4.0/24", "UNICOM-BJ")


def test_other_registry_and_ipv6(owners: OwnershipResolver) -> None:
    hetzner = owners.lookup("5.9.10.11")
    assert (hetzner.asn, hetzner.country, hetzner.registry, hetzner.network_name) == (
        24940, "DE", "ripencc", "HETZNER-NET")
    v6 = owners.lookup("240e:3b0::1")
    assert (v6.status, v6.asn, v6.asn_cidr, v6.country) == ("ok", 4134, "240e::/20", "CN")


def test_unknown_address_is_unknown_not_guessed(owners: OwnershipResolver) -> None:
    owner = owners.lookup("9.9.9.9")
    assert owner.status == "unknown" and owner.error
    assert (owner.asn, owner.asn_cidr, owner.country, owner.network_name) == (None, None, None, None)


def test_special_and_invalid_addresses_are_unknown(owners: OwnershipResolver) -> None:
    loopback = owners.lookup("127.0.0.1")
    assert loopback.status == "unknown" and "Loopback" in (loopback.error or "")
    assert owners.lookup("10.1.2.3").status == "unknown"
    assert owners.lookup("not an ip").status == "unknown"


def test_answers_are_cached_per_address(services: tuple[SandboxDNS, RDAPServer]) -> None:
    dns_server, _ = services
    rdap_server = RDAPServer(BLOCKS, host=loopback_host())
    base = rdap_server.start()
    resolver = OwnershipResolver(dns_server=dns_server.address, rdap_base_url=base, timeout=0.5)
    first = resolver.lookup("1.81.0.1")
    rdap_server.stop()
    assert first.status == "ok"
    assert resolver.lookup("1.81.0.1") is first  # served from the cache, RDAP is gone
    gone = resolver.lookup("1.81.0.2")
    assert gone.status == "unknown" and "HTTPLookupError" in (gone.error or "")


def test_unreachable_dns_is_unknown_within_the_timeout(services: tuple[SandboxDNS, RDAPServer]) -> None:
    _, rdap_server = services
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind((loopback_host(), 0))
        resolver = OwnershipResolver(dns_server=silent.getsockname(), rdap_base_url=rdap_server.base_url,
                                     timeout=0.3)
        began = time.monotonic()
        owner = resolver.lookup("1.80.0.1")
    assert owner.status == "unknown" and owner.error
    assert time.monotonic() - began < 5


def test_configured_rdap_refuses_every_other_url(owners: OwnershipResolver) -> None:
    opener = owners._opener()
    assert opener is not None
    with pytest.raises(URLError, match="refused"):
        opener.open("https://example.com/", timeout=1)


def test_production_default_uses_ipwhois_own_endpoints() -> None:
    resolver = OwnershipResolver()
    assert resolver._opener() is None and resolver.dns_server is None  # nothing redirected


def test_crawler_does_not_import_sandbox() -> None:
    tree = ast.parse(Path(crawler.ownership.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.split(".")[0] == "sandbox" for name in imported)
