"""New filing (art. 18) and added access for multi-access sites (art. 18(5)).

New filing: the host submits through one provider → the provider verifies and records its
truthfulness check → the provincial automatic check → routed to the subject's province when it is
not the provider's → manual review → approved, with a website filing number and a filing password,
or returned with reasons. Approval writes the real filing rows (subject, website, domains,
addresses, access record), so ``registry lookup`` finds the site at once.

Added access: a later provider, given the number and the password by the host, adds its access;
it verifies the record as a new filing's provider does, and the subject's province reviews it.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry import fields
from registry.models import AccessRecord, Subject, Website, WebsiteAddress, WebsiteDomain
from registry.numbers import PROVINCES, placeholder_reason
from registry.protection import generate_password, hash_password, verify_password

from .base import RECORD_FIELDS, shape_record
from .core import Actor, CheckFailed, Incomplete, NotAllowed, PasswordRejected
from .models import Application, FilingCredential
from .review import Review

# The official one-character prefix of each province (蜀 and 陇 are seen on pages, never issued).
PREFIX = {name: abbr for abbr, name in PROVINCES.items() if abbr not in ("蜀", "陇")}


def issue_subject_number(session: Session, province: str, year: int) -> str:
    """The next subject filing number of ``province`` for ``year``: ``京ICP备2026000001号``."""
    prefix = f"{PREFIX[province]}ICP备{year}"
    existing = session.scalars(select(Subject.subject_number).where(Subject.subject_number.like(f"{prefix}%号")))
    seq = max((int(m[1]) for n in existing if (m := re.fullmatch(rf"{prefix}(\d{{6}})号", n))), default=0)
    while True:
        seq += 1
        if placeholder_reason(f"{year}{seq:06d}") is None:  # never issue a number that reads as a placeholder
            return f"{prefix}{seq:06d}号"


def next_website_number(session: Session, subject_number: str) -> str:
    """The subject's next site: ``…号-N``, N one past every site it ever had (cancelled ones too)."""
    stem = subject_number + "-"
    numbers = session.scalars(select(Website.website_number).where(Website.website_number.like(stem + "%")))
    last = max((int(n[len(stem):]) for n in numbers if n[len(stem):].isdigit()), default=0)
    return f"{stem}{last + 1}"


def store_password(session: Session, website_number: str, application_id: int | None) -> str:
    """A new filing password for ``website_number``: returned once, kept only as its argon2id hash."""
    password = generate_password()
    row = session.scalar(select(FilingCredential).where(FilingCredential.website_number == website_number))
    if row is None:
        session.add(FilingCredential(website_number=website_number, password_hash=hash_password(password),
                                     application_id=application_id))
    else:
        row.password_hash, row.application_id = hash_password(password), application_id
    return password


def check_password(session: Session, website_number: str, password: str) -> None:
    row = session.scalar(select(FilingCredential).where(FilingCredential.website_number == website_number))
    if row is None:
        raise PasswordRejected(f"{website_number} has no filing password on record; the authority resets it "
                               "(annex 1) before it can authorise this")
    if not password or not verify_password(row.password_hash, password):
        raise PasswordRejected(f"the filing password given for {website_number} is not its password")


class NewFiling(Review):
    # -- new filing ---------------------------------------------------------------------------------
    @staticmethod
    def _fields_new_filing() -> tuple[str, ...]:
        return RECORD_FIELDS

    def submit_new_filing(self, record: dict[str, Any], provider_code: str, actor: Actor,
                          *, note: str | None = None) -> dict[str, Any]:
        """Art. 18(1): the host submits its filing through one provider (only one, art. 18(5))."""
        self.require_submitter(actor, "submitting a filing")
        shaped = shape_record(record)
        self.ensure_interface_open(provider_code)
        with self.commit_guard() as session:
            provider = self.provider(session, provider_code)
            application = Application(kind="new_filing", state="", provider_code=provider.code,
                                      provider_province=self.province_of(provider.province),
                                      submitted_by=actor.name, submitted_role=actor.role, submitted_at=self.clock(),
                                      payload=self.seal(shaped), truthfulness={"required": True})
            self.step(session, application, "submit", actor, reason=note)
            return self.view(session, application)

    def _check_record_new_filing(self, session: Session, application: Application) -> tuple[dict[str, Any], None]:
        return application.payload, None

    def _review_province_new_filing(self, session: Session, application: Application) -> str | None:
        return self.province_of(application.payload.get("subject_province"))

    def _apply_new_filing(self, session: Session, application: Application, actor: Actor) -> dict[str, Any]:
        record = application.payload
        province = application.review_province
        assert province is not None  # set by the automatic check
        certificate = record.get("subject_certificate") or {}
        subject = None
        if certificate.get("hash"):
            subject = session.scalar(select(Subject).where(Subject.certificate_hash == certificate["hash"]))
        if subject is not None and subject.province != province:
            raise CheckFailed([f"the subject is already filed in {subject.province} ({subject.subject_number}); "
                               "a subject files in its own province"])
        if subject is None:
            subject = Subject(subject_number=issue_subject_number(session, province, self.today().year),
                              name=record["subject_name"], subject_type=fields.subject_type(record["subject_type"]),
                              province=province, certificate_enc=certificate.get("enc"),
                              certificate_hash=certificate.get("hash"))
            session.add(subject)
            session.flush()
        number = next_website_number(session, subject.subject_number)
        phone, contact_id = record.get("contact_phone") or {}, record.get("contact_id") or {}
        website = Website(website_number=number, subject_id=subject.id, name=record["website_name"], status="filed",
                          preapprovals=";".join(record.get("services") or []) or None,
                          contact_name=record.get("contact_name") or None,
                          contact_phone_enc=phone.get("enc"), contact_phone_hash=phone.get("hash"),
                          contact_id_enc=contact_id.get("enc"), contact_id_hash=contact_id.get("hash"),
                          updated_at=self.clock())
        session.add(website)
        session.flush()
        self._write_domains(session, website, record.get("domains") or [])
        self._write_addresses(session, website, record.get("ips") or [])
        session.add(AccessRecord(website_id=website.id, provider_code=application.provider_code,
                                 addresses=";".join(record.get("ips") or []) or None))
        application.website_number = number
        password = store_password(session, number, application.id)
        session.flush()
        return {"website_number": number, "subject_number": subject.subject_number, "password": password}

    @staticmethod
    def _write_domains(session: Session, website: Website, hosts: list[str]) -> None:
        for host in dict.fromkeys(hosts):
            name, covering = fields.domain(host)
            session.add(WebsiteDomain(website_id=website.id, domain=name, independent_domain=covering))

    @staticmethod
    def _write_addresses(session: Session, website: Website, ips: list[str]) -> None:
        for ip in dict.fromkeys(fields.ip(i) for i in ips):
            session.add(WebsiteAddress(website_id=website.id, ip=ip))

    # -- added access (art. 18(5)) -----------------------------------------------------------------
    @staticmethod
    def _fields_add_access() -> tuple[str, ...]:
        return ("ips",)

    def submit_add_access(self, website_number: str, provider_code: str, password: str, actor: Actor,
                          *, ips: list[str] | None = None, note: str | None = None) -> dict[str, Any]:
        """A later provider adds its access to a filed site, authorised by the filing's password."""
        self.require_provider(actor, provider_code, "adding access")
        self.ensure_interface_open(provider_code)
        shaped = shape_record({"ips": ips or []}, ("ips",))
        need_ips_valid(shaped["ips"])
        with self.commit_guard() as session:
            provider = self.provider(session, provider_code)
            website = self.website(session, website_number)
            check_password(session, website.website_number, password)
            if provider.code in self.access_codes(session, website):
                raise NotAllowed(f"{provider.code} already has an access record for {website.website_number}")
            application = Application(kind="add_access", state="", website_number=website.website_number,
                                      provider_code=provider.code, provider_province=self.province_of(provider.province),
                                      submitted_by=actor.name, submitted_role=actor.role, submitted_at=self.clock(),
                                      payload=shaped, truthfulness={"required": True})
            self.step(session, application, "submit", actor, reason=note, detail={"password": "verified"})
            return self.view(session, application)

    def _check_record_add_access(self, session: Session, application: Application) -> tuple[dict[str, Any], str]:
        website = self.website(session, application.website_number or "")
        return self.current_record(session, website), website.website_number

    def _review_province_add_access(self, session: Session, application: Application) -> str | None:
        website = self.website(session, application.website_number or "", filed=False)
        subject = session.get(Subject, website.subject_id)
        return subject.province if subject else None

    def _apply_add_access(self, session: Session, application: Application, actor: Actor) -> dict[str, Any]:
        website = self.website(session, application.website_number or "")
        if application.provider_code in self.access_codes(session, website):
            raise CheckFailed([f"{application.provider_code} already has an access record for {website.website_number}"])
        ips = [fields.ip(ip) for ip in application.payload.get("ips") or []]
        session.add(AccessRecord(website_id=website.id, provider_code=application.provider_code,
                                 addresses=";".join(ips) or None))
        known = set(session.scalars(select(WebsiteAddress.ip).where(WebsiteAddress.website_id == website.id)))
        self._write_addresses(session, website, [ip for ip in ips if ip not in known])
        website.updated_at = self.clock()
        count = session.scalar(select(func.count()).select_from(AccessRecord).where(AccessRecord.website_id == website.id))
        return {"website_number": website.website_number, "access_added": application.provider_code,
                "access_records": count}


def need_ips_valid(ips: list[str]) -> None:
    for ip in ips:
        try:
            fields.ip(ip)
        except fields.FieldError as exc:
            raise Incomplete(f"ips: {exc}") from None
