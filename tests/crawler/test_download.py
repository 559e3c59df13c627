"""The HTTP(S) download handler (crawler.download): the client chosen by ICPWATCH_HTTP_CLIENT, the
address guard at the connection (a refused address is never connected to), TLS verification with
and without the CA file, and response headers too large for aiohttp's defaults but legal.

Crawls run in subprocesses (``conftest.crawl``: the Twisted reactor runs once per process) against
a raw HTTP server and SandboxDNS on loopback addresses of their own.  All traffic stays on
127.0.0.0/8.
"""

from __future__ import annotations

import json
import random
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.dns import SandboxDNS, Zone
from tests.crawler.conftest import ROOT, crawl, serving

pytestmark = pytest.mark.slow

PAGE = b"<!DOCTYPE html><html><head><title>t</title></head><body><p>page</p></body></html>"
HEADER_CAP = 256 * 1024  # ICPWATCH_MAX_HEADER_BYTES


def _response(*headers: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n" + b"".join(h + b"\r\n" for h in headers)
            + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(PAGE) + PAGE)


RESPONSES = {
    "/": _response(),
    # one 20 KiB header line: over aiohttp's 8 KiB default, far under the cap
    "/big-line": _response(b"X-Big: " + b"a" * 20_000),
    # more header lines than aiohttp's default 128, each small
    "/many": _response(*(b"X-Many-%d: v" % i for i in range(300))),
    # lines of legal size, over the cap together
    "/over-total": _response(*(b"X-Pad-%d: %s" % (i, b"p" * 8000) for i in range(40))),
    # one line over the cap
    "/over-line": _response(b"X-Huge: " + b"h" * (HEADER_CAP + 1000)),
}


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _reset_in_body(sock: socket.socket) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 20000\r\n\r\n" + b"x" * 10000)
    time.sleep(0.1)
    _reset(sock)


#: broken servers, each answering as its path says
BROKEN = {
    "/closed": lambda sock: None,  # closed cleanly before any response
    "/reset": _reset,  # reset before any response
    "/bad-status": lambda sock: sock.sendall(b"HTTP/1.1 abc\r\n\r\n"),
    "/short": lambda sock: sock.sendall(  # closed cleanly before the declared end of the body
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 20000\r\n\r\n" + b"x" * 10000),
    "/reset-in-body": _reset_in_body,
}


class _RawHandler(socketserver.BaseRequestHandler):
    """Counts every accepted connection, then answers one request with a canned raw response
    or a broken one."""

    def handle(self) -> None:
        server: Any = self.server
        with server.lock:
            server.connections += 1
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            data += chunk
        path = data.split(b" ", 2)[1].decode("ascii", "replace")
        if path in BROKEN:
            BROKEN[path](self.request)
        else:
            self.request.sendall(RESPONSES.get(path, RESPONSES["/"]))


class _RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self, host: str, handler: type[socketserver.BaseRequestHandler] = _RawHandler) -> None:
        super().__init__((host, 0), handler)
        self.connections = 0
        self.lock = threading.Lock()


def _loopback() -> str:
    return f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"


@pytest.fixture(scope="module")
def web() -> Iterator[_RawServer]:
    with serving(_RawServer(_loopback())) as server:
        yield server


@pytest.fixture(scope="module")
def dns(web: _RawServer) -> Iterator[str]:
    zone = Zone(records={})
    zone.add("page.t.cn", "A", web.server_address[0])
    with SandboxDNS(zone, host=_loopback(), port=0) as server:
        yield f"{server.host}:{server.port}"


def _info(dns: str, ca_file: str | None = None) -> dict[str, Any]:
    return {"dns": dns, "ca_file": ca_file}


# --------------------------------------------------------------------------- the choice


def handlers_main() -> None:
    """Subprocess entry: build the http(s) handler for each ICPWATCH_HTTP_CLIENT value and try the
    connection-time guard; print the findings as JSON."""
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    from scrapy.crawler import Crawler
    from scrapy.utils.misc import build_from_crawler, load_object
    from twisted.internet import reactor

    from crawler.dnsresolver import GuardedResolver
    from crawler.download import _guarded_socket
    from crawler.runner import crawl_settings
    from crawler.spiders.homepage import HomepageSpider

    out: dict[str, Any] = {}
    for client in (None, "aiohttp", "twisted", "curl"):
        extra = {"ICPWATCH_HTTP_CLIENT": client} if client else {}
        crawler = Crawler(HomepageSpider, crawl_settings(db_url="sqlite://", run_id="choice", settings=extra))
        for scheme in ("http", "https"):
            cls = load_object(crawler.settings.getdict("DOWNLOAD_HANDLERS")[scheme])
            try:
                handler = build_from_crawler(cls, crawler)
            except ValueError as exc:
                out[f"{client}/{scheme}"] = f"ValueError: {exc}"
                continue
            out[f"{client}/{scheme}"] = type(handler).__name__
            if client is None:
                out["session_before_first_request"] = repr(getattr(handler, "_session", "absent"))
    GuardedResolver(reactor, nameserver="127.0.0.1:9", own_addresses=[]).install_on_reactor()
    try:
        _guarded_socket((socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 80))).close()
        out["socket"] = "created"
    except OSError as exc:
        out["socket"] = str(exc)
    print(json.dumps(out))


def test_icpwatch_http_client_chooses_the_handler() -> None:
    code = "from tests.crawler.test_download import handlers_main; handlers_main()"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for scheme in ("http", "https"):
        assert out[f"None/{scheme}"] == out[f"aiohttp/{scheme}"] == "GuardedAiohttpDownloadHandler"
        assert out[f"twisted/{scheme}"] == "HTTP11DownloadHandler"
        assert out[f"curl/{scheme}"].startswith("ValueError: ICPWATCH_HTTP_CLIENT is 'curl'")
    # built before the event loop runs: the aiohttp session waits for the first request
    assert out["session_before_first_request"] == "None"
    # the last check before a socket connects refuses what the guard refuses
    assert out["socket"] == "refused: loopback address (127.0.0.1)"


# --------------------------------------------------------------------------- the guard


@pytest.mark.parametrize("client", ["aiohttp", "twisted"])
def test_a_refused_address_is_never_connected_to(web: _RawServer, dns: str, tmp_path: Path, client: str) -> None:
    """With the request middleware's own check off, the handler alone must keep the crawler
    away from a loopback address, whether the URL names it or a name resolves to it."""
    address, port = web.server_address[:2]
    targets = [f"http://page.t.cn:{port}/", f"http://{address}:{port}/"]

    # merged into the project's middlewares: only the request-side guard is turned off
    settings = {"ICPWATCH_HTTP_CLIENT": client,
                "DOWNLOADER_MIDDLEWARES": {"crawler.middlewares.HopGuardMiddleware": None}}
    before = web.connections
    refused = crawl(targets, db_url=f"sqlite:///{tmp_path / 'r.sqlite3'}", output=tmp_path / "r.jsonl",
                    info=_info(dns), allow_private=False, settings=settings)
    assert web.connections == before, "a refused address was connected to"
    by_host = {o["host"]: o for o in refused.observations}
    assert set(by_host) == {"page.t.cn", address}
    for o in by_host.values():
        assert o["status"] == "refused" and "loopback" in o["error"], o
    assert by_host["page.t.cn"]["dns"]["page.t.cn"]["addresses"] == [address]  # resolved, then refused

    allowed = crawl(targets, db_url=f"sqlite:///{tmp_path / 'a.sqlite3'}", output=tmp_path / "a.jsonl",
                    info=_info(dns), allow_private=True, settings=settings)
    assert web.connections >= before + 2
    for o in allowed.observations:
        assert o["status"] == "ok" and o["ip"] == address, o


def test_connection_refused_is_retried_and_observed(dns: str, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        host = _loopback()
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    result = crawl([f"http://{host}:{port}/"], db_url=f"sqlite:///{tmp_path / 's.sqlite3'}",
                   output=tmp_path / "o.jsonl", info=_info(dns))
    (o,) = result.observations
    assert o["status"] == "connection_error", o
    assert "'retry/count': 1," in result.stderr  # RETRY_TIMES = 1


@pytest.mark.parametrize("client", ["aiohttp", "twisted"])
def test_broken_servers_get_the_same_status_from_either_client(web: _RawServer, dns: str, tmp_path: Path,
                                                               client: str) -> None:
    address, port = web.server_address[:2]
    result = crawl([f"http://{address}:{port}{p}" for p in BROKEN], db_url=f"sqlite:///{tmp_path / 's.sqlite3'}",
                   output=tmp_path / "o.jsonl", info=_info(dns), settings={"ICPWATCH_HTTP_CLIENT": client})
    statuses = {o["url"].split(str(port), 1)[1]: o["status"] for o in result.observations}
    assert statuses == {"/closed": "connection_error", "/reset": "connection_error",
                        "/bad-status": "protocol_error", "/short": "protocol_error",
                        "/reset-in-body": "connection_error"}, [(o["url"], o["error"]) for o in result.observations]


# --------------------------------------------------------------------------- TLS


def _https_site(world: Any, tls: str) -> Any:
    return next(s for s in world.sites if s.https and s.tls == tls and s.domains and s.dns == "ok"
                and not s.hostile and s.redirect is None)


@pytest.mark.parametrize("client", ["aiohttp", "twisted"])
def test_tls_is_verified_against_the_ca_file_or_the_platform_store(served_world, tmp_path: Path,
                                                                   client: str) -> None:
    world, info = served_world
    good, wrong_host = _https_site(world, "ok"), _https_site(world, "wrong-host")
    targets = [f"https://{good.host}/", f"https://{wrong_host.host}/"]
    settings = {"ICPWATCH_HTTP_CLIENT": client}
    with_ca = crawl(targets, db_url=f"sqlite:///{tmp_path / 'ca.sqlite3'}", output=tmp_path / "ca.jsonl",
                    info=info, settings=settings)
    ok = with_ca.for_host(good.host)
    assert ok["status"] == "ok" and ok["http_status"] == 200 and ok["ip"] == good.ips[0], ok
    mismatch = with_ca.for_host(wrong_host.host)
    assert mismatch["status"] == "tls_error", mismatch  # trusted CA, but not this host's name

    platform = crawl(targets, db_url=f"sqlite:///{tmp_path / 'p.sqlite3'}", output=tmp_path / "p.jsonl",
                     info={**info, "ca_file": None}, settings=settings)
    for o in platform.observations:  # the sandbox CA is in no platform store
        assert o["status"] == "tls_error", o


def test_ssl_context_trusts_only_the_ca_file(served_world, tmp_path: Path) -> None:
    import ssl

    from scrapy.settings import Settings

    from crawler.tls import ssl_context

    _, info = served_world
    ctx = ssl_context(Settings({"ICPWATCH_CA_FILE": info["ca_file"], "DOWNLOAD_VERIFY_CERTIFICATES": True}))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] == Path(info["ca_file"]).read_text().count("BEGIN CERTIFICATE")
    platform = ssl_context(Settings({"ICPWATCH_CA_FILE": None}))
    assert platform.verify_mode == ssl.CERT_REQUIRED and platform.check_hostname
    empty = tmp_path / "empty.pem"
    empty.write_text("no certificate here\n")
    with pytest.raises(ValueError, match="no PEM certificate"):
        ssl_context(Settings({"ICPWATCH_CA_FILE": str(empty)}))


# --------------------------------------------------------------------------- headers


def test_large_but_legal_headers_are_read_and_the_header_cap_decides(web: _RawServer, dns: str,
                                                                     tmp_path: Path) -> None:
    address, port = web.server_address[:2]
    paths = ["/big-line", "/many", "/over-total", "/over-line"]
    result = crawl([f"http://{address}:{port}{p}" for p in paths], db_url=f"sqlite:///{tmp_path / 's.sqlite3'}",
                   output=tmp_path / "o.jsonl", info=_info(dns))
    by_path = {o["url"].split(str(port), 1)[1]: o for o in result.observations}
    for path in ("/big-line", "/many"):
        o = by_path[path]
        assert o["status"] == "ok" and o["http_status"] == 200 and o["page"]["title"] == "t", o
    over = by_path["/over-total"]
    assert over["status"] == "protocol_error" and "response headers of" in over["error"], over
    assert by_path["/over-line"]["status"] == "protocol_error", by_path["/over-line"]


# --------------------------------------------------------------------------- kept-alive connections


class _KeepAliveHandler(socketserver.StreamRequestHandler):
    """Counts connections and answers every request on one with the same small page, kept alive."""

    def handle(self) -> None:
        server: Any = self.server
        with server.lock:
            server.connections += 1
        while True:
            line = self.rfile.readline()
            if not line:
                return
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(PAGE) + PAGE)


@pytest.mark.parametrize("client", ["aiohttp", "twisted"])
@pytest.mark.parametrize(("keepalive", "connections"), [(0.2, 2), (30.0, 1)])
def test_an_idle_connection_is_kept_only_for_the_keepalive_seconds(tmp_path: Path, keepalive: float,
                                                                  connections: int, client: str) -> None:
    # Two pages of one host a second apart (one download slot, DOWNLOAD_DELAY): the second reuses
    # the first's connection only if it was kept that long.  A sweep meets each host once or twice
    # in quick succession, so idle connections are not kept by the thousand.
    with serving(_RawServer(_loopback(), _KeepAliveHandler)) as server:
        zone = Zone(records={})
        zone.add("keep.t.cn", "A", server.server_address[0])
        port = server.server_address[1]
        with SandboxDNS(zone, host=_loopback(), port=0) as dns_server:
            result = crawl([f"http://keep.t.cn:{port}/", f"http://keep.t.cn:{port}/second"],
                           db_url=f"sqlite:///{tmp_path / 'k.sqlite3'}",
                           output=tmp_path / "out.jsonl", info=_info(f"{dns_server.host}:{dns_server.port}"),
                           settings={"ICPWATCH_KEEPALIVE_SECONDS": keepalive, "ICPWATCH_HTTP_CLIENT": client,
                                     "DOWNLOAD_DELAY": 1.0,
                                     "RANDOMIZE_DOWNLOAD_DELAY": False, "AUTOTHROTTLE_ENABLED": False})
    assert sorted(o["status"] for o in result.observations) == ["ok", "ok"]
    assert server.connections == connections


def test_component_settings_given_to_a_crawl_add_to_the_projects() -> None:
    """A caller adding a middleware or pipeline keeps the address guard's and the store's; one is
    turned off only by naming it with None. Other settings replace the project's."""
    from crawler import settings as project
    from crawler.runner import crawl_settings

    s = crawl_settings(db_url="sqlite://", run_id="merge", settings={
        "DOWNLOADER_MIDDLEWARES": {"example.Extra": 700, "crawler.middlewares.RedirectChainMiddleware": None},
        "ITEM_PIPELINES": {"example.Pipeline": 900}, "DOWNLOAD_TIMEOUT": 3})
    middlewares = s.getdict("DOWNLOADER_MIDDLEWARES")
    assert middlewares["crawler.middlewares.HopGuardMiddleware"] == 50
    assert middlewares["crawler.dnsresolver.GuardedLookupMiddleware"] == 560
    assert middlewares["example.Extra"] == 700 and middlewares["crawler.middlewares.RedirectChainMiddleware"] is None
    assert s.getdict("ITEM_PIPELINES") == {**project.ITEM_PIPELINES, "example.Pipeline": 900}
    assert s.getint("DOWNLOAD_TIMEOUT") == 3
