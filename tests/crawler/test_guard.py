"""The address guard: every special-purpose range, every IPv6 wrapper, every URL spelling."""
from __future__ import annotations

import pytest

from crawler.guard import (AddressGuard, AddressRefused, InvalidURLHost, is_ip_address, local_addresses,
                           may_be_address, parse_host, url_host)

NO_OWN: tuple[str, ...] = ()

# (address, reason or None when allowed)
ADDRESSES = [
    ("8.8.8.8", None),
    ("1.1.1.1", None),
    ("114.114.114.114", None),
    ("2400:3200::1", None),
    ("2001:4860:4860::8888", None),
    ("127.0.0.1", "loopback address"),
    ("127.255.255.254", "loopback address"),
    ("::1", "loopback address"),
    ("10.0.0.1", "private address"),
    ("172.16.5.4", "private address"),
    ("172.31.255.255", "private address"),
    ("172.32.0.1", None),
    ("192.168.1.1", "private address"),
    ("100.64.0.1", "CGNAT address"),
    ("100.127.255.254", "CGNAT address"),
    ("169.254.169.254", "link-local address"),
    ("fe80::1", "link-local address"),
    ("fe80::1%eth0", "link-local address"),
    ("0.0.0.0", "unspecified address"),
    ("0.1.2.3", "this-network address"),
    ("::", "unspecified address"),
    ("192.0.0.8", "IETF protocol assignment address"),
    ("192.0.0.9", None),
    ("192.0.2.1", "documentation address"),
    ("198.51.100.7", "documentation address"),
    ("203.0.113.9", "documentation address"),
    ("2001:db8::1", "documentation address"),
    ("3fff::1", "documentation address"),
    ("198.18.0.1", "benchmarking address"),
    ("198.19.255.255", "benchmarking address"),
    ("2001:2::1", "benchmarking address"),
    ("224.0.0.1", "multicast address"),
    ("239.255.255.250", "multicast address"),
    ("ff02::1", "multicast address"),
    ("255.255.255.255", "broadcast address"),
    ("240.0.0.1", "reserved address"),
    ("192.88.99.1", "reserved address"),
    ("fc00::1", "unique local address"),
    ("fd12:3456::1", "unique local address"),
    ("fec0::1", "site-local address"),
    ("100::1", "discard-only address"),
    ("4000::1", "reserved address"),
    ("2001:10::1", "reserved address"),
    ("2001:100::1", "IETF protocol assignment address"),
    ("64:ff9b:1::a00:1", "local-use NAT64 address"),
    # IPv6 wrappers of IPv4 addresses
    ("::ffff:127.0.0.1", "IPv4-mapped loopback address"),
    ("::ffff:7f00:1", "IPv4-mapped loopback address"),
    ("::ffff:10.1.2.3", "IPv4-mapped private address"),
    ("::ffff:192.168.0.1", "IPv4-mapped private address"),
    ("::ffff:169.254.169.254", "IPv4-mapped link-local address"),
    ("::ffff:8.8.8.8", None),
    ("::127.0.0.1", "IPv4-compatible loopback address"),
    ("::10.0.0.1", "IPv4-compatible private address"),
    ("::8.8.8.8", "deprecated IPv4-compatible address"),
    ("::ffff:0:127.0.0.1", "IPv4-translated loopback address"),
    ("64:ff9b::127.0.0.1", "NAT64 loopback address"),
    ("64:ff9b::a00:1", "NAT64 private address"),
    ("64:ff9b::808:808", None),
    ("2002:7f00:1::1", "6to4 loopback address"),
    ("2002:c0a8:101::1", "6to4 private address"),
    ("2002:a9fe:a9fe::", "6to4 link-local address"),
    ("2002:808:808::1", None),
    # Teredo: server 65.54.227.120, client obfuscated (bits inverted)
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo loopback address"),  # client 127.0.0.1
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo private address"),  # client 10.0.0.1
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo documentation address"),  # client 192.0.2.45
    ("2001:0:a00:1::f7f7:f7f7", "Teredo private address"),  # server 10.0.0.1, client 8.8.8.8
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", None),  # server 65.54.227.120, client 8.8.8.8
]


@pytest.fixture(scope="module")
def guard() -> AddressGuard:
    return AddressGuard(own_addresses=NO_OWN)


@pytest.mark.parametrize(("address", "reason"), ADDRESSES, ids=[a for a, _ in ADDRESSES])
def test_address_table(guard: AddressGuard, address: str, reason: str | None) -> None:
    assert guard.refusal(address) == reason


def test_table_is_large_enough() -> None:
    assert len(ADDRESSES) >= 40
    assert sum(1 for _, reason in ADDRESSES if reason and reason.split()[0] in
               ("IPv4-mapped", "IPv4-compatible", "IPv4-translated", "NAT64", "6to4", "Teredo")) >= 12


def test_check_raises_with_address_and_reason(guard: AddressGuard) -> None:
    with pytest.raises(AddressRefused) as caught:
        guard.check("10.1.2.3")
    assert caught.value.address == "10.1.2.3" and caught.value.reason == "private address"
    assert str(caught.value) == "refused: private address (10.1.2.3)"
    guard.check("8.8.8.8")  # no exception


@pytest.mark.parametrize("address", ["", "not-an-ip", "1.2.3", "256.1.1.1", "::g", "1.2.3.4/24"])
def test_malformed_addresses_are_refused_even_when_private_is_allowed(address: str) -> None:
    for allow in (False, True):
        assert AddressGuard(allow_private=allow, own_addresses=NO_OWN).refusal(address) == "malformed address"


def test_allow_private_lifts_address_refusals_but_not_the_scheme_check() -> None:
    guard = AddressGuard(allow_private=True, own_addresses=NO_OWN)
    for address, _ in ADDRESSES:
        assert guard.refusal(address) is None, address
    guard.check_url("http://127.0.0.1:8080/")
    guard.check_url("http://0x7f.1/")
    with pytest.raises(AddressRefused, match="scheme 'file' is not http or https"):
        guard.check_url("file:///etc/passwd")


def test_own_addresses_are_refused_unless_private_is_allowed() -> None:
    guard = AddressGuard(own_addresses=["8.8.4.4", "2400:3200::53"])
    assert guard.refusal("8.8.4.4") == "own address"
    assert guard.refusal("2400:3200::53") == "own address"
    assert guard.refusal("::ffff:8.8.4.4") == "IPv4-mapped own address"
    assert guard.refusal("8.8.8.8") is None
    assert guard.refusal("127.0.0.1") == "loopback address"  # the class reason wins
    assert AddressGuard(allow_private=True, own_addresses=["8.8.4.4"]).refusal("8.8.4.4") is None


def test_local_addresses_include_loopback_and_are_used_by_default() -> None:
    found = local_addresses()
    assert "127.0.0.1" in found or "::1" in found
    public = [a for a in found if AddressGuard(own_addresses=NO_OWN).refusal(a) is None]
    for address in public:  # any public address of this machine is refused as its own
        assert AddressGuard().refusal(address) == "own address"


# (URL, refused address) — every spelling of a loopback or private host a browser accepts
BAD_URLS = [
    ("http://127.0.0.1/", "127.0.0.1"),
    ("http://2130706433/", "127.0.0.1"),
    ("http://0x7f000001/", "127.0.0.1"),
    ("http://0x7f.1/", "127.0.0.1"),
    ("http://0x7F.0.0.1/", "127.0.0.1"),
    ("http://017700000001/", "127.0.0.1"),
    ("http://0177.0.0.1/", "127.0.0.1"),
    ("http://0177.1/", "127.0.0.1"),
    ("http://127.1/", "127.0.0.1"),
    ("http://127.0.1/", "127.0.0.1"),
    ("http://127.0.0.1./", "127.0.0.1"),
    ("http://%31%32%37.0.0.1/", "127.0.0.1"),
    ("http://１２７．０．０．１/", "127.0.0.1"),
    ("HTTP://127.0.0.1:8080/x?y#z", "127.0.0.1"),
    ("http://user:pw@10.0.0.1/", "10.0.0.1"),
    ("http://167772161/", "10.0.0.1"),
    ("http://0xa.0.0.1/", "10.0.0.1"),
    ("http://3232235777/", "192.168.1.1"),
    ("http://0xa9fea9fe/", "169.254.169.254"),
    ("http://[::1]/", "::1"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
    ("http://[::ffff:7f00:1]:80/", "::ffff:127.0.0.1"),
    ("http://[2002:7f00:1::1]/", "2002:7f00:1::1"),
    ("http://[64:ff9b::a00:1]/", "64:ff9b::a00:1"),
    ("https://0/", "0.0.0.0"),
    ("http:\\\\127.0.0.1\\x", "127.0.0.1"),
    ("http:/127.0.0.1/", "127.0.0.1"),
    ("\t http://12\n7.0.0.1/ ", "127.0.0.1"),
    ("http://evil.example\\@127.0.0.1/", "127.0.0.1"),  # urllib's reading of the host
]


@pytest.mark.parametrize(("url", "address"), BAD_URLS, ids=[u for u, _ in BAD_URLS])
def test_url_spellings_of_private_hosts_are_refused(guard: AddressGuard, url: str, address: str) -> None:
    with pytest.raises(AddressRefused) as caught:
        guard.check_url(url)
    assert caught.value.address == address and caught.value.url == url


@pytest.mark.parametrize(("url", "scheme"), [
    ("file:///etc/passwd", "file"),
    ("FILE://localhost/etc/passwd", "file"),
    ("ftp://ftp.example.cn/", "ftp"),
    ("javascript:alert(1)", "javascript"),
    ("data:text/html,hi", "data"),
    ("gopher://127.0.0.1:25/", "gopher"),
])
def test_only_http_and_https_schemes(guard: AddressGuard, url: str, scheme: str) -> None:
    with pytest.raises(AddressRefused, match=f"scheme '{scheme}' is not http or https"):
        guard.check_url(url)


@pytest.mark.parametrize("url", [
    "http://example.cn/", "https://www.example.com.cn:8443/a?b", "http://例子.中国/",
    "http://8.8.8.8/", "http://[2400:3200::1]/", "http://134744072/",
])
def test_acceptable_urls_pass(guard: AddressGuard, url: str) -> None:
    guard.check_url(url)


@pytest.mark.parametrize("url", [
    "http:///", "http://256.0.0.1/", "http://1.2.3.4.5/", "http://[::1/", "http://[fe80::1%25eth0]/",
    "example.cn/no-scheme", "http://a b.cn/",
])
def test_malformed_urls_are_refused(guard: AddressGuard, url: str) -> None:
    with pytest.raises(AddressRefused, match="malformed|scheme"):
        guard.check_url(url)


def test_whatwg_host_parsing() -> None:
    assert parse_host("0x7f.1") == "127.0.0.1"
    assert parse_host("4294967295") == "255.255.255.255"
    assert parse_host("Ex.COM.") == "ex.com"
    assert parse_host("例子。中国") == "xn--fsqu00a.xn--fiqs8s"
    assert parse_host("[::FFFF:7F00:1]") == "::ffff:127.0.0.1"
    assert url_host("http://u@[2001:db8::1]:8/") == "2001:db8::1"
    assert parse_host("0x") == "0.0.0.0"  # WHATWG: an empty hex number is 0
    for bad in ("4294967296", "1.256.1.1", "example.123", "a%zz.cn", "a%ff.cn"):
        with pytest.raises(InvalidURLHost):
            parse_host(bad)


@pytest.mark.parametrize("literal", ["127.0.0.1", "2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0X7F000001",
                                     "::1", "[::1]", "fe80::1%eth0", "::ffff:127.0.0.1", "cafe.beef"])
def test_every_address_spelling_may_be_an_address(literal: str) -> None:
    # the cheap pre-test must never wave through a literal the full parse would catch
    assert may_be_address(literal)


@pytest.mark.parametrize("name", ["www.example.cn", "例子.中国", "xn--fsqu00a.xn--fiqs8s", "localhost", "a-b.c"])
def test_a_name_is_not_an_address(name: str) -> None:
    assert not may_be_address(name)
    assert not is_ip_address(name)


def test_is_ip_address_reads_plain_forms_only() -> None:
    assert is_ip_address("127.0.0.1") and is_ip_address("::1") and is_ip_address("fe80::1%eth0")
    assert not is_ip_address("0x7f.1") and not is_ip_address("cafe.beef") and not is_ip_address("")
