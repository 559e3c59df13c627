"""Observations + registry → findings: the rule table of DESIGN.md §2 and one pure function per
rule family.

The table (:data:`RULES`) is data: code → article, points, who is responsible, and whether the
finding is about each serving address separately. The functions take a :class:`SiteView` (what
the crawler saw), the :class:`~monitor.registryview.RegistryView` and the sweep's
:class:`Addresses` (where each address is and who serves from it) and return :class:`Draft`
findings; they read nothing else and write nothing.

What a sweep concludes, in order, per site (DESIGN.md §2 and the issue):

1. **Unknown stays unknown** — a failed crawl (DNS, timeout, TLS, refused, loop, HTTP error) raises
   nothing; the sweep lists it.
2. **Jurisdiction** — only addresses in China count: an IP filing record covers them, or their
   owner's country (ipwhois, else the origin-ASN records) is CN. A site served only from abroad
   raises nothing.
3. **Not in service** — a parked or default server page is no website: at most UNFILED_RESOLVED.
4. **Redirect to another site** (3xx, meta refresh, script; every hop that leaves its site):
   UNFILED_REDIRECT against the registrar of each redirecting domain when the site it ends on has
   no valid filing, plus UNFILED_RESOLVED for an unfiled redirecting domain. No display findings:
   a redirect is not the site's homepage.
5. **A website in service** — BLACKLISTED_SERVED, UNFILED_SITE, CANCELLED_STILL_SERVED (one per
   serving address, against the provider whose IP filing record covers it), UNFILED_RESOLVED; with
   a valid filing ACCESS_NOT_RECORDED, the display duty (NUMBER_NOT_DISPLAYED, NUMBER_MISMATCH,
   LICENCE_MISMATCH, NUMBER_MISPLACED, LINK_MISSING — from the rendered check where the sweep
   rendered the site, else static estimates), CONTACT_MISSING and PREAPPROVAL_SUSPECTED.
6. **IP_UNREPORTED** once per serving address in China that no IP filing record covers.

Where the registry cannot attribute an address (no IP filing record covers it), the finding's
``party_kind`` is ``analyst``: ``party`` is then only the provider the address owner's AS name
suggests (or None), and the owner is in the evidence for the analyst to decide.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from registry.numbers import UNREAD_PROVINCE, InvalidFilingNumber, parse_number

from .observations import Folded, SiteView, site_key
from .ownership import Owner
from .registryview import FilingInfo, RegistryView


@dataclass(frozen=True)
class Rule:
    code: str
    article: str
    points: int
    party_kind: str        # provider | registrar | host | analyst
    per_address: bool      # one finding per serving address (the address is part of its identity)
    what: str


_RULE_ROWS = [
    # code,                   article,      pts, responsible, per address, what was seen
    ("UNFILED_SITE",           "12(2), 41",  5, "provider",  True,  "a working website with no valid filing"),
    ("CANCELLED_STILL_SERVED", "22(4)",      5, "provider",  True,  "the filing was cancelled, the site still serves"),
    ("BLACKLISTED_SERVED",     "12(9)",      5, "provider",  True,  "a blacklisted subject or domain is served"),
    ("UNFILED_REDIRECT",       "16(5)",      5, "registrar", False, "a domain redirects to an unfiled site"),
    ("UNFILED_RESOLVED",       "16(5)",      5, "registrar", False, "an unfiled domain resolves to an address in China"),
    ("NUMBER_MISMATCH",        "14(4), 42",  2, "provider",  False, "the number shown is not this site's filing"),
    ("ACCESS_NOT_RECORDED",    "18(5), 42",  2, "provider",  True,  "served from a provider/address the access records do not list"),
    ("NUMBER_NOT_DISPLAYED",   "14(3)",      0, "host",      False, "a filed site shows no number"),
    ("NUMBER_MISPLACED",       "14(3)",      0, "host",      False, "the number is not at the bottom centre"),
    ("LINK_MISSING",           "14(3)",      0, "host",      False, "no link to the filing system at or below the number"),
    ("CONTACT_MISSING",        "14(3)",      0, "host",      False, "phone/fax, e-mail or postal address missing from the homepage"),
    ("LICENCE_MISMATCH",       "21",         0, "host",      False, "licensed site shows a filing number, or a licence it does not hold"),
    ("PREAPPROVAL_SUSPECTED",  "20",         0, "host",      False, "pre-approval field content without the approval on file"),
    ("IP_UNREPORTED",          "15",         0, "analyst",   True,  "a serving address no IP filing unit has reported"),
]
RULES: dict[str, Rule] = {row[0]: Rule(*row) for row in _RULE_ROWS}
#: what art. 14(3) asks a homepage to show besides the number (phone standing for phone or fax)
CONTACT_PARTS = ("phone", "email", "address")

#: pre-approval fields (``monitor.preapproval.classify``) → words the filing's pre-approval items use
PREAPPROVAL_ITEMS: dict[str, tuple[str, ...]] = {
    "news": ("新闻",),
    "publishing": ("出版",),
    "education": ("教育",),
    "medicine": ("药品", "医疗器械", "医疗保健"),
    "drugs_devices": ("药品", "医疗器械"),
    "audiovisual": ("视听", "广播电影电视", "广电"),
    "culture": ("文化",),
}
ICP_KINDS = ("website_filing", "subject_filing", "app_filing", "licence")
#: the findings the rendered check refines (the placement and visibility of the number)
DISPLAY_CODES = ("NUMBER_NOT_DISPLAYED", "NUMBER_MISPLACED", "LINK_MISSING")


@dataclass
class Draft:
    """A finding as a sweep raises it, before it is stored."""

    code: str
    target: str
    domain: str | None
    ip: str | None
    party: str | None
    party_kind: str
    evidence: dict[str, Any] = field(default_factory=dict)
    redirect_to: str | None = None
    website_number: str | None = None

    @property
    def rule(self) -> Rule:
        return RULES[self.code]

    @property
    def article(self) -> str:
        return self.rule.article

    @property
    def points(self) -> int:
        return self.rule.points

    @property
    def fingerprint(self) -> str:
        """Rule + what it is about + who is responsible: the same violation in every sweep."""
        about_ip = self.ip if (self.rule.per_address or self.domain is None) else ""
        key = "|".join([self.code, self.domain or "", about_ip or "", self.party or "", self.party_kind])
        return hashlib.sha256(key.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------
# addresses: jurisdiction and responsibility
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AddressInfo:
    ip: str
    in_cn: bool | None               # None: nobody could tell
    provider: str | None             # the IP filing record's user, or the suggested provider
    party_kind: str                  # "provider" (registry attributes it) or "analyst"
    cidr: str | None = None
    unit: str | None = None
    owner: Owner | None = None

    @property
    def reported(self) -> bool:
        return self.cidr is not None

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ip": self.ip, "in_china": self.in_cn, "ip_filing_record": self.cidr,
                               "ip_filing_unit": self.unit, "provider": self.provider,
                               "attributed_by": "ip_filing_record" if self.reported else
                               ("owner AS name (suggestion)" if self.provider else None)}
        if self.owner is not None:
            out["owner"] = self.owner.to_dict()
        return out


class Addresses(dict[str, AddressInfo]):
    """address → :class:`AddressInfo` for every address a sweep saw."""

    def of(self, ip: str | None) -> AddressInfo:
        if ip is None:
            return AddressInfo("", None, None, "analyst")
        return self.get(ip) or AddressInfo(ip, None, None, "analyst")

    def in_cn(self, ips: Iterable[str]) -> list[AddressInfo]:
        return [self.of(ip) for ip in dict.fromkeys(ips) if self.of(ip).in_cn]


def build_addresses(ips: Iterable[str], registry: RegistryView, owners: Mapping[str, Owner]) -> Addresses:
    """Jurisdiction and responsibility for each address: the IP filing record first (registry
    attribution), else the owner's country and the provider its AS name suggests."""
    ips = list(dict.fromkeys(ips))
    registry.warm_addresses(ips)
    out = Addresses()
    for ip in ips:
        hit = registry.address(ip)
        owner = owners.get(ip)
        if hit.cidr is not None:
            out[ip] = AddressInfo(ip, True, hit.provider, "provider", hit.cidr, hit.unit, owner)
            continue
        from .ownership import attribute

        known = owner is not None and owner.status == "ok" and owner.country
        in_cn = (owner.country == "CN") if known else None  # type: ignore[union-attr]
        suggested = attribute(owner, registry.providers) if owner is not None else None
        out[ip] = AddressInfo(ip, in_cn, suggested, "analyst", None, None, owner)
    return out


# ---------------------------------------------------------------------------------------------
# the rule families
# ---------------------------------------------------------------------------------------------
def _draft(code: str, site: SiteView, party: str | None, party_kind: str, *, domain: str | None = None,
           ip: str | None = None, evidence: dict[str, Any] | None = None, **extra: Any) -> Draft:
    return Draft(code=code, target=site.target, domain=domain, ip=ip, party=party, party_kind=party_kind,
                 evidence={"rule": RULES[code].what, **(evidence or {})}, **extra)


def _by_address(code: str, site: SiteView, cn: list[AddressInfo], domain: str | None,
                evidence: dict[str, Any]) -> list[Draft]:
    return [_draft(code, site, a.provider, a.party_kind, domain=domain, ip=a.ip,
                   evidence={**evidence, "address": a.evidence()}) for a in cn]


def resolution_findings(site: SiteView, registry: RegistryView, addresses: Addresses,
                        domain: str | None = None, ips: list[str] | None = None) -> list[Draft]:
    """UNFILED_RESOLVED: a domain with no valid filing resolves to an address in China
    (against its registrar — the domain filing unit, art. 16(5)). By default the swept domain and
    the addresses it resolved to; ``domain`` and ``ips`` name another hop of a redirect chain."""
    domain = domain or site.domain
    if domain is None or registry.valid(domain) is not None:
        return []
    cn = addresses.in_cn(site.host_addresses if ips is None else ips)
    if not cn:
        return []
    registrar = registry.registrar(domain)
    return [_draft("UNFILED_RESOLVED", site, registrar, "registrar" if registrar else "analyst",
                   domain=domain, ip=cn[0].ip,
                   evidence={"independent_domain": registry.independent(domain),
                             "filings": [f.brief() for f in registry.covering(domain)],
                             "registrar": registrar, "resolves_to": [a.evidence() for a in cn]})]


def redirect_findings(site: SiteView, registry: RegistryView, addresses: Addresses) -> list[Draft]:
    """UNFILED_REDIRECT for every hop that leaves its site, when the site the chain ends on has
    no valid filing (against the registrar of the redirecting domain)."""
    final = site.final_host
    if not site.hops or final is None or registry.valid(final) is not None:
        return []
    out: list[Draft] = []
    seen: set[str] = set()
    for hop in site.hops:
        domain = site.host if site_key(hop.from_host) == site_key(site.host) else hop.from_host
        if site_key(domain) in seen or registry.independent(domain) is None:
            continue
        seen.add(site_key(domain))
        served = addresses.in_cn([hop.ip] if hop.ip else (site.host_addresses if domain == site.host else []))
        if not served:
            continue
        registrar = registry.registrar(domain)
        out.append(_draft("UNFILED_REDIRECT", site, registrar, "registrar" if registrar else "analyst",
                          domain=domain, ip=served[0].ip, redirect_to=site.final_url,
                          evidence={"hop": {"from": hop.from_host, "to": hop.to_url, "kind": hop.kind,
                                            "status": hop.status, "ip": hop.ip},
                                    "final_url": site.final_url,
                                    "final_filings": [f.brief() for f in registry.covering(final)],
                                    "registrar": registrar}))
    return out


def hop_resolution_findings(site: SiteView, registry: RegistryView, addresses: Addresses) -> list[Draft]:
    """UNFILED_RESOLVED for each later domain of a redirect chain (the swept one is judged by
    :func:`resolution_findings`): every unfiled domain the chain passes through resolved, to be
    fetched, to the address it was fetched from."""
    out: list[Draft] = []
    seen = {site_key(site.host)} if site.host else set()
    for hop in site.hops:
        if not hop.ip or site_key(hop.from_host) in seen or registry.independent(hop.from_host) is None:
            continue
        seen.add(site_key(hop.from_host))
        out += resolution_findings(site, registry, addresses, domain=hop.from_host, ips=[hop.ip])
    return out


def service_findings(site: SiteView, registry: RegistryView, cn: list[AddressInfo],
                     filings: list[FilingInfo]) -> list[Draft]:
    """BLACKLISTED_SERVED, UNFILED_SITE, CANCELLED_STILL_SERVED: one per serving address in China,
    against the provider serving it."""
    evidence: dict[str, Any] = {"filings": [f.brief() for f in filings]}
    if site.render is not None and site.render.get("status") == "ok":
        # the homepage as the browser showed it: the screenshot a notice of unfiled sites carries
        evidence["rendered"] = {k: site.render.get(k) for k in ("final_url", "evidence")}
    out: list[Draft] = []
    why = registry.blacklisted(site.domain, filings)
    if why:
        out += _by_address("BLACKLISTED_SERVED", site, cn, site.domain, {**evidence, "blacklisted": why})
    if not filings:
        out += _by_address("UNFILED_SITE", site, cn, site.domain, evidence)
    elif not any(f.status == "filed" for f in filings):
        out += _by_address("CANCELLED_STILL_SERVED", site, cn, site.domain, evidence)
    return out


def access_findings(site: SiteView, cn: list[AddressInfo], filing: FilingInfo) -> list[Draft]:
    """ACCESS_NOT_RECORDED: a serving provider (or, when the filing lists addresses, an address)
    the filing's access records do not list."""
    out = []
    for a in cn:
        missing = []
        if a.provider not in filing.providers:
            missing.append(f"provider {a.provider or '(unattributed)'} not in the access records")
        if filing.ips and a.ip not in filing.ips:
            missing.append(f"address {a.ip} not among the filed addresses")
        if missing:
            out.append(_draft("ACCESS_NOT_RECORDED", site, a.provider, a.party_kind, domain=site.domain, ip=a.ip,
                              website_number=filing.website_number,
                              evidence={"filing": filing.brief(), "address": a.evidence(), "missing": missing}))
    return out


def _same(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    if a == b:
        return True
    if a.startswith(UNREAD_PROVINCE):  # read from an image, its province unreadable: the rest must agree
        a = b[:1] + a[len(UNREAD_PROVINCE):]
    try:
        return parse_number(a).normalized == parse_number(b).normalized
    except InvalidFilingNumber:
        return False


def mismatch_reason(number: str, kind: str, filing: FilingInfo, registry: RegistryView) -> str:
    """Why a shown number is not this site's filing: placeholder, app number, another site of the
    same subject, another subject's, or unknown to the registry."""
    try:
        mark = parse_number(number)
    except InvalidFilingNumber:
        return "placeholder or look-alike (not a filing number)"
    if mark.placeholder or not mark.valid:
        return f"placeholder ({mark.reason or 'not a real number'})"
    if kind == "app_filing" or mark.kind.value == "app_filing":
        return "an app / mini-program filing number, not valid on a website"
    if mark.subject and mark.subject == filing.subject_number:
        return "another website of the same subject" if kind == "website_filing" else "the subject number, not the website number"
    status = registry.number_status(mark.normalized) if kind == "website_filing" else "none"
    if status != "none" or (mark.subject and mark.subject in registry.subject_numbers):
        return "another subject's filing"
    return "unknown to the registry"


def rendered_display(site: SiteView) -> dict[str, Any] | None:
    """The site's rendered document when the display rules may use it: the render completed with
    a verdict, the browser did not garble the page's charset (that is no layout defect), and no
    image that may hold the number went unread. Otherwise the static estimate stands."""
    doc = site.render
    if not doc or doc.get("status") != "ok" or not doc.get("display"):
        return None
    display = doc["display"]
    if display.get("charset_garbled"):
        return None
    if display.get("verdict") == "no_mark" and any(str(n).startswith("images not read") for n in doc.get("notes") or []):
        return None
    return doc


def display_findings(site: SiteView, registry: RegistryView, host: AddressInfo, filing: FilingInfo) -> list[Draft]:
    """The display duty (art. 14(3), 14(4), 21): from the rendered check when the sweep rendered
    the site (:func:`rendered_display`), else estimated from the static page.

    Rendered: a mark counts as shown when the browser showed it (visible text, or read by OCR
    from an image); placement and link are the measured verdict's (DESIGN.md §2 "Bottom centre,
    made measurable"). Static: a mark counts as shown when it is visible text, an image's alt text
    or written by a script (a browser shows those); hidden, <noscript> or tooltip-only marks do
    not. Either way a filing-system link around an image with no readable mark is left unknown
    (the number may be drawn in the image): no finding.
    """
    page = site.page or {}
    lookalikes = list(page.get("lookalike_marks") or [])
    links = page.get("filing_links") or []
    rendered = rendered_display(site)
    if rendered is None:
        marks = [m for m in page.get("marks") or [] if m.get("kind") in ICP_KINDS]
        shown = [m for m in marks if m.get("displayed") is not False]
        misplaced = bool(shown) and all(m.get("in_footer") is False or m.get("centred") is False for m in shown)
        unlinked = bool(shown) and not any(m.get("link_kind") for m in shown)
        placement: dict[str, Any] = {"placement": [{"number": m.get("number"), "in_footer": m.get("in_footer"),
                                                    "centred": m.get("centred")} for m in shown]}
        evidence = {"display_source": "static estimate", "filing": filing.brief(),
                    "marks": [{k: m.get(k) for k in ("text", "number", "kind", "source", "displayed", "in_footer",
                                                     "centred", "link_kind", "evidence")} for m in marks],
                    "lookalike_marks": lookalikes, "filing_links": links}
        if site.render is not None:  # rendered, but not usable: say why the estimate stands
            evidence["render"] = {"status": site.render.get("status"), "error": site.render.get("error"),
                                  "display": site.render.get("display"), "notes": site.render.get("notes")}
    else:
        display = rendered["display"]
        marks = [m for m in rendered.get("marks") or [] if m.get("kind") in ICP_KINDS]
        shown = [m for m in marks if m.get("visible")]
        misplaced = display.get("verdict") == "misplaced"
        unlinked = bool(shown) and not display.get("link")
        placement = {"placement": {k: display.get(k) for k in ("number", "bottom", "centred", "why")}}
        evidence = {"display_source": "rendered", "filing": filing.brief(), "marks": marks,
                    "lookalike_marks": lookalikes, "filing_links": links,
                    "rendered": {k: rendered.get(k) for k in ("final_url", "display", "measurements", "evidence",
                                                               "notes")}}
    party, kind = host.provider, host.party_kind

    def add(code: str, **more: Any) -> Draft:
        # NUMBER_MISMATCH is the provider's (art. 42: it verified the filing); the rest the host's
        answers = RULES[code].party_kind if kind == "provider" else kind
        return _draft(code, site, party, answers, domain=site.domain,
                      ip=host.ip, website_number=filing.website_number, evidence={**evidence, **more})

    if not shown and not lookalikes:
        if any(not (link.get("text") or "").strip() for link in links):
            return []  # a linked image: the number may be drawn in it (unknown until rendered)
        hidden = [m.get("number") for m in marks]
        return [add("NUMBER_NOT_DISPLAYED", why="hidden or not shown to a reader" if hidden else "no filing mark")]
    out: list[Draft] = []
    numbers = [m for m in shown if m.get("kind") != "licence"]
    licences = [m for m in shown if m.get("kind") == "licence"]
    if filing.licence_number:
        wrong = [m["number"] for m in licences if not _same(m.get("number"), filing.licence_number)]
        if numbers or lookalikes or wrong:
            out.append(add("LICENCE_MISMATCH", licence_on_file=filing.licence_number,
                           why="a licensed site shows a filing number" if numbers or lookalikes else
                           f"shows licence(s) it does not hold: {', '.join(wrong)}"))
    else:
        if licences:
            out.append(add("LICENCE_MISMATCH", licence_on_file=None,
                           why=f"shows licence(s) it does not hold: {', '.join(m['number'] for m in licences)}"))
        wrong_numbers = [{"shown": m.get("number"), "why": mismatch_reason(m.get("number") or "", m.get("kind") or "",
                          filing, registry)} for m in numbers if not _same(m.get("number"), filing.website_number)]
        wrong_numbers += [{"shown": text, "why": "placeholder or look-alike prefix (not a filing number)"}
                          for text in lookalikes]
        if wrong_numbers:
            out.append(add("NUMBER_MISMATCH", shown=wrong_numbers, expected=filing.website_number))
        elif not numbers:
            out.append(add("NUMBER_NOT_DISPLAYED", why="only a licence is shown, no filing number"))
    if misplaced:
        out.append(add("NUMBER_MISPLACED", **placement))
    if unlinked:
        out.append(add("LINK_MISSING", links=[m.get("link_href") for m in shown] if rendered is None
                       else [rendered["display"].get("link_href")]))
    return out


def contact_findings(site: SiteView, host: AddressInfo, filing: FilingInfo) -> list[Draft]:
    """CONTACT_MISSING: the homepage lacks a phone (or fax), an e-mail or a postal address — art.
    14(3) asks for all three ("联系电话或传真、邮箱、通信地址"); the evidence names what is missing."""
    contact = (site.page or {}).get("contact") or {}
    missing = [part for part in CONTACT_PARTS if not contact.get(part)]
    if not missing:
        return []
    return [_draft("CONTACT_MISSING", site, host.provider, "host" if host.party_kind == "provider" else "analyst",
                   domain=site.domain, ip=host.ip, website_number=filing.website_number,
                   evidence={"contact": contact, "missing": missing})]


Classifier = Callable[[str, "str | None"], list[str]]


def preapproval_findings(site: SiteView, host: AddressInfo, filing: FilingInfo,
                         classify: Classifier | None) -> list[Draft]:
    """PREAPPROVAL_SUSPECTED: the homepage looks like a pre-approval field (art. 20) and the filing
    holds no matching pre-approval item. One finding per site, the fields in its evidence."""
    page = site.page or {}
    if classify is None:
        return []
    fields = classify(page.get("text") or "", page.get("title"))
    approved = {f for f in fields if any(word in item for item in filing.preapprovals
                                         for word in PREAPPROVAL_ITEMS.get(f, (f,)))}
    try:  # the classifier's own reading of approval names, when it has one
        from monitor.preapproval import approved_fields
    except ImportError:
        pass
    else:
        approved |= approved_fields(list(filing.preapprovals))
    missing = [f for f in fields if f not in approved]
    if not missing:
        return []
    return [_draft("PREAPPROVAL_SUSPECTED", site, host.provider, "host" if host.party_kind == "provider" else "analyst",
                   domain=site.domain, ip=host.ip, website_number=filing.website_number,
                   evidence={"fields": missing, "classified": fields, "preapprovals_on_file": list(filing.preapprovals),
                             "title": page.get("title"), "text_excerpt": (page.get("text") or "")[:300]})]


def address_findings(serving: Mapping[str, str], addresses: Addresses) -> list[Draft]:
    """IP_UNREPORTED once per serving address in China that no IP filing record covers; the
    analyst attributes it (the owner and the suggested provider are in the evidence)."""
    out = []
    for ip, target in serving.items():
        a = addresses.of(ip)
        if a.in_cn and not a.reported:
            out.append(Draft("IP_UNREPORTED", target, None, ip, a.provider, "analyst",
                             evidence={"rule": RULES["IP_UNREPORTED"].what, "address": a.evidence()}))
    return out


# ---------------------------------------------------------------------------------------------
# the judgement
# ---------------------------------------------------------------------------------------------
def judge_site(site: SiteView, registry: RegistryView, addresses: Addresses,
               classify: Classifier | None = None) -> list[Draft]:
    """Every finding one swept site raises (steps 1–5 of the module docstring)."""
    category = site.category
    if category == "unknown":
        return []
    if category == "not_in_service":
        return resolution_findings(site, registry, addresses)
    if category == "redirect":
        return (redirect_findings(site, registry, addresses) + resolution_findings(site, registry, addresses)
                + hop_resolution_findings(site, registry, addresses))
    cn = addresses.in_cn(site.serving_addresses)
    if not cn:
        return []
    filings = registry.covering(site.host)
    out = service_findings(site, registry, cn, filings) + resolution_findings(site, registry, addresses)
    valid = next((f for f in filings if f.status == "filed"), None)
    if valid is None:
        return out
    host = addresses.of(site.ip) if addresses.of(site.ip).in_cn else cn[0]
    out += access_findings(site, cn, valid)
    out += display_findings(site, registry, host, valid)
    out += contact_findings(site, host, valid)
    out += preapproval_findings(site, host, valid, classify)
    for d in out:
        d.evidence.setdefault("observation", site.evidence())
    return out


def judge(folded: Folded, registry: RegistryView, addresses: Addresses,
          classify: Classifier | None = None) -> list[Draft]:
    """Every finding of a sweep, one per fingerprint (the first site that raised it keeps it)."""
    drafts: dict[str, Draft] = {}
    for site in folded.sites:
        for d in judge_site(site, registry, addresses, classify):
            d.evidence.setdefault("observation", site.evidence())
            drafts.setdefault(d.fingerprint, d)
    for d in address_findings(folded.serving, addresses):
        drafts.setdefault(d.fingerprint, d)
    return list(drafts.values())
