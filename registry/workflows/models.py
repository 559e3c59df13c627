"""The tables of the filing workflows (arts. 18–22, annex 1).

An *application* is one run of a workflow — a new filing, a change, an added access, a
cancellation, a licence conversion, a password reset — with its state, the record it was submitted
with (confidential values only as AES-GCM token, keyed hash and masked form), the provider's
truthfulness check, the automatic check's outcome and its deadline. Every move between states is a
*transition* row: who, in which role, when, from which state, to which, and why. Filing passwords
live apart from the filing rows, only as argon2id hashes. *Orders* are what verified findings open
against a provider: stop serving an unfiled or cancelled site, or correct an inaccurate filing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

import registry.workdays  # noqa: F401  (the calendar's tables belong to this metadata too)
from registry.models import Base, utcnow


class Application(Base):
    """One workflow run and where it stands."""

    __tablename__ = "filing_applications"
    __table_args__ = (Index("ix_filing_applications_state_kind", "state", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(24))
    website_number: Mapped[str | None] = mapped_column(String(64), index=True)  # the filing acted on, or issued
    provider_code: Mapped[str | None] = mapped_column(String(64), index=True)   # the provider that reports it
    provider_province: Mapped[str | None] = mapped_column(String(16))
    review_province: Mapped[str | None] = mapped_column(String(16))  # whose authority decides it
    submitted_by: Mapped[str] = mapped_column(String(128))
    submitted_role: Mapped[str] = mapped_column(String(16))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    truthfulness: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the provider's check (art. 18(2))
    checks: Mapped[list[Any] | None] = mapped_column(JSON)             # the automatic check's problems
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    due: Mapped[date | None] = mapped_column(Date)
    due_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)

    # Two processes acting on one application: the second commit fails instead of overwriting.
    __mapper_args__ = {"version_id_col": version}


class Transition(Base):
    """One recorded move of an application: who, in which role, when, from which state, to which, why."""

    __tablename__ = "filing_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("filing_applications.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))          # host | provider | authority | system
    organisation: Mapped[str | None] = mapped_column(String(64))  # provider code or province
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class FilingCredential(Base):
    """The filing password of a website filing (备案密码, art. 47): its argon2id hash only."""

    __tablename__ = "filing_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    website_number: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("filing_applications.id"))


class OrderRecord(Base):
    """What a verified finding demands of a provider, until a sweep sees the violation gone."""

    __tablename__ = "filing_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))           # stop_access | correction
    provider_code: Mapped[str | None] = mapped_column(String(64), index=True)
    finding_ref: Mapped[str] = mapped_column(String(80), unique=True)
    finding_code: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(255), index=True)  # domain, or address for a site by IP alone
    website_number: Mapped[str | None] = mapped_column(String(64))
    article: Mapped[str | None] = mapped_column(String(32))
    opened_by: Mapped[str] = mapped_column(String(128))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    due: Mapped[date] = mapped_column(Date)
    estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(8), default="open", index=True)  # open | closed
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(128))
    closed_reason: Mapped[str | None] = mapped_column(Text)
