"""巡查统计 — the sweep statistics.

Figures, all from **verified** findings (suspected ones are counted apart, as awaiting review):

- **Unfiled sites** by province and by responsible party (the codes of the notice of unfiled sites).
- **Filing-display compliance rate** (备案号展示合规率, art. 14(3)): of the *filed sites in
  service* a sweep judged, the share with no verified NUMBER_NOT_DISPLAYED, NUMBER_MISPLACED or
  LINK_MISSING finding; also each of the three duties apart.
- **Filing-information accuracy rate** (备案信息准确率, arts. 37 and 42): of the same sites, the
  share with no verified NUMBER_MISMATCH or ACCESS_NOT_RECORDED finding — the two findings that
  say the filing does not describe the site as it is served (art. 42's 备案信息不准确).

*Filed sites in service* are the swept sites whose homepage answered as a website (not parked, not
a redirect to another site, not unknown), whose domain a filing in force covers, and which are
served from China as the registry knows it (an IP filing record covers the serving address, or
the site raised a finding — findings are only raised for addresses in China). They are read from
each sweep's stored crawl and the registry as it is now. A site seen by several sweeps of a
period counts once, as its last sweep saw it.

**New and resolved**: against the previous sweep of the same scope (``monitor.diff``); for a
period, the last sweep of each scope in the period against the sweep before the period began.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from . import charts
from .document import Document, Table, cn_long_date, scope_label, today_cn
from .gather import (
    FindingRow,
    Scope,
    load_findings,
    parties,
    previous_sweep,
    suspected_count,
    sweeps_in,
)
from .notice import CENTRE
from .wording import (
    DISPLAY_CODES,
    INACCURATE_CODES,
    RULE_NAMES,
    UNFILED_CODES,
    authority,
    province_name,
)


def filed_sites_in_service(engine: Engine, sweeps: list[Any], finding_sites: set[str]) -> dict[str, str | None]:
    """host → the provider serving it, for each filed site in service the sweeps judged."""
    from crawler.store import CrawlStore
    from monitor.observations import fold
    from monitor.registryview import RegistryView

    registry = RegistryView.load(engine)
    crawl = CrawlStore(engine)
    out: dict[str, str | None] = {}
    for sweep in sweeps:
        if not sweep.crawl_run_id:
            continue
        folded = fold(crawl.observations(sweep.crawl_run_id))
        candidates = [s for s in folded.sites if s.category == "site" and s.domain and registry.valid(s.host)]
        registry.warm_addresses([s.ip for s in candidates if s.ip])
        for site in candidates:
            hit = registry.address(site.ip) if site.ip else None
            if (hit is not None and hit.cidr) or site.host in finding_sites:
                out[site.host] = hit.provider if hit is not None else None
    return out


def _rate(good: int, total: int) -> float | None:
    return round(100.0 * good / total, 1) if total else None


def changes(engine: Engine, sweeps: list[Any]) -> dict[str, Any]:
    """Verified findings new and resolved since the previous sweep of each scope."""
    from monitor.diff import diff

    by_scope: dict[str, list[Any]] = defaultdict(list)
    for sweep in sweeps:
        by_scope[sweep.scope_key].append(sweep)
    new: list[dict[str, Any]] = []
    resolved: list[dict[str, Any]] = []
    compared = []
    for items in by_scope.values():
        newer = items[-1]
        older = previous_sweep(engine, items[0])
        if older is None:
            continue
        doc = diff(engine, older.id, newer.id)
        compared.append((older.id, newer.id))
        new += [f for f in doc["new"] if f["status"] == "verified"]
        resolved += [f for f in doc["resolved"] if f["status"] == "verified"]
    return {"compared": compared, "new": new, "resolved": resolved}


def build_stats(engine: Engine, scope: Scope, *, issuer: str | None = None) -> Document:
    sweeps = sweeps_in(engine, scope)
    rows: list[FindingRow] = load_findings(engine, scope)
    party_by_code = parties(engine)
    unfiled = [r for r in rows if r.code in UNFILED_CODES]
    sites = filed_sites_in_service(engine, sweeps, {r.site for r in rows})
    if scope.provider:
        sites = {h: p for h, p in sites.items() if p == scope.provider}
    if scope.province:
        sites = {h: p for h, p in sites.items() if p and party_by_code.get(p) and party_by_code[p].province == scope.province}
    flagged: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if r.domain:
            flagged[r.code].add(r.domain)
    display_bad = set().union(*(flagged[c] for c in DISPLAY_CODES)) & set(sites)
    inaccurate = set().union(*(flagged[c] for c in INACCURATE_CODES)) & set(sites)
    total = len(sites)

    rates = [
        {"measure": "备案号展示合规率", "basis": "无未展示、位置不符、缺链接任一问题", "sites": total,
         "good": total - len(display_bad), "rate": _rate(total - len(display_bad), total)},
        *[{"measure": f"　其中：{RULE_NAMES[c]}", "basis": "存在该问题的网站", "sites": total,
           "good": total - len(flagged[c] & set(sites)), "rate": _rate(total - len(flagged[c] & set(sites)), total)}
          for c in DISPLAY_CODES],
        {"measure": "备案信息准确率", "basis": "无备案号不符、接入信息未登记问题", "sites": total,
         "good": total - len(inaccurate), "rate": _rate(total - len(inaccurate), total)},
    ]
    per_provider = []
    by_provider_sites: dict[str | None, list[str]] = defaultdict(list)
    for host, provider in sites.items():
        by_provider_sites[provider].append(host)
    for provider, hosts in sorted(by_provider_sites.items(), key=lambda kv: kv[0] or ""):
        n = len(hosts)
        party = party_by_code.get(provider or "")
        per_provider.append({
            "party": provider or "未能确定", "party_name": party.name if party else "未能确定",
            "province": province_name(party.province) if party else "", "sites": n,
            "display_rate": _rate(n - len(display_bad & set(hosts)), n),
            "accuracy_rate": _rate(n - len(inaccurate & set(hosts)), n),
            "unfiled": sum(1 for r in unfiled if r.party == provider)})

    by_province = Counter(province_name(r.province) if r.province else "未知省份" for r in unfiled)
    province_sites = defaultdict(set)
    party_sites = defaultdict(set)
    party_findings: Counter[tuple[str, str, str]] = Counter()
    for r in unfiled:
        province_sites[province_name(r.province) if r.province else "未知省份"].add(r.site)
        key = (r.party or "未能确定", r.party_name, r.party_kind_text)
        party_sites[key].add(r.site)
        party_findings[key] += 1
    delta = changes(engine, sweeps)
    delta_codes = sorted({f["code"] for f in delta["new"] + delta["resolved"]})
    delta_rows = [{"code": c, "rule": RULE_NAMES.get(c, c),
                   "new": sum(1 for f in delta["new"] if f["code"] == c),
                   "resolved": sum(1 for f in delta["resolved"] if f["code"] == c)} for c in delta_codes]
    province = scope.province
    if issuer is None:
        issuer = authority(province) if province else CENTRE
    context = {
        "title": "网站备案巡查统计", "issuer": issuer, "addressee": "", "issued_on": cn_long_date(today_cn()),
        "reference": "", "scope_label": scope_label(scope, sweeps[0].started_at if sweeps else None),
        "scope": scope.to_dict(), "sweeps": [s.id for s in sweeps],
        "totals": {"verified": len(rows), "suspected": suspected_count(engine, scope),
                   "unfiled_findings": len(unfiled), "unfiled_sites": len({r.site for r in unfiled}),
                   "filed_in_service": total, "points": sum(r.points for r in rows),
                   "new": len(delta["new"]), "resolved": len(delta["resolved"])},
        "by_code": [{"code": c, "rule": RULE_NAMES.get(c, c), "count": n}
                    for c, n in sorted(Counter(r.code for r in rows).items())],
        "by_province": [{"province": p, "sites": len(s), "findings": by_province[p]}
                        for p, s in sorted(province_sites.items(), key=lambda kv: (-len(kv[1]), kv[0]))],
        "by_party": [{"party": k[0], "party_name": k[1], "party_kind": k[2], "sites": len(s),
                      "findings": party_findings[k]}
                     for k, s in sorted(party_sites.items(), key=lambda kv: (-len(kv[1]), kv[0]))],
        "rates": rates, "per_provider": per_provider,
        "delta": {"compared": delta["compared"], "rows": delta_rows},
    }
    document = Document("stats", "网站备案巡查统计", context)
    document.tables = [
        Table("by_province", "按省份", pd.DataFrame(context["by_province"], columns=["province", "sites", "findings"])
              .rename(columns={"province": "省份", "sites": "未备案网站数", "findings": "发现数"})),
        Table("by_party", "按责任单位", pd.DataFrame(context["by_party"], columns=["party", "party_name", "party_kind", "sites", "findings"])
              .rename(columns={"party": "代码", "party_name": "责任单位", "party_kind": "单位类型", "sites": "未备案网站数", "findings": "发现数"})),
        Table("rates", "合规率与准确率", pd.DataFrame(rates, columns=["measure", "basis", "sites", "good", "rate"])
              .rename(columns={"measure": "指标", "basis": "口径", "sites": "在用已备案网站数", "good": "达标网站数", "rate": "比率（%）"})),
        Table("per_provider", "按接入提供者", pd.DataFrame(per_provider, columns=["party", "party_name", "province", "sites", "display_rate", "accuracy_rate", "unfiled"])
              .rename(columns={"party": "代码", "party_name": "接入提供者", "province": "省份", "sites": "在用已备案网站数",
                               "display_rate": "展示合规率（%）", "accuracy_rate": "备案信息准确率（%）", "unfiled": "未备案发现数"})),
        Table("changes", "新增与已整改", pd.DataFrame(delta_rows, columns=["code", "rule", "new", "resolved"])
              .rename(columns={"code": "代码", "rule": "问题", "new": "新增", "resolved": "已消除"})),
    ]
    if unfiled:
        document.charts["by_province"] = charts.bar({p: len(s) for p, s in province_sites.items()},
                                                    title="未备案网站数按省份", xlabel="网站数")
        document.charts["by_party"] = charts.bar({f"{k[1]}": len(s) for k, s in party_sites.items()},
                                                 title="未备案网站数按责任单位", xlabel="网站数")
    if per_provider:
        document.charts["rates"] = charts.grouped(
            [p["party"] for p in per_provider],
            {"展示合规率": [p["display_rate"] or 0 for p in per_provider],
             "备案信息准确率": [p["accuracy_rate"] or 0 for p in per_provider]},
            title="各接入提供者备案号展示合规率与备案信息准确率（%）", ylabel="%")
    if delta_rows:
        document.charts["changes"] = charts.grouped([r["rule"] for r in delta_rows],
                                                    {"新增": [r["new"] for r in delta_rows],
                                                     "已消除": [r["resolved"] for r in delta_rows]},
                                                    title="较上次巡查新增与已消除的发现", ylabel="发现数")
    return document
