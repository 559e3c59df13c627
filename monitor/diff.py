"""What changed between two sweeps of the same scope.

Findings: *new* (sighted in the later sweep, not the earlier), *persisting* (both) and
*resolved* (the earlier only). Sites: those whose DNS answer, serving provider or shown filing
number changed, read from the two sweeps' crawl runs (the observations stay in the crawl store)
and the registry as it is now.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from .models import Finding, Sighting, Sweep
from .observations import fold
from .store import MonitorStore
from .sweep import finding_json


class DiffError(ValueError):
    """The sweeps do not exist, or cover different scopes."""


def _findings(session: Any, sweep_id: int) -> dict[int, Finding]:
    rows = session.scalars(select(Finding).join(Sighting, Sighting.finding_id == Finding.id)
                           .where(Sighting.sweep_id == sweep_id)).all()
    return {f.id: f for f in rows}


def site_snapshot(engine: Engine, run_id: str | None) -> dict[str, dict[str, Any]]:
    """target → {addresses, ip, numbers, status} of one crawl run."""
    if not run_id:
        return {}
    from crawler.store import CrawlStore

    folded = fold(CrawlStore(engine).observations(run_id))
    out: dict[str, dict[str, Any]] = {}
    for site in folded.sites + folded.unknown:
        page = site.page or {}
        out.setdefault(site.target if site.kind != "cidr_member" else site.host, {
            "addresses": sorted(site.host_addresses), "ip": site.ip, "status": site.status,
            "numbers": sorted({m.get("number") for m in page.get("marks") or [] if m.get("number")}),
        })
    return out


def diff(engine: Engine, older: int, newer: int, *, force: bool = False) -> dict[str, Any]:
    """The diff document (``icpwatch findings list --sweep NEWER --diff OLDER --json``)."""
    store = MonitorStore(engine)
    with store.session() as s:
        a, b = s.get(Sweep, older), s.get(Sweep, newer)
        if a is None or b is None:
            raise DiffError(f"no sweep {older if a is None else newer}")
        if a.scope_key != b.scope_key and not force:
            raise DiffError(f"sweeps {older} and {newer} cover different scopes ({a.scope_key} / {b.scope_key})")
        fa, fb = _findings(s, older), _findings(s, newer)
        runs = (a.crawl_run_id, b.crawl_run_id)
        doc: dict[str, Any] = {
            "older": older, "newer": newer, "scope_key": b.scope_key,
            "new": [finding_json(fb[i]) for i in sorted(set(fb) - set(fa))],
            "persisting": [finding_json(fb[i]) for i in sorted(set(fb) & set(fa))],
            "resolved": [finding_json(fa[i]) for i in sorted(set(fa) - set(fb))],
        }
    from registry.index import RegistryIndex
    from registry.store import Store

    sa, sb = site_snapshot(engine, runs[0]), site_snapshot(engine, runs[1])
    index = RegistryIndex.load(Store(engine))

    def provider(ip: str | None) -> str | None:
        return index.match_ip(ip).provider if ip else None

    changed = []
    for target in sorted(set(sa) & set(sb)):
        x, y = sa[target], sb[target]
        what = {}
        if x["addresses"] != y["addresses"]:
            what["dns"] = {"before": x["addresses"], "after": y["addresses"]}
        if provider(x["ip"]) != provider(y["ip"]):
            what["provider"] = {"before": provider(x["ip"]), "after": provider(y["ip"])}
        if x["numbers"] != y["numbers"]:
            what["number"] = {"before": x["numbers"], "after": y["numbers"]}
        if x["status"] != y["status"]:
            what["status"] = {"before": x["status"], "after": y["status"]}
        if what:
            changed.append({"target": target, **what})
    doc["sites_changed"] = changed
    doc["counts"] = {k: len(doc[k]) for k in ("new", "persisting", "resolved", "sites_changed")}
    return doc
