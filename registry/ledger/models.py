"""The ledger's tables: the hash-chained entries and the chain's head.

Entries are only ever inserted (the migration's triggers refuse UPDATE and DELETE); what changes a
total later is another entry (a correction or a reinstatement pointing at the one it adjusts).
``finding_ref`` is every entry's unique reference — ``finding:<fingerprint>`` for a monitor
finding, ``penalty:…``, ``training:…``, ``correction:…``, ``threshold:…`` for the others — so the
database itself refuses a second entry for the same event, however many processes write at once.
The head row holds the last entry's sequence number and hash: appends lock it, and ``verify``
compares it with the chain's tail, so a removed last entry is noticed too.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.models import Base, utcnow


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_year_object", "year", "object_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    year: Mapped[int] = mapped_column(Integer)  # the cycle (art. 39): a calendar year
    object_kind: Mapped[str] = mapped_column(String(16))  # provider | ip_unit | domain_unit (art. 34, 44)
    object_code: Mapped[str] = mapped_column(String(64), index=True)
    points: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # finding | penalty | training | correction | reinstatement | threshold
    article: Mapped[str] = mapped_column(String(32))
    code: Mapped[str | None] = mapped_column(String(64))  # finding code, penalty kind, threshold
    finding_ref: Mapped[str] = mapped_column(String(255), unique=True)
    occurred_on: Mapped[date] = mapped_column(Date)  # observed / decided / passed (Asia/Shanghai)
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)  # canonical JSON, hashed as stored
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class LedgerChainHead(Base):
    __tablename__ = "ledger_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
