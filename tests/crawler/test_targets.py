"""Target lists: domains, URLs, IDNs, IPs, CIDR blocks with caps, bad lines named by number."""
from __future__ import annotations

import itertools
import time

import pytest

from crawler.targets import Target, TargetError, homepage_urls, parse_targets


def one(line: str) -> Target:
    (target,) = list(parse_targets([line]))
    return target


def test_blank_lines_and_comments_are_skipped_and_lines_keep_their_numbers() -> None:
    lines = ["# header", "", "example.cn", "   ", "  # indented comment", "8.8.8.8  # resolver"]
    targets = list(parse_targets(lines))
    assert [(t.line, t.kind, t.host) for t in targets] == [(3, "domain", "example.cn"), (6, "ip", "8.8.8.8")]


def test_domains_are_canonical() -> None:
    target = one("  WWW.Example.COM.CN.  ")
    assert target == Target(1, "WWW.Example.COM.CN.", "domain", "www.example.com.cn")
    assert target.url is None and target.scheme_hint is None


def test_idn_domains_become_punycode() -> None:
    assert one("例子.中国").host == "xn--fsqu00a.xn--fiqs8s"
    assert one("例子。中国").host == "xn--fsqu00a.xn--fiqs8s"  # ideographic full stop
    assert one("ＥＸＡＭＰＬＥ.cn").host == "example.cn"  # full-width letters


def test_urls_keep_their_scheme_and_text() -> None:
    target = one("https://Shop.Example.cn:8443/index.html?a=1#top")
    assert (target.kind, target.host, target.url, target.scheme_hint) == (
        "url", "shop.example.cn", "https://Shop.Example.cn:8443/index.html?a=1#top", "https")
    assert one("http://例子.中国/").host == "xn--fsqu00a.xn--fiqs8s"
    assert one("http://[2400:3200::1]:8080/").host == "2400:3200::1"


def test_scheme_less_paths_and_ports_are_urls_without_a_scheme_hint() -> None:
    target = one("example.cn/about")
    assert (target.kind, target.host, target.url, target.scheme_hint) == (
        "url", "example.cn", "http://example.cn/about", None)
    assert one("example.cn:8080").url == "http://example.cn:8080"


def test_ip_addresses() -> None:
    assert one("8.8.8.8") == Target(1, "8.8.8.8", "ip", "8.8.8.8")
    assert one("2400:3200:0000::0001").host == "2400:3200::1"
    assert one("[2400:3200::1]").host == "2400:3200::1"


def test_cidr_blocks_expand_to_their_hosts() -> None:
    members = list(parse_targets(["1.2.3.0/30"]))
    assert [(m.kind, m.host, m.raw, m.line) for m in members] == [
        ("cidr_member", "1.2.3.1", "1.2.3.0/30", 1), ("cidr_member", "1.2.3.2", "1.2.3.0/30", 1)]
    assert [m.host for m in parse_targets(["1.2.3.4/32"])] == ["1.2.3.4"]
    assert [m.host for m in parse_targets(["1.2.3.4/31"])] == ["1.2.3.4", "1.2.3.5"]
    assert [m.host for m in parse_targets(["2400:3200::/126"])] == ["2400:3200::1", "2400:3200::2", "2400:3200::3"]


def test_cidr_expansion_is_lazy() -> None:
    started = time.perf_counter()
    first = list(itertools.islice(parse_targets(["10.0.0.0/9"], cidr_cap=1 << 23), 3))
    assert [t.host for t in first] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert time.perf_counter() - started < 0.5


def test_cidr_cap_and_raising_it() -> None:
    with pytest.raises(TargetError, match=r"line 2: .*65536 addresses, more than the cap of 256; raise --cidr-cap"):
        list(parse_targets(["example.cn", "1.2.0.0/16"], cidr_cap=256))
    assert sum(1 for _ in parse_targets(["1.2.0.0/16"])) == 65534  # the default cap is a /16
    with pytest.raises(TargetError, match="raise --cidr-cap"):
        list(parse_targets(["1.2.0.0/15"]))
    assert sum(1 for _ in parse_targets(["1.2.0.0/15"], cidr_cap=1 << 17)) == (1 << 17) - 2


@pytest.mark.parametrize("block", ["10.0.0.0/8", "0.0.0.0/0", "4.0.0.0/6", "2400:3200::/64", "2400::/32", "::/0"])
def test_huge_blocks_are_refused_whatever_the_cap(block: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TargetError, match=r"line 1: CIDR block /\d+ is too large to sweep"):
        next(parse_targets([block], cidr_cap=1 << 62))
    assert time.perf_counter() - started < 0.1  # refused, not expanded


def test_ipv6_blocks_just_under_the_limit_are_capped_not_refused() -> None:
    with pytest.raises(TargetError, match="raise --cidr-cap"):
        next(parse_targets(["2400:3200::/65"]))


@pytest.mark.parametrize(("line", "reason"), [
    ("1.2.3.4/24", "host bits set in CIDR block; did you mean 1.2.3.0/24"),
    ("1.2.3.0/33", "not a CIDR block"),
    ("ftp://example.cn/", "scheme 'ftp' is not http or https"),
    ("file:///etc/passwd", "scheme 'file' is not http or https"),
    ("exa mple.cn", "not a domain, URL, IP address or CIDR block"),
    ("-bad-.cn", "not a domain"),
    ("http://256.1.1.1/", "bad URL"),
    ("http://[::1/", "bad URL"),
])
def test_bad_lines_name_the_line_and_the_reason(line: str, reason: str) -> None:
    with pytest.raises(TargetError) as caught:
        list(parse_targets(["# list", "example.cn", line]))
    assert caught.value.line == 3 and reason in caught.value.reason
    assert str(caught.value).startswith("line 3: ") and repr(line) in str(caught.value)


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError):
        list(parse_targets(["example.cn"], cidr_cap=0))


@pytest.mark.parametrize(("line", "urls"), [
    ("example.cn", ["http://example.cn/", "http://www.example.cn/"]),
    ("example.com.cn", ["http://example.com.cn/", "http://www.example.com.cn/"]),
    ("例子.中国", ["http://xn--fsqu00a.xn--fiqs8s/", "http://www.xn--fsqu00a.xn--fiqs8s/"]),
    ("www.example.cn", ["http://www.example.cn/"]),
    ("shop.example.cn", ["http://shop.example.cn/"]),
    ("foo.github.io", ["http://foo.github.io/"]),  # under a private-section suffix: not the apex
    ("localhost", ["http://localhost/"]),  # under no public suffix
    ("8.8.8.8", ["http://8.8.8.8/"]),
    ("2400:3200::1", ["http://[2400:3200::1]/"]),
    ("https://example.cn/x", ["https://example.cn/x"]),
])
def test_homepage_urls(line: str, urls: list[str]) -> None:
    assert homepage_urls(one(line)) == urls


def test_homepage_urls_of_cidr_members() -> None:
    assert [homepage_urls(t) for t in parse_targets(["2400:3200::/127"])] == [
        ["http://[2400:3200::]/"], ["http://[2400:3200::1]/"]]
