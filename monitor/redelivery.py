"""Alerts after the fact: what was delivered for a sweep, and sending a sweep's alert again.

``icpwatch sweep`` sends its alerts on a background thread and waits a bounded time for them
(:mod:`monitor.alerts`). A process killed meanwhile leaves ``pending`` rows that nothing will
finish, and a receiver that was down for all the attempts leaves ``failed`` ones. The alert can
be rebuilt from the store — the sweep's summary and the findings it saw first — and sent again
to the receivers named (their secrets are never stored, so they must be given again).

A resend marks this sweep's ``pending`` rows for the same receiver address ``abandoned`` (a live
sender that still finishes one overwrites that with its outcome); ``failed`` and ``delivered``
rows stay as they were: they are what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from .alerts import AlertTarget, dispatch
from .models import AlertDelivery, Finding, Sweep
from .store import MonitorStore
from .sweep import finding_json

__all__ = ["RedeliveryError", "SweepAlert", "delivery_json", "deliveries", "rebuild", "resend"]


class RedeliveryError(LookupError):
    """The sweep named has no alert to rebuild (no such sweep, or it did not finish)."""


@dataclass(frozen=True)
class SweepAlert:
    """What a sweep's alert says: its summary and the findings it saw first."""

    sweep_id: int
    summary: dict[str, Any]
    new_findings: list[dict[str, Any]]


def delivery_json(row: AlertDelivery) -> dict[str, Any]:
    """One delivery as ``--json`` shows it (the endpoint as stored: secrets masked)."""
    return {"id": row.id, "sweep_id": row.sweep_id, "channel": row.channel, "endpoint": row.endpoint,
            "status": row.status, "attempts": row.attempts, "last_error": row.last_error,
            "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None}


def deliveries(engine: Engine, sweep_id: int | None = None, *, since_id: int = 0) -> list[dict[str, Any]]:
    """The alert deliveries recorded (of ``sweep_id`` only, when given), oldest first."""
    query = select(AlertDelivery).where(AlertDelivery.id > since_id).order_by(AlertDelivery.id)
    if sweep_id is not None:
        query = query.where(AlertDelivery.sweep_id == sweep_id)
    with MonitorStore(engine, migrate=False).session() as session:
        return [delivery_json(row) for row in session.scalars(query)]


def rebuild(engine: Engine, sweep_id: int) -> SweepAlert:
    """The alert ``sweep_id`` sent (or would have), from the store: the findings are as they
    stand now (a finding verified since says so)."""
    with MonitorStore(engine, migrate=False).session() as session:
        sweep = session.get(Sweep, sweep_id)
        if sweep is None:
            raise RedeliveryError(f"no sweep {sweep_id} in the store")
        if sweep.status != "finished" or "summary" not in (sweep.counts or {}):
            raise RedeliveryError(f"sweep {sweep_id} is {sweep.status}: only a finished sweep sent alerts")
        first_seen = session.scalars(select(Finding).where(Finding.first_sweep_id == sweep_id).order_by(Finding.id))
        new = [finding_json(f, True) for f in first_seen]
        summary = {"sweep_id": sweep_id, **sweep.counts["summary"]}  # as run_sweep dispatched it
    return SweepAlert(sweep_id, summary, new)


def resend(engine: Engine, sweep_id: int, targets: list[AlertTarget], *, attempts: int = 5,
           backoff: float = 1.0, timeout: float = 10.0, wait: float = 60.0) -> list[dict[str, Any]]:
    """Send ``sweep_id``'s alert again to ``targets`` and wait up to ``wait`` seconds; returns the
    delivery rows this resend wrote (a row still ``pending`` when the wait ran out)."""
    alert = rebuild(engine, sweep_id)
    table = AlertDelivery.__table__
    with engine.begin() as conn:
        last_id = conn.execute(select(table.c.id).order_by(table.c.id.desc()).limit(1)).scalar() or 0
        for target in targets:
            conn.execute(update(table).where(
                table.c.sweep_id == sweep_id, table.c.status == "pending", table.c.channel == target.channel,
                table.c.endpoint == target.endpoint).values(
                status="abandoned", last_error="the sending process ended before an outcome; sent again"))
    dispatch(engine, sweep_id, alert.summary, alert.new_findings, targets,
             attempts=attempts, backoff=backoff, timeout=timeout).join(wait)
    return deliveries(engine, sweep_id, since_id=last_id)
