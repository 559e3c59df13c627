"""The orders verified findings open against a provider, and their closing.

* a **stop-access order** (停止接入) for a verified UNFILED_SITE, CANCELLED_STILL_SERVED or
  BLACKLISTED_SERVED finding: the provider must stop serving the site (arts. 12(2), 12(9), 22(4));
* a **correction request** (整改) for a verified NUMBER_MISMATCH or ACCESS_NOT_RECORDED finding: the
  filing must be made accurate (arts. 14(4), 18(5), 42).

One order per finding, ever (``finding_ref`` is unique, so however often a finding is verified and
however many processes do it, one order exists). An order is closed when a later sweep observed its
target and the violation is gone, or when its finding is dismissed; both with who, when and why.

Deadlines. The rules give no period in working days for either: art. 22(4) says a cancelled site's
provider stops "及时" (promptly) and arts. 41–42 score without setting a period. The defaults are the
period the rules do set for a provider's and a filing unit's own corrections of what they reported —
five working days (arts. 15(6), 16(3); "五日内" in 15(3)) — and are settings: ``Orders(store,
stop_access_days=…, correction_days=…)`` or the environment variables ``ICPWATCH_STOP_ACCESS_DAYS``
and ``ICPWATCH_CORRECTION_DAYS``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from registry.models import utcnow
from registry.store import Store
from registry.workdays import Deadline, WorkCalendar, add_working_days

from .base import CHINA
from .models import OrderRecord

STOP_ACCESS_CODES = ("UNFILED_SITE", "CANCELLED_STILL_SERVED", "BLACKLISTED_SERVED")
CORRECTION_CODES = ("NUMBER_MISMATCH", "ACCESS_NOT_RECORDED")
DEFAULT_STOP_ACCESS_DAYS = 5
DEFAULT_CORRECTION_DAYS = 5


class OrderError(ValueError):
    """An order that cannot be opened (a finding code that opens none, a bad setting)."""


def order_kind(code: str) -> str | None:
    """``stop_access`` | ``correction`` | None (the finding opens no order)."""
    if code in STOP_ACCESS_CODES:
        return "stop_access"
    if code in CORRECTION_CODES:
        return "correction"
    return None


def _setting(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise OrderError(f"{name}={raw!r}: expected a whole number of working days") from None
    if value < 1:
        raise OrderError(f"{name}={raw!r}: at least one working day")
    return value


@dataclass(frozen=True)
class OrderRequest:
    """What a verified finding asks for: enough to open its order."""

    finding_ref: str
    finding_code: str
    provider_code: str | None
    target: str
    opened_by: str
    website_number: str | None = None
    article: str | None = None
    opened_at: datetime | None = None


@dataclass(frozen=True)
class Order:
    id: int
    kind: str
    provider_code: str | None
    finding_ref: str
    finding_code: str
    target: str
    website_number: str | None
    article: str | None
    opened_by: str
    opened_at: datetime
    due: date
    estimated: bool
    state: str
    closed_at: datetime | None
    closed_by: str | None
    closed_reason: str | None

    @classmethod
    def of(cls, row: OrderRecord) -> Order:
        return cls(row.id, row.kind, row.provider_code, row.finding_ref, row.finding_code, row.target,
                   row.website_number, row.article, row.opened_by, row.opened_at, row.due, row.estimated, row.state,
                   row.closed_at, row.closed_by, row.closed_reason)

    def overdue(self, today: date) -> bool:
        return self.state == "open" and today > self.due

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class Orders:
    """Opening, closing and listing the orders of one store."""

    def __init__(self, store: Store, *, stop_access_days: int | None = None, correction_days: int | None = None,
                 calendar: WorkCalendar | None = None) -> None:
        self.store = store
        self.days = {"stop_access": stop_access_days or _setting("ICPWATCH_STOP_ACCESS_DAYS", DEFAULT_STOP_ACCESS_DAYS),
                     "correction": correction_days or _setting("ICPWATCH_CORRECTION_DAYS", DEFAULT_CORRECTION_DAYS)}
        self._calendar = calendar

    def open(self, *, finding_ref: str, finding_code: str, provider_code: str | None, target: str,
             opened_by: str, website_number: str | None = None, article: str | None = None,
             opened_at: datetime | None = None) -> tuple[Order, bool]:
        """(the finding's order, True when this call opened it). Idempotent per ``finding_ref``."""
        return self.open_many([OrderRequest(finding_ref, finding_code, provider_code, target, opened_by,
                                            website_number, article, opened_at)])[0]

    def open_many(self, requests: Sequence[OrderRequest]) -> list[tuple[Order, bool]]:
        """:meth:`open` for many findings in one transaction (a whole sweep verified at once)."""
        for request in requests:
            if order_kind(request.finding_code) is None:
                raise OrderError(f"a {request.finding_code} finding opens no order; orders follow "
                                 f"{', '.join(STOP_ACCESS_CODES + CORRECTION_CODES)}")
        calendar = self._calendar or WorkCalendar.from_store(self.store)
        deadlines: dict[tuple[date, str], Deadline] = {}
        try:
            with self.store.session() as session:
                rows: dict[str, OrderRecord] = {}
                refs = list(dict.fromkeys(r.finding_ref for r in requests))
                for i in range(0, len(refs), 500):
                    chunk = refs[i:i + 500]
                    rows.update({row.finding_ref: row for row in
                                 session.scalars(select(OrderRecord).where(OrderRecord.finding_ref.in_(chunk)))})
                opened: set[str] = set()
                for r in requests:
                    if r.finding_ref in rows:
                        continue
                    kind = order_kind(r.finding_code)
                    assert kind is not None  # checked above
                    at = r.opened_at or utcnow()
                    key = (at.astimezone(CHINA).date(), kind)
                    if key not in deadlines:
                        deadlines[key] = add_working_days(key[0], self.days[kind], calendar)
                    deadline = deadlines[key]
                    rows[r.finding_ref] = row = OrderRecord(
                        kind=kind, provider_code=r.provider_code, finding_ref=r.finding_ref,
                        finding_code=r.finding_code, target=r.target, website_number=r.website_number,
                        article=r.article, opened_by=r.opened_by, opened_at=at, due=deadline.due,
                        estimated=deadline.estimated, state="open")
                    session.add(row)
                    opened.add(r.finding_ref)
                session.flush()
                return [(Order.of(rows[r.finding_ref]), r.finding_ref in opened) for r in requests]
        except IntegrityError:  # another process opened some of them between our read and our write
            if len(requests) == 1:
                again = self.get(requests[0].finding_ref)
                if again is None:
                    raise
                return [(again, False)]
            return [self.open_many([r])[0] for r in requests]

    def get(self, finding_ref: str) -> Order | None:
        with self.store.sessions() as session:
            row = session.scalar(select(OrderRecord).where(OrderRecord.finding_ref == finding_ref))
            return Order.of(row) if row is not None else None

    def close(self, finding_ref: str, *, reason: str, closed_by: str, closed_at: datetime | None = None) -> Order | None:
        """Close the finding's open order; None when it has none open (closing twice changes nothing)."""
        closed = self.close_many([(finding_ref, reason)], closed_by=closed_by, closed_at=closed_at)
        return closed[0] if closed else None

    def close_many(self, items: Sequence[tuple[str, str]], *, closed_by: str,
                   closed_at: datetime | None = None) -> list[Order]:
        """Close the open orders of ``(finding_ref, reason)`` pairs in one transaction; returns those closed."""
        reasons = dict(items)
        refs = list(reasons)
        out: list[Order] = []
        with self.store.session() as session:
            for i in range(0, len(refs), 500):
                rows = session.scalars(select(OrderRecord).where(OrderRecord.finding_ref.in_(refs[i:i + 500]),
                                                                 OrderRecord.state == "open")
                                       .order_by(OrderRecord.id).with_for_update()).all()
                for row in rows:
                    row.state, row.closed_at = "closed", closed_at or utcnow()
                    row.closed_by, row.closed_reason = closed_by, reasons[row.finding_ref]
                session.flush()
                out += [Order.of(row) for row in rows]
        return out

    def orders(self, *, provider_code: str | None = None, state: str | None = None) -> list[Order]:
        query = select(OrderRecord).order_by(OrderRecord.id)
        if provider_code is not None:
            query = query.where(OrderRecord.provider_code == provider_code)
        if state is not None:
            query = query.where(OrderRecord.state == state)
        with self.store.sessions() as session:
            return [Order.of(row) for row in session.scalars(query)]

    def open_orders(self, provider_code: str | None = None) -> list[Order]:
        return self.orders(provider_code=provider_code, state="open")
