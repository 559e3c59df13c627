"""Analysts' decisions on findings: verify (经核实发现, arts. 41–42) or dismiss, always with who and
why. Only a verified finding counts for anything (the ledger and the notices read ``status``).

A decision names findings by id, or every finding a sweep raised (``--sweep ID --all``; only those
still ``suspected``, so an earlier decision is never overwritten in bulk). Deciding a finding
again by id records the new decision (who, when, why) in place of the old one; asking for the
decision it already has changes nothing and is reported as unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from .models import Finding, Sighting, utcnow
from .orders import apply_decision
from .store import MonitorStore
from .scoring import score_findings

DECISIONS = {"verify": "verified", "dismiss": "dismissed"}


class DecisionError(ValueError):
    """A decision without who or why, or naming nothing."""


@dataclass
class DecisionResult:
    status: str
    changed: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "changed": self.changed, "unchanged": self.unchanged,
                "missing": self.missing}


def decide(engine: Engine, decision: str, *, ids: Sequence[int] = (), sweep_id: int | None = None,
           all_in_sweep: bool = False, by: str, reason: str) -> DecisionResult:
    """Record ``decision`` ("verify" or "dismiss") on findings by id or on a sweep's suspected ones."""
    if decision not in DECISIONS:
        raise DecisionError(f"unknown decision {decision!r}")
    if not (by or "").strip() or not (reason or "").strip():
        raise DecisionError("a decision needs --by NAME and --reason TEXT")
    if not ids and not (sweep_id is not None and all_in_sweep):
        raise DecisionError("name finding ids, or --sweep ID --all")
    status = DECISIONS[decision]
    result = DecisionResult(status)
    now = utcnow()
    with MonitorStore(engine).session() as s:
        rows: list[Finding] = []
        if ids:
            found = {f.id: f for f in s.scalars(select(Finding).where(Finding.id.in_(list(ids))))}
            result.missing = [i for i in ids if i not in found]
            rows += [found[i] for i in ids if i in found]
        if sweep_id is not None and all_in_sweep:
            rows += s.scalars(select(Finding).join(Sighting, Sighting.finding_id == Finding.id)
                              .where(Sighting.sweep_id == sweep_id, Finding.status == "suspected")
                              .order_by(Finding.id)).all()
        for f in dict.fromkeys(rows):
            if f.status == status:
                result.unchanged.append(f.id)
                continue
            f.status, f.decided_by, f.decided_at, f.reason = status, by.strip(), now, reason.strip()
            result.changed.append(f.id)
    score_findings(engine, result.changed)  # the ledger follows the committed decision
    apply_decision(engine, status, result.changed + result.unchanged)  # and the orders (monitor.orders)
    return result
