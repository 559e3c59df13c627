"""Cycles, totals, the sanctions of art. 43 and the state of an object's filing interface.

Everything here is a pure function of the entries, so the ledger that appends, the verify that
re-checks and the report that shows all compute the same thing.

Rules, with their articles:

- The cycle is a calendar year (art. 39); an entry belongs to the year its event happened in
  (the finding's first observation, the penalty's decision), in Asia/Shanghai time.
- The first time in a cycle an object's total reaches 40, 60 or 80 raises that sanction of
  art. 43 once; a total that falls (a correction) and rises again raises nothing new.
- 80 suspends the object's filing interface (art. 43(3)). It reopens only when training is recorded
  as passed after the suspension (art. 55: providers at 60 or more are trained, and only after
  passing does the bureau reopen the interface). Neither a correction that lowers the total nor the
  start of a new cycle reopens it: art. 43 makes the suspension a sanction already imposed, and
  art. 55 names training as the one way back. Training recorded before the suspension does not
  count for it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")

OBJECT_KINDS = ("provider", "ip_unit", "domain_unit")  # arts. 34 and 44
THRESHOLDS = (40, 60, 80)
SUSPENDING_THRESHOLD = 80
SANCTIONS = {  # art. 43
    40: "记分首次达到40分（含）以上：由接入提供者所在地通信管理局发出整改通知书，并约谈接入提供者负责人；"
        "同时考虑基础电信企业暂停为其新增接入资源。",
    60: "记分首次达到60分（含）以上：对接入提供者进行行政处罚，向社会公告，强制进行培训，企业进入业务整改。",
    80: "记分首次达到80分（含）以上：责令整改，暂停企业系统的报备接口；通知基础电信企业续签下一年协议时认真审核，"
        "并将有关情况报通信管理部门，经批准后方可续签新的协议。",
}
PENALTY_POINTS = {"criticism": 5, "order_to_correct": 5, "fine": 10}  # art. 40

#: entry kinds that carry points (or adjust those that do)
SCORED_KINDS = ("finding", "penalty", "correction", "reinstatement")


def china_date(moment: datetime) -> date:
    """The calendar date in China of an instant (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(CHINA).date()


@dataclass(frozen=True)
class Entry:
    """One ledger entry as callers see it."""

    id: int
    seq: int
    year: int
    object_kind: str
    object_code: str
    points: int
    kind: str
    article: str
    code: str | None
    finding_ref: str
    occurred_on: date
    reason: str | None
    detail: str | None
    corrects_id: int | None
    recorded_by: str
    recorded_at: datetime
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: Any) -> Entry:
        values = {name: getattr(row, name) for name in cls.__dataclass_fields__}
        if values["recorded_at"].tzinfo is None:  # SQLite returns the stored UTC time naive
            values["recorded_at"] = values["recorded_at"].replace(tzinfo=timezone.utc)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        from .chain import utc_timestamp

        document = {name: getattr(self, name) for name in self.__dataclass_fields__}
        document["occurred_on"] = self.occurred_on.isoformat()
        document["recorded_at"] = utc_timestamp(self.recorded_at)
        document["detail"] = json.loads(self.detail) if self.detail else None
        return document


@dataclass(frozen=True)
class ThresholdEvent:
    threshold: int
    reached_on: date
    entry_id: int  # the threshold entry in the chain
    sanction: str
    triggered_by: int | None = None  # the entry whose points reached it

    def as_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "reached_on": self.reached_on.isoformat(),
                "entry_id": self.entry_id, "triggered_by": self.triggered_by, "sanction": self.sanction}


@dataclass
class Standing:
    """An assessment object in one cycle: its points, the sanctions raised, its interface."""

    code: str
    kind: str
    name: str
    year: int
    points: int = 0
    thresholds: list[ThresholdEvent] = field(default_factory=list)
    interface: str = "open"
    entries: list[Entry] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "kind": self.kind, "name": self.name, "year": self.year,
                "points": self.points, "thresholds": [t.as_dict() for t in self.thresholds],
                "interface": self.interface, "entries": [e.as_dict() for e in self.entries]}


@dataclass(frozen=True)
class Crossing:
    """A threshold the replay says was reached: by which entry, in which object's cycle."""

    object_kind: str
    object_code: str
    year: int
    threshold: int
    triggered_by: int  # entry id
    total: int


def new_crossings(total_before: int, total_after: int, fired: Iterable[int]) -> list[int]:
    """The thresholds an entry raises: reached now, never before in this cycle."""
    done = set(fired)
    return [t for t in THRESHOLDS if total_after >= t and t not in done and total_after > total_before]


def replay(entries: Iterable[Any]) -> Iterator[Crossing]:
    """Every threshold crossing the scored entries (in chain order) imply."""
    totals: dict[tuple[str, str, int], int] = defaultdict(int)
    fired: dict[tuple[str, str, int], set[int]] = defaultdict(set)
    for entry in entries:
        if entry.kind not in SCORED_KINDS:
            continue
        key = (entry.object_kind, entry.object_code, entry.year)
        before = totals[key]
        totals[key] = after = before + entry.points
        for threshold in new_crossings(before, after, fired[key]):
            fired[key].add(threshold)
            yield Crossing(*key, threshold, entry.id, after)


def interface_state(entries: Iterable[Any]) -> str:
    """``suspended`` while the object's latest 80-point suspension has no passed training after it.

    ``entries`` are the object's threshold, training and correction entries (any cycle), in chain
    order; a training that a correction voided does not count.
    """
    entries = list(entries)
    voided = {e.corrects_id for e in entries if e.kind == "correction" and e.corrects_id is not None}
    suspension = None
    for entry in entries:
        if entry.kind == "threshold" and entry.code == str(SUSPENDING_THRESHOLD):
            suspension = entry
        elif (entry.kind == "training" and suspension is not None and entry.id not in voided
              and entry.occurred_on >= suspension.occurred_on):
            suspension = None
    return "suspended" if suspension is not None else "open"
