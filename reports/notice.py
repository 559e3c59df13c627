"""未备案网站通报 — the notice of unfiled sites.

For a sweep or a period, all responsible parties or one provider (its notice holds only its own
sites) or one province. Each site: its domain or address, the serving address and who owns it,
the IP filing record, the redirect chain, the screenshot when the page was rendered, when it was
observed, the article, the points, what must be done and by when. A covering summary by province
and by responsible party, and charts of both.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from . import charts
from .deadlines import attach_deadlines
from .document import (
    Document,
    Table,
    cn_long_date,
    finding_frame,
    scope_label,
    today_cn,
)
from .gather import FindingRow, Scope, load_findings, parties, sweeps_in
from .wording import UNFILED_CODES, authority, province_name

CENTRE = "互联网站备案管理中心"


def summary_rows(rows: list[FindingRow]) -> list[dict[str, Any]]:
    """One line per (province, responsible party): sites, findings, points, the earliest deadline."""
    groups: dict[tuple[str, str], list[FindingRow]] = defaultdict(list)
    for r in rows:
        groups[(r.province or "", r.party or "")].append(r)
    out = []
    for (province, party), items in sorted(groups.items()):
        deadlines = [r.deadline.due for r in items if r.deadline]
        out.append({"province": province_name(province) if province else "未知省份", "party": party or "未能确定",
                    "party_name": items[0].party_name, "party_kind": items[0].party_kind_text,
                    "sites": len({r.site for r in items}), "findings": len(items),
                    "points": sum(r.points for r in items),
                    "earliest_deadline": f"{min(deadlines):%Y-%m-%d}" if deadlines else ""})
    return out


SUMMARY_COLUMNS = {"province": "省份", "party": "责任单位代码", "party_name": "责任单位", "party_kind": "单位类型",
                   "sites": "网站数", "findings": "发现数", "points": "记分", "earliest_deadline": "最早完成期限"}


def build_notice(engine: Engine, scope: Scope, *, issuer: str | None = None, reference: str | None = None) -> Document:
    rows = load_findings(engine, scope, codes=UNFILED_CODES)
    attach_deadlines(engine, rows)
    sweeps = sweeps_in(engine, scope)
    party_by_code = parties(engine)
    addressee_party = party_by_code.get(scope.provider or "")
    province = scope.province or (addressee_party.province if addressee_party else None)
    if issuer is None:
        issuer = authority(province) if province else CENTRE
    if addressee_party is not None:
        addressee = addressee_party.name
    elif scope.province:
        addressee = f"{province_name(scope.province)}各接入提供者、域名备案单位"
    else:
        addressee = "各接入提供者、域名备案单位"
    summary = summary_rows(rows)
    issued = today_cn()
    by_province = Counter()
    by_party = Counter()
    for r in rows:
        by_province[province_name(r.province) if r.province else "未知省份"] += 1
        by_party[r.party_name] += 1
    label = scope_label(scope, sweeps[0].started_at if scope.sweep_id is not None and sweeps else None)
    context = {
        "title": "未备案网站通报", "issuer": issuer, "addressee": addressee, "issued_on": cn_long_date(issued),
        "reference": reference or "", "scope_label": label, "scope": scope.to_dict(),
        "provider": addressee_party.name if addressee_party else None,
        "province": province_name(scope.province) if scope.province else None,
        "rows": rows, "summary": summary,
        "totals": {"sites": len({r.site for r in rows}), "findings": len(rows), "points": sum(r.points for r in rows),
                   "parties": len({r.party for r in rows}), "stop_access": sum(1 for r in rows if r.action == "停止接入"),
                   "estimated": sum(1 for r in rows if r.deadline and r.deadline.estimated)},
        "sweeps": [s.id for s in sweeps],
    }
    document = Document("notice", "未备案网站通报", context)
    document.tables = [
        Table("sites", "未备案网站清单", finding_frame(rows)),
        Table("summary", "汇总", pd.DataFrame.from_records(summary, columns=list(SUMMARY_COLUMNS))
              .rename(columns=SUMMARY_COLUMNS)),
    ]
    if rows:
        document.charts["by_province"] = charts.bar(dict(by_province), title="未备案网站（发现数）按省份", xlabel="发现数")
        document.charts["by_party"] = charts.bar(dict(by_party), title="未备案网站（发现数）按责任单位", xlabel="发现数")
    return document
