"""The monitor's tables: sweeps, the findings they raise, when each finding was seen, saved scopes,
schedules and their runs, and alert deliveries.

A finding is one violation, however many sweeps see it: ``fingerprint`` (rule + what it is about +
who is responsible) is unique, and each sweep that sees it again adds a sighting. Its ``status``
moves from ``suspected`` to ``verified`` or ``dismissed`` by an analyst's decision (who, when,
why); only verified findings reach the scoring ledger and the notices.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from icpwatch.dbkit import NAMING_CONVENTION


FINDING_STATUSES = ("suspected", "verified", "dismissed")
SWEEP_STATUSES = ("running", "finished", "failed", "interrupted")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Sweep(Base):
    """One run over a scope: the crawl it made, what it counted, when it ran."""

    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running")
    scope: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what was swept: targets file, provider, province, saved scope
    scope_key: Mapped[str] = mapped_column(String(255), index=True)  # sweeps of the same scope share it (for diffs)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    crawl_run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str | None] = mapped_column(String(128))
    schedule: Mapped[str | None] = mapped_column(String(128), index=True)


class Finding(Base):
    """One violation of DESIGN.md §2's table, with its rule, article, evidence and responsible party."""

    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_status_code", "status", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    code: Mapped[str] = mapped_column(String(32))
    article: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(Text)  # the input line it came from
    domain: Mapped[str | None] = mapped_column(String(255), index=True)  # null for a site reached by IP alone
    ip: Mapped[str | None] = mapped_column(String(45), index=True)
    redirect_to: Mapped[str | None] = mapped_column(Text)
    party_kind: Mapped[str] = mapped_column(String(16))  # provider | registrar | host | analyst
    party: Mapped[str | None] = mapped_column(String(64), index=True)  # provider or registrar code
    website_number: Mapped[str | None] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="suspected")
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    first_sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id"), index=True)
    last_sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id"), index=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)


class Sighting(Base):
    """A sweep that saw a finding (again): the finding's history of dates."""

    __tablename__ = "finding_sightings"
    __table_args__ = (UniqueConstraint("finding_id", "sweep_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id", ondelete="CASCADE"), index=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id"), index=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SavedScope(Base):
    """A named set of sweep targets (``--scope NAME``): target lines, providers, provinces."""

    __tablename__ = "scopes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Schedule(Base):
    """A sweep to run on a cron expression (``icpwatch schedule add``)."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    cron: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the sweep options, as given
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # due times skipped because the previous run was still going (each counted once, whichever
    # monitor saw it), and the latest of them: ``icpwatch schedule list`` shows them
    skipped_runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_skipped_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ScheduleRun(Base):
    """One due run of a schedule, claimed before it starts: (schedule, due_at) is unique, so a
    restart or a second monitor process can neither lose nor double a run."""

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("schedule", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule: Mapped[str] = mapped_column(String(128))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="claimed")  # claimed | running | finished | failed
    claimed_by: Mapped[str | None] = mapped_column(String(128))  # host:pid
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sweep_id: Mapped[int | None] = mapped_column(ForeignKey("sweeps.id"))
    error: Mapped[str | None] = mapped_column(Text)


class AlertDelivery(Base):
    """One alert sent (or still being tried) for a sweep's new findings."""

    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # webhook | dingtalk | wecom | feishu
    endpoint: Mapped[str] = mapped_column(Text)  # the URL with any secret in it masked
    # keyed hash of the receiver (channel, URL and signing secret, in clear only in memory): tells
    # apart two receivers whose masked endpoints read alike; NULL when no key could be loaded
    receiver: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
