"""Alerts after the fact: what was delivered for a sweep, and sending a sweep's alert again.

``icpwatch sweep`` sends its alerts on a background thread and waits a bounded time for them
(:mod:`monitor.alerts`). A process killed meanwhile leaves ``pending`` rows that nothing will
finish, and a receiver that was down for all the attempts leaves ``failed`` ones. The alert can
be rebuilt from the store — the sweep's summary and the findings it saw first — and sent again
to the receivers named (their secrets are never stored, so they must be given again).

A resend skips a receiver this sweep's alert already reached — known by the keyed hash of the
receiver stored with each delivery (:meth:`monitor.alerts.AlertTarget.receiver`), since masked
endpoints of two robots of one kind read alike — unless told to send ``again``. It marks this
sweep's ``pending`` rows for a receiver it sends to ``abandoned`` (a live sender that still
finishes one overwrites that with its outcome); ``failed`` and ``delivered`` rows stay as they
were: they are what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from .alerts import AlertTarget, dispatch, receiver_protector
from .models import AlertDelivery, Finding, Sweep
from .store import MonitorStore
from .sweep import finding_json

__all__ = ["RedeliveryError", "Resent", "SweepAlert", "delivery_json", "deliveries", "rebuild", "resend"]


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


@dataclass(frozen=True)
class Resent:
    """What a resend did: the delivery rows it wrote (a row still ``pending`` when the wait ran
    out), and for each receiver it skipped, the earlier delivery that had reached it."""

    deliveries: list[dict[str, Any]]
    already_delivered: list[dict[str, Any]]


def resend(engine: Engine, sweep_id: int, targets: list[AlertTarget], *, again: bool = False, attempts: int = 5,
           backoff: float = 1.0, timeout: float = 10.0, wait: float = 60.0) -> Resent:
    """Send ``sweep_id``'s alert again to those of ``targets`` it has not reached (to all of them
    with ``again``) and wait up to ``wait`` seconds for the outcome."""
    alert = rebuild(engine, sweep_id)
    protector = receiver_protector()
    table = AlertDelivery.__table__
    sending: list[AlertTarget] = []
    skipped: list[int] = []  # the earlier delivery that reached each receiver skipped
    with engine.begin() as conn:
        last_id = conn.execute(select(table.c.id).order_by(table.c.id.desc()).limit(1)).scalar() or 0
        for target in targets:
            receiver = target.receiver(protector) if protector is not None else None
            if receiver is not None and not again:
                reached = conn.execute(select(table.c.id).where(
                    table.c.sweep_id == sweep_id, table.c.receiver == receiver, table.c.status == "delivered")
                    .order_by(table.c.id).limit(1)).scalar()
                if reached is not None:
                    skipped.append(reached)
                    continue
            sending.append(target)
            conn.execute(update(table).where(
                table.c.sweep_id == sweep_id, table.c.status == "pending", table.c.channel == target.channel,
                table.c.endpoint == target.endpoint).values(
                status="abandoned", last_error="the sending process ended before an outcome; sent again"))
    if sending:
        dispatch(engine, sweep_id, alert.summary, alert.new_findings, sending,
                 attempts=attempts, backoff=backoff, timeout=timeout, protector=protector).join(wait)
    rows = deliveries(engine, sweep_id)
    by_id = {row["id"]: row for row in rows}
    return Resent([row for row in rows if row["id"] > last_id], [by_id[i] for i in skipped])
