"""What a document is about, read from what the monitor and the registry stored.

A :class:`Scope` is a sweep (``--sweep ID``) or a period (``--period``), optionally narrowed to
one provider (``--provider CODE``, the party a finding holds responsible) or one province
(``--province``, the province of that party, else of the IP filing record of the address). Only
**verified** findings (经核实, arts. 41–42) are gathered: a suspected finding counts for nothing.

Every row leaves this module masked (:func:`mask_deep`): the evidence of a page can hold phone
numbers and ID numbers, and no document may show one (DESIGN.md §4).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, func, select

from monitor.models import Finding, Sighting, Sweep
from registry.fields import FieldError
from registry.fields import province as province_short
from registry.models import Provider
from registry.protection import mask_text

from .wording import ACTIONS, PARTY_KINDS, RULE_NAMES, article_text

CHINA = timezone(timedelta(hours=8))


class ReportError(ValueError):
    """A document that cannot be made as asked: no such sweep, a malformed period, an unknown provider."""


# ---------------------------------------------------------------------------------------------
# scope
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def label(self) -> str:
        return f"{self.start:%Y年%m月%d日}至{self.end:%Y年%m月%d日}"

    def bounds(self) -> tuple[datetime, datetime]:
        """The period as UTC instants, days counted in China time."""
        return (datetime.combine(self.start, time(), CHINA).astimezone(timezone.utc),
                datetime.combine(self.end + timedelta(days=1), time(), CHINA).astimezone(timezone.utc))


_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.I)
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_YEAR = re.compile(r"^(\d{4})$")


def parse_period(text: str) -> Period:
    """``2026-01-01..2026-03-31`` (inclusive), ``2026-Q1``, ``2026-03`` or ``2026``."""
    value = (text or "").strip()
    try:
        if ".." in value:
            a, b = value.split("..", 1)
            period = Period(date.fromisoformat(a.strip()), date.fromisoformat(b.strip()))
        elif m := _QUARTER.match(value):
            year, q = int(m[1]), int(m[2])
            end = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1) - timedelta(days=1)
            period = Period(date(year, 3 * q - 2, 1), end)
        elif m := _MONTH.match(value):
            year, month = int(m[1]), int(m[2])
            end = date(year + (month == 12), 1 if month == 12 else month + 1, 1) - timedelta(days=1)
            period = Period(date(year, month, 1), end)
        elif m := _YEAR.match(value):
            period = Period(date(int(m[1]), 1, 1), date(int(m[1]), 12, 31))
        else:
            raise ValueError("unrecognised form")
    except ValueError as exc:
        raise ReportError(f"--period {text!r}: expected START..END (2026-01-01..2026-03-31), 2026-Q1, "
                          f"2026-03 or 2026 ({exc})") from None
    if period.end < period.start:
        raise ReportError(f"--period {text!r}: the end is before the start")
    return period


@dataclass(frozen=True)
class Scope:
    sweep_id: int | None = None
    period: Period | None = None
    provider: str | None = None
    province: str | None = None

    def __post_init__(self) -> None:
        if (self.sweep_id is None) == (self.period is None):
            raise ReportError("name exactly one of --sweep ID or --period")

    @classmethod
    def make(cls, sweep: int | None = None, period: str | None = None, provider: str | None = None,
             province: str | None = None) -> Scope:
        if province:
            try:
                province = province_short(province)
            except FieldError as exc:
                raise ReportError(f"--province: {exc}") from None
        return cls(sweep, parse_period(period) if period else None, provider or None, province)

    def to_dict(self) -> dict[str, Any]:
        return {"sweep": self.sweep_id, "period": [self.period.start, self.period.end] if self.period else None,
                "provider": self.provider, "province": self.province}


# ---------------------------------------------------------------------------------------------
# parties
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Party:
    code: str
    name: str
    province: str | None
    parent_code: str | None = None


def parties(engine: Engine) -> dict[str, Party]:
    """Every provider (and registrar or unit the registry lists among them), by code."""
    with engine.connect() as connection:
        rows = connection.execute(select(Provider.code, Provider.name, Provider.province, Provider.parent_code))
        return {code: Party(code, name, province, parent) for code, name, province, parent in rows}


# ---------------------------------------------------------------------------------------------
# findings
# ---------------------------------------------------------------------------------------------
@dataclass
class Deadline:
    """When the responsible party must have acted, and where the date comes from."""

    due: date
    estimated: bool
    source: str  # "order #12" or "computed"

    def label(self) -> str:
        return f"{self.due:%Y-%m-%d}" + ("（估算）" if self.estimated else "")


@dataclass
class FindingRow:
    """One verified finding as every document shows it (already masked)."""

    id: int
    fingerprint: str
    code: str
    rule: str
    article: str
    article_text: str
    points: int
    party_kind: str
    party_kind_text: str
    party: str | None
    party_name: str
    province: str | None
    site: str                 # the domain, or the address of a site reached by IP alone
    domain: str | None
    ip: str | None
    url: str | None
    final_url: str | None
    redirect_to: str | None
    redirect_chain: list[str]
    owner: str                # who owns the serving address, as far as anyone could tell
    ip_record: str            # the IP filing record covering it, and its unit
    website_number: str | None
    first_seen_at: datetime
    observed_at: datetime     # the last sighting within the scope
    sweeps: list[int]
    decided_by: str | None
    decided_at: datetime | None
    action: str
    screenshot: str | None
    evidence: dict[str, Any] = field(repr=False)
    deadline: Deadline | None = None

    @property
    def finding_ref(self) -> str:
        return f"finding:{self.fingerprint}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mask_deep(value: Any) -> Any:
    """Every string inside ``value`` through :func:`registry.protection.mask_text`."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: mask_deep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_deep(v) for v in value]
    return value


def find_key(value: Any, key: str) -> Any:
    """The first value under ``key`` anywhere in a JSON document (evidence shapes vary by rule)."""
    if isinstance(value, Mapping):
        if value.get(key):
            return value[key]
        for v in value.values():
            found = find_key(v, key)
            if found:
                return found
    elif isinstance(value, list):
        for v in value:
            found = find_key(v, key)
            if found:
                return found
    return None


def _address(evidence: Mapping[str, Any]) -> Mapping[str, Any]:
    if evidence.get("address"):
        return evidence["address"]
    resolves = evidence.get("resolves_to") or []
    return resolves[0] if resolves else {}


def owner_text(address: Mapping[str, Any]) -> str:
    owner = address.get("owner") or {}
    if owner.get("status") != "ok":
        return "未能查明"
    bits = [f"AS{owner['asn']}" if owner.get("asn") else "", owner.get("as_name") or "",
            f"（{owner['country']}）" if owner.get("country") else ""]
    return " ".join(b for b in bits if b).replace(" （", "（") or "未能查明"


def chain_text(chain: Iterable[Mapping[str, Any]]) -> list[str]:
    """Each hop as ``URL —301→ LOCATION`` (how it redirected, where to)."""
    out = []
    for hop in chain:
        how = hop.get("status") or hop.get("kind") or ""
        out.append(f"{hop.get('url') or hop.get('from') or ''} —{how}→ {hop.get('location') or hop.get('to') or ''}")
    return out


def screenshot_of(evidence: Mapping[str, Any]) -> str | None:
    shot = find_key(evidence, "screenshot")
    if isinstance(shot, Mapping):
        shot = shot.get("path")
    return str(shot) if shot else None


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def finding_row(f: Finding, seen: list[tuple[int, datetime]], party_by_code: Mapping[str, Party]) -> FindingRow:
    evidence = mask_deep(f.evidence or {})
    observation = evidence.get("observation") or {}
    address = _address(evidence)
    party = party_by_code.get(f.party or "")
    province = party.province if party else address.get("province")
    chain = observation.get("redirect_chain") or []
    if not chain and evidence.get("hop"):
        hop = evidence["hop"]
        chain = [{"url": hop.get("from"), "location": hop.get("to"), "kind": hop.get("kind"), "status": hop.get("status")}]
    record = address.get("ip_filing_record")
    unit = address.get("ip_filing_unit")
    seen_sorted = sorted(seen, key=lambda s: s[1])
    return FindingRow(
        id=f.id, fingerprint=f.fingerprint, code=f.code, rule=RULE_NAMES.get(f.code, f.code), article=f.article,
        article_text=article_text(f.article), points=f.points, party_kind=f.party_kind,
        party_kind_text=PARTY_KINDS.get(f.party_kind, f.party_kind), party=f.party,
        party_name=party.name if party else (f.party or "未能确定"), province=province,
        site=f.domain or f.ip or f.target or "", domain=f.domain, ip=f.ip or address.get("ip"),
        url=observation.get("url"), final_url=observation.get("final_url"), redirect_to=mask_deep(f.redirect_to),
        redirect_chain=chain_text(chain), owner=owner_text(address),
        ip_record=f"{record}（{unit}报备）" if record else "无IP地址备案记录覆盖",
        website_number=f.website_number, first_seen_at=_as_utc(f.first_seen_at),  # type: ignore[arg-type]
        observed_at=_as_utc(seen_sorted[-1][1] if seen_sorted else f.last_seen_at),  # type: ignore[arg-type]
        sweeps=sorted({s for s, _ in seen}), decided_by=mask_deep(f.decided_by), decided_at=_as_utc(f.decided_at),
        action=ACTIONS.get(f.code, "整改"), screenshot=screenshot_of(evidence), evidence=evidence)


def load_findings(engine: Engine, scope: Scope, *, codes: Iterable[str] | None = None) -> list[FindingRow]:
    """The verified findings seen within ``scope`` (by sighting), oldest first, masked."""
    from monitor.store import MonitorStore

    store = MonitorStore(engine)
    party_by_code = parties(engine)
    if scope.provider and scope.provider not in party_by_code:
        known = {f for (f,) in _distinct_parties(engine)}
        if scope.provider not in known:
            raise ReportError(f"--provider {scope.provider!r}: no provider with that code in the registry")
    sightings = select(Sighting.finding_id, Sighting.sweep_id, Sighting.seen_at)
    if scope.sweep_id is not None:
        sweeps_in(engine, scope)  # an unknown sweep is an error, not an empty notice
        sightings = sightings.where(Sighting.sweep_id == scope.sweep_id)
    else:
        assert scope.period is not None
        start, end = scope.period.bounds()
        sightings = sightings.where(Sighting.seen_at >= start, Sighting.seen_at < end)
    seen: dict[int, list[tuple[int, datetime]]] = {}
    with store.session() as s:
        for finding_id, sweep_id, seen_at in s.execute(sightings):
            seen.setdefault(finding_id, []).append((sweep_id, _as_utc(seen_at)))  # type: ignore[arg-type]
        query = select(Finding).where(Finding.status == "verified")
        if codes is not None:
            query = query.where(Finding.code.in_(list(codes)))
        if scope.provider:
            query = query.where(Finding.party == scope.provider)
        rows: list[FindingRow] = []
        ids = sorted(seen)
        for i in range(0, len(ids), 900):
            for f in s.scalars(query.where(Finding.id.in_(ids[i:i + 900]))):
                rows.append(finding_row(f, seen[f.id], party_by_code))
    if scope.province:
        rows = [r for r in rows if r.province == scope.province]
    rows.sort(key=lambda r: (r.province or "", r.party or "", r.code, r.site, r.id))
    return rows


def _distinct_parties(engine: Engine) -> list[tuple[str]]:
    with engine.connect() as connection:
        return list(connection.execute(select(Finding.party).where(Finding.party.is_not(None)).distinct()))


def sweeps_in(engine: Engine, scope: Scope) -> list[Sweep]:
    """The finished sweeps a scope covers: the one named, or those started within the period."""
    from monitor.store import MonitorStore

    with MonitorStore(engine).session() as s:
        query = select(Sweep).where(Sweep.status == "finished").order_by(Sweep.id)
        if scope.sweep_id is not None:
            query = select(Sweep).where(Sweep.id == scope.sweep_id)
        else:
            assert scope.period is not None
            start, end = scope.period.bounds()
            query = query.where(Sweep.started_at >= start, Sweep.started_at < end)
        out = list(s.scalars(query))
    if scope.sweep_id is not None and not out:
        raise ReportError(f"--sweep {scope.sweep_id}: no such sweep in this store")
    return out


def previous_sweep(engine: Engine, sweep: Sweep) -> Sweep | None:
    """The last finished sweep of the same scope before ``sweep`` (what "since the last sweep" means)."""
    from monitor.store import MonitorStore

    with MonitorStore(engine).session() as s:
        return s.scalars(select(Sweep).where(Sweep.scope_key == sweep.scope_key, Sweep.id < sweep.id,
                                             Sweep.status == "finished").order_by(Sweep.id.desc()).limit(1)).first()


def suspected_count(engine: Engine, scope: Scope) -> int:
    """Findings in scope still awaiting an analyst (they count for nothing until verified)."""
    from monitor.store import MonitorStore

    query = select(func.count(func.distinct(Finding.id))).join(Sighting, Sighting.finding_id == Finding.id) \
        .where(Finding.status == "suspected")
    if scope.sweep_id is not None:
        query = query.where(Sighting.sweep_id == scope.sweep_id)
    else:
        assert scope.period is not None
        start, end = scope.period.bounds()
        query = query.where(Sighting.seen_at >= start, Sighting.seen_at < end)
    if scope.provider:
        query = query.where(Finding.party == scope.provider)
    with MonitorStore(engine).session() as s:
        return int(s.scalar(query) or 0)
