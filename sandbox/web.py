"""The sandbox web hosts: HTTP and HTTPS on many loopback addresses, from one asyncio loop.

One listening socket per (address, port). A request is answered by the virtual host its ``Host``
header names (over HTTPS the certificate follows SNI); an unknown host, a bare address, or a site
not hosted on the address that was connected to gets the address's *default virtual host*: the
IP-only site on it when there is one, else a default server page (nginx, Apache or IIS).

Certificates come from a local CA (trustme) kept in the state directory (``ca.pem``, which
callers trust with ``curl --cacert`` or ``ssl.create_default_context(cafile=…)``). Site
certificates are issued on first use (SNI) and cached; connections without SNI get one default
certificate naming every address of the world.

Redirects (``Site.redirect``): 301/302/307/308 (``chain`` is a 301 to a site that redirects
again), meta refresh (``meta`` 0 s, ``meta-delay`` its ``delay``), ``script`` (location.replace),
``loop``/``self`` (302s that never end), ``private`` (a 302 to an address that is private or
special but never leaves this machine: 0.0.0.0, localhost, IPv4-mapped ::ffff:127.0.0.1,
the decimal and short forms of 127.0.0.1), ``file`` (302 to ``file://``), ``https`` (http → https).

Hostile behaviours (``Site.hostile``), each bounded on the server side by the client going away
or by ``HOSTILE_LIMIT_S``: ``never-ends`` (chunks forever), ``slowloris`` (one byte a second),
``bomb`` (gzip body that inflates to 1 GiB), ``huge`` (10 GiB announced and streamed),
``big-headers`` (about 1 MiB of response headers), ``bad-chunked`` (a chunk that lies about its
size, then garbage), ``reset`` (half the body, then a TCP RST).

Why HTTP is spoken here by hand on asyncio protocols rather than through aiohttp's server: the
hostile behaviours need control a framework does not give (a chunk that lies about its size,
headers past any sane limit, a reset in the middle of a body, a response that never ends), and
serving thousands of virtual hosts on thousands of sockets from one process at the required rate
leaves no room for a framework's per-request machinery. Only the response side is hand-written:
requests are parsed just far enough to read the method, path and Host header.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
import struct
import threading
import time
import zlib
from collections import OrderedDict
from email.utils import formatdate
from pathlib import Path
from typing import Any

from . import pages
from .spec import Site, World, is_loopback, SpecError

HOSTILE_LIMIT_S = 600.0
MAX_HEADER_BYTES = 64 * 1024
PRIVATE_TARGETS = ("http://0.0.0.0/", "http://localhost/admin/", "http://[::ffff:127.0.0.1]/",
                   "http://2130706433/", "http://127.1/")
BOMB_SIZE = 1 << 30
HUGE_SIZE = 10 << 30
SERVER_HEADER = {"default-apache": "Apache/2.4.57 (Debian)", "default-iis": "Microsoft-IIS/10.0"}
DEFAULT_TEMPLATES = ("default-nginx", "default-apache", "default-iis")
_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect",
            308: "Permanent Redirect", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            431: "Request Header Fields Too Large"}


# ---------------------------------------------------------------------------------------------
# certificates
# ---------------------------------------------------------------------------------------------
class CertStore:
    """A local CA (persisted in ``state_dir``) and SSL contexts issued from it on demand."""

    def __init__(self, state_dir: str | Path, addresses: list[str], cache_size: int = 4096) -> None:
        import trustme

        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = self.state_dir / "ca.pem", self.state_dir / "ca-key.pem"
        if cert_path.exists() and key_path.exists():
            self.ca = trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes())
        else:
            self.ca = trustme.CA(organization_name="icpwatch sandbox CA")
            key_path.write_bytes(self.ca.private_key_pem.bytes())
            key_path.chmod(0o600)
            cert_path.write_bytes(self.ca.cert_pem.bytes())
        self.ca_file = cert_path
        self._cache: OrderedDict[tuple[str, str], ssl.SSLContext] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()
        self.default_context = self._context(self.ca.issue_cert("localhost", *addresses[:20000]))

    @staticmethod
    def _context(leaf: Any) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.set_alpn_protocols(["http/1.1"])
        leaf.configure_cert(ctx)
        return ctx

    def context_for(self, host: str, tls: str = "ok") -> ssl.SSLContext:
        key = (host, tls)
        with self._lock:
            ctx = self._cache.get(key)
            if ctx is not None:
                self._cache.move_to_end(key)
                return ctx
        import datetime as dt

        if tls == "expired":
            now = dt.datetime.now(dt.timezone.utc)
            leaf = self.ca.issue_cert(host, not_before=now - dt.timedelta(days=400),
                                      not_after=now - dt.timedelta(days=30))
        elif tls == "wrong-host":
            leaf = self.ca.issue_cert("wrong-host.sandbox.invalid")
        else:
            leaf = self.ca.issue_cert(host)
        ctx = self._context(leaf)
        with self._lock:
            self._cache[key] = ctx
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return ctx


# ---------------------------------------------------------------------------------------------
# virtual hosts and responses
# ---------------------------------------------------------------------------------------------
class Hosts:
    """Which site answers a request: by Host header, else the address's default virtual host."""

    def __init__(self, world: World, cache_size: int = 20000) -> None:
        self.by_host: dict[str, Site] = {}
        self.on_ip: dict[str, set[str]] = {}
        self.default: dict[str, Site] = {}
        for site in world.sites:
            for d in site.domains:
                self.by_host[d] = site
            for ip in site.ips:
                if not site.domains:
                    self.default[ip] = site
        self.addresses = world.addresses()
        self._site_ips = {site.id: frozenset(site.ips) for site in world.sites if len(site.ips) > 1}
        self._cache: OrderedDict[tuple[str, str, str], tuple[int, bytes, bytes]] = OrderedDict()
        self._size = cache_size

    def default_site(self, ip: str) -> Site:
        site = self.default.get(ip)
        if site is None:
            h = int(hashlib.blake2b(ip.encode(), digest_size=2).hexdigest(), 16)
            template = DEFAULT_TEMPLATES[0] if h % 10 < 7 else DEFAULT_TEMPLATES[1 + h % 2]
            site = Site(id=f"default:{ip}", domains=[], ips=[ip], template=template,
                        declare="none" if template != "default-nginx" else "both", https=True)
            self.default[ip] = site
        return site

    def lookup(self, host: str | None, local_ip: str) -> Site:
        if host:
            site = self.by_host.get(host)
            if site is not None and (site.ips[0] == local_ip or local_ip in self._site_ips.get(site.id, ())):
                return site
        return self.default_site(local_ip)

    def homepage(self, site: Site, scheme: str, host: str) -> tuple[int, bytes, bytes]:
        """(status, header block without Date, body) for GET / — cached per site and scheme."""
        key = (site.id, scheme, host if site.redirect and site.redirect.kind in ("self", "https") else "")
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        result = self._render(site, scheme, host)
        self._cache[key] = result
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return result

    def _render(self, site: Site, scheme: str, host: str) -> tuple[int, bytes, bytes]:
        server = SERVER_HEADER.get(site.template, "nginx/1.24.0")
        r = site.redirect
        location = None
        status = 200
        if r is not None:
            if r.kind in ("301", "302", "307", "308"):
                status, location = int(r.kind), r.target
            elif r.kind == "chain":
                status, location = 301, r.target
            elif r.kind == "loop":
                status, location = 302, r.target
            elif r.kind == "self":
                status, location = 302, f"{scheme}://{host}/"
            elif r.kind == "private":
                h = int(hashlib.blake2b(site.id.encode(), digest_size=2).hexdigest(), 16)
                status, location = 302, PRIVATE_TARGETS[h % len(PRIVATE_TARGETS)]
            elif r.kind == "file":
                status, location = 302, r.target or "file:///etc/passwd"
            elif r.kind == "https" and scheme == "http":
                status, location = 301, f"https://{host}/"
        if location is not None:
            body = (f"<html><head><title>{status} {_REASONS[status]}</title></head><body><center><h1>"
                    f"{status} {_REASONS[status]}</h1></center><hr><center>nginx</center></body></html>\n").encode()
            head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\nServer: {server}\r\nContent-Type: text/html\r\n"
                    f"Content-Length: {len(body)}\r\nLocation: {location}\r\n").encode("utf-8", "surrogateescape")
            return status, head, body
        ctype, body = pages.encode_page(site, pages.render_page(site))
        head = (f"HTTP/1.1 200 OK\r\nServer: {server}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\n").encode()
        return 200, head, body


_NOT_FOUND = b"<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>\n"
_DATE: list[Any] = [0, b""]


def _date() -> bytes:
    now = int(time.time())
    if _DATE[0] != now:
        _DATE[0], _DATE[1] = now, f"Date: {formatdate(now, usegmt=True)}\r\n".encode()
    return _DATE[1]


_bomb_cache: list[bytes] = []
_bomb_lock = threading.Lock()


def bomb_body() -> bytes:
    """A gzip stream of an HTML prefix and zeros that inflates to BOMB_SIZE bytes (built once).

    After a full flush the deflate state is reset, so every further MiB of zeros compresses to
    the same bytes: the stream is built from one compressed block repeated, with a correct trailer.
    """
    with _bomb_lock:
        if not _bomb_cache:
            prefix = b"<!DOCTYPE html><html><body>"
            chunk = b"\0" * (1 << 20)
            n = (BOMB_SIZE - len(prefix)) >> 20
            co = zlib.compressobj(9, zlib.DEFLATED, -15)
            first = co.compress(prefix + chunk) + co.flush(zlib.Z_FULL_FLUSH)
            repeat = co.compress(chunk) + co.flush(zlib.Z_FULL_FLUSH)
            last = co.compress(chunk) + co.flush()
            crc = zlib.crc32(prefix)
            for _ in range(n):
                crc = zlib.crc32(chunk, crc)
            size = len(prefix) + n * len(chunk)
            header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
            trailer = struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)
            _bomb_cache.append(header + first + repeat * (n - 2) + last + trailer)
        return _bomb_cache[0]


# ---------------------------------------------------------------------------------------------
# the protocol
# ---------------------------------------------------------------------------------------------
class HTTPProtocol(asyncio.Protocol):
    __slots__ = ("server", "scheme", "transport", "buf", "local_ip", "closed", "busy",
                 "_can_write", "sni")

    def __init__(self, server: "WebHosts", scheme: str) -> None:
        self.server = server
        self.scheme = scheme
        self.transport: Any = None
        self.buf = b""
        self.local_ip = ""
        self.closed = False
        self.busy = False
        self._can_write: asyncio.Event | None = None

    # -- asyncio callbacks
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sockname = transport.get_extra_info("sockname")
        self.local_ip = sockname[0] if sockname else ""
        if self.server.wide and self.local_ip not in self.server.address_set:
            transport.abort()  # a loopback address the world does not serve
            return
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        if self._can_write is not None:
            self._can_write.set()

    def pause_writing(self) -> None:
        if self._can_write is None:
            self._can_write = asyncio.Event()
        self._can_write.clear()

    def resume_writing(self) -> None:
        if self._can_write is not None:
            self._can_write.set()

    async def drain(self) -> None:
        if self._can_write is not None and not self._can_write.is_set():
            await self._can_write.wait()

    def data_received(self, data: bytes) -> None:
        if self.busy:
            return  # a hostile response owns the connection; ignore pipelined requests
        self.buf += data
        while not self.closed and not self.transport.is_closing() and not self.busy:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEADER_BYTES:
                    self._simple(431, b"request header fields too large\n", close=True)
                return
            head = self.buf[:end]
            rest = self.buf[end + 4:]
            self.buf = rest
            self._request(head)

    # -- request handling
    def _request(self, head: bytes) -> None:
        try:
            text = head.decode("latin-1")
            lines = text.split("\r\n")
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            self._simple(400, b"bad request\n", close=True)
            return
        host = None
        keep_alive = version == "HTTP/1.1"
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            lname = name.strip().lower()
            if lname == "host":
                host = value.strip().lower()
            elif lname == "connection":
                v = value.strip().lower()
                keep_alive = v == "keep-alive" if version != "HTTP/1.1" else v != "close"
            elif lname == "content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    length = 0
        if length:
            self.buf = self.buf[length:]
        if target.startswith(("http://", "https://")):
            hostpart = target.split("/", 3)[2]
            host = hostpart.lower()
            target = "/" + (target.split("/", 3)[3] if target.count("/") >= 3 else "")
        if host:
            if host.startswith("["):
                host = host[1:host.find("]")]
            elif ":" in host:
                host = host.rsplit(":", 1)[0]
            host = host.rstrip(".")
        hosts = self.server.hosts
        site = hosts.lookup(host, self.local_ip)
        path = target.split("?", 1)[0]
        if site.hostile and path in ("/", "/index.html"):
            self.busy = True
            self.server.spawn(self._hostile(site))
            return
        if method not in ("GET", "HEAD", "POST"):
            self._simple(405, b"method not allowed\n", close=not keep_alive)
            return
        if path in ("/", "/index.html", "/index.htm", "/index.php"):
            _, headblock, body = hosts.homepage(site, self.scheme, host or self.local_ip)
        elif path == "/beian.png" and (img := pages.mark_image(site)) is not None:
            ctype, body = img
            headblock = (f"HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Type: {ctype}\r\n"
                         f"Content-Length: {len(body)}\r\n").encode()
        elif path == "/robots.txt":
            body = b"User-agent: *\nAllow: /\n"
            headblock = (f"HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Type: text/plain\r\n"
                         f"Content-Length: {len(body)}\r\n").encode()
        else:
            self._simple(404, _NOT_FOUND, close=not keep_alive, ctype=b"text/html")
            return
        tail = b"Connection: keep-alive\r\n\r\n" if keep_alive else b"Connection: close\r\n\r\n"
        if method == "HEAD":
            self.transport.write(headblock + _date() + tail)
        else:
            self.transport.write(headblock + _date() + tail + body)
        if not keep_alive:
            self.transport.close()
            self.closed = True

    def _simple(self, status: int, body: bytes, close: bool, ctype: bytes = b"text/plain") -> None:
        self.transport.write(b"HTTP/1.1 %d %s\r\nServer: nginx/1.24.0\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s%s\r\n"
                             % (status, _REASONS[status].encode(), ctype, len(body), _date(),
                                b"Connection: close\r\n" if close else b"Connection: keep-alive\r\n") + body)
        if close:
            self.transport.close()
            self.closed = True

    # -- hostile responses
    async def _hostile(self, site: Site) -> None:
        kind = site.hostile
        w = self.transport.write
        deadline = time.monotonic() + HOSTILE_LIMIT_S
        try:
            if kind == "never-ends":
                w(b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html; charset=utf-8\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
                chunk = "<p>加载中……loading……</p>\n".encode()
                piece = b"%x\r\n%s\r\n" % (len(chunk), chunk)
                while not self.closed and not self.transport.is_closing() and time.monotonic() < deadline:
                    w(piece)
                    await self.drain()
                    await asyncio.sleep(0.05)
            elif kind == "slowloris":
                data = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\n"
                        b"Content-Length: 100\r\n\r\n" + b"x" * 100)
                for i in range(len(data)):
                    if self.closed or self.transport.is_closing() or time.monotonic() > deadline:
                        break
                    w(data[i:i + 1])
                    await asyncio.sleep(1.0)
            elif kind == "bomb":
                body = await asyncio.get_running_loop().run_in_executor(None, bomb_body)
                w(b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html; charset=utf-8\r\n"
                  b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body))
                view = memoryview(body)
                for i in range(0, len(body), 65536):
                    if self.closed or self.transport.is_closing():
                        break
                    w(view[i:i + 65536])
                    await self.drain()
            elif kind == "huge":
                w(b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html; charset=utf-8\r\n"
                  b"Content-Length: %d\r\n\r\n<!DOCTYPE html><html><body>" % HUGE_SIZE)
                block = b"<p>" + b"0123456789" * 6550 + b"</p>\n"
                sent = 27
                while not self.closed and not self.transport.is_closing() and sent < HUGE_SIZE and time.monotonic() < deadline:
                    w(block)
                    sent += len(block)
                    await self.drain()
            elif kind == "big-headers":
                pad = b"a" * 8000
                w(b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\n"
                  + b"".join(b"X-Padding-%d: %s\r\n" % (i, pad) for i in range(128))
                  + b"Content-Length: 13\r\nConnection: close\r\n\r\n<html></html>")
                await self.drain()
            elif kind == "bad-chunked":
                w(b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n"
                  b"400\r\n<!DOCTYPE html><html><body>short chunk\r\nzz;not-hex\r\n\x00\x01garbage\r\n")
                await self.drain()
                await asyncio.sleep(0.05)
            elif kind == "reset":
                body = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>"
                        + "<p>内容</p>" * 4000).encode()
                w(b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html; charset=utf-8\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
                w(body[: len(body) // 2])
                await self.drain()
                for _ in range(100):
                    if self.transport.get_write_buffer_size() == 0:
                        break
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.05)
                sock = self.transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.transport.abort()
                return
        except (ConnectionError, RuntimeError):
            pass
        finally:
            if not self.closed:
                self.transport.close()


# ---------------------------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------------------------
class WebHosts:
    """All web hosts of a world in one asyncio loop (``await start()`` / ``await stop()``)."""

    def __init__(self, world: World, *, http_port: int = 80, https_port: int | None = 443,
                 state_dir: str | Path = ".icpwatch-world", addresses: list[str] | None = None,
                 cache_size: int = 20000, wide: bool = False) -> None:
        self.world = world
        self.hosts = Hosts(world, cache_size=cache_size)
        self.addresses = addresses if addresses is not None else self.hosts.addresses
        #: one socket per port for every address (see :meth:`_bind_wide`) instead of one per address
        self.wide = wide
        self.address_set = frozenset(self.addresses)
        for ip in self.addresses:
            if not is_loopback(ip):
                raise SpecError(f"refusing to listen on {ip}: not a loopback address")
        self.http_port = http_port
        self.https_port = https_port
        self.state_dir = Path(state_dir)
        self.certs: CertStore | None = None
        self.servers: list[asyncio.AbstractServer] = []
        self.connections: set[HTTPProtocol] = set()
        self.tasks: set[asyncio.Task[Any]] = set()

    @property
    def ca_file(self) -> Path | None:
        return self.certs.ca_file if self.certs else None

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _ssl_context(self) -> ssl.SSLContext:
        self.certs = CertStore(self.state_dir, self.addresses)
        ctx = self.certs.default_context
        hosts, certs = self.hosts, self.certs

        def sni(sslobj: Any, name: str | None, _ctx: ssl.SSLContext) -> None:
            if not name:
                return None
            site = hosts.by_host.get(name.lower().rstrip("."))
            if site is not None and site.https:
                try:
                    sslobj.context = certs.context_for(name.lower(), site.tls)
                except Exception:  # noqa: BLE001 - a bad cert must not kill the server
                    return None
            return None

        ctx.sni_callback = sni
        return ctx

    @staticmethod
    def _bind(ip: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
            sock.listen(1024)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        return sock

    def _bind_wide(self, port: int) -> tuple[int, list[socket.socket]]:
        """One socket per address family on ``port`` that takes connections to every address of the
        loopback interface — and only of it: bound to the device ``lo`` (SO_BINDTODEVICE, which
        needs root), so no other interface ever reaches it. A world of a million sites spans tens of
        thousands of addresses, more listening sockets than an open-file limit allows; this serves it
        with two. Connections to an address outside the world are closed on arrival."""
        socks: list[socket.socket] = []
        families = [(socket.AF_INET, "0.0.0.0")]
        if any(":" in ip for ip in self.addresses):
            families.append((socket.AF_INET6, "::"))
        try:
            for family, wildcard in families:
                sock = socket.socket(family, socket.SOCK_STREAM)
                socks.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"lo")
                sock.bind((wildcard, port))
                port = port or sock.getsockname()[1]
                sock.listen(4096)
                sock.setblocking(False)
        except OSError as exc:
            for sock in socks:
                sock.close()
            raise OSError(exc.errno, f"cannot listen on the loopback interface, port {port}: {exc.strerror}"
                          + (" (binding to the loopback device needs root)" if exc.errno == 1 else "")) from None
        return port, socks

    def _bind_all(self, port: int) -> tuple[int, list[socket.socket]]:
        """Bind every address on ``port``; port 0 picks one free port shared by all addresses."""
        if self.wide:
            return self._bind_wide(port)
        for _attempt in range(20):
            socks: list[socket.socket] = []
            chosen = port
            try:
                for ip in self.addresses:
                    s = self._bind(ip, chosen)
                    if chosen == 0:
                        chosen = s.getsockname()[1]
                    socks.append(s)
                return chosen, socks
            except OSError as exc:
                for s in socks:
                    s.close()
                if port != 0:
                    raise OSError(exc.errno, f"cannot listen on {ip}:{chosen}: {exc.strerror}") from None
        raise OSError("could not find a port free on every address")

    async def start(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        self.http_port, http_socks = self._bind_all(self.http_port)
        for sock in http_socks:
            self.servers.append(await loop.create_server(lambda: HTTPProtocol(self, "http"), sock=sock))
        if self.https_port is not None:
            ctx = self._ssl_context()
            self.https_port, tls_socks = self._bind_all(self.https_port)
            for sock in tls_socks:
                self.servers.append(await loop.create_server(lambda: HTTPProtocol(self, "https"),
                                                             sock=sock, ssl=ctx,
                                                             ssl_handshake_timeout=10))
        return {"addresses": len(self.addresses), "listening": "loopback interface" if self.wide else "per address",
                "http_port": self.http_port,
                "https_port": self.https_port, "ca_file": str(self.ca_file) if self.ca_file else None,
                "bind_seconds": round(time.monotonic() - started, 3)}

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        for task in list(self.tasks):
            task.cancel()
        for server in self.servers:
            await server.wait_closed()
        self.servers.clear()


class WebHostsThread:
    """WebHosts on a background thread with its own loop: ``start()`` blocks until listening."""

    def __init__(self, world: World, **kwargs: Any) -> None:
        self.web = WebHosts(world, **kwargs)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="sandbox-web", daemon=True)
        self.info: dict[str, Any] = {}
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.info = self.loop.run_until_complete(self.web.start())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.web.stop())
        self.loop.close()

    def start(self) -> dict[str, Any]:
        self.thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self.info

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)

    def __enter__(self) -> "WebHostsThread":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
