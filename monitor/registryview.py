"""The registry as a sweep needs it, loaded once: ``RegistryIndex`` for the domain, address and
number questions, and pandas frames joined into plain dicts for the rest (the filing behind a
number: subject, licence, pre-approvals, access records, filed addresses; registrars;
blacklist; provider names). No per-row queries while judging.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from registry.domains import InvalidHostname, independent_domain, is_ip_literal
from registry.index import AddressHit, DomainHit, RegistryIndex
from registry.store import Store


@dataclass(frozen=True)
class FilingInfo:
    """One website filing, as the rules read it."""

    website_number: str
    status: str
    subject_number: str
    subject_name: str
    certificate_hash: str | None
    licence_number: str | None
    preapprovals: tuple[str, ...]
    providers: frozenset[str]
    ips: frozenset[str]
    has_domains: bool

    def brief(self) -> dict[str, Any]:
        return {"website_number": self.website_number, "status": self.status,
                "subject_name": self.subject_name, "licence_number": self.licence_number,
                "preapprovals": list(self.preapprovals), "providers": sorted(self.providers),
                "ips": sorted(self.ips)}


@dataclass
class RegistryView:
    index: RegistryIndex
    filings: dict[str, FilingInfo]
    domain_numbers: dict[str, list[str]]          # independent domain → website numbers (any status)
    ip_only_numbers: dict[str, list[str]]         # address → numbers of filings without domains
    registrars: dict[str, str]                    # domain → registrar code
    blacklisted_domains: set[str]
    blacklisted_subjects: set[str]                # names and certificate hashes
    providers: dict[str, str]                     # code → name
    subject_numbers: set[str] = field(default_factory=set)
    _domain_cache: dict[str, DomainHit | None] = field(default_factory=dict)
    _ip_cache: dict[str, AddressHit] = field(default_factory=dict)

    # ---- loading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, engine: Engine) -> RegistryView:
        index = RegistryIndex.load(Store(engine))

        def frame(sql: str) -> pd.DataFrame:
            with engine.connect() as connection:
                return pd.read_sql_query(sql, connection)

        websites = frame(
            "SELECT w.id, w.website_number, w.status, w.licence_number, w.preapprovals, "
            "s.subject_number, s.name AS subject_name, s.certificate_hash "
            "FROM websites w JOIN subjects s ON s.id = w.subject_id")
        domains = frame("SELECT website_id, independent_domain FROM website_domains")
        addresses = frame("SELECT website_id, ip FROM website_addresses")
        access = frame("SELECT website_id, provider_code FROM access_records")
        numbers = dict(zip(websites["id"], websites["website_number"]))
        providers_by_site: dict[int, set[str]] = defaultdict(set)
        for wid, code in zip(access["website_id"], access["provider_code"]):
            providers_by_site[wid].add(code)
        ips_by_site: dict[int, set[str]] = defaultdict(set)
        for wid, ip in zip(addresses["website_id"], addresses["ip"]):
            ips_by_site[wid].add(ip)
        with_domains = set(domains["website_id"])
        filings: dict[str, FilingInfo] = {}
        for row in websites.itertuples(index=False):
            raw = row.preapprovals if isinstance(row.preapprovals, str) else ""
            pre = tuple(p.strip() for p in raw.split(";") if p.strip())
            filings[row.website_number] = FilingInfo(
                row.website_number, row.status, row.subject_number, row.subject_name,
                row.certificate_hash if isinstance(row.certificate_hash, str) else None,
                row.licence_number if isinstance(row.licence_number, str) else None, pre,
                frozenset(providers_by_site.get(row.id, ())), frozenset(ips_by_site.get(row.id, ())),
                row.id in with_domains)
        domain_numbers: dict[str, list[str]] = defaultdict(list)
        for wid, dom in zip(domains["website_id"], domains["independent_domain"]):
            domain_numbers[dom].append(numbers[wid])
        ip_only: dict[str, list[str]] = defaultdict(list)
        for wid, ip in zip(addresses["website_id"], addresses["ip"]):
            if wid not in with_domains:
                ip_only[ip].append(numbers[wid])
        registrars = frame("SELECT domain, registrar FROM domain_filing_records")
        blacklist = frame("SELECT kind, match_key FROM blacklist")
        providers = frame("SELECT code, name FROM providers")
        return cls(index=index, filings=filings, domain_numbers=dict(domain_numbers),
                   ip_only_numbers=dict(ip_only),
                   registrars=dict(zip(registrars["domain"], registrars["registrar"])),
                   blacklisted_domains=set(blacklist.loc[blacklist["kind"] == "domain", "match_key"]),
                   blacklisted_subjects=set(blacklist.loc[blacklist["kind"] == "subject", "match_key"]),
                   providers=dict(zip(providers["code"], providers["name"])),
                   subject_numbers={f.subject_number for f in filings.values()})

    # ---- questions -----------------------------------------------------------------------------
    def independent(self, host: str) -> str | None:
        if is_ip_literal(host):
            return None
        try:
            return independent_domain(host)
        except InvalidHostname:
            return None

    def covering(self, host: str) -> list[FilingInfo]:
        """Every filing (any status) covering a host: its independent domain's filings, or for an
        address the filings made by IP alone. Filed ones first."""
        if is_ip_literal(host):
            numbers = self.ip_only_numbers.get(host.strip("[]"), [])
        else:
            numbers = self.domain_numbers.get(self.independent(host) or "", [])
        found = [self.filings[n] for n in numbers if n in self.filings]
        return sorted(found, key=lambda f: (f.status != "filed", f.website_number))

    def valid(self, host: str) -> FilingInfo | None:
        return next((f for f in self.covering(host) if f.status == "filed"), None)

    def address(self, ip: str) -> AddressHit:
        hit = self._ip_cache.get(ip)
        if hit is None:
            hit = self._ip_cache[ip] = self.index.match_ip(ip)
        return hit

    def warm_addresses(self, ips: list[str]) -> None:
        """Answer many address questions at once (``RegistryIndex.match_ips``)."""
        todo = [ip for ip in dict.fromkeys(ips) if ip not in self._ip_cache]
        if not todo:
            return
        frame = self.index.match_ips(todo)
        for ip, cidr, unit, provider in zip(frame["value"], frame["cidr"], frame["unit"], frame["provider"]):
            self._ip_cache[ip] = AddressHit(ip, cidr, unit, provider)

    def registrar(self, host: str) -> str | None:
        dom = self.independent(host)
        return self.registrars.get(host) or (self.registrars.get(dom) if dom else None)

    def blacklisted(self, host: str | None, filings: list[FilingInfo]) -> list[str]:
        """Why the site is blacklisted: its domain, or a covering filing's subject (name or
        certificate); [] when it is not."""
        why = []
        if host:
            dom = self.independent(host)
            for d in {host, dom} - {None}:
                if d in self.blacklisted_domains:
                    why.append(f"domain {d}")
        for f in filings:
            if f.subject_name in self.blacklisted_subjects:
                why.append(f"subject {f.subject_name}")
            elif f.certificate_hash and f.certificate_hash in self.blacklisted_subjects:
                why.append(f"subject certificate of {f.subject_name}")
        return list(dict.fromkeys(why))

    def number_status(self, number: str) -> str:
        return self.index.filing_status(number)
