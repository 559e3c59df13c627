"""``run_sweep``: one sweep from targets to stored findings.

1. the targets (``monitor.targets``) and the sweep row (status ``running``, scope, scope key, options);
2. the crawl (``crawler.runner.run_crawl``; the Twisted reactor runs once per process, so one
   sweep per process — the CLI and the tests run it in a process of its own), with ownership
   lookups pointed at the sweep's resolver (``monitor.crawlhooks``);
3. the run's observations folded per site (``monitor.observations``), the registry loaded once
   (``monitor.registryview``), each address placed (IP filing record, else its owner), and the
   rules applied (``monitor.rules``);
3a. with ``--render POLICY``, the sites the policy picks rendered in Chromium after the crawl
   (``monitor.render``), their results stored and folded in, and the rules applied again — the
   display findings then come from the rendered check where there is one;
4. findings upserted by fingerprint — the same violation in a later sweep is one finding with one
   more sighting — and the sweep's counts: observations by status, DNS failures by kind, the
   unknown targets, findings by code;
5. alerts for the new findings (``monitor.alerts``), sent in the background.

The result is the document ``icpwatch sweep --json`` prints.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from icpwatch.dbkit import create_engine_for

from .models import Finding, Sighting, Sweep, utcnow
from .observations import Folded, fold
from .orders import close_resolved
from .ownership import Owner, from_observation, origin_owners
from .registryview import RegistryView
from .render import (
    POLICIES,
    SERVED_UNFILED_CODES,
    RenderPolicyError,
    RenderStage,
    attach,
    parse_policy,
    render_options,
    run_render_stage,
    select_sites,
)
from .rules import Addresses, Draft, build_addresses, judge
from .store import MonitorStore
from .targets import Resolved, Selection, resolve

logger = logging.getLogger(__name__)

RENDER_POLICIES = POLICIES
RENDER_NOTE = ("rendering was asked for but no browser is available ({why}): display findings are static "
               "estimates from the page source")


class SweepError(RuntimeError):
    """A sweep that could not run (bad targets, crawl failure); the sweep row says ``failed``."""


@dataclass
class SweepOptions:
    resolver: str | None = None
    allow_private: bool = False
    render: str = "none"                  # monitor.render.POLICIES
    evidence_dir: str | None = None       # rendered evidence (default: next to the store)
    ca_file: str | None = None
    rdap: str | None = None
    ownership: bool = True
    cidr_cap: int = 65536
    alerts: list[str] = field(default_factory=list)
    created_by: str | None = None
    schedule: str | None = None
    crawl_run: str | None = None          # judge this stored crawl run instead of crawling
    workers: int = 1                      # crawler processes (crawler.workers)
    redis_url: str | None = None          # their shared queue
    crawl_settings: dict[str, Any] = field(default_factory=dict)

    def recorded(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("crawl_settings")
        out.pop("redis_url")  # may carry a password
        out["alerts"] = [a.split("=", 1)[0] if "=" in a else "webhook" for a in self.alerts]  # never the URLs
        return out


@dataclass
class SweepResult:
    document: dict[str, Any]
    alert_thread: threading.Thread | None = None


def _chunks(items: Sequence[str], n: int = 500) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _classifier() -> Any:
    try:
        from monitor.preapproval import classify
    except ImportError:  # the pre-approval classifier lands separately
        logger.warning("monitor.preapproval is not available: PREAPPROVAL_SUSPECTED is not checked")
        return None
    return classify


def owners_for(folded: Folded, registry: RegistryView, addresses: Iterable[str], resolver: str | None,
               lookup: bool = True) -> dict[str, Owner]:
    """Owners of ``addresses``: the crawler's ipwhois records, and for addresses no IP filing
    record covers whose owner is unknown, the origin-ASN records (``monitor.ownership``)."""
    ips = list(dict.fromkeys(addresses))
    registry.warm_addresses(ips)
    owners = {ip: from_observation(ip, folded.owners.get(ip)) for ip in ips}
    missing = [ip for ip in ips if registry.address(ip).cidr is None and owners[ip].status != "ok"]
    if missing and lookup:
        for ip, owner in origin_owners(missing, resolver).items():
            if owner.status == "ok":
                owners[ip] = owner
    return owners


def all_addresses(folded: Folded) -> list[str]:
    ips: list[str] = []
    for site in folded.sites:
        ips += site.host_addresses + site.serving_addresses + [h.ip for h in site.hops if h.ip]
        if site.ip:
            ips.append(site.ip)
    ips += list(folded.serving)
    return list(dict.fromkeys(ips))


def judge_run(engine: Engine, run_id: str, *, resolver: str | None = None, ownership: bool = True,
              registry: RegistryView | None = None) -> tuple[Folded, Addresses, list[Draft]]:
    """Fold a stored crawl run and judge it against the registry (no writes)."""
    from crawler.store import CrawlStore

    folded = fold(CrawlStore(engine).observations(run_id))
    registry = registry or RegistryView.load(engine)
    ips = all_addresses(folded)
    owners = owners_for(folded, registry, ips, resolver, lookup=ownership)
    addresses = build_addresses(ips, registry, owners)
    return folded, addresses, judge(folded, registry, addresses, _classifier())


def store_findings(store: MonitorStore, sweep_id: int, drafts: list[Draft]) -> list[tuple[Finding, bool]]:
    """Upsert by fingerprint and add one sighting each; returns (finding, new) in draft order."""
    now = utcnow()
    out: list[tuple[Finding, bool]] = []
    with store.session() as s:
        existing: dict[str, Finding] = {}
        for chunk in _chunks([d.fingerprint for d in drafts]):
            existing.update({f.fingerprint: f for f in s.scalars(select(Finding).where(Finding.fingerprint.in_(chunk)))})
        for d in drafts:
            f = existing.get(d.fingerprint)
            new = f is None
            if f is None:
                f = Finding(fingerprint=d.fingerprint, code=d.code, article=d.article, target=d.target,
                            domain=d.domain, ip=d.ip, redirect_to=d.redirect_to, party_kind=d.party_kind,
                            party=d.party, website_number=d.website_number, points=d.points,
                            status="suspected", first_seen_at=now, last_seen_at=now,
                            first_sweep_id=sweep_id, last_sweep_id=sweep_id, evidence=d.evidence)
                s.add(f)
            else:
                f.last_seen_at, f.last_sweep_id, f.evidence = now, sweep_id, _keep_rendered(f, d.evidence)
                f.target, f.redirect_to = d.target, d.redirect_to
            out.append((f, new))
        s.flush()
        s.add_all([Sighting(finding_id=f.id, sweep_id=sweep_id, seen_at=now,
                            evidence={"target": f.target, "ip": f.ip, "observation": (f.evidence.get("observation") or {}).get("observation")})
                   for f, _ in out])
    return out


def finding_json(f: Finding, new: bool | None = None) -> dict[str, Any]:
    """A finding as ``--json`` shows it (the sweep document's and ``findings list``'s shape)."""
    out = {"id": f.id, "code": f.code, "target": f.target, "domain": f.domain, "redirect_to": f.redirect_to,
           "ip": f.ip, "provider": f.party, "party_kind": f.party_kind, "article": f.article,
           "points": f.points, "status": f.status}
    if new is not None:
        out["new"] = new
    return out


def run_sweep(db_url: str, selection: Selection, options: SweepOptions | None = None, *,
              engine: Engine | None = None) -> SweepResult:
    """Run one sweep end to end; see the module docstring."""
    options = options or SweepOptions()
    try:
        policy = parse_policy(options.render)
        if policy.name != "none":
            render_options(options.crawl_settings)  # a bad ICPWATCH_RENDER_* value fails before the crawl
    except RenderPolicyError as exc:
        raise SweepError(str(exc)) from None
    alert_targets = _parse_alerts(options.alerts)
    engine = engine or create_engine_for(db_url)
    from registry.store import Store

    Store(engine).upgrade()
    store = MonitorStore(engine)
    resolved: Resolved = resolve(engine, selection)
    with store.session() as s:
        sweep = Sweep(status="running", scope=resolved.scope, scope_key=resolved.scope_key,
                      options=options.recorded(), created_by=options.created_by, schedule=options.schedule)
        s.add(sweep)
        s.flush()
        sweep_id = sweep.id
    try:
        run_id = options.crawl_run or _crawl(db_url, resolved.lines, options)
        with store.session() as s:
            s.get(Sweep, sweep_id).crawl_run_id = run_id  # type: ignore[union-attr]
        registry = RegistryView.load(engine)
        folded, addresses, drafts = judge_run(engine, run_id, resolver=options.resolver, ownership=options.ownership,
                                              registry=registry)
        stage = run_render_stage(engine, sweep_id, select_sites(folded, registry, drafts, policy), policy,
                                 db_url=db_url, resolver=options.resolver, allow_private=options.allow_private,
                                 ca_file=options.ca_file, evidence_dir=options.evidence_dir,
                                 settings=options.crawl_settings)
        if attach(folded, stage.documents):
            drafts = judge(folded, registry, addresses, _classifier())
        stored = store_findings(store, sweep_id, drafts)
    except BaseException as exc:
        with store.session() as s:
            row = s.get(Sweep, sweep_id)
            if row is not None:
                row.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                row.finished_at = utcnow()
                row.counts = {"error": f"{type(exc).__name__}: {exc}"}
        raise
    findings = [finding_json(f, new) for f, new in stored]
    unknown = [{"target": s.target, "status": s.status, "error": s.error} for s in folded.unknown]
    unknown += [{"target": s.target, "status": s.status,
                 "error": f"page kind {(s.page or {}).get('kind')}: not a page to judge"}
                for s in folded.sites if s.category == "unknown"]
    by_code = Counter(f["code"] for f in findings)
    summary = {"targets": len(resolved.lines), "observations": folded.observations,
               "sites_judged": sum(1 for s in folded.sites if s.category != "unknown"),
               "unknown": len(unknown), "findings": len(findings), "new": sum(1 for f in findings if f["new"]),
               "by_code": dict(sorted(by_code.items())),
               "addresses_in_china": sum(1 for a in addresses.values() if a.in_cn),
               "addresses_abroad": sum(1 for a in addresses.values() if a.in_cn is False)}
    with store.session() as s:
        row = s.get(Sweep, sweep_id)
        assert row is not None
        row.status, row.finished_at = "finished", utcnow()
        row.counts = {**folded.counts, "summary": summary, "render": _render_counts(stage)}
    notes = [RENDER_NOTE.format(why=stage.unavailable_reason)] if not stage.available and policy.name != "none" else []
    document = {"sweep_id": sweep_id, "scope_key": resolved.scope_key, "crawl_run_id": run_id,
                "render": stage.summary(),
                "counts": folded.counts, "summary": summary, "unknown": unknown, "findings": findings,
                "notes": list(dict.fromkeys(notes)),
                "orders_closed": close_resolved(engine, sweep_id, folded, drafts)}
    thread = None
    if alert_targets:
        new = [f for f in findings if f["new"]]
        thread = _alert(engine, sweep_id, summary, new, alert_targets, document)
    return SweepResult(document, thread)


def _render_counts(stage: RenderStage) -> dict[str, Any]:
    return {k: v for k, v in stage.summary().items() if k not in ("failures", "kept_static")}


def _keep_rendered(finding: Finding, evidence: dict[str, Any]) -> dict[str, Any]:
    """``evidence`` of a new sighting of a site served without a filing; when this sweep did not
    render the site, the screenshot an earlier sweep took stays, saying which sweep took it (a
    display finding's evidence is always this sweep's own: rendered or static, never mixed)."""
    earlier = (finding.evidence or {}).get("rendered")
    if "rendered" in evidence or not earlier or finding.code not in SERVED_UNFILED_CODES:
        return evidence
    return {**evidence, "rendered": {"sweep_id": finding.last_sweep_id, **earlier}}


def _crawl(db_url: str, lines: list[str], options: SweepOptions) -> str:
    from crawler.runner import run_crawl

    from .crawlhooks import crawl_settings

    settings = crawl_settings(resolver=options.resolver, rdap=options.rdap, ownership=options.ownership)
    settings.update(options.crawl_settings)
    return run_crawl(lines, db_url=db_url, resolver=options.resolver, allow_private=options.allow_private,
                     ca_file=options.ca_file, settings=settings, cidr_cap=options.cidr_cap,
                     workers=options.workers, redis_url=options.redis_url)


def _parse_alerts(values: list[str]) -> list[Any]:
    if not values:
        return []
    try:
        from monitor.alerts import parse_alert
    except ImportError:
        logger.warning("monitor.alerts is not available: --alert is ignored")
        return [("unavailable", v) for v in values]
    return [parse_alert(v) for v in values]


def _alert(engine: Engine, sweep_id: int, summary: dict[str, Any], new: list[dict[str, Any]],
           targets: list[Any], document: dict[str, Any]) -> threading.Thread | None:
    if any(isinstance(t, tuple) and t[0] == "unavailable" for t in targets):
        document["notes"].append("alerts not sent: monitor.alerts is not available")
        return None
    from monitor.alerts import dispatch

    return dispatch(engine, sweep_id, {"sweep_id": sweep_id, **summary}, new, targets)
