"""Resolution against a real SandboxDNS on loopback: every outcome, sync and asyncio."""
from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections.abc import Callable, Iterator

import dns.flags
import dns.message
import dns.query
import pytest

from crawler.nameservers import ServerOrder
from crawler.resolve import Resolution, Resolver, parse_nameserver, parse_nameservers
from sandbox.dns import SandboxDNS, Zone


def build_zone() -> Zone:
    zone = Zone(records={}, behaviours={
        "broken.t.cn": "servfail",
        "silent.t.cn": "timeout",
        "tc.t.cn": "truncate",
        "closed.t.cn": "refused",
    })
    rows = [
        ("v4.t.cn", "A", "127.0.3.1"),
        ("v6.t.cn", "AAAA", "::1"),
        ("dual.t.cn", "A", "127.0.3.2"),
        ("dual.t.cn", "A", "127.0.3.3"),
        ("dual.t.cn", "AAAA", "::1"),
        ("mixed.t.cn", "A", "127.0.3.4"),
        ("mixed.t.cn", "A", "10.1.2.3"),
        ("mixed.t.cn", "A", "203.0.113.7"),
        ("www.t.cn", "CNAME", "t.cn.cdn-a.net"),
        ("t.cn.cdn-a.net", "CNAME", "edge7.cdn-b.net"),
        ("edge7.cdn-b.net", "A", "127.0.3.5"),
        ("edge7.cdn-b.net", "AAAA", "::1"),
        ("dangling.t.cn", "CNAME", "gone.cdn-a.net"),
        ("mx-only.t.cn", "MX", "10 mail.t.cn"),
        ("deep.sub.t.cn", "A", "127.0.3.6"),
        ("*.wild.t.cn", "A", "127.0.3.7"),
        ("loop1.t.cn", "CNAME", "loop2.t.cn"),
        ("loop2.t.cn", "CNAME", "loop3.t.cn"),
        ("loop3.t.cn", "CNAME", "loop1.t.cn"),
        ("self.t.cn", "CNAME", "self.t.cn"),
        ("tc.t.cn", "A", "127.0.3.8"),
        ("broken.t.cn", "A", "127.0.3.9"),
        ("silent.t.cn", "A", "127.0.3.10"),
        ("closed.t.cn", "A", "127.0.3.11"),
        ("例子.中国", "A", "127.0.3.12"),
    ]
    for name, rtype, value in rows:
        zone.add(name, rtype, value)
    for i in range(12):  # c0 -> c1 -> ... -> c12 (A): 12 links
        zone.add(f"c{i}.t.cn", "CNAME", f"c{i + 1}.t.cn")
    zone.add("c12.t.cn", "A", "127.0.3.13")
    for i in range(20):  # l0 -> ... -> l20 (A): 20 links, more than the server puts in one answer
        zone.add(f"l{i}.t.cn", "CNAME", f"l{i + 1}.t.cn")
    zone.add("l20.t.cn", "A", "127.0.3.14")
    return zone


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxDNS]:
    host = f"127.0.{random.randint(4, 250)}.{random.randint(2, 250)}"
    with SandboxDNS(build_zone(), host=host, port=0) as dns_server:
        yield dns_server


def spec(server: SandboxDNS) -> str:
    return f"{server.host}:{server.port}"


Resolve = Callable[[str], Resolution]


@pytest.fixture(params=["sync", "async"])
def resolve(request: pytest.FixtureRequest, server: SandboxDNS) -> Resolve:
    """A fresh resolver's resolve(), through the synchronous or the asyncio path."""
    resolver = Resolver(spec(server), timeout=0.2, lifetime=0.6)
    if request.param == "sync":
        return resolver.resolve
    return lambda name: asyncio.run(resolver.resolve_async(name))


def test_a_only(resolve: Resolve, server: SandboxDNS) -> None:
    result = resolve("v4.t.cn")
    assert (result.status, result.addresses, result.cname_chain, result.error) == ("ok", ("127.0.3.1",), (), None)
    assert result.nameserver == spec(server) and result.elapsed > 0


def test_aaaa_only(resolve: Resolve) -> None:
    assert resolve("v6.t.cn").addresses == ("::1",)


def test_a_and_aaaa_all_answers_a_first(resolve: Resolve) -> None:
    result = resolve("dual.t.cn")
    assert result.status == "ok" and sorted(result.addresses[:2]) == ["127.0.3.2", "127.0.3.3"]
    assert result.addresses[2:] == ("::1",)


def test_mixed_answer_keeps_every_address(resolve: Resolve) -> None:
    assert sorted(resolve("mixed.t.cn").addresses) == ["10.1.2.3", "127.0.3.4", "203.0.113.7"]


def test_cname_chain_through_cdn_names(resolve: Resolve) -> None:
    result = resolve("WWW.T.CN.")
    assert result.name == "www.t.cn"
    assert result.cname_chain == ("t.cn.cdn-a.net", "edge7.cdn-b.net")
    assert result.addresses == ("127.0.3.5", "::1")


def test_nxdomain(resolve: Resolve) -> None:
    result = resolve("nope.t.cn")
    assert (result.status, result.addresses, result.cname_chain) == ("nxdomain", (), ())


def test_nxdomain_at_the_end_of_a_chain_keeps_the_chain(resolve: Resolve) -> None:
    result = resolve("dangling.t.cn")
    assert (result.status, result.cname_chain) == ("nxdomain", ("gone.cdn-a.net",))


def test_nodata_for_a_name_with_other_records_and_an_empty_non_terminal(resolve: Resolve) -> None:
    for name in ("mx-only.t.cn", "sub.t.cn"):
        result = resolve(name)
        assert (result.status, result.addresses, result.error) == ("nodata", (), None)


def test_servfail(resolve: Resolve) -> None:
    result = resolve("broken.t.cn")
    assert result.status == "servfail" and "SERVFAIL" in (result.error or "")


def test_refused(resolve: Resolve) -> None:
    result = resolve("closed.t.cn")
    assert result.status == "refused" and "REFUSED" in (result.error or "")


def test_timeout_is_bounded_by_the_lifetime(resolve: Resolve) -> None:
    started = time.monotonic()
    result = resolve("silent.t.cn")
    assert result.status == "timeout" and result.addresses == ()
    assert time.monotonic() - started < 1.5


def test_truncated_udp_answer_is_retried_over_tcp(resolve: Resolve, server: SandboxDNS) -> None:
    over_udp = dns.query.udp(dns.message.make_query("tc.t.cn", "A"), server.host, port=server.port, timeout=1)
    assert over_udp.flags & dns.flags.TC and not over_udp.answer  # UDP alone never gives the answer
    assert resolve("tc.t.cn").addresses == ("127.0.3.8",)


def test_wildcard(resolve: Resolve) -> None:
    assert resolve("anything.wild.t.cn").addresses == ("127.0.3.7",)
    assert resolve("a.b.wild.t.cn").addresses == ("127.0.3.7",)


def test_cname_loop(resolve: Resolve) -> None:
    result = resolve("loop1.t.cn")
    assert result.status == "cname_loop"
    assert result.cname_chain == ("loop2.t.cn", "loop3.t.cn", "loop1.t.cn")
    assert resolve("self.t.cn").status == "cname_loop"


def test_chain_too_long(resolve: Resolve) -> None:
    result = resolve("c0.t.cn")  # 12 links, more than the default 8
    assert result.status == "chain_too_long" and len(result.cname_chain) == 9
    assert "more than 8" in (result.error or "")
    assert resolve("c4.t.cn").status == "ok"  # 8 links exactly


def test_long_chain_split_over_several_answers_is_followed(server: SandboxDNS) -> None:
    resolver = Resolver(spec(server), timeout=0.5, lifetime=2, max_chain=25)
    result = resolver.resolve("l0.t.cn")  # the server sends at most 16 links in one answer
    assert result.status == "ok" and result.addresses == ("127.0.3.14",)
    assert result.cname_chain == tuple(f"l{i}.t.cn" for i in range(1, 21))
    assert asyncio.run(Resolver(spec(server), max_chain=25).resolve_async("l0.t.cn")).cname_chain == result.cname_chain
    assert Resolver(spec(server), max_chain=19).resolve("l0.t.cn").status == "chain_too_long"


def test_idn_names(resolve: Resolve) -> None:
    result = resolve("例子.中国")
    assert (result.name, result.addresses) == ("xn--fsqu00a.xn--fiqs8s", ("127.0.3.12",))


def test_ip_literals_and_bad_names_need_no_dns(resolve: Resolve) -> None:
    assert resolve("8.8.8.8") == Resolution("8.8.8.8", "ok", addresses=("8.8.8.8",))
    assert resolve("[::ffff:7f00:1]").addresses == ("::ffff:127.0.0.1",)
    bad = resolve("exa mple.cn")
    assert bad.status == "error" and "not a host name" in (bad.error or "")


def test_nothing_listening_is_an_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = Resolver(f"127.0.0.1:{port}", timeout=0.2, lifetime=0.5).resolve("v4.t.cn")
    assert result.status in ("error", "timeout") and result.addresses == ()


@pytest.mark.parametrize(("path", "timeouts"), [("sync", 2), ("async", 1)])
def test_a_silent_first_server_costs_one_timeout_not_two(server: SandboxDNS, path: str, timeouts: int) -> None:
    """With the first of two servers silent, a name is answered by the second after one timeout
    at the first for each question asked in turn: the asyncio path (the crawler's) asks A and
    AAAA at once, and its own fast first try counts as that one timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound and never read: queries go unanswered
        resolver = Resolver(f"127.0.0.1:{silent.getsockname()[1]},{spec(server)}", timeout=0.5, lifetime=3.0,
                            cache_size=0)
        assert resolver.nameserver == f"127.0.0.1:{silent.getsockname()[1]},{spec(server)}"
        started = time.monotonic()
        result = resolver.resolve("v4.t.cn") if path == "sync" else asyncio.run(resolver.resolve_async("v4.t.cn"))
        elapsed = time.monotonic() - started
    assert result.status == "ok" and result.addresses == ("127.0.3.1",)
    assert 0.5 * timeouts <= elapsed < 0.5 * timeouts + 0.4, elapsed
    assert result.nameserver == spec(server)  # the evidence names the server that answered, not both


def test_a_first_server_that_stays_silent_is_passed_over(server: SandboxDNS, caplog: pytest.LogCaptureFixture) -> None:
    """Over a sweep, a dead first server is not waited for on every name: after a few silences in
    a row the next server is asked first (for a while), and the operator is told."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{silent.getsockname()[1]}"
        resolver = Resolver(f"{dead},{spec(server)}", timeout=0.3, lifetime=3.0, cache_size=0)

        async def sweep() -> list[Resolution]:
            return [await resolver.resolve_async("v4.t.cn") for _ in range(8)]

        started = time.monotonic()
        with caplog.at_level("WARNING", logger="crawler.nameservers"):
            results = asyncio.run(sweep())
        elapsed = time.monotonic() - started
    assert all(r.status == "ok" and r.addresses == ("127.0.3.1",) and r.nameserver == spec(server) for r in results)
    assert elapsed < 1.2, elapsed  # two names wait for the silent server, not all eight (2.4 s)
    assert any(dead in message and spec(server) in message for message in caplog.messages)


def test_server_order_moves_past_silence_and_comes_back() -> None:
    order = ServerOrder(["127.0.0.1:53", "127.0.0.2:53"], silences_to_move=3, hold=0.2)
    order.silent(0)
    order.silent(0)
    order.answered(0)  # an answer in between: not silent "in a row"
    order.silent(0)
    order.silent(0)
    assert order.first == 0
    order.silent(0)
    assert order.first == 1
    order.silent(0)  # a late silence of the server no longer first changes nothing
    assert order.first == 1
    time.sleep(0.25)
    assert order.first == 0  # the hold is over: the configured order again
    alone = ServerOrder(["127.0.0.1:53"], silences_to_move=1)
    alone.silent(0)
    assert alone.first == 0  # nothing to move to
    with pytest.raises(ValueError):
        ServerOrder(["127.0.0.1:53"], silences_to_move=0)


def test_every_server_listed_is_asked_in_turn(server: SandboxDNS) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as second:
        first.bind(("127.0.0.1", 0))
        second.bind(("127.0.0.1", 0))
        listed = f"127.0.0.1:{first.getsockname()[1]},127.0.0.1:{second.getsockname()[1]},{spec(server)}"
        result = asyncio.run(Resolver(listed, timeout=0.3, lifetime=3.0).resolve_async("v4.t.cn"))
    assert result.status == "ok" and result.addresses == ("127.0.3.1",)


def test_a_failure_names_every_server_configured(server: SandboxDNS) -> None:
    """A timeout was not said by any one server: the evidence lists all that were asked."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        listed = f"127.0.0.1:{silent.getsockname()[1]},{spec(server)}"
        result = asyncio.run(Resolver(listed, timeout=0.2, lifetime=0.6).resolve_async("silent.t.cn"))
    assert result.status == "timeout" and result.nameserver == listed


def test_results_are_cached_per_name(server: SandboxDNS) -> None:
    resolver = Resolver(spec(server), timeout=0.2, lifetime=0.4)
    first = resolver.resolve("v4.t.cn")
    assert resolver.resolve("V4.t.cn.") is first
    assert asyncio.run(resolver.resolve_async("v4.t.cn")) is first
    silent = resolver.resolve("silent.t.cn")
    started = time.monotonic()
    assert resolver.resolve("silent.t.cn") is silent  # a failure is kept briefly, not re-waited
    assert time.monotonic() - started < 0.1
    uncached = Resolver(spec(server), cache_size=0)
    assert uncached.resolve("v4.t.cn") is not uncached.resolve("v4.t.cn")


def test_to_dict_is_json_ready(resolve: Resolve) -> None:
    data = resolve("www.t.cn").to_dict()
    assert data["name"] == "www.t.cn" and data["status"] == "ok"
    assert data["cname_chain"] == ["t.cn.cdn-a.net", "edge7.cdn-b.net"] and data["addresses"] == ["127.0.3.5", "::1"]
    assert set(data) == {"name", "status", "cname_chain", "addresses", "error", "nameserver", "elapsed"}


@pytest.mark.parametrize(("text", "parsed"), [
    ("127.0.0.53", ("127.0.0.53", 53)),
    ("127.0.0.53:5353", ("127.0.0.53", 5353)),
    ("[::1]:5353", ("::1", 5353)),
    ("[::1]", ("::1", 53)),
    ("::1", ("::1", 53)),
])
def test_parse_nameserver(text: str, parsed: tuple[str, int]) -> None:
    assert parse_nameserver(text) == parsed


@pytest.mark.parametrize("text", ["dns.example.cn", "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:x", "[::1]x"])
def test_parse_nameserver_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="bad resolver"):
        parse_nameserver(text)


def test_parse_nameservers_keeps_the_order() -> None:
    assert parse_nameservers("127.0.0.53:5353, [::1]:53,127.0.0.2") == [
        ("127.0.0.53", 5353), ("::1", 53), ("127.0.0.2", 53)]
    for bad in (",", "127.0.0.1,dns.example.cn"):
        with pytest.raises(ValueError, match="bad resolver"):
            parse_nameservers(bad)


def test_system_resolver_configuration_is_read() -> None:
    resolver = Resolver(None)  # reads /etc/resolv.conf; nothing is asked
    assert resolver.nameserver


def test_to_dict_carries_every_field_as_plain_json() -> None:
    from dataclasses import fields

    resolution = Resolution("a.t.cn", "ok", ("b.t.cn",), ("127.0.0.9",), None, "127.0.0.1:53", 0.25)
    data = resolution.to_dict()
    assert set(data) == {f.name for f in fields(Resolution)}
    assert data["cname_chain"] == ["b.t.cn"] and data["addresses"] == ["127.0.0.9"]
    assert json.loads(json.dumps(data)) == data
