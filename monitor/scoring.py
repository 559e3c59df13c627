"""Verified findings → the scoring ledger (arts. 41, 42, 44).

A finding counts once it is verified: provider findings against that provider, registrar findings
against the domain filing unit (art. 44 applies art. 41). A finding that carries no points never
enters the ledger; one whose responsible party is unknown (attributed by an analyst, or no party)
is reported as unscored until the registry can attribute it. Dismissing a verified finding
withdraws its points by a compensating entry; verifying it again reinstates them. Every call is
idempotent, so replaying decisions (``score_all``) adds nothing that is already there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from registry.ledger import FindingScore, Ledger
from registry.store import Store

from .models import Finding
from .rules import RULES
from .store import MonitorStore

#: whose ledger a finding's points go to (arts. 34, 44)
OBJECT_OF_PARTY = {"provider": "provider", "registrar": "domain_unit"}
#: the article that scores it: art. 41 (unfiled site served), art. 42 (inaccurate filing)
SCORING_ARTICLE = {5: "41", 2: "42"}


@dataclass
class ScoringResult:
    recorded: list[int] = field(default_factory=list)     # finding ids that got an entry
    withdrawn: list[int] = field(default_factory=list)    # finding ids whose entry was compensated
    unchanged: list[int] = field(default_factory=list)    # already as the ledger has them
    unscored: list[int] = field(default_factory=list)     # points, but no party the ledger can score
    no_points: list[int] = field(default_factory=list)   # rules that carry no points

    def to_dict(self) -> dict[str, Any]:
        return {"recorded": self.recorded, "withdrawn": self.withdrawn, "unchanged": self.unchanged,
                "unscored": self.unscored, "no_points": self.no_points}


def finding_ref(finding: Finding) -> str:
    return f"finding:{finding.fingerprint}"


def article_for(finding: Finding, object_kind: str) -> str:
    base = SCORING_ARTICLE.get(finding.points, RULES[finding.code].article if finding.code in RULES else "41")
    return f"44 ({base})" if object_kind != "provider" else base


def _score(finding: Finding, object_kind: str) -> FindingScore:
    return FindingScore(
        finding_ref=finding_ref(finding), object_kind=object_kind, object_code=finding.party or "",
        points=finding.points, article=article_for(finding, object_kind), code=finding.code,
        observed_at=finding.first_seen_at, recorded_by=finding.decided_by or "monitor",
        detail={"finding_id": finding.id, "rule_article": finding.article, "domain": finding.domain,
                "ip": finding.ip, "website_number": finding.website_number, "verified_by": finding.decided_by,
                "verified_at": finding.decided_at})


def score_findings(engine: Engine, finding_ids: Iterable[int]) -> ScoringResult:
    """Bring the ledger in line with the current decision on each of ``finding_ids``."""
    ids = list(dict.fromkeys(finding_ids))
    result = ScoringResult()
    if not ids:
        return result
    with MonitorStore(engine, migrate=False).session() as session:
        findings = list(session.scalars(select(Finding).where(Finding.id.in_(ids)).order_by(Finding.id)))
    store = Store(engine)
    store.upgrade()  # a no-op when the ledger's tables are there
    ledger = Ledger(store)
    to_record: list[tuple[Finding, FindingScore]] = []
    for finding in findings:
        if finding.points <= 0:
            result.no_points.append(finding.id)
            continue
        object_kind = OBJECT_OF_PARTY.get(finding.party_kind)
        if object_kind is None or not finding.party:
            result.unscored.append(finding.id)
            continue
        if finding.status == "verified":
            to_record.append((finding, _score(finding, object_kind)))
            continue
        entry = ledger.withdraw_finding(finding_ref=finding_ref(finding), recorded_by=finding.decided_by or "monitor",
                                        reason=f"finding {finding.id} {finding.status}: {finding.reason or ''}".strip())
        (result.withdrawn if entry is not None else result.unchanged).append(finding.id)
    if to_record:
        entries = ledger.record_findings([score for _, score in to_record])
        for (finding, _), entry in zip(to_record, entries):
            (result.recorded if entry is not None else result.unchanged).append(finding.id)
    return result


def score_all(engine: Engine) -> ScoringResult:
    """Replay every decided finding into the ledger (after a failure, or to check idempotence)."""
    with MonitorStore(engine, migrate=False).session() as session:
        ids = list(session.scalars(select(Finding.id).where(Finding.status.in_(("verified", "dismissed")),
                                                            Finding.points > 0).order_by(Finding.id)))
    return score_findings(engine, ids)
