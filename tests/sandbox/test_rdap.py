"""Origin-ASN records (served by the sandbox DNS) and the sandbox RDAP server, over the wire."""
from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from collections.abc import Iterator

import dns.rcode
import dns.resolver
import pytest

from sandbox.dns import SandboxDNS, Zone
from sandbox.rdap import AddressBlock, RDAPServer, origin_records

BLOCKS = [
    AddressBlock("1.80.0.0/13", 4134, "CHINANET-SN", "CN", description="China Telecom Shaanxi"),
    AddressBlock("1.80.4.0/24", 4808, "UNICOM-BJ", "cn", description="China Unicom Beijing"),
    AddressBlock("1.80.9.64/26", 37963, "ALIYUN", "CN"),
    AddressBlock("5.9.0.0/16", 24940, "HETZNER", "DE", registry="ripencc"),
    AddressBlock("240e::/20", 4134, "CHINANET-V6", "CN"),
]


@pytest.fixture(scope="module")
def origin_dns() -> Iterator[SandboxDNS]:
    zone = Zone(records={})
    zone.add_rows(origin_records(BLOCKS))
    with SandboxDNS(zone, host=f"127.0.0.{random.randint(53, 250)}", port=0) as server:
        yield server


@pytest.fixture(scope="module")
def rdap() -> Iterator[RDAPServer]:
    with RDAPServer(BLOCKS, host=f"127.0.0.{random.randint(53, 250)}") as server:
        yield server


def origin_txt(server: SandboxDNS, name: str) -> list[str]:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [server.host]
    res.port = server.port
    return [b"".join(r.strings).decode() for r in res.resolve(name, "TXT")]


def get_json(url: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], json.load(exc)


def test_address_in_a_large_block(origin_dns: SandboxDNS) -> None:
    # 1.80.0.0/13 is not octet-aligned: it becomes /16 wildcards.
    assert origin_txt(origin_dns, "7.6.83.1.origin.asn.cymru.com") == [
        "4134 | 1.80.0.0/13 | CN | apnic | 2010-01-01"]


def test_nested_blocks_answer_every_covering_block(origin_dns: SandboxDNS) -> None:
    # An RRset has no order; ipwhois keeps the most specific CIDR.
    assert sorted(origin_txt(origin_dns, "9.4.80.1.origin.asn.cymru.com")) == [
        "4134 | 1.80.0.0/13 | CN | apnic | 2010-01-01",
        "4808 | 1.80.4.0/24 | CN | apnic | 2010-01-01",
    ]
    assert sorted(origin_txt(origin_dns, "70.9.80.1.origin.asn.cymru.com")) == [
        "37963 | 1.80.9.64/26 | CN | apnic | 2010-01-01",
        "4134 | 1.80.0.0/13 | CN | apnic | 2010-01-01",
    ]
    # Beside the /26, in the same /24, the /13 still answers (its wildcard is repeated there).
    assert origin_txt(origin_dns, "1.9.80.1.origin.asn.cymru.com") == [
        "4134 | 1.80.0.0/13 | CN | apnic | 2010-01-01"]


def test_address_outside_every_block_is_nxdomain(origin_dns: SandboxDNS) -> None:
    with pytest.raises(dns.resolver.NXDOMAIN):
        origin_txt(origin_dns, "1.1.88.1.origin.asn.cymru.com")
    with pytest.raises(dns.resolver.NXDOMAIN):
        origin_txt(origin_dns, "1.1.1.9.origin.asn.cymru.com")


def test_ipv6_and_as_name_records(origin_dns: SandboxDNS) -> None:
    name = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.e.0.4.2.origin6.asn.cymru.com"
    assert origin_txt(origin_dns, name) == ["4134 | 240e::/20 | CN | apnic | 2010-01-01"]
    assert origin_txt(origin_dns, "AS4808.asn.cymru.com") == [
        "4808 | CN | apnic | 2010-01-01 | UNICOM-BJ - China Unicom Beijing, CN"]


def test_rdap_ip_network_object(rdap: RDAPServer) -> None:
    status, content_type, body = get_json(f"{rdap.base_url}/apnic/ip/1.80.4.9")
    assert status == 200 and content_type.startswith("application/rdap+json")
    assert body["objectClassName"] == "ip network"
    assert (body["startAddress"], body["endAddress"]) == ("1.80.4.0", "1.80.4.255")
    assert body["cidr0_cidrs"] == [{"v4prefix": "1.80.4.0", "length": 24}]
    assert (body["name"], body["country"], body["ipVersion"]) == ("UNICOM-BJ", "CN", "v4")
    assert body["entities"][0]["vcardArray"][1][1][3] == "China Unicom Beijing"


def test_rdap_cidr_query_and_registries(rdap: RDAPServer) -> None:
    assert get_json(f"{rdap.base_url}/apnic/ip/1.80.0.0/16")[2]["handle"] == "1.80.0.0 - 1.87.255.255"
    assert get_json(f"{rdap.base_url}/ripencc/ip/5.9.1.1")[2]["name"] == "HETZNER"
    assert get_json(f"{rdap.base_url}/apnic/ip/5.9.1.1")[0] == 404  # another registry's block
    assert get_json(f"{rdap.base_url}/apnic/ip/240e:1::1")[2]["ipVersion"] == "v6"


def test_rdap_errors(rdap: RDAPServer) -> None:
    status, _, body = get_json(f"{rdap.base_url}/apnic/ip/8.8.8.8")
    assert status == 404 and body["errorCode"] == 404
    assert get_json(f"{rdap.base_url}/apnic/ip/not-an-address")[0] == 400


def test_rdap_entity(rdap: RDAPServer) -> None:
    network = get_json(f"{rdap.base_url}/ripencc/ip/5.9.1.1")[2]
    handle = network["entities"][0]["handle"]
    status, _, entity = get_json(f"{rdap.base_url}/ripencc/entity/{handle}")
    assert status == 200 and entity["objectClassName"] == "entity" and entity["handle"] == handle


def test_address_block_validation() -> None:
    with pytest.raises(ValueError):
        AddressBlock("1.2.3.4/24", 1, "X", "CN")  # host bits set
    with pytest.raises(ValueError):
        AddressBlock("1.2.3.0/24", 1, "X", "CN", registry="ripe")  # Cymru says "ripencc"
    with pytest.raises(ValueError):
        AddressBlock("1.2.3.0/24", 1, "X", "China")
    with pytest.raises(ValueError):
        RDAPServer(BLOCKS, host="0.0.0.0")
