"""Downloader and spider middlewares: each one small, wired by settings, testable alone.

* :class:`HopGuardMiddleware` — every request (first URL and every redirect hop) is http/https
  with a host that is neither a localhost name nor an obfuscated or refused address literal; host
  names are resolved through the crawl's guarded DNS resolver *before* the download, so a refused
  or failed lookup costs no connection, and the request gets a per-address download slot (the
  per-address concurrency cap, with AutoThrottle adapting each slot's delay).
  It also holds each request until its independent domain has fewer than
  ICPWATCH_CONCURRENT_PER_DOMAIN requests in the downloader (the per-domain cap).
* :class:`RedirectChainMiddleware` — replaces Scrapy's RedirectMiddleware: HTTP 3xx hops are
  recorded in the visit's chain and followed with the duplicate filter off, so loops and
  self-redirects are *observed* (status redirect_loop) instead of being silently dropped.
* :class:`ResumeMiddleware` — spider middleware dropping start requests whose visit is already
  stored for the run (``--run ID``), announcing each with the ``visit_skipped`` signal.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import DeferredSemaphore
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

from . import signals as icp_signals
from .observe import META_KEY, Visit, check_url, literal_address, next_hop

logger = logging.getLogger(__name__)

REDIRECT_CODES = (301, 302, 303, 307, 308)
_DOMAIN_SLOT = "_icpwatch_domain"


def _domain_key(host: str) -> str:
    """The independent domain of ``host`` (the per-domain cap's key); the host itself for an
    address or a name under no public suffix."""
    from registry.domains import independent_domain

    try:
        return independent_domain(host) or host
    except Exception:  # noqa: BLE001 - addresses, odd names
        return host


def make_guard(settings: Any) -> Any:
    """The address guard for these settings (ICPWATCH_ALLOW_PRIVATE)."""
    from .guard import AddressGuard

    return AddressGuard(allow_private=settings.getbool("ICPWATCH_ALLOW_PRIVATE"))


class HopGuardMiddleware:
    """Checks each request before it is downloaded and puts it in a per-address slot."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.guard = make_guard(crawler.settings)
        self.slot_by_address = crawler.settings.getbool("ICPWATCH_SLOT_BY_ADDRESS", True)
        self.domain_cap = crawler.settings.getint("ICPWATCH_CONCURRENT_PER_DOMAIN", 4)
        self._domains: dict[str, DeferredSemaphore] = {}
        crawler.signals.connect(self._left, signal=signals.request_left_downloader)

    def _left(self, request: Request, spider: Spider | None = None) -> None:
        """A request left the downloader (answered or failed): free its domain's place."""
        key = request.meta.pop(_DOMAIN_SLOT, None)
        sem = self._domains.get(key) if key is not None else None
        if sem is not None:
            sem.release()
            if sem.tokens == sem.limit and not sem.waiting:
                del self._domains[key]

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HopGuardMiddleware:
        return cls(crawler)

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        check_url(request.url, self.guard)  # raises HopRefused
        hostname = urlparse_cached(request).hostname or ""
        if self.domain_cap > 0 and _DOMAIN_SLOT not in request.meta:
            key = _domain_key(hostname)
            sem = self._domains.get(key)
            if sem is None:
                sem = self._domains[key] = DeferredSemaphore(self.domain_cap)
            await maybe_deferred_to_future(sem.acquire())
            request.meta[_DOMAIN_SLOT] = key
        if not self.slot_by_address or "download_slot" in request.meta:
            return None
        address = literal_address(hostname)
        if address is None:
            from .dnsresolver import GuardedResolver

            resolver = GuardedResolver.installed()
            if resolver is None:  # another resolver is configured: let the download resolve
                return None
            addresses = await maybe_deferred_to_future(resolver.lookup(hostname))  # may raise GuardedLookupError
            address = addresses[0]
        request.meta["download_slot"] = f"ip:{address}"
        return None


class RedirectChainMiddleware:
    """Follows HTTP redirects of a visit hop by hop (max ICPWATCH_MAX_REDIRECTS, default 10)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.guard = make_guard(crawler.settings)
        self.max_redirects = crawler.settings.getint("ICPWATCH_MAX_REDIRECTS", 10)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedirectChainMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response,
                         spider: Spider | None = None) -> Request | Response:
        visit: Visit | None = request.meta.get(META_KEY)
        if visit is None or response.status not in REDIRECT_CODES or b"Location" not in response.headers:
            return response
        location = response.headers[b"Location"].decode("utf-8", "surrogateescape")
        target = next_hop(visit, url=response.url, status=response.status, location=location,
                          kind="http", ip=_ip(response), guard=self.guard,
                          max_redirects=self.max_redirects)  # raises RedirectStopped
        headers = request.headers.copy()
        headers.pop(b"Host", None)
        meta = {k: v for k, v in request.meta.items()
                if k not in ("download_slot", "retry_times", "download_latency", "_slot_proxy")}
        return request.replace(url=target, headers=headers, meta=meta, dont_filter=True)


def _ip(response: Response) -> str | None:
    addr = getattr(response, "ip_address", None)
    return str(addr) if addr is not None else None


class ResumeMiddleware:
    """Drops start requests for visits already stored for this run (resume without refetch).

    Needs ICPWATCH_DB and the spider's ``run_id``; without them it does nothing.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.db_url = crawler.settings.get("ICPWATCH_DB")
        if not self.db_url:
            raise NotConfigured("no ICPWATCH_DB")
        self._done: set[str] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ResumeMiddleware:
        return cls(crawler)

    def _keys(self, spider: Spider | None) -> set[str]:
        if self._done is None:
            spider = spider or self.crawler.spider
            run_id = getattr(spider, "run_id", None) or self.crawler.settings.get("ICPWATCH_RUN_ID")
            self._done = set()
            if run_id:
                from .store import open_crawl_store

                store = open_crawl_store(self.db_url)
                try:
                    self._done = store.stored_keys(run_id)
                finally:
                    store.dispose()
            if self._done:
                logger.info("resuming run %s: %d visits already stored", run_id, len(self._done))
        return self._done

    def _keep(self, item: Any, done: set[str]) -> bool:
        if isinstance(item, Request):
            visit = item.meta.get(META_KEY)
            if isinstance(visit, Visit) and visit.key in done:
                self.crawler.signals.send_catch_log(icp_signals.visit_skipped, key=visit.key)
                return False
        return True

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        done = self._keys(None)
        async for item in start:
            if self._keep(item, done):
                yield item

    def process_start_requests(self, start_requests: Iterable[Any], spider: Spider) -> Iterable[Any]:
        done = self._keys(spider)
        for item in start_requests:
            if self._keep(item, done):
                yield item
