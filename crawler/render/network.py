"""Guarded networking for the browser: every request a page makes is fetched by us, never by
Chromium.

Chromium is launched with a proxy that points nowhere (see :mod:`crawler.render.browser`), so a
request that escaped interception would fail; every request is intercepted
(``context.route("**/*")``) and fetched here, with the crawler's own parts:

* the host is resolved by the crawler's :class:`crawler.resolve.Resolver` (so ``--resolver`` and
  the sandbox DNS work exactly as in a crawl) and each address is checked by the
  :class:`crawler.guard.AddressGuard` — a page cannot make the browser reach a private or
  loopback address the guard refuses, whatever the URL spelling;
* the connection goes to the admitted addresses only (aiohttp with a resolver that repeats the
  guarded lookup, so nothing between check and connect can swap the address);
* TLS is verified against the same trust (``--ca-file``);
* bodies are capped, every request has a deadline.

Redirects: Chromium follows a redirect that interception fulfils *without* intercepting the next
request (it then dies on the dead proxy), so redirects never reach the browser as 3xx.
Sub-resources are followed here, hop by hop, each hop guarded; a main-frame navigation that
answers 3xx is reported to the caller (:class:`FetchResult.location`), which records the hop and
navigates the page to it — so the page's URL and the redirect chain stay true.

aiohttp rather than Scrapy's downloader: the route handlers run on the asyncio loop Playwright
drives, and aiohttp's resolver hook is the one place to pin connections to guarded addresses.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver

from ..guard import AddressGuard, AddressRefused, InvalidURLHost, is_ip_address, url_host
from ..observe import HopRefused, check_url
from ..resolve import Resolver

__all__ = ["FetchRefused", "FetchResult", "GuardedFetcher"]

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
#: response headers never handed to the browser: hop-by-hop, the body's transfer form (aiohttp
#: gives the decoded body), cookies (the crawler keeps none), and the server's own policies that
#: would make the browser reach out (reporting endpoints, HSTS upgrades, alternative services).
_DROPPED_HEADERS = frozenset({
    "connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length",
    "set-cookie", "set-cookie2", "strict-transport-security", "alt-svc", "report-to", "nel",
    "proxy-authenticate", "upgrade", "trailer", "te", "location",
})
_DROPPED_REQUEST_HEADERS = frozenset({"host", "cookie", "connection", "accept-encoding",
                                      "content-length", "upgrade", "te", "proxy-authorization"})


class FetchRefused(Exception):
    """The URL may not be fetched, or fetching it failed; ``status`` names the kind of failure
    with the crawler's observation statuses (``refused``, ``dns_error``, ``timeout``,
    ``tls_error``, ``connection_error``, ``too_large``, ``too_many_redirects``, ``error``)."""

    def __init__(self, url: str, status: str, reason: str) -> None:
        super().__init__(f"{status}: {reason} ({url})")
        self.url = url
        self.status = status
        self.reason = reason


@dataclass
class FetchResult:
    """One fetched URL: the final response of any sub-resource redirects followed here."""

    url: str                       # the URL the body came from
    status: int
    headers: dict[str, str]
    body: bytes
    ip: str | None = None
    location: str | None = None    # absolute Location of a main-frame 3xx (not followed here)
    hops: list[dict[str, Any]] = field(default_factory=list)  # sub-resource redirects followed

    def browser_headers(self) -> dict[str, str]:
        """The response headers fit to hand to the browser."""
        return {k: v for k, v in self.headers.items() if k.lower() not in _DROPPED_HEADERS}


class _GuardedResolver(AbstractResolver):
    """aiohttp's resolver: the crawler's DNS, then the guard, for every connection."""

    def __init__(self, resolver: Resolver, guard: AddressGuard) -> None:
        self.resolver = resolver
        self.guard = guard

    async def admitted(self, host: str) -> list[str]:
        """The addresses of ``host`` the guard admits; raises FetchRefused when none."""
        if is_ip_address(host.strip("[]")):
            addresses = [host.strip("[]")]
        else:
            resolution = await self.resolver.resolve_async(host)
            if not resolution.ok:
                raise FetchRefused(host, "dns_error",
                                   f"{host}: {resolution.status}" + (f" ({resolution.error})" if resolution.error else ""))
            addresses = list(resolution.addresses)
        reasons = [(a, self.guard.refusal(a)) for a in addresses]
        admitted = [a for a, why in reasons if why is None]
        if not admitted:
            a, why = reasons[0] if reasons else (host, "no address")
            raise FetchRefused(host, "refused", str(AddressRefused(a, why or "no address")))
        return admitted

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        try:
            admitted = await self.admitted(host)
        except FetchRefused as exc:  # aiohttp expects OSError from a resolver
            raise OSError(f"{exc.status}: {exc.reason}") from exc
        return [{"hostname": host, "host": a, "port": port,
                 "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST} for a in admitted]

    async def close(self) -> None:
        return None


def _peer(response: aiohttp.ClientResponse) -> tuple[str, int] | None:
    """The address the response came from: the connection's transport (for a small body the
    connection is back in the pool already, but its protocol still holds the transport)."""
    conn = response.connection
    protocol = conn.protocol if conn is not None else getattr(response, "_protocol", None)
    transport = getattr(protocol, "transport", None)
    return transport.get_extra_info("peername") if transport is not None else None


class GuardedFetcher:
    """Fetches what a page asks for, the way the crawler would (see the module docstring)."""

    def __init__(self, resolver: Resolver, guard: AddressGuard, *, ca_file: str | None = None,
                 user_agent: str, timeout: float = 10.0, max_bytes: int = 5 * 1024 * 1024,
                 max_redirects: int = 10) -> None:
        self.guard = guard
        self.user_agent = user_agent
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._resolver = _GuardedResolver(resolver, guard)
        self._ssl = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=self._resolver, ssl=self._ssl, limit=64,
                                             use_dns_cache=False, force_close=False)
            self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                                  auto_decompress=True, trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def check_url(self, url: str) -> None:
        """Raise FetchRefused for a URL the crawler would refuse before any lookup: the crawler's
        own hop rule (:func:`crawler.observe.check_url`: schemes, localhost names, obfuscated
        and refused address literals), then the guard's reading of the host."""
        try:
            check_url(url, self.guard)
            self.guard.check_url(url)
            url_host(url)
        except HopRefused as exc:
            raise FetchRefused(url, "refused", str(exc)) from None
        except AddressRefused as exc:
            raise FetchRefused(url, "refused", str(exc)) from None
        except InvalidURLHost as exc:
            raise FetchRefused(url, "refused", f"malformed host: {exc}") from None

    async def fetch(self, url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
                    body: bytes | None = None, follow: bool = True) -> FetchResult:
        """Fetch ``url``; redirects are followed (each hop guarded) when ``follow``, else a 3xx
        comes back with its ``location``."""
        hops: list[dict[str, Any]] = []
        for _ in range(self.max_redirects + 1):
            result = await self._once(url, method, headers, body)
            if result.status in REDIRECT_CODES and "location" in {k.lower() for k in result.headers}:
                location = next(v for k, v in result.headers.items() if k.lower() == "location")
                result.location = urljoin(url, location.strip())
                if not follow:
                    result.hops = hops
                    return result
                hops.append({"url": url, "status": result.status, "location": result.location,
                             "kind": "http", "ip": result.ip})
                if result.status in (301, 302, 303) and method != "HEAD":
                    method, body = "GET", None
                url = result.location
                continue
            result.hops = hops
            return result
        raise FetchRefused(url, "too_many_redirects", f"more than {self.max_redirects} redirects")

    async def _once(self, url: str, method: str, headers: dict[str, str] | None,
                    body: bytes | None) -> FetchResult:
        self.check_url(url)
        sent = {k: v for k, v in (headers or {}).items() if k.lower() not in _DROPPED_REQUEST_HEADERS}
        sent["User-Agent"] = self.user_agent
        try:
            async with asyncio.timeout(self.timeout):
                async with self._client().request(method, url, headers=sent, data=body,
                                                  allow_redirects=False) as response:
                    peer = _peer(response)
                    chunks, size = [], 0
                    while chunk := await response.content.read(1 << 16):  # to the end, capped
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise FetchRefused(url, "too_large", f"body over {self.max_bytes} bytes")
                        chunks.append(chunk)
                    data = b"".join(chunks)
                    return FetchResult(url=str(response.url), status=response.status,
                                       headers={k: v for k, v in response.headers.items()},
                                       body=data, ip=peer[0] if peer else None)
        except FetchRefused:
            raise
        except TimeoutError:
            raise FetchRefused(url, "timeout", f"no complete answer within {self.timeout:g} s") from None
        except aiohttp.ClientConnectorCertificateError as exc:
            raise FetchRefused(url, "tls_error", str(exc.certificate_error)) from None
        except aiohttp.ClientSSLError as exc:
            raise FetchRefused(url, "tls_error", str(exc)) from None
        except aiohttp.ClientConnectorError as exc:
            cause = exc.__cause__ or getattr(exc, "os_error", None)
            inner = getattr(cause, "__cause__", None)
            if isinstance(inner, FetchRefused):
                raise FetchRefused(url, inner.status, inner.reason) from None
            raise FetchRefused(url, "connection_error", str(exc)) from None
        except (aiohttp.ClientPayloadError, aiohttp.ClientResponseError,
                aiohttp.ServerDisconnectedError) as exc:
            raise FetchRefused(url, "protocol_error", str(exc) or type(exc).__name__) from None
        except aiohttp.ClientError as exc:
            raise FetchRefused(url, "connection_error", str(exc) or type(exc).__name__) from None
