"""Several crawler processes on one run: the homepage targets shared through Redis.

One Scrapy process is bound to one core; a provincial or national sweep wants every core of
the machine, or several machines.  :func:`run_workers` pushes the homepage target lines of a run to
a Redis list (:func:`crawler.spiders.queued.queue_key`) and starts ``count`` processes that each
crawl from it (:class:`crawler.spiders.queued.QueuedHomepageSpider`) into the same store under the
same run id.  More machines join a run with ``icpwatch crawl --join RUN`` (:func:`run_worker`),
pointed at the same store and Redis.

The JSON Lines feed (``--output``) is written by the coordinator from the store once the workers
are done: lines appended by several processes to one file could interleave.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import queue
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .spiders.queued import queue_entry, queue_key
from .targets import target_text

logger = logging.getLogger(__name__)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
PUSH_BATCH = 10_000
QUEUE_TTL = 30 * 24 * 3600  # seconds


class WorkerError(RuntimeError):
    """The queue could not be set up (Redis unreachable) or a worker process failed to run."""


def _redis(url: str) -> Any:
    import redis

    try:
        server = redis.Redis.from_url(url)
        server.ping()
    except (redis.RedisError, ValueError) as exc:
        raise WorkerError(f"Redis at {_without_password(url)} is not reachable: {exc}") from None
    return server


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def enqueue(redis_url: str, run_id: str, lines: list[str]) -> int:
    """Replace run ``run_id``'s queue with ``lines`` (numbered from 1) but blanks and comments;
    returns how many were queued.  Lines already crawled are skipped by the workers, not here."""
    server = _redis(redis_url)
    key = queue_key(run_id)
    entries = [queue_entry(number, line) for number, line in enumerate(lines, start=1) if target_text(line)]
    with server.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        for start in range(0, len(entries), PUSH_BATCH):
            pipe.rpush(key, *entries[start:start + PUSH_BATCH])
        pipe.expire(key, QUEUE_TTL)  # an interrupted run never resumed does not stay in Redis for ever
        pipe.execute()
    return len(entries)


def run_worker(run_id: str, *, settings: Any, redis_url: str) -> str:
    """Crawl from run ``run_id``'s queue in this process until it is empty; the finish reason.
    ``settings``: the run's Scrapy settings (:func:`crawler.runner.crawl_settings`)."""
    from scrapy.crawler import CrawlerProcess
    from twisted.internet import defer

    from .spiders.queued import QueuedHomepageSpider
    from .tls import quiet_deprecation

    _redis(redis_url)  # a clear error before the reactor starts
    quiet_deprecation()
    settings.set("REDIS_URL", redis_url, priority="cmdline")
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(QueuedHomepageSpider)
    reasons: list[str] = []

    @defer.inlineCallbacks
    def crawl():  # type: ignore[no-untyped-def]
        yield process.crawl(crawler, run_id=run_id)
        reasons.append(str(crawler.stats.get_value("finish_reason") or "unknown"))

    from .runner import _stop

    crawl().addBoth(lambda _: _stop(process))
    process.start(stop_after_crawl=False)
    return reasons[0] if reasons else "unknown"


def _worker_main(run_id: str, options: dict[str, Any], redis_url: str, results: Any, index: int) -> None:
    """Entry point of one worker process (spawned: a fresh interpreter and reactor)."""
    from .runner import crawl_settings

    try:
        reason = run_worker(run_id, settings=crawl_settings(run_id=run_id, **options), redis_url=redis_url)
    except BaseException as exc:  # noqa: BLE001 - reported to the coordinator, which decides
        results.put((index, f"failed: {exc}"))
        raise
    results.put((index, reason))


def run_workers(count: int, run_id: str, lines: list[str], *, options: dict[str, Any], redis_url: str,
                output: str | Path | None = None) -> list[str]:
    """Queue ``lines`` and crawl them with ``count`` worker processes; their finish reasons.
    ``options``: the keyword arguments of :func:`crawler.runner.crawl_settings` but ``run_id`` and
    ``output`` (the feed is written here, from the store)."""
    from .store import open_crawl_store

    if count < 1:
        raise ValueError("workers must be at least 1")
    queued = enqueue(redis_url, run_id, lines)
    logger.info("run %s: %d target lines queued for %d workers", run_id, queued, count)
    store_url = options["db_url"]
    after = 0
    if output:
        store = open_crawl_store(store_url, migrate=False)
        try:
            after = store.last_id()
        finally:
            store.dispose()
    overrides = dict(options.get("settings") or {})
    overrides.pop("ICPWATCH_LOG_HANDLER", None)  # a spawned worker has no logging set up: Scrapy's own
    if overrides.get("ICPWATCH_PROGRESS", "auto") in ("auto", "rich"):
        overrides["ICPWATCH_PROGRESS"] = "log"  # one live display per terminal, not one per worker
    options = {**options, "settings": overrides}
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=_worker_main, args=(run_id, options, redis_url, results, i),
                                 name=f"icpwatch-crawl-{i}") for i in range(count)]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        # the workers got the same Ctrl-C and stop cleanly; wait for them
        for process in processes:
            process.join()
    reasons = ["unknown"] * count
    for _ in range(count):
        try:
            index, reason = results.get(timeout=1.0)
        except queue.Empty:  # a worker that died before it could report
            break
        reasons[index] = reason
    for index, process in enumerate(processes):
        if process.exitcode and reasons[index] == "unknown":
            reasons[index] = f"exit code {process.exitcode}"
        if reasons[index] != "finished":
            # what it stored is kept; resuming the run fetches only what no worker stored
            logger.error("run %s: worker %d (pid %s) ended: %s", run_id, index, process.pid, reasons[index])
    if output:
        _write_feed(store_url, run_id, Path(output), after)
    return reasons


def _write_feed(store_url: str, run_id: str, output: Path, after: int) -> None:
    from .store import open_crawl_store

    store = open_crawl_store(store_url, migrate=False)
    try:
        with output.open("a", encoding="utf-8") as feed:
            for document in store.observations(run_id, after=after):
                feed.write(json.dumps(document, ensure_ascii=False) + "\n")
    finally:
        store.dispose()


__all__ = ["DEFAULT_REDIS_URL", "WorkerError", "enqueue", "run_worker", "run_workers"]
