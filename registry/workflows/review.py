"""The steps the reviewed workflows share (new filing, change, added access; arts. 18, 19): the
provider's verification with its truthfulness check, the provincial automatic check and the routing
to the subject's province, the authority's approval or return with reasons, resubmission and
withdrawal. Approval and the check's input differ per workflow: each supplies ``_check_record`` and
``_apply`` through :data:`HOOKS`.
"""

from __future__ import annotations

from typing import Any

from registry.workflows.checks import automatic_check

from .base import WorkflowBase, need_reason, retrying, shape_record
from .core import Actor, CheckFailed, Incomplete, NotAllowed, target_state
from .models import Application

REVIEWED = ("new_filing", "change", "add_access")
AUTOMATIC_CHECK = Actor.system("provincial automatic check")


def with_password(out: dict[str, Any], password: str) -> dict[str, Any]:
    """The step's view with the filing password it issued, the one time it is ever shown."""
    out["password"] = password
    out["password_note"] = "shown once: only its argon2id hash is stored"
    return out


class Review(WorkflowBase):
    # -- hooks: each workflow module defines _check_record_<kind>, _apply_<kind> … ----------------
    def _hook(self, name: str, kind: str) -> Any:
        hook = getattr(self, f"_{name}_{kind}", None)
        if hook is None:
            raise NotAllowed(f"{kind} applications have no {name.replace('_', ' ')} step")
        return hook

    def _check_record(self, session: Any, application: Application) -> tuple[dict[str, Any], str | None]:
        """(record the automatic check reads, the filing whose own domains are no conflict)."""
        return self._hook("check_record", application.kind)(session, application)

    def _apply(self, session: Any, application: Application, actor: Actor) -> dict[str, Any]:
        """Make an approved application real in the registry; returns what it produced."""
        return self._hook("apply", application.kind)(session, application, actor)

    def _review_province(self, session: Any, application: Application) -> str | None:
        return self._hook("review_province", application.kind)(session, application)

    def _allowed_fields(self, kind: str) -> tuple[str, ...]:
        return self._hook("fields", kind)()

    # -- the provider's verification and the automatic check -----------------------------------
    def provider_verify(self, application_id: int, actor: Actor, *, method: str | None = None,
                        reference: str | None = None, note: str | None = None) -> dict[str, Any]:
        """Art. 18(2) / 19(2): the provider confirms the record true and reports it to the province,
        recording its truthfulness check (how and its reference) where the article requires one."""
        with self.commit_guard() as session:
            application = self.application(session, application_id)
            if application.kind not in REVIEWED:
                raise NotAllowed(f"{application.kind} application {application.id} has no provider verification step")
            self.require_provider(actor, application.provider_code, "verifying the record")
            self.ensure_interface_open(application.provider_code or "")
            check = dict(application.truthfulness or {"required": True})
            if check.get("required") and not ((method or "").strip() and (reference or "").strip()):
                raise Incomplete("the truthfulness check (真实性核验) must be recorded: --method (e.g. 当面核验, "
                                 "视频核验) and --reference (the check form's number)")
            check.update({"method": (method or "").strip() or None, "reference": (reference or "").strip() or None,
                          "note": (note or "").strip() or None, "by": actor.name, "at": self.clock().isoformat()})
            application.truthfulness = check
            self.step(session, application, "provider_verify", actor, reason=note,
                      detail={"method": check["method"], "reference": check["reference"]})
            self._automatic_check(session, application)
            return self.view(session, application)

    def _automatic_check(self, session: Any, application: Application) -> None:
        record, own = self._check_record(session, application)
        problems = automatic_check(session, self.protector, record, own_website=own)
        application.checks = problems
        if problems:
            self.step(session, application, "auto_check_fail", AUTOMATIC_CHECK,
                      reason="returned to the host through its provider: " + "; ".join(problems),
                      detail={"problems": problems})
            return
        province = self._review_province(session, application)
        application.review_province = province
        if province and application.provider_province and province != application.provider_province:
            why = (f"routed from {application.provider_province} (the provider's province) to {province}, "
                   "the subject's province, for review (art. 18(3)1)")
        else:
            why = f"passed; reviewed in {province}, the subject's province"
        self.step(session, application, "auto_check_pass", AUTOMATIC_CHECK, reason=why,
                  detail={"review_province": province, "routed": province != application.provider_province})

    def provider_return(self, application_id: int, actor: Actor, reason: str) -> dict[str, Any]:
        """Art. 18(2): the record is not true or not accurate; the provider sends it back to the host."""
        with self.commit_guard() as session:
            application = self.application(session, application_id)
            self.require_provider(actor, application.provider_code, "returning the record")
            self.step(session, application, "provider_return", actor, reason=need_reason(reason, "a return"))
            return self.view(session, application)

    # -- the authority's decision ---------------------------------------------------------------
    def approve(self, application_id: int, actor: Actor, *, note: str | None = None) -> dict[str, Any]:
        """The authority of the subject's province approves; the registry changes in the same
        transaction. A new filing's answer carries its password — shown this once, stored only hashed."""
        def attempt() -> tuple[dict[str, Any], str | None]:
            with self.commit_guard() as session:
                application = self.application(session, application_id)
                target_state(application.kind, "approve", application.state, application.id)
                self.require_authority(actor, application, "approve")
                if application.kind in REVIEWED:
                    record, own = self._check_record(session, application)
                    problems = automatic_check(session, self.protector, record, own_website=own)
                    if problems:  # the registry moved since the automatic check
                        raise CheckFailed([f"approval refused, the record no longer passes: {p}" for p in problems])
                produced = self._apply(session, application, actor)
                password = produced.pop("password", None)
                application.result = produced
                self.step(session, application, "approve", actor, reason=note, detail=produced)
                return self.view(session, application), password

        out, password = retrying(attempt)
        return with_password(out, password) if password else out

    def return_(self, application_id: int, actor: Actor, reason: str) -> dict[str, Any]:
        """The authority returns the application with its reasons (art. 18(3)2, 19(4), 22(2))."""
        return self.turn_down(application_id, actor, "return", reason, "a return")

    def turn_down(self, application_id: int, actor: Actor, action: str, reason: str, what: str) -> dict[str, Any]:
        """The authority takes ``action`` (a return, a refusal) on the application, with its reason."""
        with self.commit_guard() as session:
            application = self.application(session, application_id)
            target_state(application.kind, action, application.state, application.id)
            self.require_authority(actor, application, action)
            self.step(session, application, action, actor, reason=need_reason(reason, what))
            return self.view(session, application)

    # -- the host's side ----------------------------------------------------------------------------
    def resubmit(self, application_id: int, actor: Actor, record: dict[str, Any] | None = None,
                 *, note: str | None = None) -> dict[str, Any]:
        """A returned application, corrected (fields given replace the submitted ones), goes again."""
        with self.commit_guard() as session:
            application = self.application(session, application_id)
            self.require_submitter(actor, "resubmitting")
            if record:
                allowed = self._allowed_fields(application.kind)
                payload = dict(application.payload)
                payload.update(self.seal(shape_record(record, allowed)))
                application.payload = payload
            application.checks = None
            if application.kind in REVIEWED:
                # a corrected record is verified again by the provider (art. 18(3)2: "重新填报…再次提交")
                truth = application.truthfulness or {}
                application.truthfulness = {"required": bool(truth.get("required", True))}
            self.step(session, application, "resubmit", actor, reason=note,
                      detail={"changed_fields": sorted(record or {})})
            return self.view(session, application)

    def withdraw(self, application_id: int, actor: Actor, reason: str) -> dict[str, Any]:
        with self.commit_guard() as session:
            application = self.application(session, application_id)
            self.require_submitter(actor, "withdrawing")
            self.step(session, application, "withdraw", actor, reason=need_reason(reason, "a withdrawal"))
            return self.view(session, application)
