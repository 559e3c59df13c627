"""A document, format-free: the template that words it, the values it fills in, its tables (the
XLSX sheets and CSV files) and its charts (PNG). ``reports.render`` writes it in each format."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from .gather import CHINA, FindingRow, Scope


@dataclass
class Table:
    key: str            # file-safe name, for sibling CSV files
    title: str          # the sheet's name and the table's caption
    frame: pd.DataFrame


@dataclass
class Document:
    kind: str           # notice | scorecard | rectification | stats — also the template's name
    title: str
    context: dict[str, Any]
    tables: list[Table] = field(default_factory=list)
    charts: dict[str, bytes] = field(default_factory=dict)

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)


def today_cn() -> date:
    return datetime.now(CHINA).date()


def cn_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(CHINA)
        return f"{value:%Y-%m-%d %H:%M}"
    return f"{value:%Y-%m-%d}"


def cn_long_date(value: date) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def scope_label(scope: Scope, sweep_started: datetime | None = None) -> str:
    if scope.sweep_id is not None:
        when = f"（{cn_long_date(sweep_started.astimezone(CHINA).date())}开始）" if sweep_started else ""
        return f"第{scope.sweep_id}号巡查{when}"
    assert scope.period is not None
    return scope.period.label


SITE_COLUMNS = {
    "id": "发现编号", "site": "网站域名/地址", "rule": "问题", "party": "责任单位代码", "party_name": "责任单位",
    "party_kind_text": "单位类型", "province": "省份", "ip": "服务地址", "owner": "地址归属", "ip_record": "IP地址备案",
    "redirect_chain": "跳转链", "observed_at": "发现时间", "article_text": "依据条款", "points": "记分",
    "action": "须采取的措施", "deadline": "完成期限", "deadline_source": "期限依据", "screenshot": "截图",
}


def finding_frame(rows: list[FindingRow], columns: dict[str, str] = SITE_COLUMNS) -> pd.DataFrame:
    """The findings as a table with Chinese headers, one row each (XLSX/CSV)."""
    records = []
    for r in rows:
        record = {
            "id": r.id, "site": r.site, "rule": r.rule, "party": r.party or "", "party_name": r.party_name,
            "party_kind_text": r.party_kind_text, "province": r.province or "", "ip": r.ip or "", "owner": r.owner,
            "ip_record": r.ip_record, "redirect_chain": "\n".join(r.redirect_chain) or "无跳转",
            "observed_at": cn_date(r.observed_at), "article_text": r.article_text, "points": r.points,
            "action": r.action, "deadline": r.deadline.label() if r.deadline else "",
            "deadline_source": r.deadline.source if r.deadline else "",
            "screenshot": r.screenshot or "无（未渲染）", "website_number": r.website_number or "",
            "code": r.code, "decided_by": r.decided_by or "", "decided_at": cn_date(r.decided_at),
        }
        records.append({label: record[key] for key, label in columns.items()})
    return pd.DataFrame.from_records(records, columns=list(columns.values()))
