"""The crawl store on SQLite and PostgreSQL: its own migrations beside the registry's, runs,
idempotent batched inserts, resume keys."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from crawler.store import VERSION_TABLE, CrawlStoreError, open_crawl_store


def _obs(run_id: str, key: str, status: str = "ok") -> dict:
    return {"run_id": run_id, "target_key": key, "status": status, "final_url": f"http://{key}/",
            "ip": "127.0.0.1", "fetched_at": "2025-01-02T03:04:05.000+00:00", "page": {"title": "标题"}}


def test_migrations_share_the_database_with_the_registry(store_url: str) -> None:
    from registry.store import open_store

    registry = open_store(store_url)
    before = registry.revision()
    store = open_crawl_store(store_url)
    try:
        tables = set(inspect(store.engine).get_table_names())
        assert {"crawl_runs", "observations", VERSION_TABLE} <= tables
        assert store.revision() == "c0001"
        assert before is not None and registry.revision() == before  # the registry's history untouched
        store.upgrade()  # idempotent
    finally:
        store.dispose()
        registry.dispose()


def test_runs_and_idempotent_inserts(store_url: str) -> None:
    store = open_crawl_store(store_url)
    try:
        run = store.create_run({"targets": 3})
        assert store.get_run(run)["state"] == "running"
        assert store.add_observations([_obs(run, "a"), _obs(run, "b", "timeout")]) == 2
        assert store.add_observations([_obs(run, "a"), _obs(run, "c", "dns_error")]) == 1
        assert store.count(run) == 3 and store.stored_keys(run) == {"a", "b", "c"}
        assert store.status_counts(run) == {"ok": 1, "timeout": 1, "dns_error": 1}
        other = store.create_run({})
        assert store.add_observations([_obs(other, "a")]) == 1  # the key is unique per run only
        data = list(store.observations(run))
        assert data[0]["page"]["title"] == "标题" and data[0]["target_key"] == "a"
        store.finish_run(run, "interrupted")
        assert store.get_run(run)["state"] == "interrupted"
        store.resume_run(run)
        assert store.get_run(run)["state"] == "running" and store.get_run(run)["finished_at"] is None
        with pytest.raises(CrawlStoreError):
            store.resume_run("no-such-run")
    finally:
        store.dispose()


def test_bad_url_is_a_clear_error() -> None:
    with pytest.raises(CrawlStoreError, match="not a database URL"):
        open_crawl_store("no url at all")
