"""Independent domains (note to art. 2; DESIGN.md §2): normalisation, the ICANN-only PSL rule,
IP literals, rejections with precise messages, and coverage of sub-domains."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import publicsuffixlist
import pytest
from publicsuffixlist import PublicSuffixList

from registry.domains import (
    InvalidHostname,
    independent_domain,
    independent_domains,
    is_covered_by,
    is_ip_literal,
    normalize_host,
    public_suffix,
    quick_independent_domain,
    to_unicode,
)

REPO = Path(__file__).resolve().parents[2]
LI_ZI_ZHONG_GUO = "xn--fsqu00a.xn--fiqs8s"  # 例子.中国


# --------------------------------------------------------------------------- .cn and gTLDs


@pytest.mark.parametrize("category", ["com", "net", "org", "gov", "edu", "ac"])
def test_cn_category_second_levels(category: str) -> None:
    assert public_suffix(f"www.example.{category}.cn") == f"{category}.cn"
    assert independent_domain(f"www.example.{category}.cn") == f"example.{category}.cn"
    assert independent_domain(f"example.{category}.cn") == f"example.{category}.cn"


@pytest.mark.parametrize("province", ["bj", "sh", "tj", "cq", "gd", "zj", "js", "sc", "xj", "hk"])
def test_cn_province_second_levels(province: str) -> None:
    assert independent_domain(f"a.b.example.{province}.cn") == f"example.{province}.cn"


def test_plain_cn_and_gtlds() -> None:
    assert independent_domain("example.cn") == "example.cn"
    assert independent_domain("www.example.cn") == "example.cn"
    assert independent_domain("deep.www.example.com") == "example.com"
    assert independent_domain("example.net") == "example.net"
    assert public_suffix("www.example.com") == "com"


def test_category_name_itself_registered_under_cn() -> None:
    # "com.cn" is a suffix, but a name directly under .cn that merely resembles one is not.
    assert independent_domain("www.comm.cn") == "comm.cn"


# --------------------------------------------------------------------------- IDN


def test_idn_unicode_and_punycode_agree() -> None:
    assert independent_domain("例子.中国") == LI_ZI_ZHONG_GUO
    assert independent_domain("xn--fsqu00a.xn--fiqs8s") == LI_ZI_ZHONG_GUO
    assert independent_domain("www.例子.中国") == independent_domain("WWW.XN--FSQU00A.XN--FIQS8S")
    assert to_unicode(independent_domain("www.例子.中国") or "") == "例子.中国"


@pytest.mark.parametrize("tld", ["中国", "中國", "公司", "网络"])
def test_chinese_idn_tlds(tld: str) -> None:
    domain = independent_domain(f"www.例子.{tld}")
    assert domain is not None and domain.isascii() and domain.startswith("xn--fsqu00a.xn--")
    assert to_unicode(domain) == f"例子.{tld}"
    assert public_suffix(f"例子.{tld}") == normalize_host(tld)


def test_idn_mapping_full_width_and_ideographic_full_stop() -> None:
    # UTS-46: full-width letters fold to ASCII, "。" separates labels like ".".
    assert normalize_host("ＥＸＡＭＰＬＥ．ｃｏｍ") == "example.com"
    assert independent_domain("www.例子。中国") == LI_ZI_ZHONG_GUO
    assert normalize_host("Bücher.example.COM") == "xn--bcher-kva.example.com"


def test_to_unicode_leaves_ascii_and_ips_alone() -> None:
    assert to_unicode("WWW.Example.com.") == "www.example.com"
    assert to_unicode("[::1]") == "::1"


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("example.com.", "example.com"),
        ("WWW.EXAMPLE.COM.CN", "www.example.com.cn"),
        ("  www.example.cn \n", "www.example.cn"),
        ("http://Ex.COM:8080/path", "ex.com"),
        ("https://user:secret@www.Example.cn:443/a/b?c=d#e", "www.example.cn"),
        ("http://a@b@www.example.cn/", "www.example.cn"),
        ("//www.example.cn/x", "www.example.cn"),
        ("www.example.cn/index.html", "www.example.cn"),
        ("www.example.cn:8443", "www.example.cn"),
        ("www.example.cn?q=1", "www.example.cn"),
        ("HTTP://WWW.EXAMPLE.CN.:80", "www.example.cn"),
        ("_dmarc.example.cn", "_dmarc.example.cn"),
    ],
)
def test_normalize_host(value: str, expected: str) -> None:
    assert normalize_host(value) == expected


def test_url_gives_independent_domain() -> None:
    assert independent_domain("https://user:pw@news.Example.COM.cn:8080/a?b#c") == "example.com.cn"


# --------------------------------------------------------------------------- IP literals


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("192.0.2.1.", "192.0.2.1"),
        ("192.0.2.1:8080", "192.0.2.1"),
        ("http://192.0.2.1/x", "192.0.2.1"),
        ("[::1]", "::1"),
        ("[::1]:443", "::1"),
        ("::1", "::1"),
        ("http://[2001:DB8:0:0::1]:8080/", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        ("[::FFFF:C000:0201]", "::ffff:192.0.2.1"),  # IPv4-mapped: dotted form on every Python
    ],
)
def test_ip_literals(value: str, expected: str) -> None:
    assert is_ip_literal(value)
    assert normalize_host(value) == expected
    assert independent_domain(value) is None
    assert public_suffix(value) is None


@pytest.mark.parametrize("value", ["example.com", "1.2.3", "[::1", "", "1.2.3.4.5", "cafe.com"])
def test_not_ip_literals(value: str) -> None:
    assert not is_ip_literal(value)


def test_ip_literal_coverage_is_equality() -> None:
    assert is_covered_by("http://[::1]:80/", "::1")
    assert is_covered_by("192.0.2.1", "192.0.2.1")
    assert not is_covered_by("192.0.2.10", "192.0.2.1")
    assert not is_covered_by("example.cn", "192.0.2.1")


# --------------------------------------------------------------------------- private section


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("foo.github.io", "github.io"),
        ("a.b.foo.github.io", "github.io"),
        ("github.io", "github.io"),
        ("my-app.vercel.app", "vercel.app"),
        ("x.blogspot.com", "blogspot.com"),
        ("bucket.s3.amazonaws.com", "amazonaws.com"),
    ],
)
def test_private_section_suffixes_do_not_make_registrable_domains(value: str, expected: str) -> None:
    assert independent_domain(value) == expected


def test_public_suffix_is_icann_only() -> None:
    assert public_suffix("foo.github.io") == "io"
    assert public_suffix("x.vercel.app") == "app"


# --------------------------------------------------------------------------- wildcard / exception rules


def test_wildcard_and_exception_rules() -> None:
    # ICANN rules "*.ck" and "!www.ck"; "*.kawasaki.jp" and "!city.kawasaki.jp".
    assert independent_domain("a.b.ck") == "a.b.ck"
    assert independent_domain("www.ck") == "www.ck"
    assert independent_domain("x.www.ck") == "www.ck"
    assert independent_domain("city.kawasaki.jp") == "city.kawasaki.jp"
    assert independent_domain("a.b.kawasaki.jp") == "a.b.kawasaki.jp"
    with pytest.raises(InvalidHostname, match="itself a public suffix"):
        independent_domain("b.ck")


def test_matches_publicsuffixlist_on_every_icann_rule() -> None:
    """The fast matcher agrees with the package's own implementation, rule by rule."""
    psl = PublicSuffixList(only_icann=True, accept_unknown=False)
    text = Path(publicsuffixlist.PSLFILE).read_text(encoding="utf-8")
    icann = text.split("// ===BEGIN ICANN DOMAINS===")[1].split("// ===END ICANN DOMAINS===")[0]
    rules = [line.split()[0] for line in icann.splitlines() if line.strip() and not line.startswith("//")]
    rules = [r if r.isascii() else r.encode("idna").decode("ascii") for r in rules]
    assert len(rules) > 6000
    checked = 0
    for rule in rules:
        body = rule.lstrip("!").removeprefix("*.")
        for name in (body, "a." + body, "b.a." + body, "c.b.a." + body):
            expected = psl.privatesuffix(name)
            try:
                got = independent_domain(name)
            except InvalidHostname:
                got = None
            assert got == expected, name
            assert public_suffix(name) == psl.publicsuffix(name), name
            checked += 1
    assert checked > 24000


# --------------------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty host name"),
        ("   ", "empty host name"),
        ("http://", "no host"),
        ("a..example.cn", "empty label"),
        ("example.cn..", "empty label"),
        ("-a.example.cn", "starts or ends with a hyphen"),
        ("a-.example.cn", "starts or ends with a hyphen"),
        ("a b.example.cn", "contains ' '"),
        ("exa$mple.cn", "contains '$'"),
        ("x" * 64 + ".cn", "longer than 63 characters"),
        (".".join(["a" * 60] * 5) + ".cn", "longer than 253 characters"),
        ("xn--zz.cn", "not valid punycode/IDNA"),
        ("☃.cn", "not a valid IDN label"),
        ("1.2.3", "malformed IPv4"),
        ("www.example.cn:http", "bad port"),
        ("[::1", "unclosed '['"),
        ("[::1]x", "unexpected text after IP literal"),
        ("fe80::zz", "neither a host name nor an IP address"),
        ("foo.local", "not under a public suffix"),
        ("localhost", "not under a public suffix"),
        ("com.cn", "itself a public suffix"),
        ("bj.cn", "itself a public suffix"),
        ("cn", "itself a public suffix"),
        ("COM.", "itself a public suffix"),
        ("中国", "itself a public suffix"),
    ],
)
def test_rejections_have_precise_messages(value: str, message: str) -> None:
    with pytest.raises(InvalidHostname, match=message.replace("$", r"\$").replace("[", r"\[")):
        independent_domain(value)


def test_bare_suffix_message_shows_input_and_canonical_form() -> None:
    with pytest.raises(InvalidHostname) as err:
        independent_domain("中国")
    assert "中国" in str(err.value) and "xn--fiqs8s" in str(err.value)


def test_invalid_hostname_is_a_value_error() -> None:
    assert issubclass(InvalidHostname, ValueError)


# --------------------------------------------------------------------------- coverage


@pytest.mark.parametrize(
    ("host", "domain", "covered"),
    [
        ("example.cn", "example.cn", True),
        ("www.example.cn", "example.cn", True),
        ("a.b.c.example.cn", "example.cn", True),
        ("WWW.EXAMPLE.CN.", "example.cn", True),
        ("https://user@www.example.cn:8443/x", "EXAMPLE.cn.", True),
        ("notexample.cn", "example.cn", False),
        ("example.cn.evil.com", "example.cn", False),
        ("www.example.com.cn", "example.cn", False),
        ("example.com", "example.cn", False),
        ("www.例子.中国", LI_ZI_ZHONG_GUO, True),
        ("xn--fsqu00a.xn--fiqs8s", "例子.中国", True),
        ("foo.github.io", "github.io", True),
        ("www.example.cn", "www.example.cn", True),
        ("example.cn", "www.example.cn", False),
    ],
)
def test_is_covered_by(host: str, domain: str, covered: bool) -> None:
    assert is_covered_by(host, domain) is covered


@pytest.mark.parametrize("suffix", ["com.cn", "cn", "中国"])
def test_a_public_suffix_covers_nothing(suffix: str) -> None:
    with pytest.raises(InvalidHostname, match="itself a public suffix"):
        is_covered_by("www.example.com.cn", suffix)


# --------------------------------------------------------------------------- bulk


def test_independent_domains_matches_single_calls_in_order() -> None:
    values = ["www.example.cn", "192.0.2.1", "WWW.Example.COM.CN", "www.example.cn", "a.例子.中国", "foo.github.io"]
    assert independent_domains(values) == [independent_domain(v) for v in values]
    assert independent_domains(iter(values)) == independent_domains(values)


def test_independent_domains_errors() -> None:
    assert independent_domains(["example.cn", "com.cn", "a..b", "192.0.2.1"]) == ["example.cn", None, None, None]
    with pytest.raises(InvalidHostname, match="itself a public suffix"):
        independent_domains(["example.cn", "com.cn"], errors="raise")
    assert independent_domains(["example.cn", None, float("nan")]) == ["example.cn", None, None]  # type: ignore[list-item]
    with pytest.raises(TypeError):
        independent_domains([None], errors="raise")  # type: ignore[list-item]
    with pytest.raises(TypeError):
        independent_domain(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        independent_domains([], errors="ignore")  # type: ignore[arg-type]


def test_independent_domains_is_fast() -> None:
    """Well over 100,000 names/s; measured ~500,000/s, so a loose floor keeps slow CI green."""
    import time

    names = [f"{'www.' if i % 3 else ''}site{i}.{('com', 'cn', 'com.cn', 'bj.cn', 'xn--fiqs8s')[i % 5]}" for i in range(200_000)]
    start = time.perf_counter()
    result = independent_domains(names)
    rate = len(names) / (time.perf_counter() - start)
    assert result[1] == "site1.cn" and result[2] == "site2.com.cn"
    assert rate > 100_000, f"{rate:,.0f} names/s"


# --------------------------------------------------------------------------- no network


def test_no_network_at_import_or_use() -> None:
    """The bundled PSL snapshot is used; any socket use would fail this subprocess."""
    code = textwrap.dedent(
        """
        import socket
        def refuse(*a, **k):
            raise AssertionError("network used")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from registry import domains
        assert domains.independent_domain("www.example.com.cn") == "example.com.cn"
        try:
            domains.independent_domain("foo.local")  # builds the lazy full list
        except domains.InvalidHostname:
            pass
        print("ok")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


@pytest.mark.parametrize(
    "value",
    ["www.example.com.cn", "example.cn", "a.b.example.bj.cn", LI_ZI_ZHONG_GUO, "www.xn--fsqu00a.xn--fiqs8s",
     "foo.github.io", "a.x.kawasaki.jp", "city.kawasaki.jp", "_dmarc.example.com"],
)
def test_quick_path_agrees_with_the_full_one_on_canonical_names(value: str) -> None:
    assert quick_independent_domain(value) == independent_domain(value)


@pytest.mark.parametrize(
    "value",
    ["WWW.Example.cn", "https://example.cn/", "example.cn.", "例子.中国", "1.2.3.4", "::1", "com.cn", "cn", "x.kawasaki.jp",
     "foo.local", "xn--abc.cn", "-bad.cn", ""],
)
def test_quick_path_leaves_every_other_form_to_the_full_one(value: str) -> None:
    """Anything not canonical, an IP literal, or a name with no independent domain: None here, and
    ``independent_domain`` gives the answer or the reason."""
    assert quick_independent_domain(value) is None
