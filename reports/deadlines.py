"""Who must act by when: the deadline on each finding a document lists.

The deadline of record is the one the filing workflows set when the finding was verified: the
stop-access order (UNFILED_SITE, CANCELLED_STILL_SERVED, BLACKLISTED_SERVED) or the correction
request (NUMBER_MISMATCH, ACCESS_NOT_RECORDED) of ``registry.workflows.orders``. A finding with no
open order of its own — a domain filing unit's (the workflows open orders to providers only) —
gets a deadline counted the same way: the workflows' stop-access period (their setting, e.g.
``ICPWATCH_STOP_ACCESS_DAYS``) in Chinese working days from the day it was verified, labelled as
computed. Either is marked *estimated* when the working-day calendar of a year in the span is not
loaded (``registry.workdays``).
"""

from __future__ import annotations

from sqlalchemy import Engine

from .gather import CHINA, Deadline, FindingRow


def attach_deadlines(engine: Engine, rows: list[FindingRow]) -> None:
    """Set ``row.deadline`` on each row: its open order's due date, else one computed the same way."""
    from registry.store import Store
    from registry.workdays import WorkCalendar, add_working_days
    from registry.workflows.orders import Orders

    store = Store(engine)
    orders = Orders(store)
    calendar = WorkCalendar.from_store(store)  # the official schedules operators loaded
    open_orders = {}
    for code in sorted({r.party for r in rows if r.party and r.party_kind == "provider"}):
        for order in orders.open_orders(code):
            open_orders[order.finding_ref] = order
    days = orders.days["stop_access"]
    for row in rows:
        order = open_orders.get(row.finding_ref)
        if order is not None:
            row.deadline = Deadline(order.due, bool(order.estimated), f"责令停止接入/整改单 #{order.id}")
            continue
        start = (row.decided_at or row.observed_at).astimezone(CHINA).date()
        computed = add_working_days(start, days, calendar)
        row.deadline = Deadline(computed.due, bool(computed.estimated), f"自核实之日起{days}个工作日（推算）")
