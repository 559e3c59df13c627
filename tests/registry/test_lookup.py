"""Lookups on both stores, and the in-memory index giving the same answers."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.index import RegistryIndex, flatten_blocks
from registry.lookup import LookupError_, Registry, classify
from registry.store import open_store
from tests.registry.helpers import load_examples


@pytest.fixture
def registry(store_url: str) -> Iterator[Registry]:
    store = open_store(store_url)
    load_examples(store)
    yield Registry(store)
    store.dispose()


@pytest.mark.parametrize(
    ("value", "kind"),
    [("example.cn", "domain"), ("https://例子.中国/x", "domain"), ("198.51.100.1", "ip"), ("[2001:db8::1]", "ip"),
     ("京ICP备2021000001号-1", "number"), ("粤B2-20090059", "number"), ("京公网安备11010802020000号", "number")],
)
def test_classify(value: str, kind: str) -> None:
    assert classify(value) == kind


def test_classify_refuses_empty() -> None:
    with pytest.raises(LookupError_, match="empty"):
        classify("  ")


@pytest.mark.parametrize(
    ("value", "independent", "status", "number"),
    [
        ("qinghe-media.cn", "qinghe-media.cn", "filed", "京ICP备2021000001号-1"),
        ("https://WWW.Qinghe-Media.CN./about?x=1", "qinghe-media.cn", "filed", "京ICP备2021000001号-1"),
        ("shop.qinghe-media.com.cn", "qinghe-media.com.cn", "filed", "京ICP备2021000001号-1"),
        ("zhangsan-home.cn", "zhangsan-home.cn", "cancelled", "沪ICP备18001234号-1"),
        ("unfiled-example.cn", "unfiled-example.cn", "none", None),
    ],
)
def test_domain_lookup(registry: Registry, value: str, independent: str, status: str, number: str | None) -> None:
    answer = registry.lookup(value)
    assert answer["kind"] == "domain"
    assert answer["independent_domain"] == independent
    assert answer["status"] == status
    assert answer["filed"] is (status == "filed")
    assert answer["website_number"] == number


def test_domain_lookup_details_and_blacklist(registry: Registry) -> None:
    answer = registry.lookup("yunfan-blog.cn")
    assert answer["providers"] == ["HUAYUN-ZJ", "XINGHE"]
    assert answer["registrar"] == "REG-CNNIC-01"
    assert registry.lookup("www.badcasino-example.cn")["blacklisted"] is True


@pytest.mark.parametrize(
    ("value", "cidr", "provider"),
    [
        ("198.51.100.30", "198.51.100.0/27", "HUAYUN-ZJ"),  # longest prefix wins
        ("198.51.100.200", "198.51.100.0/24", "HUAYUN-GD"),
        ("203.0.113.1", "203.0.113.0/24", "HUAYUN"),
        ("2001:db8:1::9", "2001:db8::/32", "XINGHE"),
        ("192.0.2.1", None, None),
    ],
)
def test_ip_lookup(registry: Registry, value: str, cidr: str | None, provider: str | None) -> None:
    answer = registry.lookup(value)
    assert (answer["kind"], answer["cidr"], answer["provider"]) == ("ip", cidr, provider)
    assert answer["reported"] is (cidr is not None)


def test_number_lookups(registry: Registry) -> None:
    website = registry.lookup("京 ICP 备 2021000001 号 - 2")
    assert (website["normalized"], website["mark_kind"], website["province"]) == (
        "京ICP备2021000001号-2", "website_filing", "北京")
    assert website["valid"] and not website["placeholder"] and website["found"]
    assert website["website_name"] == "青禾书店"
    subject = registry.lookup("京ICP备2021000001号")
    assert [w["website_number"] for w in subject["websites"]] == ["京ICP备2021000001号-1", "京ICP备2021000001号-2"]
    placeholder = registry.lookup("京ICP备12345678号-1")
    assert placeholder["placeholder"] and not placeholder["valid"]
    public_security = registry.lookup("京公网安备11010802020000号")
    assert public_security["mark_kind"] == "public_security" and public_security["is_icp"] is False
    bogus = registry.lookup("萌ICP备20210001号")
    assert bogus["valid"] is False and bogus["normalized"] is None and bogus["reason"]
    licence = registry.lookup("京ICP证030173号")
    assert licence["found"] and licence["websites"] == [{"website_number": "京ICP备2020088888号-1"}]


def test_index_agrees_with_the_store(registry: Registry) -> None:
    index = RegistryIndex.load(registry.store)
    assert (index.websites, index.blocks) == (7, 4)
    for value in ("qinghe-media.cn", "www.qinghe-books.cn", "zhangsan-home.cn", "nobody.cn", "例子.中国"):
        answer = registry.lookup(value)
        hit = index.match_domain(value)
        assert (hit.independent_domain, hit.website_number, hit.status) == (
            answer["independent_domain"], answer["website_number"], answer["status"])
    for value in ("198.51.100.30", "198.51.100.200", "203.0.113.1", "2001:db8::1", "192.0.2.1"):
        answer = registry.lookup(value)
        hit = index.match_ip(value)
        assert (hit.cidr, hit.unit, hit.provider) == (answer["cidr"], answer["unit"], answer["provider"])
    bulk = index.match_ips(["198.51.100.30", "192.0.2.1", "2001:db8::1", "not an ip"])
    assert bulk["provider"].tolist() == ["HUAYUN-ZJ", None, "XINGHE", None]
    domains = index.match_domains(["qinghe-media.cn", "zhangsan-home.cn", "nobody.cn", "com.cn", "198.51.100.1"])
    assert domains["status"].tolist() == ["filed", "cancelled", "none", "invalid", "invalid"]
    assert index.filing_status("沪ICP备18001234号-1") == "cancelled"


def _brute_force(blocks: list[tuple[int, int, int]], key: int) -> int | None:
    covering = [b for b in blocks if b[0] <= key <= b[1]]
    return min(covering, key=lambda b: b[1] - b[0])[2] if covering else None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(24, 32)), min_size=1, max_size=12, unique=True),
       st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=20))
def test_flattened_blocks_give_the_longest_prefix(raw: list[tuple[int, int]], probes: list[int]) -> None:
    networks = {ipaddress.ip_network((n << 24 | (n % 7) << 16, prefix), strict=False) for n, prefix in raw}
    blocks = [(int(net.network_address), int(net.broadcast_address), i) for i, net in enumerate(sorted(networks))]
    intervals = flatten_blocks(blocks)
    assert all(a.last < b.first for a, b in zip(intervals, intervals[1:]))
    probes += [b[0] for b in blocks] + [b[1] for b in blocks]
    for key in probes:
        owner = next((iv.record for iv in intervals if iv.first <= key <= iv.last), None)
        assert owner == _brute_force(blocks, key)
