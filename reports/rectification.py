"""整改通知书 — the rectification notice of art. 43(1).

The first time in a cycle a provider's points reach 40, the communications administration of the
province where the provider is (接入提供者所在地通信管理局) sends it a rectification notice and
interviews its responsible person; suspending new access resources is considered at the same time.
The notice is addressed to the provider, dated, cites arts. 39, 41–43, states the total and the day
it was reached, lists the ledger entries (and the findings behind them) that brought it there,
and says what must be done by when: stop access to the unfiled sites, correct the inaccurate
filings, and report the rectification in writing. The rules set no period for that report; the
default (:data:`REPORT_WORKING_DAYS`) is a setting.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Engine

from .document import Document, Table, cn_long_date, today_cn
from .gather import ReportError, Scope, parties
from .scorecard import (
    cycle_year,
    entry_rows,
    finding_sites,
    first_reached,
    open_orders,
    standings_in_scope,
)
from .wording import SANCTIONS, authority, province_abbreviation, province_name

THRESHOLD = 40
#: working days the provider has to report its rectification in writing (no figure in the rules;
#: ten working days is the period the rules give the authority for a comparable act, annex 1)
REPORT_WORKING_DAYS = 10


def build_rectification(engine: Engine, scope: Scope, *, issuer: str | None = None,
                        reference: str | None = None, report_days: int = REPORT_WORKING_DAYS) -> Document:
    from registry.store import Store
    from registry.workdays import WorkCalendar, add_working_days

    calendar = WorkCalendar.from_store(Store(engine))  # the official schedules operators loaded
    year = cycle_year(engine, scope)
    party_by_code = parties(engine)
    standings = [s for s in standings_in_scope(engine, scope, year) if first_reached(s, THRESHOLD)]
    if not standings:
        who = f"provider {scope.provider}" if scope.provider else "no provider in scope"
        raise ReportError(f"{who} has not reached {THRESHOLD} points in {year}: a rectification notice "
                          f"(art. 43(1)) is issued only when the cycle's total first reaches {THRESHOLD}")
    issued = today_cn()
    sites = finding_sites(engine, (e.finding_ref for s in standings for e in s.entries))
    notices: list[dict[str, Any]] = []
    for s in standings:
        event = first_reached(s, THRESHOLD)
        party = party_by_code.get(s.code)
        province = party.province if party else None
        trigger = event.triggered_by or event.entry_id
        behind = [e for e in s.entries if e.id <= trigger and e.points]
        rows = entry_rows(behind, sites)
        due = add_working_days(issued, report_days, calendar)
        notices.append({
            "code": s.code, "name": party.name if party else (s.name or s.code),
            "province": province_name(province) if province else "",
            "issuer": issuer or authority(province),
            "reference": reference or f"{province_abbreviation(province)}通信管理局备案整改〔{year}〕{event.entry_id}号",
            "points_at": sum(e["points"] for e in rows), "points_now": s.points,
            "reached_on": cn_long_date(event.reached_on), "sanction": SANCTIONS[THRESHOLD],
            "entries": rows, "orders": open_orders(engine, s.code),
            "report_due": cn_long_date(due.due) + ("（估算）" if due.estimated else ""), "report_days": report_days,
            "issued_on": cn_long_date(issued),
        })
    first = notices[0]
    document = Document("rectification", "整改通知书", {
        "title": "整改通知书", "issuer": first["issuer"], "addressee": first["name"], "issued_on": first["issued_on"],
        "reference": "", "scope_label": f"{year}年度考核周期", "year": year,
        "scope": scope.to_dict(), "notices": notices,
    })
    document.tables = [Table("entries", "记分依据", pd.DataFrame(
        [{"接入提供者": n["name"], "代码": n["code"], "文号": n["reference"], "条目": e["id"], "日期": e["date"],
          "问题": e["rule"], "依据条款": e["article"], "记分": e["points"], "发现编号": e["finding"], "网站": e["site"]}
         for n in notices for e in n["entries"]],
        columns=["接入提供者", "代码", "文号", "条目", "日期", "问题", "依据条款", "记分", "发现编号", "网站"]))]
    return document
