"""From verified findings to the orders of the filing workflows (``registry.workflows.orders``).

* Verifying an UNFILED_SITE, CANCELLED_STILL_SERVED or BLACKLISTED_SERVED finding opens a
  stop-access order to the provider that serves the site; verifying a NUMBER_MISMATCH or
  ACCESS_NOT_RECORDED finding opens a correction request. One order per finding, however often it
  is verified. Dismissing a finding closes its order, with the analyst's reason.
* A finished sweep closes the open orders whose violation is gone: the sweep observed the order's
  target successfully (a site it judged) and raised that finding no more. A target the sweep did not
  cover, or could not observe (DNS failure, timeout …: *unknown*), closes nothing.

``verify.decide`` and ``sweep.run_sweep`` each call in here once, after their own transaction has
committed, so an order never exists for a decision that was rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, select

from registry.store import Store
from registry.workdays import WorkCalendar
from registry.workflows.orders import Order, OrderRequest, Orders, order_kind

from .models import Finding
from .observations import Folded
from .rules import Draft

logger = logging.getLogger(__name__)


def finding_ref(fingerprint: str) -> str:
    """The reference the ledger and the orders share for a monitor finding."""
    return f"finding:{fingerprint}"


def _target(f: Finding) -> str:
    return f.domain or f.ip or f.target or ""


def apply_decision(engine: Engine, status: str, finding_ids: Iterable[int]) -> list[Order]:
    """Open (``verified``) or close (``dismissed``) the orders of the decided findings.

    Called with every finding the decision named, changed or not: a second verification of a finding
    whose order could not be opened the first time (the process died between the two commits)
    opens it then, and one that has its order changes nothing.
    """
    ids = list(dict.fromkeys(finding_ids))
    if not ids:
        return []
    store = Store(engine)
    store.upgrade()
    orders = Orders(store, calendar=WorkCalendar.from_store(store))  # read the calendar once per decision
    with store.sessions() as session:
        findings = session.scalars(select(Finding).where(Finding.id.in_(ids)).order_by(Finding.id)).all()
    findings = [f for f in findings if order_kind(f.code) is not None and f.status == status]
    if status == "verified":
        requests = [OrderRequest(finding_ref(f.fingerprint), f.code,
                                 f.party if f.party_kind == "provider" else None, _target(f),
                                 f.decided_by or "analyst", f.website_number, f.article, f.decided_at)
                    for f in findings]
        return [order for order, _ in orders.open_many(requests)] if requests else []
    touched: list[Order] = []
    for f in findings:  # dismissed: few at a time, each closed with its analyst's reason
        closed = orders.close(finding_ref(f.fingerprint), closed_by=f.decided_by or "analyst", closed_at=f.decided_at,
                              reason=f"finding {f.id} dismissed: {f.reason or ''}".strip())
        if closed is not None:
            touched.append(closed)
    return touched


def observed_targets(folded: Folded) -> set[str]:
    """What the sweep saw successfully: the hosts (or addresses) of every site it judged."""
    seen: set[str] = set()
    for site in folded.sites:
        if site.category == "unknown":
            continue
        seen.add(site.host.strip("[]").lower())
        if site.kind == "domain" and site.domain:
            seen.add(site.target.strip().lower().rstrip("."))
    return seen


def close_resolved(engine: Engine, sweep_id: int, folded: Folded, drafts: Iterable[Draft]) -> list[dict[str, Any]]:
    """Close the open orders whose target this sweep observed without raising their finding again.

    Returns the orders closed (for the sweep's document). A failure here is logged and reported in
    that list's place rather than failing a sweep whose findings are already stored.
    """
    raised = {finding_ref(d.fingerprint) for d in drafts}
    seen = observed_targets(folded)
    try:
        orders = Orders(Store(engine))
        gone = [(o.finding_ref, f"sweep {sweep_id} observed {o.target} and no longer raised {o.finding_code}")
                for o in orders.open_orders() if o.target.lower() in seen and o.finding_ref not in raised]
        closed = orders.close_many(gone, closed_by=f"sweep {sweep_id}") if gone else []
        return [{"id": o.id, "kind": o.kind, "provider": o.provider_code, "target": o.target,
                 "finding_code": o.finding_code} for o in closed]
    except Exception:
        logger.exception("sweep %s: closing the orders whose violation is gone failed", sweep_id)
        return [{"error": "closing orders failed; see the log"}]
