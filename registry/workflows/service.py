"""``Workflows``: every filing workflow on one store, plus reading applications back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from .cancellation import Cancellation
from .change import Change
from .core import KINDS, TERMINAL
from .models import Application
from .password_reset import PasswordReset


class Workflows(Change, Cancellation, PasswordReset):
    """New filing, change, added access, cancellation, licence conversion and password reset."""

    def show(self, application_id: int) -> dict[str, Any]:
        with self.store.sessions() as session:
            return self.view(session, self.application(session, application_id))

    def list(self, *, kind: str | None = None, state: str | None = None, provider: str | None = None,
             website_number: str | None = None, overdue: bool = False, open_only: bool = False) -> list[dict[str, Any]]:
        """Applications, newest first. ``provider`` limits to one provider's (a provider sees only its own)."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown workflow {kind!r}; expected one of {', '.join(KINDS)}")
        query = select(Application).order_by(Application.id.desc())
        if kind:
            query = query.where(Application.kind == kind)
        if state:
            query = query.where(Application.state == state)
        if provider:
            query = query.where(Application.provider_code == provider)
        if website_number:
            query = query.where(Application.website_number == website_number)
        if open_only or overdue:
            query = query.where(Application.state.not_in(TERMINAL))
        with self.store.sessions() as session:
            rows = [self.view(session, a, history=False) for a in session.scalars(query)]
        return [r for r in rows if r["overdue"]] if overdue else rows
