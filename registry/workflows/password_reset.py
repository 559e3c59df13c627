"""Filing password reset (art. 48, annex 1).

The host applies to its provider with its materials: the certificate number of the subject and the
responsible person's phone and ID number. The provider checks them against the filing (annex 1 §2;
compared by keyed hash, so neither side's plain value is ever shown) and returns them when they do
not match, or reports the request to the authority of the province that issued the number (§3).
That authority resets the password within 10 working days of receiving the report (§4): the
deadline is set when the report is made, counted in Chinese working days, and an application still
waiting after it is listed as overdue. The new password is shown once and stored only hashed.

The report is a letter to the authority (annex 1 §3), not a filing through the provider's
interface, so a suspended interface does not stop it.
"""

from __future__ import annotations

from typing import Any


from registry.models import Subject
from registry.numbers import PROVINCES
from registry.workdays import add_working_days

from .base import shape_record
from .core import Actor, Incomplete, NotAllowed, target_state
from .models import Application
from .new_filing import store_password
from .review import Review, with_password

MATERIALS = ("subject_certificate", "contact_phone", "contact_id")
RESET_WORKING_DAYS = 10  # annex 1 §4


class PasswordReset(Review):
    @staticmethod
    def _fields_password_reset() -> tuple[str, ...]:
        return MATERIALS

    def submit_password_reset(self, website_number: str, provider_code: str, materials: dict[str, Any],
                              actor: Actor, *, note: str | None = None) -> dict[str, Any]:
        self.require_submitter(actor, "applying for a password reset")
        shaped = shape_record(materials, MATERIALS)
        missing = [m for m in MATERIALS if not shaped.get(m)]
        if missing:
            raise Incomplete(f"a password reset needs the materials {', '.join(missing)} (annex 1 §1)")
        with self.commit_guard() as session:
            provider = self.provider(session, provider_code)
            website = self.website(session, website_number)
            codes = self.access_codes(session, website)
            if provider.code not in codes:
                raise NotAllowed(f"{provider.code} does not serve {website.website_number}; the host applies to one of "
                                 f"its providers ({', '.join(codes) or 'none'})")
            application = Application(kind="password_reset", state="", website_number=website.website_number,
                                      provider_code=provider.code, provider_province=self.province_of(provider.province),
                                      review_province=PROVINCES[website.website_number[0]],
                                      submitted_by=actor.name, submitted_role=actor.role, submitted_at=self.clock(),
                                      payload=self.seal(shaped))
            self.step(session, application, "submit", actor, reason=note)
            return self.view(session, application)

    def provider_check(self, application_id: int, actor: Actor) -> dict[str, Any]:
        """Annex 1 §2–3: materials consistent with the filing → reported, deadline set; else returned."""
        with self.commit_guard() as session:
            application = self.application(session, application_id)
            if application.kind != "password_reset":
                raise NotAllowed(f"{application.kind} application {application.id} has no materials check")
            self.require_provider(actor, application.provider_code, "checking the materials")
            website = self.website(session, application.website_number or "")
            subject = session.get(Subject, website.subject_id)
            assert subject is not None
            on_record = {"subject_certificate": subject.certificate_hash, "contact_phone": website.contact_phone_hash,
                         "contact_id": website.contact_id_hash}
            mismatched = [m for m in MATERIALS
                          if not on_record[m] or (application.payload.get(m) or {}).get("hash") != on_record[m]]
            if mismatched:
                problems = [f"{m}: does not match the filing" if on_record[m] else f"{m}: the filing has none on record"
                            for m in mismatched]
                application.checks = problems
                self.step(session, application, "provider_check_fail", actor,
                          reason="materials returned to the host: " + "; ".join(problems), detail={"mismatched": mismatched})
                return self.view(session, application)
            deadline = add_working_days(self.today(), RESET_WORKING_DAYS, self.calendar)
            application.checks = []
            application.due, application.due_estimated = deadline.due, deadline.estimated
            self.step(session, application, "provider_check_pass", actor,
                      reason=f"materials consistent; reported to the {application.review_province} authority, "
                             f"which resets within {RESET_WORKING_DAYS} working days (annex 1 §4)",
                      detail={"deadline": deadline.to_dict()})
            return self.view(session, application)

    def reset_password(self, application_id: int, actor: Actor, *, note: str | None = None) -> dict[str, Any]:
        """Annex 1 §4: the issuing province resets; the new password is returned this once."""
        with self.commit_guard() as session:
            application = self.application(session, application_id)
            if application.kind != "password_reset":
                raise NotAllowed(f"{application.kind} application {application.id} resets no password")
            target_state(application.kind, "reset", application.state, application.id)
            self.require_authority(actor, application, "reset")
            password = store_password(session, application.website_number or "", application.id)
            on_time = application.due is None or self.today() <= application.due
            application.result = {"website_number": application.website_number, "reset_on": self.today().isoformat(),
                                  "within_deadline": on_time}
            self.step(session, application, "reset", actor, reason=note, detail=application.result)
            out = self.view(session, application)
        return with_password(out, password)

    def refuse_reset(self, application_id: int, actor: Actor, reason: str) -> dict[str, Any]:
        return self.turn_down(application_id, actor, "refuse", reason, "a refusal")
