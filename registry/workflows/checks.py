"""The provincial system's automatic check (art. 18(3)1, art. 19(3)) and the conflict detection of
figure 1: what a submitted record must pass before a person reviews it.

* required fields, and each value in its format (the registry's own validators, ``registry.fields``);
* art. 14(11): an individual may not run a site named with 国字号 words or the name of an
  administrative region;
* a domain already filed by another subject (a domain is filed once, by one subject);
* the blacklist (art. 12(9)): the domain, the subject's name, its certificate number;
* art. 20: services that need a pre-approval (前置审批) carry the approval document.

Every problem found is reported, each naming its field; an empty list means the record passes.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import fields
from registry.fields import FieldError
from registry.models import BlacklistEntry, Subject, Website, WebsiteDomain
from registry.protection import Protector

# Art. 20(1): 电子公告 needs the telecom authority's permit; the others a pre-approval or special
# approval of their competent department before filing.
PREAPPROVAL_SERVICES = ("电子公告", "新闻", "出版", "教育", "医疗保健", "药品和医疗器械", "视听节目", "网络文化")

# Art. 14(11) "国字号": words that present a site as national. The rules give no list; these are the
# words the provincial systems' published naming guidance names (中国, 中华, 全国, 国家, 国际 …).
NATIONAL_WORDS = ("中国", "中华", "全国", "国家", "国际", "华夏", "神州", "国字")

REQUIRED = ("subject_name", "subject_type", "subject_province", "subject_certificate", "website_name",
            "contact_name", "contact_phone", "contact_id")
CONFIDENTIAL = {"subject_certificate": "subject_certificate", "contact_phone": "contact_phone",
                "contact_id": "contact_id"}


@functools.lru_cache(maxsize=1)
def _region_matcher() -> Any:
    # cpca carries the national administrative-division names (province, city, county, with and
    # without their suffixes) and an Aho-Corasick matcher over them: the same list the art.
    # 14(11) rule refers to, kept up to date by that package rather than by hand here.
    import cpca

    return cpca


# A street named after a place (中山路, 太原街, 南京路) is a street, not the region: cpca reads
# "中山路小吃" as 中山市.  A region name followed by one of these is passed over; 路线/路由/路径 and
# 街舞 are ordinary words, not streets.
_STREET_AFTER = re.compile(r"大街|大道|路(?![线由径])|街(?!舞)|巷|胡同|弄")
_LEVELS = ("省", "市", "区")
_MAX_STREETS = 8  # streets passed over in one name before giving up on the rest


def _matched_length(text: str, region: str, pos: int) -> int:
    """How much of ``region`` (a full name such as 中山市) ``text`` spells at ``pos`` (中山)."""
    return len(os.path.commonprefix((region, text[pos:pos + len(region)])))


def region_names_in(text: str) -> list[str]:
    """Administrative region names (省/市/区县) that ``text`` is named with, as cpca finds them —
    a name used only as a street's (中山路) excepted, and a higher level cpca inferred (广东省
    from 中山) kept only with the name it was inferred from."""
    for _ in range(_MAX_STREETS):
        row = _region_matcher().transform([text], pos_sensitive=True).iloc[0]
        found = [(str(row[c]), int(row[f"{c}_pos"])) for c in _LEVELS if isinstance(row[c], str) and row[c]]
        street = None
        for name, pos in found:
            length = _matched_length(text, name, pos) if pos >= 0 else 0
            if length and _STREET_AFTER.match(text, pos + length):
                street = (pos, length)
                break
        if street is None:
            break
        pos, length = street  # blank the street's name out and read the rest again
        text = text[:pos] + " " * length + text[pos + length:]
    kept: list[str] = []
    for name, pos in reversed(found):  # from the lowest level up
        if pos >= 0 or kept:
            kept.append(name)
    return list(dict.fromkeys(reversed(kept)))


def naming_problems(subject_type: str | None, website_name: str | None) -> list[str]:
    """Art. 14(11) for individuals: no 国字号 and no administrative-region name in the site's name."""
    if subject_type != "个人" or not website_name:
        return []
    problems = [f"website_name: an individual may not name a site with the 国字号 word {w!r} (art. 14(11))"
                for w in NATIONAL_WORDS if w in website_name]
    regions = region_names_in(website_name)
    if regions:
        problems.append(f"website_name: an individual may not name a site after an administrative region "
                        f"({', '.join(regions)}) (art. 14(11))")
    return problems


def _plain(protector: Protector, payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if isinstance(value, dict):
        return protector.decrypt(value["enc"]) if value.get("enc") else None
    return value or None


def _format_problems(protector: Protector, record: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for key in REQUIRED:
        if not _plain(protector, record, key):
            problems.append(f"{key}: required")
    if not record.get("domains") and not record.get("ips"):
        problems.append("domains: a filing needs at least one domain (or, filed by IP alone, an address)")
    checks = {"subject_type": fields.subject_type, "subject_province": fields.province,
              "contact_phone": fields.contact_phone, "contact_id": fields.contact_id}
    subject_type = None
    for key, validate in checks.items():
        value = _plain(protector, record, key)
        if value:
            try:
                result = validate(value)
            except FieldError as exc:
                problems.append(f"{key}: {exc}")
                continue
            if key == "subject_type":
                subject_type = result
    certificate = _plain(protector, record, "subject_certificate")
    if certificate:
        # An individual files with a resident ID; an organisation with its certificate (USCC …).
        validate = fields.contact_id if subject_type == "个人" else fields.subject_certificate
        try:
            validate(certificate)
        except FieldError as exc:
            problems.append(f"subject_certificate: {exc}")
    for host in record.get("domains") or []:
        try:
            fields.domain(host)
        except FieldError as exc:
            problems.append(f"domains: {exc}")
    for ip in record.get("ips") or []:
        try:
            fields.ip(ip)
        except FieldError as exc:
            problems.append(f"ips: {exc}")
    problems += naming_problems(subject_type, record.get("website_name"))
    return problems


def _hosts(record: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for host in record.get("domains") or []:
        try:
            out.append(fields.domain(host))
        except FieldError:
            continue  # reported by the format check
    return out


def _conflicts(session: Session, record: dict[str, Any], own_website: str | None) -> list[str]:
    """Domains whose independent domain another subject has filed (a live filing, not a cancelled one)."""
    certificate_hash = (record.get("subject_certificate") or {}).get("hash") if isinstance(
        record.get("subject_certificate"), dict) else None
    problems = []
    for host, covering in _hosts(record):
        rows = session.execute(
            select(Website.website_number, Subject.name, Subject.certificate_hash)
            .join(WebsiteDomain, WebsiteDomain.website_id == Website.id)
            .join(Subject, Subject.id == Website.subject_id)
            .where(WebsiteDomain.independent_domain == covering, Website.status == "filed")
        ).all()
        for number, name, other_hash in rows:
            if number == own_website:
                continue
            same = (other_hash == certificate_hash) if (other_hash and certificate_hash) else (
                name == record.get("subject_name"))
            if not same:
                problems.append(f"domains: {host} is already filed by another subject under {number} (conflict)")
                break
    return problems


def _blacklisted(session: Session, record: dict[str, Any]) -> list[str]:
    keys: list[tuple[str, str, str]] = []
    for host, covering in _hosts(record):
        keys += [("domain", host, f"domains: {host} is blacklisted"),
                 ("domain", covering, f"domains: {host} is under the blacklisted domain {covering}")]
    if record.get("subject_name"):
        keys.append(("subject", record["subject_name"], "subject_name: the subject is blacklisted"))
    certificate = record.get("subject_certificate")
    if isinstance(certificate, dict) and certificate.get("hash"):
        keys.append(("subject", certificate["hash"], "subject_certificate: the certificate is blacklisted"))
    problems = []
    for kind, key, message in dict.fromkeys(keys):
        entry = session.execute(select(BlacklistEntry.id, BlacklistEntry.reason).where(
            BlacklistEntry.kind == kind, BlacklistEntry.match_key == key)).first()
        if entry is not None:
            problems.append(f"{message} (art. 12(9)){': ' + entry.reason if entry.reason else ''}")
    return problems


def preapproval_problems(services: Iterable[str], preapprovals: Iterable[dict[str, Any]]) -> list[str]:
    """Art. 20(4): a service that needs a pre-approval is not filed without its document."""
    documents = {str(p.get("service", "")).strip(): str(p.get("document", "")).strip() for p in preapprovals or []}
    problems = []
    for service in services or []:
        if service not in PREAPPROVAL_SERVICES:
            problems.append(f"services: unknown service {service!r}; pre-approval services are "
                            f"{', '.join(PREAPPROVAL_SERVICES)}")
        elif not documents.get(service):
            problems.append(f"preapprovals: {service} needs its pre-approval document before filing (art. 20)")
    return problems


def automatic_check(session: Session, protector: Protector, record: dict[str, Any], *,
                    own_website: str | None = None) -> list[str]:
    """Every problem the provincial system finds in ``record`` (empty: it passes)."""
    return (_format_problems(protector, record) + _conflicts(session, record, own_website)
            + _blacklisted(session, record)
            + preapproval_problems(record.get("services") or [], record.get("preapprovals") or []))
