"""Progress of a crawl: visits done / total, rate, errors by kind, time left.

A Scrapy extension fed only by signals (``visits_planned``, ``visit_skipped``, ``item_scraped``,
``spider_closed``): on a terminal a rich live display on stderr, elsewhere (logs, CI) a plain
line every ICPWATCH_PROGRESS_INTERVAL seconds.  ICPWATCH_PROGRESS: auto | rich | log | off.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from twisted.internet import task

from . import signals as icp_signals

logger = logging.getLogger(__name__)


class Progress:
    """The numbers (no I/O): testable alone."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.total: int | None = None
        self.done = 0
        self.skipped = 0
        self.by_status: Counter[str] = Counter()

    def planned(self, total: int) -> None:
        self.total = (self.total or 0) + total

    def observed(self, status: str) -> None:
        self.done += 1
        self.by_status[status] += 1

    @property
    def elapsed(self) -> float:
        return max(self.clock() - self.started, 1e-9)

    @property
    def rate(self) -> float:
        return self.done / self.elapsed

    @property
    def remaining(self) -> int | None:
        return None if self.total is None else max(self.total - self.skipped - self.done, 0)

    @property
    def eta(self) -> float | None:
        left = self.remaining
        if left is None or self.rate <= 0:
            return None
        return left / self.rate

    def errors(self) -> dict[str, int]:
        return {k: v for k, v in sorted(self.by_status.items()) if k != "ok"}

    def line(self) -> str:
        total = "?" if self.total is None else str(self.total - self.skipped)
        eta = "?" if self.eta is None else _duration(self.eta)
        errors = ", ".join(f"{k} {v}" for k, v in self.errors().items()) or "none"
        skipped = f" ({self.skipped} already stored)" if self.skipped else ""
        return (f"{self.done}/{total} visits{skipped}, {self.rate:.1f}/s, "
                f"elapsed {_duration(self.elapsed)}, left {eta}; not ok: {errors}")

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "done": self.done, "skipped": self.skipped,
                "rate": round(self.rate, 2), "elapsed": round(self.elapsed, 2),
                "by_status": dict(self.by_status)}


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressExtension:
    """Shows :class:`Progress` as a rich live display or as log lines."""

    def __init__(self, crawler: Crawler) -> None:
        mode = (crawler.settings.get("ICPWATCH_PROGRESS") or "auto").lower()
        if mode == "off":
            raise NotConfigured
        if mode == "auto":
            mode = "rich" if sys.stderr.isatty() else "log"
        self.mode = mode
        self.interval = crawler.settings.getfloat("ICPWATCH_PROGRESS_INTERVAL", 10.0)
        self.crawler = crawler
        self.progress = Progress()
        self._live: Any = None
        self._loop: task.LoopingCall | None = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(self.planned, signal=icp_signals.visits_planned)
        crawler.signals.connect(self.skipped, signal=icp_signals.visit_skipped)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ProgressExtension:
        return cls(crawler)

    # -- signal handlers --------------------------------------------------------------------------
    def planned(self, total: int, **_: Any) -> None:
        self.progress.planned(total)

    def skipped(self, key: str, **_: Any) -> None:
        self.progress.skipped += 1

    def item_scraped(self, item: Any, **_: Any) -> None:
        status = item.get("status") if hasattr(item, "get") else None
        self.progress.observed(status or "?")
        self.crawler.stats.inc_value(f"icpwatch/status/{status}")

    def spider_opened(self, spider: Any = None) -> None:
        self.progress = Progress()
        if self.mode == "rich":
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render(), console=Console(stderr=True), refresh_per_second=4,
                              transient=False)
            self._live.start()
            self._loop = task.LoopingCall(self._refresh)
            self._loop.start(0.5, now=False)
        else:
            self._loop = task.LoopingCall(self._log)
            self._loop.start(self.interval, now=False)

    def spider_closed(self, spider: Any = None, reason: str = "") -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None
        logger.info("crawl %s: %s", reason or "closed", self.progress.line())
        self.crawler.stats.set_value("icpwatch/progress", self.progress.to_dict())

    # -- output ----------------------------------------------------------------------------------
    def _log(self) -> None:
        logger.info("progress: %s", self.progress.line())

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Any:
        from rich.table import Table

        p = self.progress
        table = Table(title="icpwatch crawl", show_header=False, expand=False)
        total = "?" if p.total is None else str(p.total - p.skipped)
        table.add_row("visits", f"{p.done} / {total}" + (f"  ({p.skipped} already stored)" if p.skipped else ""))
        table.add_row("rate", f"{p.rate:.1f}/s")
        table.add_row("elapsed", _duration(p.elapsed))
        table.add_row("time left", "?" if p.eta is None else _duration(p.eta))
        for status, count in p.errors().items():
            table.add_row(status, str(count))
        return table
