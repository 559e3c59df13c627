"""The spider machinery both spiders share: a visit per host (or probe), followed hop by hop,
ending in exactly one observation whatever happens.

A visit's life: the first request goes out (``HopGuardMiddleware`` checks it and resolves its host
through the guarded resolver); HTTP redirects are followed by ``RedirectChainMiddleware``; the
final response comes to :meth:`ObservingSpider.parse`, which decodes and extracts the page and
follows a meta refresh or script redirect (recorded as a hop) or yields the observation; any
failure comes to :meth:`ObservingSpider.failed`, which tries the next fallback URL when nothing
was received (http → https) or yields the observation with the failure's status.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from .. import signals as icp_signals
from ..items import Observation, empty_observation
from ..observe import META_KEY, RedirectStopped, Visit, canonical, classify, next_hop

HEADER_SUBSET = ("server", "content-type")


def read_targets(targets: Iterable[str] | str | None, targets_file: str | None) -> list[str]:
    """The target lines: a list (or newline-separated string) and/or a file, in that order."""
    lines: list[str] = []
    if isinstance(targets, str):
        lines.extend(targets.splitlines())
    elif targets is not None:
        lines.extend(targets)
    if targets_file:
        lines.extend(Path(targets_file).read_text(encoding="utf-8-sig").splitlines())
    return lines


class ObservingSpider(scrapy.Spider):
    """Base of the icpwatch spiders.  Subclasses implement :meth:`visits`."""

    name = "observing"

    def __init__(self, targets: Iterable[str] | str | None = None, targets_file: str | None = None,
                 run_id: str | None = None, cidr_cap: int | str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_lines = read_targets(targets, targets_file)
        self.run_id = run_id
        self.cidr_cap = int(cidr_cap) if cidr_cap not in (None, "") else None
        self.target_errors: list[dict[str, Any]] = []

    # -- configuration from settings -------------------------------------------------------------
    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> ObservingSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.run_id = spider.run_id or settings.get("ICPWATCH_RUN_ID")
        if spider.cidr_cap is None:
            spider.cidr_cap = settings.getint("ICPWATCH_CIDR_CAP", 65536)
        spider.max_redirects = settings.getint("ICPWATCH_MAX_REDIRECTS", 10)
        spider.max_header_bytes = settings.getint("ICPWATCH_MAX_HEADER_BYTES", 256 * 1024)
        from ..middlewares import make_guard

        spider.guard = make_guard(settings)
        return spider

    # -- targets ---------------------------------------------------------------------------------
    def parsed_targets(self) -> Iterator[Any]:
        """Targets from :func:`crawler.targets.parse_targets`; bad lines become ``target_errors``."""
        from ..targets import TargetError, parse_targets

        try:
            yield from parse_targets(self.target_lines, cidr_cap=self.cidr_cap or 65536)
        except TargetError as exc:  # a fatal error in the list itself
            self.logger.error("targets: %s", exc)

    def visits(self) -> Iterator[Visit]:  # pragma: no cover - abstract
        raise NotImplementedError

    def request_for(self, visit: Visit, url: str | None = None) -> scrapy.Request:
        headers = {"Host": visit.host_header} if visit.host_header is not None else None
        return scrapy.Request(url or visit.url, callback=self.parse, errback=self.failed,
                              headers=headers, dont_filter=True,
                              meta={META_KEY: visit, "handle_httpstatus_all": True})

    def start_requests(self) -> Iterator[scrapy.Request]:
        total = sum(1 for _ in self.visits())
        self.crawler.signals.send_catch_log(icp_signals.visits_planned, total=total)
        self.crawler.stats.set_value("icpwatch/visits_planned", total)
        for visit in self.visits():
            yield self.request_for(visit)

    async def start(self):  # type: ignore[no-untyped-def]  # Scrapy >= 2.13
        # Scrapy keeps pulling start requests into the scheduler even while the downloader is
        # full; a CIDR sweep has millions, so wait for room before handing over the next one
        # (Scrapy's documented "lazy start requests" pattern) and memory stays flat.
        from scrapy.utils.asyncio import sleep

        for request in self.start_requests():
            while self.crawler.engine.needs_backout():
                await sleep(0.05)
            yield request

    # -- responses ---------------------------------------------------------------------------------
    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        visit: Visit = response.meta[META_KEY]
        from ..encoding import decode_body
        from ..extract import extract

        header_bytes = sum(len(k) + sum(len(v) + 4 for v in vs) for k, vs in response.headers.items())
        if header_bytes > self.max_header_bytes:
            yield self.observation(visit, status="protocol_error", response=response,
                                   error=f"response headers of {header_bytes} bytes (over {self.max_header_bytes})")
            return
        ctype = response.headers.get(b"Content-Type")
        content_type = ctype.decode("latin-1") if ctype else None
        decoded = decode_body(response.body, content_type)
        page = extract(decoded.text, response.url, content_type=content_type)
        ip = _ip(response)
        try:
            follow = self._page_redirect(visit, response, page, ip)
        except RedirectStopped as exc:
            yield self.observation(visit, status=exc.status, error=str(exc), response=response,
                                   decoded=decoded, page=page)
            return
        if follow is not None:
            yield self.request_for_hop(visit, follow, response)
            return
        status = "ok" if 200 <= response.status < 400 else "http_error"
        error = None if status == "ok" else f"HTTP {response.status}"
        yield self.observation(visit, status=status, error=error, response=response,
                               decoded=decoded, page=page)

    def _page_redirect(self, visit: Visit, response: Response, page: Any, ip: str | None) -> str | None:
        """The URL a meta refresh or script redirect leads to (recorded as a hop), or None."""
        refresh = getattr(page, "meta_refresh", None) or None
        if refresh and refresh.get("url"):
            location = str(refresh["url"])
            if canonical(response.urljoin(location)) != canonical(response.url):
                return next_hop(visit, url=response.url, status=response.status, location=location,
                                kind="meta", ip=ip, delay=refresh.get("delay"), guard=self.guard,
                                max_redirects=self.max_redirects)
        for location in getattr(page, "script_redirects", None) or []:
            if location and canonical(response.urljoin(location)) != canonical(response.url):
                return next_hop(visit, url=response.url, status=response.status, location=location,
                                kind="script", ip=ip, guard=self.guard, max_redirects=self.max_redirects)
        return None

    def request_for_hop(self, visit: Visit, url: str, response: Response) -> scrapy.Request:
        return scrapy.Request(url, callback=self.parse, errback=self.failed, dont_filter=True,
                              meta={META_KEY: visit, "handle_httpstatus_all": True})

    def failed(self, failure: Failure) -> Iterator[Any]:
        request = getattr(failure, "request", None)
        visit: Visit | None = request.meta.get(META_KEY) if request is not None else None
        if visit is None:
            self.logger.error("failure without a visit: %s", failure)
            return
        c = classify(failure)
        if c.before_response and not visit.chain and visit.fallbacks:
            visit.attempts.append({"url": request.url, "status": c.status, "error": c.error})
            nxt = visit.fallbacks.pop(0)
            yield self.request_for(visit, nxt)
            return
        yield self.observation(visit, status=c.status, error=c.error, failed_url=request.url,
                               resolution=c.resolution)

    # -- the observation -----------------------------------------------------------------------------
    def observation(self, visit: Visit, *, status: str, error: str | None = None,
                    response: Response | None = None, decoded: Any = None, page: Any = None,
                    failed_url: str | None = None, resolution: Any = None) -> Observation:
        item = empty_observation(
            run_id=self.run_id, target_key=visit.key, target=visit.target, target_line=visit.line,
            kind=visit.kind, host=visit.host, url=visit.url, status=status, error=error,
            redirect_chain=[dict(h) for h in visit.chain], probe=visit.probe,
            fetched_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            elapsed=round(time.monotonic() - visit.started, 3))
        if visit.attempts:
            item["warnings"].extend(f"{a['url']}: {a['status']} ({a['error']})" for a in visit.attempts)
        item["dns"] = self._dns(visit, response, failed_url, resolution)
        if response is not None:
            item["final_url"] = response.url
            item["ip"] = _ip(response)
            item["http_status"] = response.status
            item["headers"] = {h: _header(response, h) for h in HEADER_SUBSET}
            item["body_size"] = len(response.body)
            if len(response.body) > self.settings.getint("DOWNLOAD_WARNSIZE", 1 << 20):
                item["warnings"].append(f"body of {len(response.body)} bytes is over the warning size")
            if "partial" in response.flags or "dataloss" in response.flags:
                item["warnings"].append("response body incomplete (" + ",".join(response.flags) + ")")
        else:
            item["final_url"] = failed_url
            if visit.chain:
                item["ip"] = visit.chain[-1].get("ip")
        if decoded is not None:
            item["encoding"] = {"encoding": decoded.encoding, "declared": decoded.declared,
                                "source": decoded.source, "lied": decoded.lied}
        if page is not None:
            item["page"] = page.to_dict()
        return item

    def _dns(self, visit: Visit, response: Response | None, failed_url: str | None,
             resolution: Any) -> dict[str, Any]:
        from ..dnsresolver import GuardedResolver

        resolver = GuardedResolver.installed()
        urls = [visit.url, *(h["url"] for h in visit.chain)]
        urls += [u for u in (response.url if response is not None else None, failed_url) if u]
        out: dict[str, Any] = {}
        from ..observe import literal_address
        from urllib.parse import urlsplit

        for url in urls:
            host = urlsplit(url).hostname
            if not host or host in out:
                continue
            try:
                if literal_address(host) is not None:
                    continue
            except Exception:  # noqa: BLE001 - an odd literal has no resolution
                continue
            found = resolver.resolution_for(host) if resolver is not None else None
            if found is not None:
                out[host] = found.to_dict() if hasattr(found, "to_dict") else dict(found)
        if resolution is not None:
            out[getattr(resolution, "name", None) or urlsplit(failed_url or visit.url).hostname or "?"] = (
                resolution.to_dict() if hasattr(resolution, "to_dict") else dict(resolution))
        return out


def _ip(response: Response) -> str | None:
    addr = getattr(response, "ip_address", None)
    return str(addr) if addr is not None else None


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value is not None else None
