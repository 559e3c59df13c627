"""Pipelines and extensions: observations reach the store (SQLite and PostgreSQL) in batches; a
crawl resumed with its run id fetches nothing already stored; running twice stores nothing twice;
the progress numbers; redirect bookkeeping and failure classification alone."""

from __future__ import annotations

import pytest

from crawler.observe import RedirectStopped, Visit, classify, next_hop
from crawler.progress import Progress
from tests.crawler.conftest import crawl, world_targets


def _plain_sites(world, n: int) -> list[str]:
    return [s.host for s in world.sites if s.dns == "ok" and not s.hostile and s.redirect is None
            and s.domains][:n]


@pytest.mark.slow
def test_store_pipeline_resume_and_double_run(served_world, store_url: str, tmp_path) -> None:
    world, info = served_world
    targets = _plain_sites(world, 8)
    out = tmp_path / "feed.jsonl"
    # an "interrupted" first run: only half of the targets were stored
    first = crawl(targets[:4], db_url=store_url, output=out, info=info,
                  settings={"ICPWATCH_BATCH_SIZE": 3, "ICPWATCH_BATCH_SECONDS": 0.2})
    stored_first = {o["target_key"] for o in first.observations}
    # resume with the whole list: only the rest is fetched
    second = crawl(targets, db_url=store_url, output=out, info=info, run_id=first.run_id)
    assert second.run_id == first.run_id
    fetched_again = {o["target_key"] for o in second.observations}
    assert fetched_again and not (fetched_again & stored_first)
    assert "already stored" in second.stderr
    # the same run again: nothing fetched, nothing stored twice
    third = crawl(targets, db_url=store_url, output=out, info=info, run_id=first.run_id)
    assert third.observations == []
    from crawler.store import open_crawl_store

    store = open_crawl_store(store_url)
    try:
        keys = store.stored_keys(first.run_id)
        assert keys == stored_first | fetched_again
        assert store.count(first.run_id) == len(keys)
        assert store.get_run(first.run_id)["state"] == "finished"
    finally:
        store.dispose()
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(keys)  # the JSON Lines feed got each observation once


def test_progress_counts_rate_errors_and_time_left() -> None:
    now = [100.0]
    p = Progress(clock=lambda: now[0])
    p.planned(10)
    p.skipped = 2
    for status in ("ok", "ok", "timeout", "dns_error"):
        p.observed(status)
    now[0] += 2.0
    assert p.rate == 2.0 and p.remaining == 4 and p.eta == 2.0
    assert p.errors() == {"dns_error": 1, "timeout": 1}
    assert "4/8 visits" in p.line() and "timeout 1" in p.line()


def test_next_hop_records_loops_limits_and_refusals() -> None:
    v = Visit(key="k", target="a.cn", line=1, kind="domain", host="a.cn", url="http://a.cn/")
    assert next_hop(v, url="http://a.cn/", status=301, location="/x", kind="http", ip="1.2.3.4") == "http://a.cn/x"
    with pytest.raises(RedirectStopped) as loop:
        next_hop(v, url="http://a.cn/x", status=302, location="http://a.cn/", kind="http", ip=None)
    assert loop.value.status == "redirect_loop" and len(v.chain) == 2
    v2 = Visit(key="k", target="b.cn", line=1, kind="domain", host="b.cn", url="http://b.cn/")
    for i in range(10):
        next_hop(v2, url=f"http://b.cn/{i}", status=302, location=f"/{i + 1}", kind="http", ip=None)
    with pytest.raises(RedirectStopped) as many:
        next_hop(v2, url="http://b.cn/10", status=302, location="/11", kind="http", ip=None)
    assert many.value.status == "too_many_redirects"
    for location in ("file:///etc/passwd", "http://localhost/", "http://2130706433/", "http://127.1/",
                     "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "gopher://x/"):
        v3 = Visit(key="k", target="c.cn", line=1, kind="domain", host="c.cn", url="http://c.cn/")
        with pytest.raises(RedirectStopped) as refused:
            next_hop(v3, url="http://c.cn/", status=302, location=location, kind="http", ip=None)
        assert refused.value.status == "refused", location


def test_classify_failures() -> None:
    from scrapy.exceptions import DownloadCancelledError, DownloadTimeoutError, IgnoreRequest
    from twisted.internet.error import ConnectionRefusedError
    from twisted.python.failure import Failure
    from twisted.web._newclient import ResponseNeverReceived

    assert classify(DownloadTimeoutError("took longer")).status == "timeout"
    assert classify(DownloadCancelledError("larger than download max size")).status == "too_large"
    assert classify(IgnoreRequest("exceeded DOWNLOAD_MAXSIZE (5 B) during decompression")).status == "too_large"
    refused = classify(ConnectionRefusedError())
    assert refused.status == "connection_error" and refused.before_response
    from OpenSSL import SSL

    tls = classify(ResponseNeverReceived([Failure(SSL.Error([("SSL routines", "", "certificate verify failed")]))]))
    assert tls.status == "tls_error"
