"""Findings across sweeps: one finding per violation with a sighting per sweep, analysts'
decisions (verify / dismiss with who and why, by id or a whole sweep), and the diff of two
sweeps of one scope."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from icpwatch.dbkit import create_engine_for
from monitor.diff import DiffError, diff
from monitor.models import Finding, Sighting, Sweep
from monitor.rules import Draft
from monitor.store import MonitorStore
from monitor.sweep import store_findings
from monitor.verify import DecisionError, decide


def _draft(code: str, domain: str | None, ip: str | None = None, party: str = "P") -> Draft:
    return Draft(code=code, target=domain or ip or "", domain=domain, ip=ip, party=party, party_kind="provider",
                 evidence={"observation": {"observation": f"{domain}|{domain}"}})


@pytest.fixture
def engine(tmp_path: Path):
    from registry.store import open_store

    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    open_store(url).dispose()
    engine = create_engine_for(url)
    yield engine
    engine.dispose()


def _sweep(store: MonitorStore, key: str = "targets:x") -> int:
    with store.session() as s:
        row = Sweep(status="finished", scope={}, scope_key=key, options={})
        s.add(row)
        s.flush()
        return row.id


def test_same_violation_twice_is_one_finding_with_two_sightings(engine) -> None:
    store = MonitorStore(engine)
    a, b = _sweep(store), _sweep(store)
    first = store_findings(store, a, [_draft("UNFILED_SITE", "x.cn", "127.0.0.9"), _draft("CONTACT_MISSING", "y.cn")])
    second = store_findings(store, b, [_draft("UNFILED_SITE", "x.cn", "127.0.0.9")])
    assert [new for _, new in first] == [True, True] and [new for _, new in second] == [False]
    assert first[0][0].id == second[0][0].id
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Finding)) == 2
        f = s.get(Finding, first[0][0].id)
        assert (f.first_sweep_id, f.last_sweep_id, f.article, f.points) == (a, b, "12(2), 41", 5)
        assert s.scalar(select(func.count()).select_from(Sighting).where(Sighting.finding_id == f.id)) == 2


def test_verify_and_dismiss_record_who_and_why(engine) -> None:
    store = MonitorStore(engine)
    a = _sweep(store)
    stored = store_findings(store, a, [_draft("UNFILED_SITE", "x.cn", "127.0.0.9"), _draft("CONTACT_MISSING", "y.cn"),
                                       _draft("LINK_MISSING", "z.cn")])
    ids = [f.id for f, _ in stored]
    r = decide(engine, "verify", ids=[ids[0], 999], by="analyst-wang", reason="checked by hand")
    assert r.changed == [ids[0]] and r.missing == [999]
    r = decide(engine, "verify", ids=[ids[0]], by="analyst-wang", reason="again")
    assert r.unchanged == [ids[0]] and not r.changed
    r = decide(engine, "dismiss", sweep_id=a, all_in_sweep=True, by="analyst-li", reason="template site")
    assert r.changed == ids[1:]                     # the verified one is left alone
    with store.session() as s:
        f0, f1 = s.get(Finding, ids[0]), s.get(Finding, ids[1])
        assert (f0.status, f0.decided_by, f0.reason) == ("verified", "analyst-wang", "checked by hand")
        assert (f1.status, f1.decided_by, f1.reason) == ("dismissed", "analyst-li", "template site")
        assert f1.decided_at is not None
    with pytest.raises(DecisionError):
        decide(engine, "verify", ids=ids, by="", reason="x")
    with pytest.raises(DecisionError):
        decide(engine, "verify", by="a", reason="b")


def test_a_decision_survives_the_next_sweep(engine) -> None:
    store = MonitorStore(engine)
    a, b = _sweep(store), _sweep(store)
    (f, _), = store_findings(store, a, [_draft("UNFILED_SITE", "x.cn", "127.0.0.9")])
    decide(engine, "verify", ids=[f.id], by="w", reason="r")
    store_findings(store, b, [_draft("UNFILED_SITE", "x.cn", "127.0.0.9")])
    with store.session() as s:
        assert s.get(Finding, f.id).status == "verified"


def test_diff_new_persisting_resolved(engine) -> None:
    store = MonitorStore(engine)
    a, b = _sweep(store), _sweep(store)
    store_findings(store, a, [_draft("UNFILED_SITE", "x.cn", "127.0.0.9"), _draft("CONTACT_MISSING", "y.cn")])
    store_findings(store, b, [_draft("UNFILED_SITE", "x.cn", "127.0.0.9"), _draft("LINK_MISSING", "z.cn")])
    doc = diff(engine, a, b)
    assert [f["domain"] for f in doc["new"]] == ["z.cn"]
    assert [f["domain"] for f in doc["persisting"]] == ["x.cn"]
    assert [f["domain"] for f in doc["resolved"]] == ["y.cn"]
    assert doc["counts"] == {"new": 1, "persisting": 1, "resolved": 1, "sites_changed": 0}
    other = _sweep(store, "targets:other")
    with pytest.raises(DiffError):
        diff(engine, a, other)


def test_diff_reports_sites_whose_dns_provider_or_number_changed(engine) -> None:
    from crawler.store import CrawlStore
    from tests.monitor.conftest import mark, observation, page

    crawl = CrawlStore(engine)
    crawl.upgrade()
    for run, ip, number in (("r1", "127.9.0.10", "京ICP备2021000001号-1"), ("r2", "127.9.1.10", "京ICP备2021000001号-2")):
        crawl.create_run({}, run_id=run)
        o = observation("good.cn", ip=ip, page_=page([mark(number)]))
        o["run_id"] = run
        crawl.add_observations([o])
    store = MonitorStore(engine)
    a, b = _sweep(store), _sweep(store)
    with store.session() as s:
        s.get(Sweep, a).crawl_run_id, s.get(Sweep, b).crawl_run_id = "r1", "r2"
    changed = diff(engine, a, b)["sites_changed"]
    assert len(changed) == 1 and changed[0]["target"] == "good.cn"
    assert changed[0]["dns"] == {"before": ["127.9.0.10"], "after": ["127.9.1.10"]}
    assert changed[0]["number"]["after"] == ["京ICP备2021000001号-2"]
