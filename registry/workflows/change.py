"""Change of a filing (art. 19): subject, responsible person and contact, website, and access.

The host submits (or its provider on its behalf); access changes are the provider's own. The
provider verifies — with a new truthfulness check when the subject, the responsible person or a
new website (domain) changes (art. 19(2)) — then the automatic check runs over the record as it
would be after the change, and the subject's province reviews it. On approval the registry rows
change in the same transaction. A filing left with no access record is then cancelled by that
authority (art. 19(4)), as a cancellation application of its own so the reason is on record.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from registry import fields
from registry.models import AccessRecord, Subject, WebsiteAddress, WebsiteDomain

from .base import shape_record
from .core import Actor, Incomplete, NotAllowed
from .models import Application
from .new_filing import NewFiling, need_ips_valid

SUBJECT_FIELDS = ("subject_name", "subject_type", "subject_certificate")
CONTACT_FIELDS = ("contact_name", "contact_phone", "contact_id")
WEBSITE_FIELDS = ("website_name", "domains", "ips", "services", "preapprovals")
ACCESS_FIELDS = ("remove_access", "access_ips")
CHANGE_FIELDS = SUBJECT_FIELDS + CONTACT_FIELDS + WEBSITE_FIELDS + ACCESS_FIELDS


def change_categories(changes: dict[str, Any]) -> list[str]:
    groups = (("subject", SUBJECT_FIELDS), ("responsible_person", CONTACT_FIELDS), ("website", WEBSITE_FIELDS),
              ("access", ACCESS_FIELDS))
    return [name for name, keys in groups if any(k in changes for k in keys)]


class Change(NewFiling):
    @staticmethod
    def _fields_change() -> tuple[str, ...]:
        return CHANGE_FIELDS

    def submit_change(self, website_number: str, changes: dict[str, Any], provider_code: str, actor: Actor,
                      *, note: str | None = None) -> dict[str, Any]:
        """Submit changes to a filed site through ``provider_code`` (one of the site's providers)."""
        self.require_submitter(actor, "submitting a change")
        if "subject_province" in changes:
            raise Incomplete("subject_province cannot change: a subject that moves files anew in its new province")
        raw = dict(changes)
        access_ips = raw.pop("access_ips", None)
        shaped = shape_record(raw, CHANGE_FIELDS)
        if access_ips is not None:
            shaped["access_ips"] = shape_record({"ips": access_ips}, ("ips",))["ips"]
            need_ips_valid(shaped["access_ips"])
        if not shaped:
            raise Incomplete("a change names at least one field to change")
        categories = change_categories(shaped)
        if "access" in categories and actor.role != "provider":
            raise NotAllowed("access information is changed by the site's provider (art. 19(1)), not by the host")
        self.ensure_interface_open(provider_code)
        with self.commit_guard() as session:
            provider = self.provider(session, provider_code)
            website = self.website(session, website_number)
            current = self.current_record(session, website)
            codes = self.access_codes(session, website)
            if provider.code not in codes:
                raise NotAllowed(f"{provider.code} does not serve {website.website_number}; a change goes through "
                                 f"one of its providers ({', '.join(codes) or 'none'})")
            unknown = sorted(set(shaped.get("remove_access") or []) - set(codes))
            if unknown:
                raise Incomplete(f"remove_access: {', '.join(unknown)} has no access record for {website.website_number}")
            added_domains = set(shaped.get("domains") or []) - set(current.get("domains") or [])
            # Art. 19(2): a new truthfulness check for a new subject, responsible person or website.
            required = bool({"subject", "responsible_person"} & set(categories)) or bool(added_domains)
            application = Application(kind="change", state="", website_number=website.website_number,
                                      provider_code=provider.code, provider_province=self.province_of(provider.province),
                                      submitted_by=actor.name, submitted_role=actor.role, submitted_at=self.clock(),
                                      payload=self.seal(shaped), truthfulness={"required": required})
            self.step(session, application, "submit", actor, reason=note, detail={"categories": categories})
            return self.view(session, application)

    def _check_record_change(self, session: Session, application: Application) -> tuple[dict[str, Any], str]:
        website = self.website(session, application.website_number or "")
        record = self.current_record(session, website)
        record.update({k: v for k, v in application.payload.items() if k not in ACCESS_FIELDS})
        return record, website.website_number

    def _review_province_change(self, session: Session, application: Application) -> str | None:
        return self._review_province_add_access(session, application)

    def _apply_change(self, session: Session, application: Application, actor: Actor) -> dict[str, Any]:
        website = self.website(session, application.website_number or "")
        subject = session.get(Subject, website.subject_id)
        assert subject is not None
        changes = application.payload
        if "subject_name" in changes:
            subject.name = changes["subject_name"]
        if "subject_type" in changes:
            subject.subject_type = fields.subject_type(changes["subject_type"])
        if "subject_certificate" in changes:
            subject.certificate_enc = changes["subject_certificate"]["enc"]
            subject.certificate_hash = changes["subject_certificate"]["hash"]
        if "website_name" in changes:
            website.name = changes["website_name"]
        if "contact_name" in changes:
            website.contact_name = changes["contact_name"] or None
        for key in ("contact_phone", "contact_id"):
            if key in changes:
                setattr(website, f"{key}_enc", changes[key]["enc"])
                setattr(website, f"{key}_hash", changes[key]["hash"])
        if "services" in changes:
            website.preapprovals = ";".join(changes["services"]) or None
        if "domains" in changes:
            session.execute(delete(WebsiteDomain).where(WebsiteDomain.website_id == website.id))
            session.flush()
            self._write_domains(session, website, changes["domains"])
        if "ips" in changes:
            session.execute(delete(WebsiteAddress).where(WebsiteAddress.website_id == website.id))
            session.flush()
            self._write_addresses(session, website, changes["ips"])
        if "access_ips" in changes:
            record = session.scalar(select(AccessRecord).where(AccessRecord.website_id == website.id,
                                                               AccessRecord.provider_code == application.provider_code))
            if record is not None:
                record.addresses = ";".join(changes["access_ips"]) or None
        removed = changes.get("remove_access") or []
        if removed:
            session.execute(delete(AccessRecord).where(AccessRecord.website_id == website.id,
                                                       AccessRecord.provider_code.in_(removed)))
        website.updated_at = self.clock()
        session.flush()
        produced: dict[str, Any] = {"website_number": website.website_number,
                                    "changed": sorted(k for k in changes if k not in ("preapprovals",))}
        if not self.access_codes(session, website):
            cancellation = self._cancel_by_authority(
                session, website, actor,
                f"art. 19(4): no access record is left after change {application.id}", removed)
            produced["cancelled_by_authority"] = cancellation
        return produced
