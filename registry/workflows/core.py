"""The state-machine core every filing workflow shares: who acts (:class:`Actor`), the transition
tables, and the one function that moves an application and records the move.

Each workflow is a table ``action -> (states it may start from, state it leads to)``; ``None``
as a starting state means the action creates the application. An action from any other state is
refused with :class:`InvalidTransition`, which names the application, the action, the state it is
in and the states the action needs, and nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from .models import Application, Transition

ROLES = ("host", "provider", "authority", "system")


class WorkflowError(Exception):
    """A workflow step that cannot be taken; the message says why."""


class InvalidTransition(WorkflowError):
    """The action is not allowed from the application's current state."""

    def __init__(self, application_id: int | None, kind: str, action: str, state: str | None,
                 allowed_from: tuple[str | None, ...]) -> None:
        self.application_id, self.kind, self.action, self.state = application_id, kind, action, state
        self.allowed_from = allowed_from
        froms = ", ".join(s or "(new)" for s in allowed_from) or "no state"
        super().__init__(f"{kind} application {application_id}: cannot {action} from state {state!r}; "
                         f"{action} is allowed only from {froms}")


class NotFound(WorkflowError):
    """No such application, filing or provider."""


class InterfaceSuspended(WorkflowError):
    """The provider's filing interface is suspended by the ledger (arts. 43(3), 55)."""


class PasswordRejected(WorkflowError):
    """The filing password given does not match the filing's (the attempt is not recorded as a step)."""


class NotAllowed(WorkflowError):
    """The actor may not take this step: wrong role, another province's authority, another provider."""


class Incomplete(WorkflowError):
    """A submission or step lacks something it must carry (a reason, a check record, a field)."""


class CheckFailed(WorkflowError):
    """The automatic check found problems at approval time (they arose after the check ran)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Actor:
    """Who takes a step: a named person acting for a host, a provider (its code), an authority (its
    province) or the system itself (the automatic check, a consequence of another step)."""

    name: str
    role: str
    organisation: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise NotAllowed(f"unknown role {self.role!r}; expected one of {', '.join(ROLES)}")
        if not self.name.strip():
            raise Incomplete("every step needs the name of who takes it")
        if self.role in ("provider", "authority") and not self.organisation:
            what = "provider code" if self.role == "provider" else "province"
            raise Incomplete(f"a {self.role} acts for a {what}; name it")

    @classmethod
    def system(cls, what: str) -> Actor:
        return cls(what, "system")


Table = Mapping[str, tuple[tuple[str | None, ...], str]]

_REVIEWED: dict[str, tuple[tuple[str | None, ...], str]] = {
    # host (or its provider on its behalf) submits; the provider verifies and reports it (art. 18(2))
    "submit": ((None,), "submitted"),
    "provider_verify": (("submitted",), "provider_verified"),
    "provider_return": (("submitted",), "returned"),
    # the province's automatic check: routed to the subject's province, or back to the host (18(3)1)
    "auto_check_pass": (("provider_verified",), "in_review"),
    "auto_check_fail": (("provider_verified",), "returned"),
    # the authority's manual review (18(3)2)
    "approve": (("in_review",), "approved"),
    "return": (("in_review",), "returned"),
    "resubmit": (("returned",), "submitted"),
    "withdraw": (("submitted", "provider_verified", "in_review", "returned"), "withdrawn"),
}

TABLES: dict[str, Table] = {
    "new_filing": _REVIEWED,
    "change": _REVIEWED,
    "add_access": _REVIEWED,
    "cancellation": {
        "submit": ((None,), "submitted"),
        # art. 22(1)-(2): the provider's system sends it on to the subject's province
        "provider_forward": (("submitted",), "in_review"),
        "approve": (("in_review",), "cancelled"),
        "return": (("in_review",), "returned"),
        "withdraw": (("submitted", "in_review"), "withdrawn"),
        # art. 22(3) and 19(4): the authority cancels on its own findings
        "authority_cancel": ((None,), "cancelled"),
    },
    "licence_conversion": {
        "submit": ((None,), "in_review"),  # art. 21(1): straight to the authority
        "approve": (("in_review",), "approved"),
        "return": (("in_review",), "returned"),
        "resubmit": (("returned",), "in_review"),
        "withdraw": (("in_review", "returned"), "withdrawn"),
    },
    "password_reset": {
        "submit": ((None,), "submitted"),
        # annex 1 §2: the provider checks the materials against the record
        "provider_check_pass": (("submitted",), "reported"),
        "provider_check_fail": (("submitted",), "returned"),
        "resubmit": (("returned",), "submitted"),
        # annex 1 §4: the issuing province resets within 10 working days
        "reset": (("reported",), "reset"),
        "refuse": (("reported",), "returned"),
        "withdraw": (("submitted", "returned"), "withdrawn"),
    },
}

TERMINAL = {"approved", "withdrawn", "cancelled", "reset"}
KINDS = tuple(TABLES)


def target_state(kind: str, action: str, state: str | None, application_id: int | None = None) -> str:
    """The state ``action`` leads to from ``state``, or :class:`InvalidTransition`."""
    table = TABLES[kind]
    if action not in table:
        raise InvalidTransition(application_id, kind, action, state, ())
    froms, to = table[action]
    if state not in froms:
        raise InvalidTransition(application_id, kind, action, state, froms)
    return to


def move(session: Session, application: Application, action: str, actor: Actor, *, at: datetime,
         reason: str | None = None, detail: dict[str, Any] | None = None) -> Transition:
    """Take ``action`` on ``application`` (already in ``session``) and record the transition."""
    to = target_state(application.kind, action, application.state if application.id else None, application.id)
    transition = Transition(action=action, from_state=application.state if application.id else None, to_state=to,
                            actor=actor.name.strip(), role=actor.role, organisation=actor.organisation,
                            reason=(reason or "").strip() or None, at=at, detail=detail)
    application.state, application.updated_at = to, at
    if application.id is None:
        session.add(application)
        session.flush()
    transition.application_id = application.id
    session.add(transition)
    session.flush()
    return transition
