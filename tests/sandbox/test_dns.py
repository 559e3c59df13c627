"""The sandbox DNS server over the wire, with dnspython as the client (UDP and TCP on loopback)."""
from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest

from sandbox.dns import SandboxDNS, Zone


def build_zone() -> Zone:
    zone = Zone(records={}, behaviours={
        "broken.a.cn": "servfail",
        "silent.a.cn": "timeout",
        "tc.a.cn": "truncate",
        "closed.a.cn": "refused",
    })
    rows = [
        ("a.cn", "A", "127.0.0.10"),
        ("a.cn", "AAAA", "::1"),
        ("a.cn", "TXT", "v=spf1 -all"),
        ("a.cn", "MX", "10 mail.a.cn"),
        ("mail.a.cn", "A", "127.0.0.11"),
        ("www.a.cn", "CNAME", "a.cdn-example.net"),
        ("a.cdn-example.net", "CNAME", "edge1.cdn-example.net"),
        ("edge1.cdn-example.net", "A", "127.1.2.3"),
        ("dangling.a.cn", "CNAME", "nowhere.example.org"),
        ("loop1.a.cn", "CNAME", "loop2.a.cn"),
        ("loop2.a.cn", "CNAME", "loop1.a.cn"),
        ("*.wild.a.cn", "A", "127.0.0.12"),
        ("real.wild.a.cn", "TXT", "not the wildcard"),
        ("mixed.a.cn", "A", "127.0.0.13"),
        ("mixed.a.cn", "A", "10.1.2.3"),
        ("mixed.a.cn", "A", "203.0.113.7"),
        ("tc.a.cn", "A", "127.0.0.14"),
        ("broken.a.cn", "A", "127.0.0.15"),
        ("silent.a.cn", "A", "127.0.0.16"),
        ("closed.a.cn", "A", "127.0.0.17"),
        ("deep.sub.b.cn", "A", "127.0.0.18"),
        ("例子.中国", "A", "127.0.0.19"),
    ]
    for name, rtype, value in rows:
        zone.add(name, rtype, value)
    for i in range(40):  # an A RRset of 40 addresses: ~700 bytes, over 512
        zone.add("many.a.cn", "A", f"127.0.1.{i + 1}")
    zone.add("big.a.cn", "TXT", "x" * 600)
    return zone


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxDNS]:
    host = f"127.0.0.{random.randint(53, 250)}"
    with SandboxDNS(build_zone(), host=host, port=0) as dns_server:
        yield dns_server


def udp(server: SandboxDNS, name: str, rtype: str, *, edns: int = -1, timeout: float = 2.0,
        payload: int = 1232) -> dns.message.Message:
    query = dns.message.make_query(name, rtype, use_edns=edns, payload=payload)
    return dns.query.udp(query, server.host, port=server.port, timeout=timeout)


def tcp(server: SandboxDNS, name: str, rtype: str) -> dns.message.Message:
    query = dns.message.make_query(name, rtype)
    return dns.query.tcp(query, server.host, port=server.port, timeout=2.0)


def resolver(server: SandboxDNS) -> dns.resolver.Resolver:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [server.host]
    res.port = server.port
    res.lifetime = 2.0
    return res


def texts(message: dns.message.Message, section: str = "answer") -> list[str]:
    return [rrset.to_text() for rrset in getattr(message, section)]


def test_a_and_aaaa(server: SandboxDNS) -> None:
    answer = udp(server, "a.cn", "A")
    assert answer.rcode() == dns.rcode.NOERROR and answer.flags & dns.flags.AA
    assert texts(answer) == ["a.cn. 300 IN A 127.0.0.10"]
    assert [r.address for r in resolver(server).resolve("a.cn", "AAAA")] == ["::1"]


def test_txt_and_mx(server: SandboxDNS) -> None:
    assert [r.strings for r in resolver(server).resolve("a.cn", "TXT")] == [(b"v=spf1 -all",)]
    assert [r.exchange.to_text() for r in resolver(server).resolve("a.cn", "MX")] == ["mail.a.cn."]


def test_cname_chain_through_cdn(server: SandboxDNS) -> None:
    answer = udp(server, "www.a.cn", "A")
    assert texts(answer) == [
        "www.a.cn. 300 IN CNAME a.cdn-example.net.",
        "a.cdn-example.net. 300 IN CNAME edge1.cdn-example.net.",
        "edge1.cdn-example.net. 300 IN A 127.1.2.3",
    ]
    resolved = resolver(server).resolve("www.a.cn", "A")
    assert resolved.canonical_name.to_text() == "edge1.cdn-example.net."
    assert [r.address for r in resolved] == ["127.1.2.3"]


def test_cname_query_gets_the_cname_only(server: SandboxDNS) -> None:
    assert texts(udp(server, "www.a.cn", "CNAME")) == ["www.a.cn. 300 IN CNAME a.cdn-example.net."]


def test_cname_to_a_missing_name_is_nxdomain_with_the_chain(server: SandboxDNS) -> None:
    answer = udp(server, "dangling.a.cn", "A")
    assert answer.rcode() == dns.rcode.NXDOMAIN
    assert texts(answer) == ["dangling.a.cn. 300 IN CNAME nowhere.example.org."]


def test_nxdomain_has_soa_in_authority(server: SandboxDNS) -> None:
    answer = udp(server, "nope.a.cn", "A")
    assert answer.rcode() == dns.rcode.NXDOMAIN
    assert answer.answer == [] and answer.authority[0].rdtype == dns.rdatatype.SOA
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver(server).resolve("nope.a.cn", "A")


def test_nodata_for_existing_name_and_empty_non_terminal(server: SandboxDNS) -> None:
    for name in ("mail.a.cn", "sub.b.cn"):  # a name with other types; a name with only children
        answer = udp(server, name, "AAAA")
        assert answer.rcode() == dns.rcode.NOERROR and answer.answer == []
        assert answer.authority[0].rdtype == dns.rdatatype.SOA
    with pytest.raises(dns.resolver.NoAnswer):
        resolver(server).resolve("mail.a.cn", "AAAA")


def test_servfail_and_refused(server: SandboxDNS) -> None:
    assert udp(server, "broken.a.cn", "A").rcode() == dns.rcode.SERVFAIL
    assert tcp(server, "broken.a.cn", "A").rcode() == dns.rcode.SERVFAIL
    assert udp(server, "closed.a.cn", "A").rcode() == dns.rcode.REFUSED
    with pytest.raises(dns.resolver.NoNameservers):
        resolver(server).resolve("broken.a.cn", "A")


def test_timeout_name_is_never_answered(server: SandboxDNS) -> None:
    with pytest.raises(dns.exception.Timeout):
        udp(server, "silent.a.cn", "A", timeout=0.3)
    assert udp(server, "a.cn", "A").rcode() == dns.rcode.NOERROR  # the server is still serving


def test_truncate_behaviour_then_tcp_retry(server: SandboxDNS) -> None:
    over_udp = udp(server, "tc.a.cn", "A")
    assert over_udp.flags & dns.flags.TC and over_udp.answer == []
    answer, used_tcp = dns.query.udp_with_fallback(
        dns.message.make_query("tc.a.cn", "A"), server.host, port=server.port, timeout=2.0)
    assert used_tcp and texts(answer) == ["tc.a.cn. 300 IN A 127.0.0.14"]
    assert resolver(server).resolve("tc.a.cn", "A")[0].address == "127.0.0.14"  # resolver retries over TCP


def test_big_rrsets_truncate_over_plain_udp(server: SandboxDNS) -> None:
    for name, rtype in (("many.a.cn", "A"), ("big.a.cn", "TXT")):
        plain = udp(server, name, rtype)
        assert plain.flags & dns.flags.TC and plain.answer == []
        full = tcp(server, name, rtype)
        assert not full.flags & dns.flags.TC and len(full.to_wire()) > 512
    assert len(tcp(server, "many.a.cn", "A").answer[0]) == 40


def test_edns_raises_the_udp_limit_and_is_echoed(server: SandboxDNS) -> None:
    answer = udp(server, "many.a.cn", "A", edns=0, payload=1232)
    assert not answer.flags & dns.flags.TC and len(answer.answer[0]) == 40
    assert answer.edns == 0 and answer.payload == 1232
    small = udp(server, "many.a.cn", "A", edns=0, payload=512)
    assert small.flags & dns.flags.TC and small.edns == 0
    assert udp(server, "a.cn", "A").edns == -1  # no OPT back to a client that sent none


def test_edns_version_1_gets_badvers(server: SandboxDNS) -> None:
    answer = udp(server, "a.cn", "A", edns=1)
    assert answer.rcode() == dns.rcode.BADVERS


def test_wildcard(server: SandboxDNS) -> None:
    assert texts(udp(server, "x.wild.a.cn", "A")) == ["x.wild.a.cn. 300 IN A 127.0.0.12"]
    assert texts(udp(server, "y.x.wild.a.cn", "A")) == ["y.x.wild.a.cn. 300 IN A 127.0.0.12"]
    existing = udp(server, "real.wild.a.cn", "A")  # an existing name is not covered by the wildcard
    assert existing.rcode() == dns.rcode.NOERROR and existing.answer == []
    below = udp(server, "z.real.wild.a.cn", "A")  # nor is anything below it (RFC 4592)
    assert below.rcode() == dns.rcode.NXDOMAIN


def test_cname_loop_is_served_as_is(server: SandboxDNS) -> None:
    answer = udp(server, "loop1.a.cn", "A")
    assert answer.rcode() == dns.rcode.NOERROR
    assert texts(answer) == ["loop1.a.cn. 300 IN CNAME loop2.a.cn.", "loop2.a.cn. 300 IN CNAME loop1.a.cn."]
    with pytest.raises(dns.resolver.NoNameservers, match="CNAME"):
        resolver(server).resolve("loop1.a.cn", "A")  # the resolver detects it


def test_mixed_public_and_private_answers_are_just_records(server: SandboxDNS) -> None:
    addresses = sorted(r.address for r in resolver(server).resolve("mixed.a.cn", "A"))
    assert addresses == ["10.1.2.3", "127.0.0.13", "203.0.113.7"]


def test_question_case_is_echoed_and_matching_is_case_insensitive(server: SandboxDNS) -> None:
    for name in ("WwW.A.cN", "www.a.cn", "WWW.A.CN"):
        answer = udp(server, name, "A")
        assert answer.question[0].name.to_text() == name + "."
        assert answer.answer[-1][0].address == "127.1.2.3"


def test_idn_names_are_stored_as_punycode(server: SandboxDNS) -> None:
    assert resolver(server).resolve("xn--fsqu00a.xn--fiqs8s", "A")[0].address == "127.0.0.19"


def test_tcp_serves_on_the_same_port(server: SandboxDNS) -> None:
    assert texts(tcp(server, "a.cn", "A")) == ["a.cn. 300 IN A 127.0.0.10"]


def test_garbage_is_ignored_and_serving_goes_on(server: SandboxDNS) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(b"\x12\x34garbage", (server.host, server.port))
        try:
            reply = sock.recv(512)
        except TimeoutError:
            reply = b""
    if reply:
        assert dns.message.from_wire(reply).rcode() == dns.rcode.FORMERR
    assert udp(server, "a.cn", "A").rcode() == dns.rcode.NOERROR


def test_non_in_class_is_refused(server: SandboxDNS) -> None:
    query = dns.message.make_query("version.bind", "TXT", rdclass="CH")
    assert dns.query.udp(query, server.host, port=server.port, timeout=2).rcode() == dns.rcode.REFUSED


def test_only_loopback_hosts_are_accepted() -> None:
    for host in ("0.0.0.0", "10.0.0.1", "192.168.1.1", "8.8.8.8", "localhost", "::"):
        with pytest.raises(ValueError):
            SandboxDNS(Zone(records={}), host=host)


def test_unsupported_record_type_and_behaviour_are_rejected() -> None:
    with pytest.raises(ValueError):
        Zone(records={}).add("a.cn", "SRV", "0 0 80 a.cn")
    with pytest.raises(ValueError):
        SandboxDNS(Zone(records={}, behaviours={"a.cn": "explode"}), host="127.0.0.1", port=0).start()


def test_reload_serves_new_records_and_stop_releases_the_port() -> None:
    zone = Zone(records={})
    zone.add("r.cn", "A", "127.0.0.20")
    server = SandboxDNS(zone, host="127.0.0.1", port=0)
    host, port = server.start()
    try:
        assert udp(server, "r.cn", "A").answer[0][0].address == "127.0.0.20"
        zone.records["r.cn"] = [("A", "127.0.0.21")]
        server.reload()
        assert udp(server, "r.cn", "A").answer[0][0].address == "127.0.0.21"
    finally:
        server.stop()
    server.stop()  # twice is fine
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, port))  # the port is free again


# --- dig (Debian's dnsutils), a client that shares no code with the server -----------------------

def _dig(server: SandboxDNS, *args: str) -> str:
    import shutil
    import subprocess

    dig = shutil.which("dig")
    if dig is None:
        pytest.fail("dig is required (scripts/test.sh installs dnsutils)")
    done = subprocess.run([dig, f"@{server.host}", "-p", str(server.port), "+time=2", "+tries=1", *args],
                          capture_output=True, text=True, timeout=30)
    return done.stdout


def test_dig_sees_the_zone_as_described(server: SandboxDNS) -> None:
    assert _dig(server, "a.cn", "A", "+short").split() == ["127.0.0.10"]
    assert _dig(server, "www.a.cn", "A", "+short").split() == ["a.cdn-example.net.", "edge1.cdn-example.net.",
                                                               "127.1.2.3"]
    assert "status: NXDOMAIN" in _dig(server, "nothing-here.a.cn", "A")
    assert "status: SERVFAIL" in _dig(server, "broken.a.cn", "A")
    assert "flags: qr aa" in _dig(server, "a.cn", "A")
    # a truncated UDP answer, then dig's own retry over TCP gets all 40 addresses
    assert len(_dig(server, "many.a.cn", "A", "+short", "+noedns").split()) == 40
    assert "timed out" in _dig(server, "silent.a.cn", "A")
    assert _dig(server, "xn--fsqu00a.xn--fiqs8s", "A", "+short").split() == ["127.0.0.19"]
