"""The crawler's HTTP(S) download handler: Scrapy's aiohttp handler, held to the crawler's guarantees.

Scrapy's aiohttp handler (``AiohttpDownloadHandler``, on the streaming base that enforces the
body cap, the warning size, data loss and the total timeout) costs less CPU per page than the
Twisted HTTP/1.1 handler.  :class:`GuardedAiohttpDownloadHandler` keeps what the crawler
guarantees with the Twisted handler:

* **addresses** — aiohttp resolves names only through :class:`GuardedResolverAdapter`, which asks
  the installed :class:`~crawler.dnsresolver.GuardedResolver` (so every DNS outcome and refusal is
  recorded as with Twisted, and :class:`~crawler.dnsresolver.GuardedLookupMiddleware` turns a
  failed lookup into its observation); aiohttp keeps no DNS cache of its own; an address literal
  goes through the same guarded lookup; and every socket is checked against the address guard
  once more just before it connects.  No proxy (neither from the environment nor from
  ``request.meta``), no cookies.
* **TLS** — certificates verified against ``ICPWATCH_CA_FILE`` (else the platform's store) and
  the host name checked (:func:`crawler.tls.ssl_context`).
* **limits** — response header lines up to ``ICPWATCH_MAX_HEADER_BYTES`` are read (aiohttp's
  8 KiB default would fail a large but legal header), so the spider's own header check decides.
* **failures** — Scrapy's exceptions, with aiohttp's or ssl's exception as ``__cause__``;
  :func:`crawler.observe.classify` reads the causes.  A certificate or handshake failure is a
  :class:`~scrapy.exceptions.DownloadFailedError` (not retried, as with Twisted) rather than the
  ``DownloadConnectionRefusedError`` (retried) of Scrapy's handler; a body cut short by a reset
  connection carries the reset as its cause, so it is told apart from a malformed body.

``ICPWATCH_HTTP_CLIENT`` chooses the client: ``"aiohttp"`` (this handler) or ``"twisted"``
(Scrapy's HTTP/1.1 handler with :class:`crawler.tls.VerifyingContextFactory`).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from scrapy import Request
from scrapy.core.downloader.handlers._aiohttp import AiohttpDownloadHandler
from scrapy.core.downloader.handlers._aiohttp import _ClientResponse as _ScrapyClientResponse
from scrapy.core.downloader.handlers._base_streaming import BaseStreamingDownloadHandler
from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.crawler import Crawler
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    ResponseDataLossError,
)
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler

from .dnsresolver import GuardedLookupError, GuardedResolver
from .guard import is_ip_address
from .tls import ssl_context

__all__ = ["HTTP_CLIENTS", "GuardedAiohttpDownloadHandler", "GuardedResolverAdapter"]

HTTP_CLIENTS = ("aiohttp", "twisted")
"""The values of ``ICPWATCH_HTTP_CLIENT``."""

_FAMILIES = frozenset({socket.AF_INET, socket.AF_INET6})


def _installed() -> GuardedResolver:
    """The process's guarded resolver; without one nothing is connected to (fail closed)."""
    resolver = GuardedResolver.installed()
    if resolver is None:
        raise OSError("no guarded resolver is installed (TWISTED_DNS_RESOLVER): nothing is fetched")
    return resolver


class GuardedResolverAdapter(AbstractResolver):
    """aiohttp's resolver interface over the installed :class:`GuardedResolver`.

    A refused or failed lookup raises :class:`GuardedLookupError` (an ``OSError``), which aiohttp
    reports as ``ClientConnectorDNSError`` and Scrapy as ``CannotResolveHostError``.
    """

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        addresses = await maybe_deferred_to_future(_installed().lookup(host))
        out: list[ResolveResult] = []
        for address in addresses:
            kind = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family in _FAMILIES and kind != family:
                continue
            out.append({"hostname": host, "host": address, "port": port, "family": kind,
                        "proto": 0, "flags": 0})
        if not out:
            raise OSError(f"no address of family {family!r} among the guarded addresses of {host}")
        return out

    async def close(self) -> None:
        """Nothing to release: the guarded resolver belongs to the process."""


def _guarded_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """aiohttp's socket factory: the last check of the address actually connected to, whatever
    aiohttp made of the URL's host."""
    family, type_, proto, _, sockaddr = addr_info
    reason = _installed().guard.refusal(str(sockaddr[0]))
    if reason is not None:
        raise OSError(f"refused: {reason} ({sockaddr[0]})")
    return socket.socket(family=family, type=type_, proto=proto)


def _consume(future: asyncio.Future[None]) -> None:
    """Retrieve a closed-connection future's outcome, so asyncio does not log it as lost."""
    if not future.cancelled():
        future.exception()


class _ClientResponse(_ScrapyClientResponse):
    """Scrapy's response class, also keeping the connection's "closed" future: aiohttp reports
    a body cut short by a reset and one cut short by a clean close with the same payload error,
    and only that future tells them apart."""

    _connection_closed: asyncio.Future[None] | None = None

    async def start(self, connection: aiohttp.connector.Connection) -> aiohttp.ClientResponse:
        protocol = connection.protocol
        if protocol is not None:
            closed = protocol.closed
            if closed is not None:
                closed.remove_done_callback(_consume)  # a kept-alive connection serves many responses
                closed.add_done_callback(_consume)
                self._connection_closed = closed
        return await super().start(connection)

    def connection_lost_error(self) -> BaseException | None:
        """The error the connection was lost with, if it was lost uncleanly (a reset)."""
        closed = self._connection_closed
        if closed is None or not closed.done() or closed.cancelled():
            return None
        return closed.exception()


def _keepalive_seconds(crawler: Crawler) -> float:
    """How long either client keeps an idle connection (ICPWATCH_KEEPALIVE_SECONDS)."""
    return crawler.settings.getfloat("ICPWATCH_KEEPALIVE_SECONDS", 2.0)


class GuardedAiohttpDownloadHandler(AiohttpDownloadHandler):
    """Scrapy's aiohttp download handler with the crawler's guarantees (module docstring)."""

    supports_proxies: ClassVar[bool] = False  # a proxy would reach addresses the guard never saw
    # Upstream marks the handler experimental and warns on every crawl; the parts of it this crawler
    # relies on are covered by tests/crawler/test_download.py, and "twisted" remains one setting away.
    experimental: ClassVar[bool] = False

    def __init__(self, crawler: Crawler) -> None:
        # AiohttpDownloadHandler.__init__ builds its session at once, and aiohttp needs a running
        # event loop for that, which a crawl started before ``process.start()`` does not have yet:
        # the session is built on the first request instead (``_get_session``).
        BaseStreamingDownloadHandler.__init__(self, crawler)
        self._ssl_context = ssl_context(crawler.settings)
        self._max_header_bytes = crawler.settings.getint("ICPWATCH_MAX_HEADER_BYTES", 256 * 1024)
        self._keepalive = _keepalive_seconds(crawler)
        self._session: aiohttp.ClientSession | None = None  # type: ignore[assignment]

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BaseDownloadHandler:  # type: ignore[override]
        """This handler, or Scrapy's Twisted HTTP/1.1 handler when ``ICPWATCH_HTTP_CLIENT`` is
        ``"twisted"``."""
        client = crawler.settings.get("ICPWATCH_HTTP_CLIENT") or "aiohttp"
        if client == "twisted":
            from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler

            handler = build_from_crawler(HTTP11DownloadHandler, crawler)
            # Twisted keeps an idle connection 240 s by default; the same bound as aiohttp's below
            handler._pool.cachedConnectionTimeout = _keepalive_seconds(crawler)
            return handler
        if client != "aiohttp":
            raise ValueError(f"ICPWATCH_HTTP_CLIENT is {client!r}: expected one of {', '.join(HTTP_CLIENTS)}")
        return cls(crawler)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolverAdapter(),
                use_dns_cache=False,  # every new connection asks the guarded resolver (it caches)
                socket_factory=_guarded_socket,
                local_addr=self._bind_address,
                limit=self._pool_size_total,
                limit_per_host=self._pool_size_per_host,
                # A sweep visits each host once or twice in quick succession (a redirect on the same
                # host): a connection idle longer is never asked for again, and thousands of them kept
                # for aiohttp's 15 s default hold their TLS and parser buffers (about 18 KB a site).
                keepalive_timeout=self._keepalive,
            )
            # The rest as AiohttpDownloadHandler.__init__ builds it, plus the header limits: a line
            # up to the header cap is read and the spider's header check decides; a message with
            # more header lines than max_headers is over that cap anyway (each costs 4+ bytes).
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                auto_decompress=False,
                response_class=_ClientResponse,
                skip_auto_headers=("Accept", "Accept-Encoding", "Content-Type", "User-Agent"),
                max_line_size=self._max_header_bytes,
                max_field_size=self._max_header_bytes,
                max_headers=self._max_header_bytes // 4 + 1,
            )
        return self._session

    @asynccontextmanager
    async def _make_request(self, request: Request, timeout: float) -> AsyncIterator[_ClientResponse]:
        self._get_session()
        host = urlparse_cached(request).hostname or ""
        if is_ip_address(host):  # aiohttp connects to a literal without asking any resolver
            try:
                await maybe_deferred_to_future(_installed().lookup(host))
            except GuardedLookupError as exc:
                raise CannotResolveHostError(str(exc)) from exc
        response: _ClientResponse | None = None
        try:
            async with super()._make_request(request, timeout) as response:
                yield response
        except DownloadConnectionRefusedError as exc:
            if isinstance(exc.__cause__, aiohttp.ClientSSLError):
                raise DownloadFailedError(str(exc)) from exc.__cause__
            raise
        except ResponseDataLossError as exc:
            lost = response.connection_lost_error() if response is not None else None
            if lost is None:
                raise
            raise ResponseDataLossError(f"{lost}; {exc}") from lost

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
