"""Item pipelines: who owns the serving addresses, then the store (batched writes).

* :class:`OwnershipPipeline` fills ``owners`` with :class:`crawler.ownership.OwnershipResolver`
  answers, looked up once per address per crawl, in a thread (``deferToThread``) so the reactor
  never blocks on whois/RDAP.  Off unless ICPWATCH_OWNERSHIP is true; endpoints from
  ICPWATCH_OWNERSHIP_DNS / ICPWATCH_RDAP_URL.
* :class:`StorePipeline` writes observations to the crawl store in batches (ICPWATCH_BATCH_SIZE
  items or ICPWATCH_BATCH_SECONDS, whichever first), off the reactor thread, one batch at a
  time; a (run, target key) already stored is skipped, so a resumed or repeated run stores
  nothing twice.  Each written batch is announced with the ``batch_stored`` signal.

The JSON Lines output (``--output FILE.jsonl``) is Scrapy's feed export (``FEEDS``), not a
pipeline of ours.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, is_dataclass
from typing import Any

from itemadapter import ItemAdapter
from scrapy import Item, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from twisted.internet import defer, task
from twisted.internet.threads import deferToThread

from . import signals as icp_signals

logger = logging.getLogger(__name__)


def _hostport(value: str | None, default_port: int = 53) -> tuple[str, int] | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, int(port)
    return value, default_port


class OwnershipPipeline:
    """Adds ``owners`` {ip: AddressOwner as dict} for the final address and every hop's address."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("ICPWATCH_OWNERSHIP", True):
            raise NotConfigured("ownership lookups are off")
        from .ownership import OwnershipResolver

        self.resolver = OwnershipResolver(dns_server=_hostport(settings.get("ICPWATCH_OWNERSHIP_DNS")),
                                          rdap_base_url=settings.get("ICPWATCH_RDAP_URL") or None,
                                          timeout=settings.getfloat("ICPWATCH_OWNERSHIP_TIMEOUT", 5.0))
        self._known: dict[str, defer.Deferred[dict[str, Any]] | dict[str, Any]] = {}
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> OwnershipPipeline:
        return cls(crawler)

    def _owner(self, ip: str) -> defer.Deferred[dict[str, Any]]:
        known = self._known.get(ip)
        if isinstance(known, dict):
            return defer.succeed(known)
        if known is None:
            self.crawler.stats.inc_value("icpwatch/ownership_lookups")
            d = deferToThread(self.resolver.lookup, ip)
            d.addCallback(lambda owner: asdict(owner) if is_dataclass(owner) else dict(owner))
            d.addErrback(lambda f: {"ip": ip, "status": "unknown", "error": f.getErrorMessage()})

            def done(owner: dict[str, Any]) -> dict[str, Any]:
                self._known[ip] = owner
                return owner

            d.addCallback(done)
            self._known[ip] = d
            known = d
        # every waiter gets its own Deferred chained on the one lookup
        waiter: defer.Deferred[dict[str, Any]] = defer.Deferred()
        assert isinstance(known, defer.Deferred)

        def relay(owner: dict[str, Any]) -> dict[str, Any]:
            waiter.callback(owner)
            return owner

        known.addCallback(relay)
        return waiter

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        from scrapy.utils.defer import maybe_deferred_to_future

        adapter = ItemAdapter(item)
        ips: list[str] = []
        for ip in [adapter.get("ip"), *((h or {}).get("ip") for h in adapter.get("redirect_chain") or [])]:
            if ip and ip not in ips:
                ips.append(ip)
        owners = dict(adapter.get("owners") or {})
        for ip in ips:
            owners[ip] = await maybe_deferred_to_future(self._owner(ip))
        adapter["owners"] = owners
        return item


class StorePipeline:
    """Batched, idempotent writes of observations into the crawl store (ICPWATCH_DB)."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.db_url = settings.get("ICPWATCH_DB")
        if not self.db_url:
            raise NotConfigured("no ICPWATCH_DB")
        self.crawler = crawler
        self.batch_size = max(1, settings.getint("ICPWATCH_BATCH_SIZE", 500))
        self.batch_seconds = settings.getfloat("ICPWATCH_BATCH_SECONDS", 2.0)
        self.run_id: str | None = settings.get("ICPWATCH_RUN_ID")
        self.pending: list[dict[str, Any]] = []
        self.store: Any = None
        self._lock = defer.DeferredLock()
        self._loop: task.LoopingCall | None = None
        self.stored = 0
        self.duplicates = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    def open_spider(self, spider: Spider | None = None) -> None:
        from .store import open_crawl_store

        spider = spider or self.crawler.spider
        self.run_id = getattr(spider, "run_id", None) or self.run_id
        if not self.run_id:
            raise NotConfigured("no run id for the store")
        self.store = open_crawl_store(self.db_url)
        if self.store.get_run(self.run_id) is None:
            self.store.create_run({"spider": getattr(spider, "name", None)}, run_id=self.run_id)
        self._loop = task.LoopingCall(self._tick)
        self._loop.start(self.batch_seconds, now=False)

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        # an Observation's values are plain dicts and lists already: a shallow copy is the row
        # (ItemAdapter.asdict would walk and copy every nested value of every observation)
        row = dict(item) if isinstance(item, (dict, Item)) else ItemAdapter(item).asdict()
        row["run_id"] = row.get("run_id") or self.run_id
        self.pending.append(row)
        if len(self.pending) >= self.batch_size:
            from scrapy.utils.defer import maybe_deferred_to_future

            await maybe_deferred_to_future(self.flush())
        return item

    def _tick(self) -> None:
        if self.pending:
            self.flush()

    def flush(self) -> defer.Deferred[None]:
        """Write what is pending (in a thread, one batch at a time)."""
        batch, self.pending = self.pending, []
        if not batch:
            return defer.succeed(None)
        return self._lock.run(self._write, batch)

    def _write(self, batch: list[dict[str, Any]]) -> defer.Deferred[None]:
        d = deferToThread(self.store.add_observations, batch)

        def written(count: int) -> None:
            self.stored += count
            self.duplicates += len(batch) - count
            stats = self.crawler.stats
            stats.inc_value("icpwatch/stored", count)
            if len(batch) > count:
                stats.inc_value("icpwatch/already_stored", len(batch) - count)
            self.crawler.signals.send_catch_log(icp_signals.batch_stored, count=count, batch=len(batch))

        def failed(f: Any) -> None:
            logger.error("could not store %d observations: %s", len(batch), f.getErrorMessage())
            self.crawler.stats.inc_value("icpwatch/store_errors", len(batch))

        d.addCallbacks(written, failed)
        return d

    async def close_spider(self, spider: Spider | None = None) -> None:
        from scrapy.utils.defer import maybe_deferred_to_future

        if self._loop is not None and self._loop.running:
            self._loop.stop()
        await maybe_deferred_to_future(self.flush())
        await maybe_deferred_to_future(self._lock.acquire())
        self._lock.release()
        if self.store is not None:
            self.store.dispose()
