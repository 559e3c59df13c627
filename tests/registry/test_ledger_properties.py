"""Property tests of the ledger: random sequences of verifications, dismissals, penalties,
trainings and replays. Whatever the order, the totals equal the replayed sum of the entries and
a simple model of the rules, each threshold fires once per object and cycle (exactly those the
running total ever reached), the interface is suspended exactly when the model says, and the chain
always verifies."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from registry.ledger import DuplicateEntry, Ledger
from registry.ledger.standing import THRESHOLDS, china_date
from registry.store import open_store
from registry.importer import import_file
from registry.protection import Protector
from tests.registry.helpers import write_csv

OBJECTS = [("provider", "P1"), ("provider", "P2"), ("domain_unit", "REG")]
YEARS = (2025, 2026)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated store with the objects imported, copied for each example (migrating is slow)."""
    folder = tmp_path_factory.mktemp("ledger-template")
    path = folder / "store.sqlite3"
    store = open_store(f"sqlite:///{path}")
    protector = Protector(os.urandom(32))  # the module's store outlives the per-test key; no confidential columns here
    import_file(store, "providers", write_csv(folder / "p.csv", "code,name,province", "P1,甲,京", "P2,乙,沪"),
                protector=protector)
    import_file(store, "domains", write_csv(folder / "d.csv", "domain,registrar", "a.cn,REG"), protector=protector)
    store.dispose()
    return path


verify_finding = st.tuples(st.just("verify"), st.integers(0, 160), st.sampled_from(OBJECTS), st.sampled_from((5, 2)),
                           st.sampled_from(YEARS))
dismiss = st.tuples(st.just("dismiss"), st.integers(0, 160))
penalty = st.tuples(st.just("penalty"), st.sampled_from(OBJECTS), st.sampled_from(("criticism", "order_to_correct", "fine")),
                    st.integers(0, 6), st.sampled_from(YEARS))
training = st.tuples(st.just("training"), st.sampled_from(OBJECTS[:2]), st.integers(0, 3))
replay = st.tuples(st.just("replay"))
single = st.one_of(verify_finding, dismiss, penalty, training, replay).map(lambda step: [step])
# A sweep's worth of verifications against one object at once, so totals reach 40, 60 and 80.
burst = st.builds(lambda start, size, obj, year: [("verify", n, obj, 5, year) for n in range(start, start + size)],
                  st.integers(0, 150), st.integers(6, 17), st.sampled_from(OBJECTS), st.sampled_from(YEARS))
actions = st.lists(st.one_of(single, single, burst), min_size=1, max_size=20).map(lambda groups: [s for g in groups for s in g])


@dataclass
class Model:
    """The rules, restated as plainly as possible."""

    findings: dict[int, tuple[tuple[str, str], int, int]] = field(default_factory=dict)  # first verification wins
    counted: set[int] = field(default_factory=set)
    penalties: dict[tuple[tuple[str, str], int], tuple[int, int]] = field(default_factory=dict)
    totals: dict[tuple[str, str, int], int] = field(default_factory=lambda: defaultdict(int))
    fired: dict[tuple[str, str, int], set[int]] = field(default_factory=lambda: defaultdict(set))
    suspended: set[tuple[str, str]] = field(default_factory=set)

    def add(self, obj: tuple[str, str], year: int, points: int) -> None:
        key = (*obj, year)
        self.totals[key] += points
        for threshold in THRESHOLDS:
            if self.totals[key] >= threshold and threshold not in self.fired[key] and points > 0:
                self.fired[key].add(threshold)
                if threshold == 80:
                    self.suspended.add(obj)


PENALTY_POINTS = {"criticism": 5, "order_to_correct": 5, "fine": 10}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions)
def test_totals_thresholds_interface_and_chain_hold_for_any_sequence(template: Path, steps: list[tuple]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ledger-prop-"))
    try:
        shutil.copy(template, folder / "store.sqlite3")
        store = open_store(f"sqlite:///{folder / 'store.sqlite3'}")
        ledger, model = Ledger(store), Model()
        today = china_date(datetime.now(timezone.utc))

        def record(number: int) -> object:
            obj, points, year = model.findings[number]
            return ledger.record_finding(finding_ref=f"finding:{number}", object_kind=obj[0], object_code=obj[1],
                                         points=points, article="41", code="UNFILED_SITE",
                                         observed_at=datetime(year, 6, 1, tzinfo=timezone.utc), recorded_by="a")

        for step in steps:
            if step[0] == "verify":
                _, number, obj, points, year = step
                model.findings.setdefault(number, (obj, points, year))
                entry = record(number)
                assert (entry is None) == (number in model.counted)
                if number not in model.counted:
                    model.counted.add(number)
                    model.add(model.findings[number][0], model.findings[number][2], model.findings[number][1])
            elif step[0] == "dismiss":
                entry = ledger.withdraw_finding(finding_ref=f"finding:{step[1]}", reason="dismissed", recorded_by="b")
                assert (entry is None) == (step[1] not in model.counted)
                if step[1] in model.counted:
                    model.counted.discard(step[1])
                    obj, points, year = model.findings[step[1]]
                    model.add(obj, year, -points)
            elif step[0] == "penalty":
                _, obj, kind, reference, year = step
                arguments = dict(object_kind=obj[0], object_code=obj[1], penalty=kind, reference=f"R{reference}",
                                 decided_on=date(year, 3, 1), recorded_by="bureau", reason="r")
                if (obj, reference) in model.penalties:
                    with pytest.raises(DuplicateEntry):
                        ledger.record_penalty(**arguments)
                else:
                    ledger.record_penalty(**arguments)
                    model.penalties[(obj, reference)] = (PENALTY_POINTS[kind], year)
                    model.add(obj, year, PENALTY_POINTS[kind])
            elif step[0] == "training":
                _, obj, reference = step
                try:
                    ledger.record_training(provider_code=obj[1], passed_on=today, recorded_by="c",
                                           reference=f"T{reference}")
                    model.suspended.discard(obj)
                except DuplicateEntry:
                    pass  # the same training recorded twice: nothing new, the model unchanged
            else:  # a replay of every verification: adds nothing
                assert all(record(number) is None for number in sorted(model.counted))

        entries = ledger.entries()
        for obj in OBJECTS:
            for year in YEARS:
                standing = ledger.standings(year, object_code=obj[1], object_kind=obj[0])
                total = standing[0].points if standing else 0
                replayed = sum(e.points for e in entries if (e.object_kind, e.object_code, e.year) == (*obj, year))
                assert total == replayed == model.totals[(*obj, year)]
                fired = [t.threshold for t in standing[0].thresholds] if standing else []
                assert sorted(fired) == sorted(set(fired)) == sorted(model.fired[(*obj, year)])
            expected = "suspended" if obj in model.suspended else "open"
            assert ledger.interface_state(obj[1], object_kind=obj[0]) == expected
        event(f"highest threshold fired: {max((max(f) for f in model.fired.values() if f), default=0)}")
        refs = [e.finding_ref for e in entries]
        assert len(refs) == len(set(refs))
        report = ledger.verify()
        assert report.ok, report.problem
        assert report.checked == len(entries)
        store.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
