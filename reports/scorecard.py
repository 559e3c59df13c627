"""接入提供者记分情况 — the provider scorecard, read from the scoring ledger (arts. 39–44, 55).

For each assessment object in scope (one provider with ``--provider``, else every provider — or
every provider of ``--province``): the cycle's points, each entry (date, what, article, points,
the site behind a finding), the thresholds crossed and the sanction each brought (art. 43), the
points by month against the thresholds, the filing interface's state and the open stop-access
orders. The cycle is the calendar year of the sweep, or of the period's end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from monitor.models import Finding

from . import charts
from .document import CHINA, Document, Table, cn_long_date, today_cn
from .gather import Scope, mask_deep, parties, sweeps_in
from .notice import CENTRE
from .wording import RULE_NAMES, SANCTIONS, article_text, authority, province_name

ENTRY_KINDS = {"finding": "核实发现", "penalty": "行政处罚", "correction": "更正", "reinstatement": "恢复",
               "threshold": "达到记分阈值", "training": "培训合格"}


def cycle_year(engine: Engine, scope: Scope) -> int:
    if scope.period is not None:
        return scope.period.end.year
    sweep = sweeps_in(engine, scope)[0]
    return sweep.started_at.astimezone(CHINA).year if sweep.started_at.tzinfo else sweep.started_at.year


def finding_sites(engine: Engine, refs: Iterable[str]) -> dict[str, dict[str, Any]]:
    """finding_ref → {id, site, code} for the monitor findings the ledger entries point at."""
    prints = sorted({r.split(":", 1)[1] for r in refs if r and r.startswith("finding:")})
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as connection:
        for i in range(0, len(prints), 900):
            query = select(Finding.id, Finding.fingerprint, Finding.domain, Finding.ip, Finding.code) \
                .where(Finding.fingerprint.in_(prints[i:i + 900]))
            for fid, fp, domain, ip, code in connection.execute(query):
                out[f"finding:{fp}"] = {"id": fid, "site": domain or ip or "", "code": code}
    return out


def open_orders(engine: Engine, provider: str) -> list[dict[str, Any]]:
    """The provider's open stop-access orders and correction requests (``registry.workflows.orders``)."""
    from registry.store import Store
    from registry.workflows.orders import Orders

    return [{"id": o.id, "kind": "责令停止接入" if o.kind == "stop_access" else "更正备案信息", "target": o.target,
             "opened_at": o.opened_at, "due": o.due, "estimated": o.estimated}
            for o in Orders(Store(engine)).open_orders(provider)]


@dataclass
class Card:
    code: str
    name: str
    kind: str
    province: str
    year: int
    points: int
    interface: str
    thresholds: list[dict[str, Any]]
    entries: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    monthly: dict[int, int]
    chart: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def entry_rows(entries: Iterable[Any], sites: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for e in entries:
        finding = sites.get(e.finding_ref or "", {})
        rows.append({"id": e.id, "date": e.occurred_on, "kind": ENTRY_KINDS.get(e.kind, e.kind),
                     "rule": RULE_NAMES.get(e.code or "", e.code or ""), "article": article_text(e.article or ""),
                     "points": e.points, "finding": finding.get("id"), "site": finding.get("site", ""),
                     "reason": e.reason or "", "recorded_by": e.recorded_by})
    return mask_deep(rows)


def standings_in_scope(engine: Engine, scope: Scope, year: int) -> list[Any]:
    from registry.ledger import Ledger
    from registry.store import Store

    ledger = Ledger(Store(engine))
    party_by_code = parties(engine)
    if scope.provider:
        if scope.provider not in party_by_code:
            from .gather import ReportError

            raise ReportError(f"--provider {scope.provider!r}: no provider with that code in the registry")
        found = ledger.standings(year, object_code=scope.provider)
    else:
        found = ledger.standings(year)  # providers, and IP and domain filing units alike (art. 44)
    if scope.province:
        found = [s for s in found if party_by_code.get(s.code) and party_by_code[s.code].province == scope.province]
    return sorted(found, key=lambda s: (-s.points, s.code))


def build_scorecard(engine: Engine, scope: Scope, *, issuer: str | None = None) -> Document:
    from registry.ledger import Ledger
    from registry.store import Store

    year = cycle_year(engine, scope)
    ledger = Ledger(Store(engine))
    party_by_code = parties(engine)
    standings = standings_in_scope(engine, scope, year)
    sites = finding_sites(engine, (e.finding_ref for s in standings for e in s.entries))
    cards: list[Card] = []
    all_entries: list[dict[str, Any]] = []
    for s in standings:
        party = party_by_code.get(s.code)
        monthly = ledger.monthly_points(year, s.code)
        entries = entry_rows(s.entries, sites)
        card = Card(code=s.code, name=party.name if party else (s.name or s.code), kind=s.kind,
                    province=province_name(party.province) if party else "", year=year, points=s.points,
                    interface="正常" if s.interface == "open" else "已暂停",
                    thresholds=[{"threshold": t.threshold, "reached_on": t.reached_on,
                                 "sanction": SANCTIONS.get(t.threshold, t.sanction)} for t in s.thresholds],
                    entries=entries, orders=open_orders(engine, s.code) if s.kind == "provider" else [],
                    monthly=monthly)
        card.extra["chart_png"] = charts.monthly(monthly, title=f"{card.name} {year}年记分趋势")
        cards.append(card)
        all_entries += [{"code": s.code, "name": card.name, **e} for e in entries]
    province = scope.province or (party_by_code[scope.provider].province if scope.provider in party_by_code else None)
    document = Document("scorecard", "接入提供者记分情况", {})
    for card in cards:
        document.charts[f"trend_{card.code}"] = card.extra.pop("chart_png")
        card.chart = f"trend_{card.code}"
    document.context = {
        "title": "接入提供者记分情况", "issuer": issuer or (authority(province) if province else CENTRE),
        "addressee": cards[0].name if scope.provider and cards else "", "issued_on": cn_long_date(today_cn()),
        "reference": "", "scope_label": f"{year}年度考核周期", "year": year, "scope": scope.to_dict(), "cards": cards,
        "totals": {"objects": len(cards), "points": sum(c.points for c in cards),
                   "entries": sum(len(c.entries) for c in cards)},
    }
    document.tables = [
        Table("summary", "记分汇总", pd.DataFrame(
            [{"代码": c.code, "名称": c.name, "省份": c.province, "记分": c.points,
              "已达阈值": "、".join(f"{t['threshold']}分（{t['reached_on']}）" for t in c.thresholds) or "无",
              "报备接口": c.interface, "未完成的停止接入/更正单": len(c.orders)} for c in cards],
            columns=["代码", "名称", "省份", "记分", "已达阈值", "报备接口", "未完成的停止接入/更正单"])),
        Table("entries", "记分明细", pd.DataFrame(
            [{"代码": e["code"], "名称": e["name"], "条目": e["id"], "日期": e["date"], "类别": e["kind"],
              "问题": e["rule"], "依据条款": e["article"], "记分": e["points"], "发现编号": e["finding"],
              "网站": e["site"], "说明": e["reason"]} for e in all_entries],
            columns=["代码", "名称", "条目", "日期", "类别", "问题", "依据条款", "记分", "发现编号", "网站", "说明"])),
        Table("monthly", "按月记分", pd.DataFrame(
            [{"代码": c.code, "名称": c.name, **{f"{m}月": c.monthly.get(m, 0) for m in range(1, 13)}} for c in cards],
            columns=["代码", "名称", *[f"{m}月" for m in range(1, 13)]])),
    ]
    return document


def first_reached(standing: Any, threshold: int) -> Any:
    return next((t for t in standing.thresholds if t.threshold == threshold), None)

