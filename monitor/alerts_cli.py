"""``icpwatch alerts list|resend``: what a sweep's alerts did, and sending one again.

Endpoints are shown as stored, with their secrets masked; a resend takes the receivers again
(``--alert``, as ``icpwatch sweep`` does), since no secret is kept (:mod:`monitor.redelivery`).
"""

from __future__ import annotations

import click

from icpwatch.clikit import db_option, emit_json, fail, json_option, open_engine

from .alerts import AlertError, parse_alert
from .cli import ALERT_JOIN_SECONDS


def _echo_rows(rows: list[dict]) -> None:
    for row in rows:
        when = f" at {row['delivered_at']}" if row["delivered_at"] else ""
        error = f": {row['last_error']}" if row["last_error"] else ""
        click.echo(f"#{row['id']} sweep {row['sweep_id']} {row['channel']} {row['endpoint']} {row['status']}"
                   f" after {row['attempts']} attempt(s){when}{error}", err=True)


@click.group("alerts")
def alerts() -> None:
    """The alerts sweeps sent: list them, send one again."""


@alerts.command("list")
@click.option("--sweep", "sweep_id", type=int, default=None, help="Only this sweep's deliveries.")
@db_option
@json_option
def list_cmd(sweep_id: int | None, db_url: str, as_json: bool) -> None:
    """Every alert delivery recorded, oldest first: pending, delivered, failed or abandoned."""
    from .redelivery import deliveries

    rows = deliveries(open_engine(db_url), sweep_id)
    if as_json:
        emit_json({"sweep_id": sweep_id, "deliveries": rows})
    else:
        _echo_rows(rows)


@alerts.command("resend")
@click.argument("sweep_id", type=int)
@click.option("--alert", "values", multiple=True, required=True, metavar="[CHANNEL=]URL",
              help="Where to send it: webhook (default), dingtalk=, wecom=, feishu= (repeatable).")
@click.option("--attempts", type=click.IntRange(1, 20), default=5, show_default=True)
@click.option("--again", is_flag=True, help="Send also to receivers this sweep's alert already reached.")
@db_option
@json_option
def resend_cmd(sweep_id: int, values: tuple[str, ...], attempts: int, again: bool, db_url: str,
               as_json: bool) -> None:
    """Send SWEEP_ID's alert again (rebuilt from the store: its summary and the findings it saw
    first) and wait for the outcome. Use it when the sending process died (deliveries left
    pending) or the receiver was down (failed). A receiver the alert already reached is skipped
    and named, unless --again."""
    from .redelivery import RedeliveryError, resend

    try:
        targets = [parse_alert(v) for v in values]
    except AlertError as exc:
        fail(str(exc))
        return
    try:
        done = resend(open_engine(db_url), sweep_id, targets, again=again, attempts=attempts,
                      wait=ALERT_JOIN_SECONDS)
    except RedeliveryError as exc:
        fail(str(exc), code=1)
        return
    if as_json:
        emit_json({"sweep_id": sweep_id, "deliveries": done.deliveries, "already_delivered": done.already_delivered})
    else:
        for row in done.already_delivered:
            click.echo(f"not sent again: delivery #{row['id']} already reached {row['channel']} {row['endpoint']}"
                       " (--again sends anyway)", err=True)
        _echo_rows(done.deliveries)
    if any(row["status"] != "delivered" for row in done.deliveries):
        fail("not every receiver took the alert (see above)", code=1)


__all__ = ["alerts"]
