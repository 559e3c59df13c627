"""The filing workflows of chapter 3 of the rules (arts. 18–22, annex 1; DESIGN.md §2).

Each workflow is a state machine (``core.TABLES``) whose every transition is recorded — who, in
which role, when, from which state, to which, and why — and an invalid step is refused with
:class:`~registry.workflows.core.InvalidTransition`, naming the states. ``Workflows`` drives them:

========================  ===========================================================================
new filing (art. 18)      submitted → provider_verified → (automatic check) in_review | returned
                          → approved (number + password) | returned → resubmitted …; withdrawn
added access (18(5))      as a new filing, opened by a later provider with the number and password
change (art. 19)          as a new filing; approval changes the rows; no access left → cancelled
cancellation (art. 22)    host/provider: submitted → in_review → cancelled | returned;
                          authority: cancelled at once
licence (art. 21)         in_review → approved (the subject's sites carry the licence) | returned
password reset (annex 1)  submitted → reported (deadline: 10 working days) | returned → reset
========================  ===========================================================================

The orders that verified findings open against providers are in :mod:`registry.workflows.orders`.
"""

from .core import (
    Actor,
    CheckFailed,
    Incomplete,
    InterfaceSuspended,
    InvalidTransition,
    NotAllowed,
    NotFound,
    PasswordRejected,
    WorkflowError,
)
from .base import Concurrent, InvalidRecord
from .service import Workflows

__all__ = [
    "Actor",
    "CheckFailed",
    "Concurrent",
    "Incomplete",
    "InterfaceSuspended",
    "InvalidRecord",
    "InvalidTransition",
    "NotAllowed",
    "NotFound",
    "PasswordRejected",
    "WorkflowError",
    "Workflows",
]
