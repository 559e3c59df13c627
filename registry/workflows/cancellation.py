"""Cancellation (art. 22) and licence conversion (art. 21).

Cancellation by the host (through its provider's system, authorised by the filing password, art.
47), by the provider on the host's behalf (sent on by the system to the subject's province), or by
the authority on its own findings (art. 22(3); also after a change leaves no access, art. 19(4)).
A cancelled filing keeps its rows with status ``cancelled``; its providers must stop serving it
(art. 22(4)) and the monitor's next sweep raises CANCELLED_STILL_SERVED where one does not.

Licence conversion: the host applies to the authority where the subject is registered; on approval
the subject's filing numbers are replaced by its operating licence number (art. 21(2)) — every
filed site of the subject carries the licence from then on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import Subject, Website
from registry.numbers import InvalidFilingNumber, MarkKind, parse_number

from .base import need_reason
from .core import Actor, CheckFailed, Incomplete, NotAllowed
from .models import Application
from .new_filing import check_password
from .review import Review


class Cancellation(Review):
    def _subject_province(self, session: Session, website: Website) -> str:
        subject = session.get(Subject, website.subject_id)
        assert subject is not None
        return subject.province

    def submit_cancellation(self, website_number: str, actor: Actor, provider_code: str, *, reason: str,
                            password: str | None = None) -> dict[str, Any]:
        """Art. 22(1)-(2): the host, in its provider's system with the filing password, or the
        provider on its behalf; either way it reaches the subject's province for review."""
        self.require_submitter(actor, "applying for a cancellation")
        why = need_reason(reason, "a cancellation")
        with self.commit_guard() as session:
            provider = self.provider(session, provider_code)
            website = self.website(session, website_number)
            codes = self.access_codes(session, website)
            if provider.code not in codes:
                raise NotAllowed(f"{provider.code} does not serve {website.website_number}; a cancellation goes "
                                 f"through one of its providers ({', '.join(codes) or 'none'})")
            if actor.role == "host":
                check_password(session, website.website_number, password or "")
            else:
                self.require_provider(actor, provider.code, "applying for a cancellation")
                self.ensure_interface_open(provider.code)
            application = Application(kind="cancellation", state="", website_number=website.website_number,
                                      provider_code=provider.code, provider_province=self.province_of(provider.province),
                                      review_province=self._subject_province(session, website),
                                      submitted_by=actor.name, submitted_role=actor.role, submitted_at=self.clock(),
                                      payload={"reason": why})
            self.step(session, application, "submit", actor, reason=why,
                      detail={"password": "verified"} if actor.role == "host" else None)
            if actor.role == "provider":  # the provider's report goes on to the subject's province at once
                self.step(session, application, "provider_forward", actor,
                          reason=f"sent to the {application.review_province} authority (art. 22(2))")
            return self.view(session, application)

    def provider_forward(self, application_id: int, actor: Actor) -> dict[str, Any]:
        """The host's cancellation, made in the provider's system, goes on to the subject's province."""
        with self.commit_guard() as session:
            application = self.application(session, application_id)
            if application.kind != "cancellation":
                raise NotAllowed(f"{application.kind} application {application.id} is not forwarded this way")
            self.require_provider(actor, application.provider_code, "forwarding the cancellation")
            self.ensure_interface_open(application.provider_code or "")
            self.step(session, application, "provider_forward", actor,
                      reason=f"sent to the {application.review_province} authority (art. 22(2))")
            return self.view(session, application)

    def _apply_cancellation(self, session: Session, application: Application, actor: Actor) -> dict[str, Any]:
        website = self.website(session, application.website_number or "")
        codes = self.access_codes(session, website)
        website.status, website.updated_at = "cancelled", self.clock()
        return {"website_number": website.website_number, "stop_access": codes,
                "note": "its providers must stop serving it (art. 22(4)); the next sweep checks"}

    def cancel_by_authority(self, website_number: str, actor: Actor, *, reason: str) -> dict[str, Any]:
        """Art. 22(3): the authority of the subject's province cancels a filing it finds unlawful."""
        why = need_reason(reason, "a cancellation by the authority")
        with self.commit_guard() as session:
            website = self.website(session, website_number)
            probe = Application(kind="cancellation", review_province=self._subject_province(session, website))
            self.require_authority(actor, probe, "cancel")
            application_id = self._cancel_by_authority(session, website, actor, why, self.access_codes(session, website))
            return self.view(session, self.application(session, application_id))

    def _cancel_by_authority(self, session: Session, website: Website, actor: Actor, reason: str,
                             providers: list[str]) -> int:
        codes = sorted(set(providers) | set(self.access_codes(session, website)))
        application = Application(kind="cancellation", state="", website_number=website.website_number,
                                  review_province=self._subject_province(session, website),
                                  submitted_by=actor.name, submitted_role=actor.role, submitted_at=self.clock(),
                                  payload={"reason": reason})
        result = {"website_number": website.website_number, "stop_access": codes,
                  "note": "the providers are told to stop serving it (art. 22(3)-(4)); the next sweep checks"}
        application.result = result
        self.step(session, application, "authority_cancel", actor, reason=reason, detail=result)
        website.status, website.updated_at = "cancelled", self.clock()
        session.flush()
        return application.id

    # -- licence conversion (art. 21) ---------------------------------------------------------------
    @staticmethod
    def _fields_licence_conversion() -> tuple[str, ...]:
        return ("licence_number",)

    @staticmethod
    def _licence(value: str, province: str) -> str:
        try:
            mark = parse_number(value)
        except InvalidFilingNumber as exc:
            raise Incomplete(f"licence_number: {exc}") from None
        if mark.kind is not MarkKind.LICENCE or not mark.valid:
            raise Incomplete(f"licence_number: {value!r} is not an operating licence number (…ICP证…号)")
        if mark.province_name != province:
            raise Incomplete(f"licence_number: {mark.normalized} is a {mark.province_name} licence; the subject "
                             f"is registered in {province} (art. 21(1))")
        return mark.normalized

    def submit_licence_conversion(self, website_number: str, licence_number: str, actor: Actor,
                                  *, note: str | None = None) -> dict[str, Any]:
        self.require_submitter(actor, "applying for the licence conversion")
        with self.commit_guard() as session:
            website = self.website(session, website_number)
            province = self._subject_province(session, website)
            licence = self._licence(licence_number, province)
            application = Application(kind="licence_conversion", state="", website_number=website.website_number,
                                      review_province=province, submitted_by=actor.name, submitted_role=actor.role,
                                      submitted_at=self.clock(), payload={"licence_number": licence})
            self.step(session, application, "submit", actor, reason=note)
            return self.view(session, application)

    def _apply_licence_conversion(self, session: Session, application: Application, actor: Actor) -> dict[str, Any]:
        website = self.website(session, application.website_number or "")
        licence = self._licence(application.payload.get("licence_number", ""), application.review_province or "")
        sites = session.scalars(select(Website).where(Website.subject_id == website.subject_id,
                                                      Website.status == "filed").order_by(Website.website_number)).all()
        if not sites:
            raise CheckFailed(["the subject has no filed site left to convert"])
        for site in sites:
            site.licence_number, site.updated_at = licence, self.clock()
        return {"licence_number": licence, "websites": [s.website_number for s in sites]}
