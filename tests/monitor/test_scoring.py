"""Analysts' decisions reach the scoring ledger: verified findings with points become entries
against the provider or the domain filing unit, once however often they are decided or replayed;
a dismissal after verification is compensated; unattributed findings stay unscored."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select, update

from icpwatch.dbkit import create_engine_for
from monitor.models import Finding, Sweep
from monitor.rules import Draft
from monitor.scoring import score_all, score_findings
from monitor.store import MonitorStore
from monitor.sweep import store_findings
from monitor.verify import decide
from registry.ledger import Ledger
from registry.ledger.standing import china_date
from registry.store import Store, open_store


@pytest.fixture
def engine(store_url: str):
    open_store(store_url).dispose()
    engine = create_engine_for(store_url)
    yield engine
    engine.dispose()


def _draft(code: str, domain: str | None, party: str | None = "P-CN", party_kind: str = "provider",
           ip: str | None = "127.9.0.9") -> Draft:
    return Draft(code=code, target=domain or ip or "", domain=domain, ip=ip, party=party, party_kind=party_kind,
                 evidence={"observation": {"observation": f"{domain}|{ip}"}})


def _sweep(store: MonitorStore) -> int:
    with store.session() as s:
        row = Sweep(status="finished", scope={}, scope_key="targets:x", options={})
        s.add(row)
        s.flush()
        return row.id


@pytest.fixture
def found(engine):
    store = MonitorStore(engine)
    sweep = _sweep(store)
    drafts = [
        _draft("UNFILED_SITE", "nofile.cn"),                                         # provider, 5
        _draft("NUMBER_MISMATCH", "good.cn"),                                        # provider, 2
        _draft("UNFILED_REDIRECT", "jump.cn", party="REG", party_kind="registrar"),  # domain unit, 5
        _draft("CONTACT_MISSING", "good.cn", party=None, party_kind="host"),         # 0 points
        _draft("UNFILED_SITE", "abroad.cn", party=None, party_kind="analyst", ip="127.9.9.9"),  # unattributed
    ]
    rows = store_findings(store, sweep, drafts)
    return sweep, [f.id for f, _ in rows], {f.id: f.fingerprint for f, _ in rows}


def _ledger(engine) -> Ledger:
    return Ledger(Store(engine))


def test_verifying_a_sweep_scores_what_carries_points(engine, found) -> None:
    sweep, ids, fingerprints = found
    decide(engine, "verify", sweep_id=sweep, all_in_sweep=True, by="analyst-wang", reason="checked")
    ledger = _ledger(engine)
    entries = {e.finding_ref: e for e in ledger.entries()}
    unfiled, mismatch, redirect = (entries[f"finding:{fingerprints[i]}"] for i in ids[:3])
    assert (unfiled.object_kind, unfiled.object_code, unfiled.points, unfiled.article) == ("provider", "P-CN", 5, "41")
    assert (mismatch.points, mismatch.article, mismatch.code) == (2, "42", "NUMBER_MISMATCH")
    assert (redirect.object_kind, redirect.object_code, redirect.article) == ("domain_unit", "REG", "44 (41)")
    assert unfiled.recorded_by == "analyst-wang" and unfiled.as_dict()["detail"]["domain"] == "nofile.cn"
    assert len(entries) == 3  # no 0-point finding, no unattributed one
    standings = {s.code: s.points for s in ledger.standings(unfiled.year)}
    assert standings == {"P-CN": 7, "REG": 5} and unfiled.year == china_date(datetime.now(timezone.utc)).year
    # The unattributed finding is reported, not scored.
    result = score_findings(engine, ids)
    assert result.unscored == [ids[4]] and result.no_points == [ids[3]]
    assert sorted(result.unchanged) == sorted(ids[:3]) and result.recorded == []
    assert ledger.verify().ok


def test_repeated_decisions_and_replays_add_nothing(engine, found) -> None:
    _, ids, _ = found
    for _ in range(3):
        decide(engine, "verify", ids=ids[:1], by="a", reason="again")
    assert score_all(engine).recorded == []
    assert [e.kind for e in _ledger(engine).entries()] == ["finding"]


def test_dismissal_after_verification_is_compensated_and_reverification_reinstated(engine, found) -> None:
    _, ids, fingerprints = found
    decide(engine, "verify", ids=[ids[0]], by="analyst-wang", reason="checked")
    decide(engine, "dismiss", ids=[ids[0]], by="analyst-li", reason="the site is abroad")
    ledger = _ledger(engine)
    finding, correction = ledger.entries()
    assert (correction.kind, correction.points, correction.corrects_id) == ("correction", -5, finding.id)
    assert correction.recorded_by == "analyst-li" and "the site is abroad" in (correction.reason or "")
    decide(engine, "verify", ids=[ids[0]], by="analyst-zhao", reason="it is served from 127.9.0.9")
    assert [e.kind for e in ledger.entries()] == ["finding", "correction", "reinstatement"]
    assert sum(e.points for e in ledger.entries()) == 5
    assert score_all(engine).recorded == [] and ledger.verify().ok


def test_a_dismissed_finding_that_never_counted_changes_nothing(engine, found) -> None:
    _, ids, _ = found
    decide(engine, "dismiss", ids=ids, by="analyst-li", reason="noise")
    assert _ledger(engine).entries() == []


def test_the_cycle_is_the_year_the_finding_was_first_seen_in_china(engine, found) -> None:
    _, ids, _ = found
    with MonitorStore(engine).session() as s:
        s.execute(update(Finding).where(Finding.id == ids[0])
                  .values(first_seen_at=datetime(2025, 12, 31, 16, 30, tzinfo=timezone.utc)))
    decide(engine, "verify", ids=[ids[0]], by="a", reason="r")
    entry, = _ledger(engine).entries()
    assert (entry.year, entry.occurred_on.isoformat()) == (2026, "2026-01-01")
    with MonitorStore(engine).session() as s:
        assert s.scalar(select(Finding.status).where(Finding.id == ids[0])) == "verified"
