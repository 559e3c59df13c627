"""A crawl run's observations folded into what the rules judge: one :class:`SiteView` per swept
site, the addresses seen serving, and the owners the crawler recorded.

* A domain target has an observation per host (apex and ``www.``); the site is judged on the
  target's own host when it answered, else on another host of the target that did.
* An address of a CIDR target has four probes (http/https × no Host / address as Host); a probe
  that got a website is a site reached by IP alone (``domain`` None).
* A redirect hop is *to another site* when it leaves the independent domain (or the address) it
  came from; ``http://x/`` → ``https://x/`` or ``x.cn`` → ``www.x.cn`` is the same site.
* Only "ok" observations are judged. Anything else — DNS failure, timeout, TLS failure, refused,
  a loop, an HTTP error page — is *unknown* (DESIGN.md §2), never "unfiled".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from registry.domains import InvalidHostname, independent_domain, is_ip_literal

#: page kinds that are not a website in service (DESIGN.md §2)
NOT_IN_SERVICE = ("parked", "default_server")
PROBE_PREFERENCE = [("http", "address"), ("https", "address"), ("http", "none"), ("https", "none")]


def host_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def site_key(host: str) -> str:
    """What "the same site" means for redirects: the independent domain, or the address."""
    if is_ip_literal(host):
        return host.strip("[]")
    try:
        return independent_domain(host) or host
    except InvalidHostname:
        return host


@dataclass
class Hop:
    """A redirect to another site: from which host (and address), to which URL, how."""

    from_host: str
    to_url: str
    kind: str
    status: int | None
    ip: str | None


@dataclass
class SiteView:
    """One swept site, as the rules see it."""

    target: str
    line: int | None
    kind: str                      # domain | url | ip | cidr_member
    host: str
    status: str
    error: str | None
    final_url: str | None
    ip: str | None                 # the address that served the final page
    host_addresses: list[str]      # what the target host resolves to (or the address itself)
    serving_addresses: list[str]   # what the final host resolves to (or the final address)
    hops: list[Hop] = field(default_factory=list)
    page: dict[str, Any] | None = None
    observation: dict[str, Any] = field(default_factory=dict, repr=False)
    #: the rendered check's document when the sweep rendered this site (``monitor.render``)
    render: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def domain(self) -> str | None:
        return None if is_ip_literal(self.host) else self.host

    @property
    def final_host(self) -> str | None:
        return host_of(self.final_url)

    @property
    def category(self) -> str:
        """``unknown`` | ``redirect`` (to another site) | ``not_in_service`` | ``site``."""
        if self.status != "ok" or not self.page:
            return "unknown"
        if self.hops:
            return "redirect"
        if self.page.get("kind") in NOT_IN_SERVICE:
            return "not_in_service"
        if self.page.get("kind") != "site":
            return "unknown"
        return "site"

    def evidence(self) -> dict[str, Any]:
        """The observation's relevant parts: DNS answers, redirect chain, final URL, marks seen."""
        o = self.observation
        page = self.page or {}
        return {
            "observation": o.get("target_key"), "run_id": o.get("run_id"), "url": o.get("url"),
            "final_url": self.final_url, "status": self.status, "http_status": o.get("http_status"),
            "ip": self.ip, "fetched_at": o.get("fetched_at"),
            "dns": {name: {k: r.get(k) for k in ("status", "cname_chain", "addresses")}
                    for name, r in (o.get("dns") or {}).items()},
            "redirect_chain": o.get("redirect_chain") or [],
            "page_kind": page.get("kind"), "title": page.get("title"),
            "marks": [{k: m.get(k) for k in ("text", "number", "kind", "source", "valid", "placeholder",
                                             "in_footer", "centred", "hidden", "displayed", "link_href",
                                             "link_kind", "evidence")} for m in page.get("marks") or []],
            "filing_links": page.get("filing_links") or [],
            "contact": page.get("contact") or {},
            "lookalike_marks": page.get("lookalike_marks") or [],
            "probe": o.get("probe"),
        }


@dataclass
class Folded:
    """Everything the judgement needs from one crawl run."""

    sites: list[SiteView]
    unknown: list[SiteView]
    serving: dict[str, str]                 # address → the target line it was seen serving for
    owners: dict[str, dict[str, Any]]       # address → the crawler's ipwhois owner record
    counts: dict[str, Any]
    observations: int


def _addresses(o: dict[str, Any], host: str | None) -> list[str]:
    if not host:
        return []
    if is_ip_literal(host):
        return [host.strip("[]")]
    res = (o.get("dns") or {}).get(host) or {}
    return list(res.get("addresses") or [])


def _hops(o: dict[str, Any]) -> list[Hop]:
    chain = o.get("redirect_chain") or []
    out: list[Hop] = []
    for i, hop in enumerate(chain):
        src = host_of(hop.get("url"))
        nxt = chain[i + 1]["url"] if i + 1 < len(chain) else o.get("final_url")
        dst = host_of(nxt)
        if src and dst and site_key(src) != site_key(dst):
            out.append(Hop(src, str(nxt), str(hop.get("kind") or "http"), hop.get("status"), hop.get("ip")))
    return out


def view(o: dict[str, Any]) -> SiteView:
    host = str(o.get("host") or "")
    final = host_of(o.get("final_url")) or host
    serving = _addresses(o, final) or ([o["ip"]] if o.get("ip") else [])
    return SiteView(target=str(o.get("target") or ""), line=o.get("target_line"), kind=str(o.get("kind") or ""),
                    host=host, status=str(o.get("status") or "error"), error=o.get("error"),
                    final_url=o.get("final_url"), ip=o.get("ip"),
                    host_addresses=_addresses(o, host) or ([o["ip"]] if o.get("ip") and not o.get("redirect_chain") else []),
                    serving_addresses=serving, hops=_hops(o), page=o.get("page"), observation=o)


def _target_host(target: str) -> str:
    text = target.strip()
    return (host_of(text) if "://" in text else text.strip("[]").lower().rstrip(".")) or text


def fold(observations: Iterable[dict[str, Any]]) -> Folded:
    """Group a run's observations by target and address and pick what is judged."""
    by_target: dict[tuple[str, Any], list[dict[str, Any]]] = defaultdict(list)
    probes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    serving: dict[str, str] = {}
    owners: dict[str, dict[str, Any]] = {}
    counts: dict[str, Any] = defaultdict(int)
    dns_kinds: dict[str, int] = defaultdict(int)
    n = 0
    for o in observations:
        n += 1
        status = str(o.get("status") or "error")
        counts[status] += 1
        if status == "dns_error":
            for res in (o.get("dns") or {}).values():
                if res.get("status") and res.get("status") != "ok":
                    dns_kinds[str(res["status"])] += 1
                    break
            else:
                dns_kinds["error"] += 1
        for ip, owner in (o.get("owners") or {}).items():
            owners.setdefault(ip, owner)
        answered = status in ("ok", "http_error")
        for hop in o.get("redirect_chain") or []:
            if hop.get("ip") and hop.get("status") is not None:
                serving.setdefault(hop["ip"], str(o.get("target")))
        if answered and o.get("ip"):
            serving.setdefault(o["ip"], str(o.get("target")))
        if o.get("kind") == "cidr_member":
            probes[str(o.get("host"))].append(o)
        else:
            by_target[(str(o.get("target")), o.get("target_line"))].append(o)
    sites: list[SiteView] = []
    unknown: list[SiteView] = []
    for (target, _line), group in by_target.items():
        own = _target_host(target)
        group.sort(key=lambda o: (o.get("host") != own, str(o.get("host"))))
        ok = [o for o in group if o.get("status") == "ok"]
        chosen = view(ok[0] if ok else group[0])
        (sites if ok else unknown).append(chosen)
    for ip, group in probes.items():
        rank = {p: i for i, p in enumerate(PROBE_PREFERENCE)}
        group = [o for o in group if o.get("status") == "ok" and (o.get("page") or {}).get("kind") == "site"
                 and not _hops(o)]
        group.sort(key=lambda o: rank.get(((o.get("probe") or {}).get("scheme"), (o.get("probe") or {}).get("host_header")), 9))
        if group:
            sites.append(view(group[0]))
    out_counts: dict[str, Any] = dict(sorted(counts.items()))
    out_counts["dns"] = dict(sorted(dns_kinds.items()))
    return Folded(sites, unknown, serving, owners, out_counts, n)
