"""Run a crawl from Python: :func:`run_crawl` (used by ``icpwatch crawl`` and the monitor).

Targets are checked first (a bad line is a :class:`crawler.targets.TargetError` naming it, before
anything is fetched); domain, URL and address lines go to the ``homepage`` spider and CIDR lines
to the ``iprange`` spider, one after the other in one CrawlerProcess on the asyncio reactor.  Each
spider gets the whole list with the other spider's lines blanked, so line numbers stay those of
the input.  The reactor cannot be restarted: call this once per process (tests run it in a
subprocess).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .store import CrawlStoreError, open_crawl_store
from .targets import DEFAULT_CIDR_CAP, TargetError, parse_targets

logger = logging.getLogger(__name__)


def split_targets(lines: list[str], cidr_cap: int = DEFAULT_CIDR_CAP) -> tuple[list[str], list[str]]:
    """(homepage lines, iprange lines), each as long as ``lines`` with the other kind blanked.
    Raises TargetError (with the input's line number) for the first unusable line."""
    homepage: list[str] = []
    iprange: list[str] = []
    for number, line in enumerate(lines, start=1):
        try:
            first = next(parse_targets([line], cidr_cap=cidr_cap), None)
        except TargetError as exc:
            raise TargetError(number, exc.reason, exc.raw) from None
        if first is not None and first.kind == "cidr_member":
            homepage.append("")
            iprange.append(line)
        else:
            homepage.append(line)
            iprange.append("")
    return homepage, iprange


#: the component dicts that ``settings`` given to a crawl add to, rather than replace
COMPONENT_SETTINGS = frozenset({"DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "ITEM_PIPELINES", "EXTENSIONS",
                                "DOWNLOAD_HANDLERS"})


def crawl_settings(*, db_url: str, run_id: str, resolver: str | None = None, allow_private: bool = False,
                   output: str | Path | None = None, ca_file: str | Path | None = None,
                   cidr_cap: int = DEFAULT_CIDR_CAP, settings: dict[str, Any] | None = None) -> Any:
    """The Scrapy Settings of a crawl: crawler.settings, the options, then ``settings`` (whose
    component dicts, :data:`COMPONENT_SETTINGS`, are merged into the project's)."""
    from scrapy.settings import Settings

    s = Settings()
    s.setmodule("crawler.settings", priority="project")
    s.update({
        "ICPWATCH_DB": db_url,
        "ICPWATCH_RUN_ID": run_id,
        "ICPWATCH_RESOLVER": resolver,
        "ICPWATCH_ALLOW_PRIVATE": bool(allow_private),
        "ICPWATCH_CA_FILE": str(ca_file) if ca_file else None,
        "ICPWATCH_CIDR_CAP": int(cidr_cap),
    }, priority="cmdline")
    if output:
        s.set("FEEDS", {str(output): {"format": "jsonlines", "encoding": "utf-8", "overwrite": False,
                                      "store_empty": False}}, priority="cmdline")
    for name, value in (settings or {}).items():
        if name in COMPONENT_SETTINGS and isinstance(value, dict):
            # merged, not replaced: a caller adding one middleware must not drop the address
            # guard's (a component is turned off by giving it None)
            value = {**s.getdict(name), **value}
        s.set(name, value, priority="cmdline")
    return s


def run_crawl(targets: Iterable[str], *, db_url: str, resolver: str | None = None,
              allow_private: bool = False, output: str | Path | None = None, run_id: str | None = None,
              ca_file: str | Path | None = None, settings: dict[str, Any] | None = None,
              cidr_cap: int = DEFAULT_CIDR_CAP, workers: int = 1, redis_url: str | None = None) -> str:
    """Crawl ``targets`` (lines as in a targets file) and return the run id.

    ``run_id`` resumes that run (targets already stored for it are not fetched again; an unknown
    id starts a run of that name).  Observations go to the store at ``db_url`` and, with
    ``output``, are appended to that JSON Lines file.  The run's state ends "finished", or
    "interrupted" when the crawl was stopped (Ctrl-C) or closed for another reason.

    ``workers`` > 1 crawls the homepage targets in that many processes sharing a Redis queue at
    ``redis_url`` (:mod:`crawler.workers`); CIDR blocks are still probed by this process.
    """
    from scrapy.crawler import CrawlerProcess
    from twisted.internet import defer

    from .spiders.homepage import HomepageSpider
    from .spiders.iprange import IPRangeSpider
    from .tls import quiet_deprecation

    lines = [str(t).rstrip("\r\n") for t in targets]
    homepage_lines, iprange_lines = split_targets(lines, cidr_cap)
    options = {"targets": len(lines), "resolver": resolver, "allow_private": bool(allow_private),
               "output": str(output) if output else None, "ca_file": str(ca_file) if ca_file else None,
               "cidr_cap": cidr_cap}
    store = open_crawl_store(db_url)
    try:
        if run_id and store.get_run(run_id) is not None:
            store.resume_run(run_id)
        else:
            run_id = store.create_run(options, run_id=run_id)
    finally:
        store.dispose()
    assert run_id is not None
    quiet_deprecation()
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="scrapy")
    crawl_options = {"db_url": db_url, "resolver": resolver, "allow_private": allow_private, "ca_file": ca_file,
                     "cidr_cap": cidr_cap, "settings": settings}
    s = crawl_settings(run_id=run_id, output=output, **crawl_options)
    # Scrapy's own root log handler only when the caller has set up no logging of its own (the
    # icpwatch command has: a second handler would print every line twice).
    s.set("LOG_INSTALL_ROOT_HANDLER", s.getbool("ICPWATCH_LOG_HANDLER", not logging.getLogger().handlers))
    reasons: list[str] = []
    plan = [(HomepageSpider, homepage_lines), (IPRangeSpider, iprange_lines)]
    plan = [(cls, ls) for cls, ls in plan if any(x.strip() for x in ls)]
    if workers > 1 and plan and plan[0][0] is HomepageSpider:
        from .workers import DEFAULT_REDIS_URL, run_workers

        worker_reasons = run_workers(workers, run_id, homepage_lines, options=crawl_options,
                                     redis_url=redis_url or DEFAULT_REDIS_URL, output=output)
        # the homepage part as one reason: finished only when every worker finished
        reasons.append(next((r for r in worker_reasons if r != "finished"), "finished"))
        plan = plan[1:] if reasons[-1] == "finished" else []
    expected = len(reasons) + len(plan)
    process = CrawlerProcess(s) if plan else None

    @defer.inlineCallbacks
    def crawl_all():  # type: ignore[no-untyped-def]
        for spidercls, spider_lines in plan:
            crawler = process.create_crawler(spidercls)
            yield process.crawl(crawler, targets=spider_lines, run_id=run_id)
            reasons.append(str(crawler.stats.get_value("finish_reason") or "unknown"))
            if reasons[-1] != "finished":
                break

    if plan:
        process.crawl_all = crawl_all  # type: ignore[attr-defined]
        d = crawl_all()
        d.addBoth(lambda _: _stop(process))
        process.start(stop_after_crawl=False)
    state = "finished" if all(r == "finished" for r in reasons) and len(reasons) == expected else "interrupted"
    store = open_crawl_store(db_url, migrate=False)
    try:
        store.finish_run(run_id, state)
    finally:
        store.dispose()
    return run_id


def _stop(process: Any) -> None:
    from twisted.internet import reactor

    if reactor.running:  # type: ignore[attr-defined]
        reactor.callLater(0, reactor.stop)  # type: ignore[attr-defined]


__all__ = ["run_crawl", "crawl_settings", "split_targets", "CrawlStoreError"]
