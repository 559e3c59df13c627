"""Single lookups against the store: a domain or URL, an IP address, or a filing number.

``lookup(value)`` decides which of the three the value is and answers with a plain dict (the
shape ``icpwatch registry lookup --json`` prints). Bulk matching for sweeps uses
``registry.index`` instead, which answers the same questions from memory.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.domains import InvalidHostname, independent_domain, is_ip_literal, normalize_host
from registry.models import (
    AccessRecord,
    BlacklistEntry,
    DomainFilingRecord,
    IPFilingRecord,
    Provider,
    Subject,
    Website,
    WebsiteAddress,
    WebsiteDomain,
)
from registry.numbers import InvalidFilingNumber, MarkKind, parse_number
from registry.store import Store

# Anything that carries one of these is read as a filing or licence number, never as a host name.
_NUMBER_HINT = re.compile(r"icp|ＩＣＰ|公网安|公網安|备|備|证|證|号|號|[A-Za-z]\d\s*[-－]", re.IGNORECASE)


class LookupError_(ValueError):
    """The value is none of: a domain, a URL, an IP address, a filing or licence number."""


def classify(value: str) -> str:
    text = value.strip()
    if not text:
        raise LookupError_("nothing to look up: the value is empty")
    if is_ip_literal(text):
        return "ip"
    if _NUMBER_HINT.search(text) and "/" not in text and "." not in text:
        return "number"
    return "domain"


def ip_key(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The 32-hex-digit key ``IPFilingRecord.first``/``last`` use (IPv4 mapped into ::ffff:0:0/96)."""
    offset = 0xFFFF << 32 if address.version == 4 else 0
    return f"{int(address) + offset:032x}"


class Registry:
    """Lookups over one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def lookup(self, value: str) -> dict[str, Any]:
        kind = classify(value)
        if kind == "ip":
            return self.ip(value)
        if kind == "number":
            return self.number(value)
        return self.domain(value)

    def domain(self, value: str) -> dict[str, Any]:
        try:
            host = normalize_host(value)
            covering = independent_domain(host)
        except InvalidHostname as exc:
            raise LookupError_(f"not a domain or URL: {exc}") from None
        with self.store.sessions() as session:
            website = session.execute(
                select(Website)
                .join(WebsiteDomain, WebsiteDomain.website_id == Website.id)
                .where(WebsiteDomain.independent_domain == covering)
                .order_by(Website.status.desc(), Website.id)  # 'filed' sorts before 'cancelled'
            ).scalars().first()
            registrar = session.execute(
                select(DomainFilingRecord.registrar).where(DomainFilingRecord.domain.in_({host, covering}))
            ).scalars().first()
            blacklist = session.execute(
                select(BlacklistEntry.reason).where(
                    BlacklistEntry.kind == "domain", BlacklistEntry.match_key.in_({host, covering})
                )
            ).first()
            answer: dict[str, Any] = {
                "kind": "domain",
                "input": value,
                "host": host,
                "independent_domain": covering,
                "filed": bool(website and website.status == "filed"),
                "status": website.status if website else "none",
                "website_number": website.website_number if website else None,
                "registrar": registrar,
                "blacklisted": blacklist is not None,
            }
            if website is not None:
                answer.update(_website_details(session, website))
            return answer

    def ip(self, value: str) -> dict[str, Any]:
        try:
            address = ipaddress.ip_address(value.strip().strip("[]"))
        except ValueError:
            raise LookupError_(f"not an IP address: {value!r}") from None
        key = ip_key(address)
        with self.store.sessions() as session:
            record = session.execute(
                select(IPFilingRecord)
                .where(IPFilingRecord.first <= key, IPFilingRecord.last >= key)
                .order_by(IPFilingRecord.prefixlen.desc())
            ).scalars().first()
            provider = (
                session.execute(select(Provider).where(Provider.code == record.user_code)).scalar()
                if record and record.user_code
                else None
            )
            filed_by_ip = session.execute(
                select(Website.website_number, Website.status)
                .join(WebsiteAddress, WebsiteAddress.website_id == Website.id)
                .where(WebsiteAddress.ip == str(address))
            ).all()
            return {
                "kind": "ip",
                "input": value,
                "ip": str(address),
                "cidr": record.cidr if record else None,
                "unit": record.unit if record else None,
                "provider": record.user_code if record else None,
                "provider_name": provider.name if provider else None,
                "province": record.province if record else None,
                "reported": record is not None,
                "websites": [{"website_number": n, "status": s} for n, s in filed_by_ip],
            }

    def number(self, value: str) -> dict[str, Any]:
        try:
            mark = parse_number(value)
        except InvalidFilingNumber as exc:
            return {"kind": "number", "input": value, "normalized": None, "mark_kind": None,
                    "province": None, "valid": False, "placeholder": False, "reason": str(exc),
                    "found": False}
        answer: dict[str, Any] = {
            "kind": "number",
            "input": value,
            "normalized": mark.normalized,
            "mark_kind": mark.kind.value,
            "province": mark.province_name,
            "valid": mark.valid,
            "placeholder": mark.placeholder,
            "reason": mark.reason,
            "is_icp": mark.is_icp,
        }
        with self.store.sessions() as session:
            if mark.kind is MarkKind.WEBSITE_FILING:
                website = session.execute(select(Website).where(Website.website_number == mark.normalized)).scalar()
                answer["found"] = website is not None
                answer["status"] = website.status if website else "none"
                if website is not None:
                    answer.update(_website_details(session, website))
            elif mark.kind in (MarkKind.SUBJECT_FILING, MarkKind.APP_FILING) and mark.subject:
                subject = session.execute(select(Subject).where(Subject.subject_number == mark.subject)).scalar()
                answer["found"] = subject is not None
                if subject is not None:
                    answer["subject_name"] = subject.name
                    answer["websites"] = [
                        {"website_number": w.website_number, "status": w.status, "website_name": w.name}
                        for w in sorted(subject.websites, key=lambda w: w.website_number)
                    ]
            elif mark.kind is MarkKind.LICENCE:
                holders = session.execute(
                    select(Website.website_number).where(Website.licence_number == mark.normalized)
                ).scalars().all()
                answer["found"] = bool(holders)
                answer["websites"] = [{"website_number": n} for n in holders]
            else:
                answer["found"] = False
        return answer


def _website_details(session: Session, website: Website) -> dict[str, Any]:
    subject = website.subject
    return {
        "website_name": website.name,
        "subject_name": subject.name,
        "subject_type": subject.subject_type,
        "subject_province": subject.province,
        "licence_number": website.licence_number,
        "domains": sorted(d.domain for d in website.domains),
        "ips": sorted(a.ip for a in website.addresses),
        "providers": sorted(
            session.execute(select(AccessRecord.provider_code).where(AccessRecord.website_id == website.id)).scalars()
        ),
    }
