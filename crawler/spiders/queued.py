"""The ``homepage-queued`` spider: the homepage spider fed from a shared Redis queue.

Several crawler processes — on one machine or many — work through one sweep this way: the
coordinator (:mod:`crawler.workers`) pushes every target line once to a Redis list, and each
process pops batches from it (scrapy-redis's ``RedisMixin``: its connection settings
``REDIS_URL``/``REDIS_PARAMS``, its atomic batch pop) until the list is empty.  Every process
writes its observations to the same store under the same run id, and the ResumeMiddleware skips
visits any of them already stored, so a worker that dies loses at most its batch in flight, which a
resumed run fetches again.

A queue entry is ``{"line": N, "target": "<the line as given>"}``: the line number stays the
one of the user's file, and the target key is the same as in a single-process crawl.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import scrapy
from scrapy_redis.spiders import RedisMixin

from .. import signals as icp_signals
from ..targets import TargetError, parse_target_line
from .homepage import HomepageSpider, homepage_visits


def queue_key(run_id: str) -> str:
    """The Redis list holding the target lines of run ``run_id`` not yet taken by a worker."""
    return f"icpwatch:crawl:{run_id}:targets"


def queue_entry(line_number: int, line: str) -> str:
    """One queue entry: a target line and its line number in the user's list."""
    return json.dumps({"line": line_number, "target": line}, ensure_ascii=False)


class QueuedHomepageSpider(RedisMixin, HomepageSpider):
    """The homepage spider, its targets popped from ``queue_key(run_id)`` in batches."""

    name = "homepage-queued"

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> QueuedHomepageSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        if not spider.run_id:
            raise ValueError("a queued crawl needs a run id")
        spider.redis_key = queue_key(spider.run_id)
        spider.redis_batch_size = crawler.settings.getint("ICPWATCH_QUEUE_BATCH")
        spider.setup_redis(crawler)
        return spider

    def make_request_from_data(self, data: bytes) -> list[scrapy.Request]:
        """The requests of one queue entry (a domain gives its apex and www. visits)."""
        try:
            entry = json.loads(data)
            line_number, line = int(entry["line"]), str(entry["target"])
            targets = list(parse_target_line(line_number, line, cidr_cap=self.cidr_cap or 65536))
        except (ValueError, KeyError, TypeError, TargetError) as exc:
            # the coordinator checked every line before queueing it; an entry that is not one
            # of its own is reported, never silently dropped
            self.logger.error("queue %s: unusable entry %r: %s", self.redis_key, data[:200], exc)
            self.crawler.stats.inc_value("icpwatch/queue_errors")
            return []
        visits = list(homepage_visits(iter(targets)))
        self.crawler.signals.send_catch_log(icp_signals.visits_planned, total=len(visits))
        return [self.request_for(visit) for visit in visits]

    async def start(self) -> AsyncIterator[Any]:  # type: ignore[override]
        # Batches are popped while the downloader has room (not only when the spider is idle, as
        # RedisMixin would), so the crawl never drains to nothing between batches; the spider
        # closes once the list is empty and its last requests are done.
        from scrapy.utils.asyncio import sleep

        while True:
            batch = self.fetch_data(self.redis_key, self.redis_batch_size)
            if not batch:
                return
            for data in batch:
                for request in self.make_request_from_data(data):
                    while self.crawler.engine.needs_backout():
                        await sleep(0.05)
                    yield request

    def spider_idle(self) -> None:
        # the list was empty when start() ended: nothing more to wait for
        return None
