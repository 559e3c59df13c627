"""The browser reaches sites exactly as the crawler does: names through the crawler's resolver,
addresses through the address guard, and a page has no other way out."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from sandbox.generate import generate_world
from sandbox.serve import Sandbox

from .render_support import plain_site, render_all, require_chromium

NET = f"127.{(os.getpid() + 53) % 100 + 110}.0.0/16"


class Listener:
    """A real TCP server on loopback that counts every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def hostile_page(tmp_path: Path, port: int) -> Path:
    """A page that tries every way a page has to reach 127.0.0.1:port."""
    base = f"http://127.0.0.1:{port}"
    page = tmp_path / "index.html"
    page.write_text(f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="{base}/style.css"><link rel="prefetch" href="{base}/prefetch">
<link rel="dns-prefetch" href="//localhost"><link rel="preconnect" href="{base}">
</head><body>
<p>京ICP备2021000001号-1</p>
<img src="{base}/pixel.png"><img src="http://2130706433:{port}/decimal.png"><img src="http://localhost:{port}/name.png">
<iframe src="{base}/frame"></iframe>
<script>
fetch("{base}/fetch").catch(() => {{}});
fetch("http://[::ffff:127.0.0.1]:{port}/mapped").catch(() => {{}});
const x = new XMLHttpRequest(); x.open("GET", "{base}/xhr"); x.send();
try {{ new WebSocket("ws://127.0.0.1:{port}/ws"); }} catch (e) {{}}
navigator.sendBeacon && navigator.sendBeacon("{base}/beacon", "x");
try {{ new RTCPeerConnection({{iceServers: [{{urls: "stun:127.0.0.1:{port}"}}]}}).createDataChannel("x"); }} catch (e) {{}}
new EventSource("{base}/events");
</script></body></html>""", encoding="utf-8")
    return page


def test_a_page_cannot_reach_a_refused_address(tmp_path: Path, listener: Listener) -> None:
    require_chromium()
    page = hostile_page(tmp_path, listener.port)
    [result] = render_all({}, [page], allow_private=False, settle_seconds=1.5)
    assert result["status"] == "ok", result.get("error")
    assert result["display"]["number"] == "京ICP备2021000001号-1"  # the page itself rendered
    refused = result["requests"]["refused"]
    assert refused, "the page's attempts must be recorded"
    assert all(r["status"] in ("refused", "dns_error") for r in refused)
    assert any("loopback" in r["reason"] for r in refused)
    assert any(u.startswith("ws://127.0.0.1") for u in result["requests"]["websockets_refused"])
    assert any("[::ffff:7f00:1]" in r["url"] for r in refused)  # IPv4-mapped, as Chromium writes it
    assert any(r["url"].startswith("http://localhost") and "names this machine" in r["reason"] for r in refused)
    assert listener.connections == 0  # nothing arrived, by any route


def test_allowed_private_still_goes_only_through_the_guarded_fetcher(tmp_path: Path, listener: Listener) -> None:
    """With --allow-private the guard admits loopback, and the fetch arrives — through our
    fetcher (the browser's own network stack never connects: its proxy is dead)."""
    require_chromium()
    page = tmp_path / "index.html"
    page.write_text(f'<img src="http://127.0.0.1:{listener.port}/pixel.png"><p>x</p>', encoding="utf-8")
    [result] = render_all({}, [page], allow_private=True, settle_seconds=1.0)
    assert result["status"] == "ok"
    assert listener.connections == 1
    assert result["requests"]["fetched"] >= 2


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    require_chromium()
    w = generate_world(seed=5, network=NET)
    with Sandbox(w, dns="127.0.0.1:0", http_port=0, https_port=0,
                 state_dir=tmp_path_factory.mktemp("render-net")) as box:
        yield w, box.info


def _redirect_site(world, kind: str):
    for s in world.sites:
        if s.redirect is not None and s.redirect.kind == kind and s.domains and not s.hostile and s.dns == "ok":
            return s
    raise LookupError(kind)


def test_names_resolve_through_the_crawlers_resolver(world) -> None:
    w, info = world
    site = plain_site(w, layout="bottom-centre")
    [ok] = render_all(info, [f"http://{site.domains[0]}:{info['http_port']}/"])
    assert ok["status"] == "ok" and ok["display"]["verdict"] == "compliant"
    # without --allow-private the sandbox's loopback addresses are refused, as in a crawl
    [refused] = render_all(info, [f"http://{site.domains[0]}:{info['http_port']}/"], allow_private=False)
    assert refused["status"] == "refused" and "loopback" in refused["error"]
    assert refused["display"] is None and refused["rendered"] is True


@pytest.mark.parametrize(("kind", "hop_kind"), [("302", "http"), ("301", "http"), ("script", "script"),
                                                ("meta", "meta")])
def test_redirects_are_followed_and_recorded(world, kind: str, hop_kind: str) -> None:
    w, info = world
    site = _redirect_site(w, kind)
    url = f"http://{site.domains[0]}:{info['http_port']}/"
    [result] = render_all(info, [url], settle_seconds=3.0)
    chain = result["redirect_chain"]
    assert chain and chain[0]["kind"] == hop_kind, chain
    assert chain[0]["url"].startswith(url)
    assert result["final_url"] != url


def test_redirect_to_a_private_address_is_refused(world) -> None:
    """Even with --allow-private (the sandbox is on loopback), the hop rules the crawler applies
    to redirects — localhost names, 0.0.0.0, obfuscated literals — refuse these targets."""
    w, info = world
    sites = [s for s in w.sites if s.redirect is not None and s.redirect.kind == "private" and s.domains
             and s.dns == "ok" and not s.hostile]
    results = render_all(info, [f"http://{s.domains[0]}:{info['http_port']}/" for s in sites])
    for result in results:
        assert result["status"] == "refused", result
        assert result["redirect_chain"][0]["kind"] == "http"


def test_a_page_that_hangs_is_cut_at_the_deadline_and_unknown(world) -> None:
    w, info = world
    site = next(s for s in w.sites if s.hostile in ("never-ends", "slowloris") and s.domains)
    [result] = render_all(info, [f"http://{site.domains[0]}:{info['http_port']}/"], deadline=3.0,
                          request_timeout=30.0)
    assert result["status"] == "timeout" and result["display"] is None
    assert result["elapsed"] < 6
