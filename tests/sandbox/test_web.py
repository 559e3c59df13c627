"""Web hosts over the wire: footers, virtual hosts by Host and SNI, default vhost, encodings,
redirects, hostile servers (each bounded by client timeouts), and the loopback-only rule."""

from __future__ import annotations

import html
import http.client
import os
import re
import socket
import ssl
import time
import unicodedata
import zlib

import pytest

from sandbox import pages
from sandbox.generate import generate_world
from sandbox.spec import LAYOUTS, SpecError
from sandbox.web import PRIVATE_TARGETS, WebHosts, WebHostsThread

NET = f"127.{100 + os.getpid() % 100}.0.0/16"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    world = generate_world(seed=21, network=NET)
    state = tmp_path_factory.mktemp("web-state")
    with WebHostsThread(world, http_port=0, https_port=0, state_dir=state) as web:
        yield world, web.info


def _get(ip: str, port: int, host: str | None, path: str = "/", timeout: float = 5):
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    conn.request("GET", path, headers={"Host": host} if host else {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def _content(world, **want):
    for s in world.sites:
        if s.hostile or s.redirect is not None or s.template in pages._STATIC or not s.domains:
            continue
        if all((s.params.get(k) if k in ("layout", "style") else getattr(s, k)) == v for k, v in want.items()):
            return s
    raise LookupError(want)


def _text(body: bytes, charset: str) -> str:
    text = html.unescape(re.sub(r"<[^>]+>", "", body.decode(charset)))
    return unicodedata.normalize("NFKC", text).replace("\u200b", "").replace(" ", "")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_footer_layout_is_served(served, layout: str) -> None:
    world, info = served
    site = _content(world, layout=layout)
    resp, body = _get(site.ips[0], info["http_port"], site.domains[0])
    assert resp.status == 200
    source = body.decode(site.charset)
    digits = re.search(r"\d{6,}", site.params["marks"][0]).group(0)
    if layout == "none":
        assert "ICP备" not in source and "ICP備" not in source
    elif layout == "script":
        assert digits not in source and "String.fromCharCode" in source
    elif layout == "image":
        assert digits not in source and 'src="/beian.png"' in source
        img_resp, img = _get(site.ips[0], info["http_port"], site.domains[0], "/beian.png")
        assert img_resp.status == 200 and img[:8] in (b"\x89PNG\r\n\x1a\n",) or img.startswith(b"<svg")
    elif layout == "image-alt":
        assert re.search(r'<img src="/beian.png" alt="[^"]*' + digits, unicodedata.normalize("NFKC", source))
    else:
        assert digits in _text(body, site.charset)
    if layout == "hidden":
        assert "display:none" in source
    if layout == "noscript":
        assert "<noscript>" in source
    if layout in ("bottom-centre", "fixed", "image-alt"):
        assert pages.BEIAN in source
    if layout == "link-evil":
        assert pages.BEIAN_EVIL in source
    if layout == "link-hash":
        assert 'href="#"' in source


def test_vhosts_by_host_and_default_vhost(served) -> None:
    world, info = served
    content = [s for s in world.sites if s.domains and not s.hostile and s.redirect is None
               and s.template == "company"]
    ip = next(s.ips[0] for s in content if sum(t.ips[0] == s.ips[0] for t in content) >= 2)
    names = [s for s in content if s.ips[0] == ip][:2]
    assert len(names) == 2
    bodies = [_get(ip, info["http_port"], s.domains[0])[1] for s in names]
    assert bodies[0] != bodies[1]
    assert names[0].params["name"].encode(names[0].charset) in bodies[0]
    # a bare address, an unknown name, and a name hosted elsewhere all get the default vhost
    default = _get(ip, info["http_port"], None)[1]
    assert default == _get(ip, info["http_port"], "unknown.example.cn")[1]
    assert b"nginx" in default or b"Apache" in default or b"IIS" in default
    ip_only = next(s for s in world.sites if not s.domains and not s.hostile)
    body = _get(ip_only.ips[0], info["http_port"], ip_only.ips[0])[1]
    assert ip_only.params["name"].encode(ip_only.charset) in body


def test_https_by_sni_with_the_ca_file(served) -> None:
    world, info = served
    site = _content(world, https=True, tls="ok", layout="bottom-centre")
    ctx = ssl.create_default_context(cafile=info["ca_file"])
    with socket.create_connection((site.ips[0], info["https_port"]), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=site.domains[0]) as tls:
            names = [v for k, v in tls.getpeercert()["subjectAltName"]]
            assert site.domains[0] in names
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {site.domains[0]}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    assert data.startswith(b"HTTP/1.1 200") and site.params["name"].encode(site.charset) in data
    # no SNI: the default certificate names the address itself
    ctx2 = ssl.create_default_context(cafile=info["ca_file"])
    with socket.create_connection((site.ips[0], info["https_port"]), timeout=5) as raw:
        with ctx2.wrap_socket(raw, server_hostname=site.ips[0]) as tls:
            assert ("IP Address", site.ips[0]) in tls.getpeercert()["subjectAltName"]
    # an expired certificate fails verification
    bad = _content(world, tls="expired")
    with socket.create_connection((bad.ips[0], info["https_port"]), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname=bad.domains[0])


def test_each_encoding_case_on_the_wire(served) -> None:
    world, info = served
    for charset in ("utf-8", "gbk", "gb18030"):
        for declare in ("header", "meta", "both", "none", "header-wrong", "meta-wrong", "alias"):
            site = _content(world, charset=charset, declare=declare)
            resp, body = _get(site.ips[0], info["http_port"], site.domains[0])
            ctype = resp.getheader("Content-Type")
            header_cs = ctype.split("charset=")[1] if "charset=" in ctype else None
            m = re.search(rb'charset="?([\w-]+)', body[:300])
            meta_cs = m.group(1).decode() if m else None
            text = body.decode(charset)  # the bytes really are in the site's charset
            assert site.params["name"] in text
            expect = {"header": (charset, None), "meta": (None, charset), "both": (charset, charset),
                      "none": (None, None), "header-wrong": (pages.wrong_charset(charset), charset),
                      "meta-wrong": (None, pages.wrong_charset(charset)),
                      "alias": (None, pages.alias_charset(charset))}[declare]
            assert (header_cs, meta_cs) == expect, (charset, declare)
            if charset == "gb18030":
                assert pages.GB18030_ONLY.encode("gb18030") in body
            if charset != "utf-8":
                with pytest.raises(UnicodeDecodeError):
                    body.decode("utf-8")


def test_each_redirect_kind(served) -> None:
    world, info = served
    port = info["http_port"]
    seen = set()
    for site in world.sites:
        r = site.redirect
        if r is None or site.hostile or r.kind in seen:
            continue
        seen.add(r.kind)
        resp, body = _get(site.ips[0], port, site.domains[0])
        loc = resp.getheader("Location")
        if r.kind in ("301", "302", "307", "308"):
            assert resp.status == int(r.kind) and loc == r.target
        elif r.kind == "chain":
            assert resp.status == 301
            nxt = next(s for s in world.sites if loc and s.domains and s.domains[0] in loc)
            resp2, _ = _get(nxt.ips[0], port, nxt.domains[0])
            assert resp2.status in (301, 302, 307, 308)
        elif r.kind == "meta":
            assert resp.status == 200 and b'http-equiv="refresh" content="0;url=' in body
        elif r.kind == "meta-delay":
            assert re.search(rb'content="[1-9]\d*;url=', body)
        elif r.kind == "script":
            assert b"window.location.replace(" in body and r.target.encode() in body
        elif r.kind == "loop":
            other = next(s for s in world.sites if s.domains and s.domains[0] in loc)
            back = _get(other.ips[0], port, other.domains[0])[0].getheader("Location")
            assert site.domains[0] in back
        elif r.kind == "self":
            assert resp.status == 302 and loc == f"http://{site.domains[0]}/"
        elif r.kind == "private":
            assert loc in PRIVATE_TARGETS
        elif r.kind == "file":
            assert loc.startswith("file://")
        elif r.kind == "https":
            assert resp.status == 301 and loc == f"https://{site.domains[0]}/"
    assert seen >= {"301", "302", "307", "308", "meta", "meta-delay", "script", "chain", "loop",
                    "self", "private", "file", "https"}


def _hostile(world, kind):
    return next(s for s in world.sites if s.hostile == kind)


def _raw(site, port, timeout=2.0) -> socket.socket:
    sock = socket.create_connection((site.ips[0], port), timeout=timeout)
    sock.sendall(f"GET / HTTP/1.1\r\nHost: {site.domains[0]}\r\nAccept-Encoding: gzip\r\n\r\n".encode())
    return sock


def test_hostile_never_ends_and_slowloris(served) -> None:
    world, info = served
    sock = _raw(_hostile(world, "never-ends"), info["http_port"])
    got, deadline = b"", time.monotonic() + 1.0
    while time.monotonic() < deadline:
        got += sock.recv(65536)
    assert b"Transfer-Encoding: chunked" in got and not got.endswith(b"0\r\n\r\n")
    sock.close()
    sock = _raw(_hostile(world, "slowloris"), info["http_port"], timeout=0.5)
    got = b""
    with pytest.raises(socket.timeout):
        while True:
            got += sock.recv(100)
    assert 1 <= len(got) <= 3
    sock.close()


def test_hostile_bomb_huge_and_big_headers(served) -> None:
    world, info = served
    port = info["http_port"]
    conn = http.client.HTTPConnection(_hostile(world, "bomb").ips[0], port, timeout=10)
    conn.request("GET", "/", headers={"Host": _hostile(world, "bomb").domains[0], "Accept-Encoding": "gzip"})
    resp = conn.getresponse()
    assert resp.getheader("Content-Encoding") == "gzip"
    compressed = resp.read(256 * 1024)
    inflated = zlib.decompressobj(31).decompress(compressed, 200 * 1024 * 1024)
    assert len(inflated) > 100 * len(compressed)
    conn.close()
    conn = http.client.HTTPConnection(_hostile(world, "huge").ips[0], port, timeout=5)
    conn.request("GET", "/", headers={"Host": _hostile(world, "huge").domains[0]})
    resp = conn.getresponse()
    assert int(resp.getheader("Content-Length")) >= 10 << 30
    assert len(resp.read(1 << 20)) == 1 << 20
    conn.close()
    conn = http.client.HTTPConnection(_hostile(world, "big-headers").ips[0], port, timeout=5)
    conn.request("GET", "/", headers={"Host": _hostile(world, "big-headers").domains[0]})
    with pytest.raises(http.client.HTTPException):
        conn.getresponse()
    conn.close()


def test_hostile_bad_chunked_and_reset(served) -> None:
    world, info = served
    port = info["http_port"]
    site = _hostile(world, "bad-chunked")
    conn = http.client.HTTPConnection(site.ips[0], port, timeout=5)
    conn.request("GET", "/", headers={"Host": site.domains[0]})
    resp = conn.getresponse()
    with pytest.raises((http.client.IncompleteRead, ValueError, http.client.HTTPException)):
        resp.read()
    conn.close()
    sock = _raw(_hostile(world, "reset"), port, timeout=5)
    got = b""
    with pytest.raises(ConnectionResetError):
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    m = re.search(rb"Content-Length: (\d+)", got)
    assert m and len(got) < int(m.group(1))
    sock.close()


def test_oversized_request_headers_get_431(served) -> None:
    world, info = served
    sock = socket.create_connection((world.sites[0].ips[0], info["http_port"]), timeout=5)
    sock.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70000)
    assert sock.recv(100).startswith(b"HTTP/1.1 431")
    sock.close()


def test_refuses_to_listen_off_loopback() -> None:
    world = generate_world(sites=10, seed=1, network=NET)
    with pytest.raises(SpecError, match="loopback"):
        WebHosts(world, addresses=["10.1.2.3"], http_port=0, https_port=None)
