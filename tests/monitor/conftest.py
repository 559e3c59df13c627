"""Shared for the monitor's tests: a small registry imported from CSV (the real importer), and
observation documents shaped exactly as ``crawler.items`` writes them."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

PROVIDERS = [
    ["code", "name", "province", "parent_code", "licence_number"],
    ["P-CN", "北京甲云计算有限公司", "京", "", ""],
    ["P-CN2", "上海乙数据服务有限公司", "沪", "", ""],
    ["UNIT", "国内IP地址备案单位", "京", "", ""],
    ["REG", "北京域名注册服务有限公司", "京", "", ""],
]
IP_RANGES = [["cidr", "unit", "user", "province", "reported_on"],
             ["127.9.0.0/24", "UNIT", "P-CN", "京", "2023-01-01"],
             ["127.9.1.0/24", "UNIT", "P-CN2", "沪", "2023-01-01"]]
FILINGS = [
    ["website_number", "subject_name", "subject_type", "subject_province", "website_name", "domains", "ips",
     "providers", "status", "licence_number", "preapprovals"],
    ["京ICP备2021000001号-1", "北京好公司", "单位", "京", "好网", "good.cn", "127.9.0.10", "P-CN", "filed", "", ""],
    ["京ICP备2021000001号-2", "北京好公司", "单位", "京", "另一网", "other.cn", "127.9.0.11", "P-CN", "filed", "", ""],
    ["京ICP备2021000002号-1", "北京旧公司", "单位", "京", "旧网", "gone.cn", "", "P-CN", "cancelled", "", ""],
    ["京ICP备2021000004号-1", "北京许可公司", "单位", "京", "许可网", "lic.cn", "", "P-CN", "filed", "京ICP证030173号", ""],
    ["京ICP备2021000005号-1", "北京新闻公司", "单位", "京", "新闻网", "news.cn", "", "P-CN", "filed", "", "新闻"],
    ["京ICP备2021000006号-1", "北京黑公司", "单位", "京", "黑网", "dark.cn", "", "P-CN", "filed", "", ""],
    ["京ICP备2021000003号-1", "北京地址公司", "单位", "京", "地址站", "", "127.9.0.20", "P-CN", "filed", "", ""],
]
DOMAINS = [["domain", "registrar", "reported_on"]] + [[d, "REG", "2020-01-01"] for d in
           ("good.cn", "other.cn", "gone.cn", "lic.cn", "news.cn", "dark.cn", "nofile.cn", "bad.cn", "jump.cn")]
BLACKLIST = [["kind", "value", "reason"], ["domain", "bad.cn", "违法"], ["subject", "北京黑公司", "虚假"]]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


@pytest.fixture
def registry_db(tmp_path: Path) -> str:
    """An SQLite store holding the small registry above; returns its URL."""
    from registry.importer import import_file
    from registry.protection import Protector, load_key
    from registry.store import open_store

    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = open_store(url)
    protector = Protector(load_key())
    for kind, rows in (("providers", PROVIDERS), ("filings", FILINGS), ("ip-ranges", IP_RANGES),
                       ("domains", DOMAINS), ("blacklist", BLACKLIST)):
        import_file(store, kind, write_csv(tmp_path / f"{kind}.csv", rows), protector=protector)
    store.dispose()
    return url


def mark(number: str, kind: str = "website_filing", *, displayed: bool | None = True, source: str = "text",
         in_footer: bool | None = True, centred: bool | None = True, link_kind: str | None = "current") -> dict[str, Any]:
    return {"text": number, "number": number, "kind": kind, "province": number[0], "placeholder": False,
            "valid": True, "source": source, "in_footer": in_footer, "centred": centred,
            "hidden": displayed is False, "link_href": "https://beian.miit.gov.cn/" if link_kind else None,
            "link_kind": link_kind, "is_icp": kind != "telecom_licence", "reason": None, "evidence": {},
            "displayed": displayed}


def page(marks: list[dict[str, Any]] | None = None, *, kind: str = "site", contact: bool = True,
         text: str = "公司简介", title: str = "首页", links: list[dict[str, Any]] | None = None,
         lookalikes: list[str] | None = None) -> dict[str, Any]:
    marks = marks or []
    return {"kind": kind, "title": title, "marks": marks,
            "filing_links": links if links is not None else [
                {"href": "https://beian.miit.gov.cn/", "host": "beian.miit.gov.cn", "kind": "current",
                 "text": m["text"], "source": "text"} for m in marks if m.get("link_kind")],
            "contact": {"phone": ["010-12345678"], "email": ["service@example.cn"], "address": ["北京市东城区1号"]}
                       if contact else {"phone": [], "email": [], "address": []},
            "meta_refresh": None, "script_redirects": [], "public_security": [], "notes": [], "complete": True,
            "text": text, "lookalike_marks": lookalikes or []}


def observation(target: str, host: str | None = None, *, ip: str = "127.9.0.10", status: str = "ok",
                page_: dict[str, Any] | None = None, chain: list[dict[str, Any]] | None = None,
                final_url: str | None = None, addresses: list[str] | None = None,
                dns: dict[str, Any] | None = None, kind: str = "domain", probe: dict[str, Any] | None = None,
                line: int = 1) -> dict[str, Any]:
    host = host or target
    literal = host.replace(".", "").isdigit()
    url = f"http://{host}/"
    final = final_url or url
    resolved = dns if dns is not None else ({} if literal else {
        host: {"name": host, "status": "ok", "cname_chain": [], "addresses": addresses or [ip], "error": None}})
    return {"run_id": "r1", "target_key": f"{target}|{host}" + (f"|{probe}" if probe else ""), "target": target,
            "target_line": line, "kind": kind, "host": host, "url": url,
            "final_url": final if status == "ok" else None, "status": status,
            "error": None if status == "ok" else f"{status}!", "dns": resolved, "ip": ip if status == "ok" else None,
            "redirect_chain": chain or [], "http_status": 200 if status == "ok" else None,
            "headers": {}, "encoding": None, "page": (page_ if page_ is not None else page()) if status == "ok" else None,
            "owners": {}, "fetched_at": "2025-01-01T00:00:00.000+00:00", "elapsed": 0.1, "probe": probe,
            "body_size": 100, "warnings": []}
