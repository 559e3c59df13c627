"""GuardedResolver: Scrapy fetches from the address this project resolved and checked, or refuses.

The crawls run in subprocesses (a Twisted reactor cannot be restarted, and must not be installed
in the test process other tests share).  Each subprocess resolves only through SandboxDNS on
loopback and fetches only from a web server on loopback; its ``socket.getaddrinfo`` is wrapped to
record any attempt at resolving a name the system's way.
"""
from __future__ import annotations

import http.server
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.address import IPv4Address, IPv6Address

from crawler.dnsresolver import GuardedLookupError, GuardedResolver
from crawler.guard import AddressRefused
from crawler.resolve import Resolution
from sandbox.dns import SandboxDNS, Zone
from tests.crawler.conftest import serving

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- without a reactor


def offline_resolver(**kwargs: Any) -> GuardedResolver:
    """A GuardedResolver whose DNS is never asked (only IP literals and _admit are used)."""
    return GuardedResolver(None, nameserver="127.0.0.1:9", own_addresses=[], **kwargs)


class Receiver:
    """An IResolutionReceiver that keeps what it is told."""

    def __init__(self) -> None:
        self.began = False
        self.addresses: list[Any] = []
        self.complete = False

    def resolutionBegan(self, resolution: Any) -> None:  # noqa: N802
        self.began = True

    def addressResolved(self, address: Any) -> None:  # noqa: N802
        self.addresses.append(address)

    def resolutionComplete(self) -> None:  # noqa: N802
        self.complete = True


def test_literal_ips_skip_dns_but_not_the_guard() -> None:
    resolver = offline_resolver()
    receiver = Receiver()
    resolver.resolveHostName(receiver, "8.8.8.8", 8080)
    assert receiver.began and receiver.complete
    assert receiver.addresses == [IPv4Address("TCP", "8.8.8.8", 8080)]
    for host, address, reason in [("127.0.0.1", "127.0.0.1", "loopback address"),
                                  ("0x7f.1", "127.0.0.1", "loopback address"),
                                  ("2130706433", "127.0.0.1", "loopback address"),
                                  ("::ffff:10.0.0.1", "::ffff:10.0.0.1", "IPv4-mapped private address")]:
        receiver = Receiver()
        resolver.resolveHostName(receiver, host, 80)
        assert receiver.complete and receiver.addresses == [], host
        error = resolver.lookup_error(host)
        assert isinstance(error, GuardedLookupError) and error.refusal is not None
        assert (error.refusal.address, error.reason) == (address, f"refused: {reason}")
        assert str(error) == f"refused: {reason} ({address})"


def test_address_types_are_respected() -> None:
    resolver = offline_resolver()
    receiver = Receiver()
    resolver.resolveHostName(receiver, "2400:3200::1", 443, addressTypes=[IPv6Address])
    assert receiver.addresses == [IPv6Address("TCP", "2400:3200::1", 443)]
    receiver = Receiver()
    resolver.resolveHostName(receiver, "2400:3200::1", 443, addressTypes=[IPv4Address])
    assert receiver.addresses == [] and receiver.complete


def test_mixed_answers_keep_only_acceptable_addresses_and_record_the_rest() -> None:
    resolver = offline_resolver()
    mixed = Resolution("mixed.example.cn", "ok", addresses=("10.1.2.3", "8.8.8.8", "::1", "2400:3200::1"))
    assert resolver._admit(mixed) == ("8.8.8.8", "2400:3200::1")
    assert resolver.resolutions["mixed.example.cn"] is mixed
    assert [(r.address, r.reason) for r in resolver.refusals["mixed.example.cn"]] == [
        ("10.1.2.3", "private address"), ("::1", "loopback address")]
    assert resolver.lookup_error("mixed.example.cn") is None


def test_all_refused_or_failed_lookups_raise_and_are_recorded() -> None:
    resolver = offline_resolver()
    with pytest.raises(GuardedLookupError) as caught:
        resolver._admit(Resolution("lan.example.cn", "ok", addresses=("192.168.1.10",)))
    assert caught.value.reason == "refused: private address"
    assert resolver.lookup_error("LAN.example.cn.") is caught.value
    gone = Resolution("gone.example.cn", "nxdomain")
    with pytest.raises(GuardedLookupError, match=r"^dns_error: nxdomain \(gone.example.cn\)$") as caught:
        resolver._admit(gone)
    assert caught.value.resolution is gone and resolver.resolution_for("gone.example.cn") is gone
    resolver._admit(Resolution("gone.example.cn", "ok", addresses=("8.8.8.8",)))
    assert resolver.lookup_error("gone.example.cn") is None  # a later success clears the failure


def test_allow_private_admits_private_addresses() -> None:
    resolver = offline_resolver(allow_private=True)
    assert resolver._admit(Resolution("lan.example.cn", "ok", addresses=("192.168.1.10", "::1"))) == (
        "192.168.1.10", "::1")


def test_records_are_bounded() -> None:
    resolver = GuardedResolver(None, nameserver="127.0.0.1:9", own_addresses=[], keep=3)
    for i in range(5):
        resolver._admit(Resolution(f"n{i}.example.cn", "ok", addresses=("8.8.8.8",)))
    assert list(resolver.resolutions) == ["n2.example.cn", "n3.example.cn", "n4.example.cn"]


def test_error_is_a_dns_lookup_error_for_twisted_and_scrapy() -> None:
    from scrapy.exceptions import CannotResolveHostError
    from twisted.internet.error import DNSLookupError

    error = GuardedLookupError("x.cn", refusal=AddressRefused("10.0.0.1", "private address"))
    assert isinstance(error, DNSLookupError) and isinstance(error, CannotResolveHostError)
    with pytest.raises(TypeError):
        GuardedLookupError("x.cn")


# --------------------------------------------------------------------------- real crawls


class _Handler(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]]

    def do_GET(self) -> None:  # noqa: N802
        self.server.seen.append({"host": self.headers.get("Host", ""), "path": self.path,  # type: ignore[attr-defined]
                                 "server": self.server.server_address[0]})
        body = f"<html><body>served for {self.headers.get('Host')}</body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def web() -> Iterator[http.server.ThreadingHTTPServer]:
    host = f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    server = http.server.ThreadingHTTPServer((host, 0), _Handler)
    server.seen = []  # type: ignore[attr-defined]
    with serving(server):
        yield server


@pytest.fixture(scope="module")
def dns_server(web: http.server.ThreadingHTTPServer) -> Iterator[SandboxDNS]:
    address = web.server_address[0]
    zone = Zone(records={}, behaviours={"broken.s.cn": "servfail"})
    for name, rtype, value in [
        ("site.s.cn", "A", address),
        ("www.s.cn", "CNAME", "s.cn.cdn-a.net"),
        ("s.cn.cdn-a.net", "CNAME", "edge3.cdn-b.net"),
        ("edge3.cdn-b.net", "A", address),
        ("例子.中国", "A", address),
        ("broken.s.cn", "A", address),
        ("loop1.s.cn", "CNAME", "loop2.s.cn"),
        ("loop2.s.cn", "CNAME", "loop1.s.cn"),
    ]:
        zone.add(name, rtype, value)
    host = f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    with SandboxDNS(zone, host=host, port=0) as server:
        yield server


def crawl_main() -> None:
    """Subprocess entry: crawl the URLs of the JSON config in argv[1], write results to argv[2]."""
    import ipaddress
    import socket

    config = json.loads(Path(sys.argv[1]).read_text())
    system_lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def recording_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        text = host.decode() if isinstance(host, bytes) else host
        try:
            ipaddress.ip_address(text)
        except (TypeError, ValueError):
            system_lookups.append(str(text))
            raise socket.gaierror(socket.EAI_NONAME, "system resolution is forbidden in this test") from None
        return real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = recording_getaddrinfo  # type: ignore[assignment]

    import scrapy
    from scrapy.crawler import CrawlerProcess

    results: dict[str, Any] = {}

    class Probe(scrapy.Spider):
        name = "probe"

        async def start(self) -> Any:
            for url in config["urls"]:
                yield scrapy.Request(url, callback=self.fetched, errback=self.failed, dont_filter=True,
                                     meta={"probe_url": url})

        def fetched(self, response: Any) -> None:
            results[response.meta["probe_url"]] = {
                "status": response.status, "ip": str(response.ip_address), "text": response.text}

        def failed(self, failure: Any) -> None:
            error = failure.value
            results[failure.request.meta["probe_url"]] = {
                "error": type(error).__name__, "message": str(error), "reason": getattr(error, "reason", None),
                "resolution": error.resolution.to_dict() if getattr(error, "resolution", None) else None}

    settings = {
        "TWISTED_DNS_RESOLVER": "crawler.dnsresolver.GuardedResolver",
        "ICPWATCH_RESOLVER": config["resolver"],
        "ICPWATCH_ALLOW_PRIVATE": config["allow_private"],
        "DNS_TIMEOUT": 2,
        "DOWNLOADER_MIDDLEWARES": {"crawler.dnsresolver.GuardedLookupMiddleware": 560},
        "DOWNLOAD_TIMEOUT": 5,
        "RETRY_TIMES": 1,
        "LOG_LEVEL": "WARNING",
        "LOG_INSTALL_ROOT_HANDLER": False,
        "TELNETCONSOLE_ENABLED": False,
        "ROBOTSTXT_OBEY": False,
        "REDIRECT_ENABLED": False,
    }
    if config.get("reactor"):
        settings["TWISTED_REACTOR"] = config["reactor"]
    process = CrawlerProcess(settings)
    process.crawl(Probe)
    process.start(install_signal_handlers=False)
    resolver = GuardedResolver.installed()
    assert resolver is not None, "GuardedResolver was not installed"
    Path(sys.argv[2]).write_text(json.dumps({
        "results": results,
        "resolutions": {name: r.to_dict() for name, r in resolver.resolutions.items()},
        "refusals": {name: [str(r) for r in refused] for name, refused in resolver.refusals.items()},
        "system_lookups": system_lookups,
        "asyncio": "asyncio" in type(resolver.reactor).__module__,
    }))


def start_crawl(tmp_path: Path, tag: str, config: dict[str, Any]) -> tuple[subprocess.Popen[str], Path]:
    config_path, out_path = tmp_path / f"{tag}.json", tmp_path / f"{tag}.out.json"
    config_path.write_text(json.dumps(config))
    code = "import sys; from tests.crawler.test_dnsresolver import crawl_main; crawl_main()"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code, str(config_path), str(out_path)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, out_path


def finish(proc: subprocess.Popen[str], out_path: Path) -> dict[str, Any]:
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out_path.exists(), output
    return json.loads(out_path.read_text())


@pytest.mark.slow
def test_scrapy_connects_to_the_resolved_address_and_refuses_what_the_guard_refuses(
        tmp_path: Path, web: http.server.ThreadingHTTPServer, dns_server: SandboxDNS) -> None:
    address, port = web.server_address[:2]
    resolver = f"{dns_server.host}:{dns_server.port}"
    allowed_urls = [f"http://site.s.cn:{port}/a", f"http://www.s.cn:{port}/b", f"http://例子.中国:{port}/c",
                    f"http://{address}:{port}/d"]
    refused_urls = [f"http://site.s.cn:{port}/e", f"http://nope.s.cn:{port}/", f"http://broken.s.cn:{port}/",
                    f"http://loop1.s.cn:{port}/", f"http://{address}:{port}/f", f"http://0x7f.1:{port}/"]
    # Both crawls at once: the asyncio reactor (resolution on the event loop) with --allow-private,
    # and the poll reactor (resolution in the reactor's thread pool) without it.
    allowed = start_crawl(tmp_path, "allowed", {"resolver": resolver, "allow_private": True, "urls": allowed_urls})
    refused = start_crawl(tmp_path, "refused", {"resolver": resolver, "allow_private": False, "urls": refused_urls,
                                                "reactor": "twisted.internet.pollreactor.PollReactor"})
    got, denied = finish(*allowed), finish(*refused)

    # Allowed: every page came from the web server at the address SandboxDNS gave, by name.
    assert got["asyncio"] and got["system_lookups"] == []
    for url in allowed_urls:
        result = got["results"][url]
        assert result.get("status") == 200 and result["ip"] == address, (url, result)
    assert {(s["host"], s["path"]) for s in web.seen} == {
        (f"site.s.cn:{port}", "/a"), (f"www.s.cn:{port}", "/b"), (f"xn--fsqu00a.xn--fiqs8s:{port}", "/c"),
        (f"{address}:{port}", "/d")}
    assert got["resolutions"]["www.s.cn"]["cname_chain"] == ["s.cn.cdn-a.net", "edge3.cdn-b.net"]
    assert got["resolutions"]["site.s.cn"]["addresses"] == [address]

    # Refused: nothing reached the web server, and each failure says why.
    assert not denied["asyncio"] and denied["system_lookups"] == []
    assert len(web.seen) == len(allowed_urls)
    reasons = {url: denied["results"][url]["reason"] for url in refused_urls}
    assert reasons == {
        refused_urls[0]: "refused: loopback address",
        refused_urls[1]: "dns_error: nxdomain",
        refused_urls[2]: "dns_error: servfail",
        refused_urls[3]: "dns_error: cname_loop",
        refused_urls[4]: "refused: loopback address",
        refused_urls[5]: "refused: loopback address",
    }
    for url in refused_urls:
        assert denied["results"][url]["error"] == "GuardedLookupError"
    assert denied["results"][refused_urls[0]]["message"] == f"refused: loopback address ({address})"
    assert denied["results"][refused_urls[1]]["resolution"]["status"] == "nxdomain"
    assert denied["refusals"]["site.s.cn"] == [f"refused: loopback address ({address})"]
