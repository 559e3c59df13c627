"""``icpwatch ledger …``: the scoring ledger — standings, verification and the manual events."""

from __future__ import annotations

import re
import sys
from datetime import date, datetime, timezone
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from icpwatch.clikit import db_option, emit_json, json_option
from registry.cli import open_registry

from .service import Ledger, LedgerError
from .standing import OBJECT_KINDS, PENALTY_POINTS, Entry, Standing, china_date

stderr = Console(stderr=True)




def _day(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=what) from None


def _entry_line(entry: Entry) -> str:
    return (f"entry {entry.id} (seq {entry.seq}): {entry.kind} {entry.points:+d} points for {entry.object_kind} "
            f"{entry.object_code} in {entry.year}, art. {entry.article}")


def _emit_entry(entry: Entry, as_json: bool) -> None:
    if as_json:
        emit_json(entry.as_dict())
    else:
        stderr.print(_entry_line(entry), markup=False)


@click.group()
def ledger() -> None:
    """The scoring ledger (arts. 34–44, 55): points per provider, IP and domain filing unit and
    year, the sanctions of art. 43, and the filing-interface state.

    Entries are only ever added: corrections are new entries, and every entry carries the hash of
    the one before, so `icpwatch ledger verify` notices any change, removal or reordering.
    """


@ledger.command("show", short_help="Points, thresholds, interface and entries per object.")
@click.option("--year", type=int, default=None, help="The cycle (calendar year); default this year in China.")
@click.option("--object", "object_code", default=None, metavar="CODE", help="Only this provider or filing unit.")
@click.option("--kind", "object_kind", type=click.Choice(OBJECT_KINDS), default=None, help="Only this kind of object.")
@db_option
@json_option
def show_command(year: int | None, object_code: str | None, object_kind: str | None, db_url: str,
                 as_json: bool) -> None:
    """Per assessment object: its points in the year, the thresholds crossed, the state of its
    filing interface, and its entries."""
    year = year or china_date(datetime.now(timezone.utc)).year
    store = open_registry(db_url)
    try:
        standings = Ledger(store).standings(year, object_code=object_code, object_kind=object_kind)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.dispose()
    if as_json:
        emit_json({"year": year, "objects": [s.as_dict() for s in standings]})
        return
    _print_standings(year, standings)


def _print_standings(year: int, standings: list[Standing]) -> None:
    console = Console()
    if not standings:
        console.print(f"No ledger entries in {year}.")
        return
    summary = Table(title=f"Scoring ledger {year}")
    for column in ("object", "kind", "name", "points", "thresholds", "interface"):
        summary.add_column(column, justify="right" if column == "points" else "left")
    for s in standings:
        crossed = ", ".join(f"{t.threshold} on {t.reached_on.isoformat()}" for t in s.thresholds) or "—"
        summary.add_row(s.code, s.kind, s.name, str(s.points), crossed, s.interface)
    console.print(summary)
    for s in standings:
        if not s.entries:
            continue
        table = Table(title=f"{s.kind} {s.code} — entries {year}")
        for column in ("id", "seq", "date", "kind", "code", "points", "art.", "reference", "by", "reason"):
            table.add_column(column, justify="right" if column in ("id", "seq", "points") else "left")
        for e in s.entries:
            table.add_row(str(e.id), str(e.seq), e.occurred_on.isoformat(), e.kind, e.code or "", f"{e.points:+d}",
                          e.article, e.finding_ref, e.recorded_by, e.reason or "")
        console.print(table)


@ledger.command("verify", short_help="Check the hash chain; exit 1 when it fails.")
@click.option("--anchor", default=None, metavar="SEQ:HASH",
              help="A head published earlier (printed by this command): the chain must still hold it.")
@db_option
@json_option
def verify_command(anchor: str | None, db_url: str, as_json: bool) -> None:
    """Walk the hash chain and name the first entry that was changed, removed or reordered.

    Exits 1 when the chain does not verify. The head it prints (SEQ:HASH) can be kept elsewhere
    and given back with --anchor, which also catches a chain rewritten and re-hashed since.
    """
    parsed: tuple[int, str] | None = None
    if anchor is not None:
        match = re.fullmatch(r"(\d+):([0-9a-f]{64})", anchor.strip())
        if not match:
            raise click.BadParameter("expected SEQ:HASH (a number, a colon, 64 hex digits)", param_hint="--anchor")
        parsed = (int(match.group(1)), match.group(2))
    store = open_registry(db_url)
    try:
        report = Ledger(store).verify(anchor=parsed)
    finally:
        store.dispose()
    if as_json:
        emit_json(report.as_dict())
    elif report.ok:
        stderr.print(f"ledger chain verifies: {report.checked} entries, head {report.head_seq}:{report.head_hash}",
                     markup=False)
    else:
        stderr.print(f"ledger chain does NOT verify: {report.problem}", markup=False, style="red")
    if not report.ok:
        sys.exit(1)


def _record(operation: Any, as_json: bool) -> None:
    try:
        entry = operation()
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    _emit_entry(entry, as_json)


@ledger.command("penalty", short_help="Record an administrative penalty (art. 40).")
@click.argument("object_code", metavar="CODE")
@click.option("--kind", "object_kind", type=click.Choice(OBJECT_KINDS), default="provider", show_default=True)
@click.option("--penalty", type=click.Choice(list(PENALTY_POINTS)), required=True,
              help="criticism or order_to_correct (+5), fine (+10) — art. 40.")
@click.option("--reference", required=True, help="The penalty decision's number (recorded once).")
@click.option("--decided-on", "decided_on", required=True, metavar="YYYY-MM-DD", help="Date of the decision.")
@click.option("--by", "by", required=True, metavar="NAME", help="Who records it.")
@click.option("--reason", required=True, help="What the penalty was for.")
@db_option
@json_option
def penalty_command(object_code: str, object_kind: str, penalty: str, reference: str, decided_on: str, by: str,
                    reason: str, db_url: str, as_json: bool) -> None:
    """Record an administrative penalty against CODE (art. 40)."""
    day = _day(decided_on, "--decided-on")
    store = open_registry(db_url)
    try:
        _record(lambda: Ledger(store).record_penalty(
            object_kind=object_kind, object_code=object_code, penalty=penalty, reference=reference,
            decided_on=day, recorded_by=by, reason=reason), as_json)
    finally:
        store.dispose()


@ledger.command("training", short_help="Record training passed (art. 55).")
@click.argument("object_code", metavar="CODE")
@click.option("--kind", "object_kind", type=click.Choice(OBJECT_KINDS), default="provider", show_default=True)
@click.option("--passed-on", "passed_on", required=True, metavar="YYYY-MM-DD", help="Date the training was passed.")
@click.option("--reference", required=True, help="The training record's reference (recorded once).")
@click.option("--by", "by", required=True, metavar="NAME", help="Who records it.")
@db_option
@json_option
def training_command(object_code: str, object_kind: str, passed_on: str, reference: str, by: str, db_url: str,
                     as_json: bool) -> None:
    """Record that CODE passed the training of art. 55 (reopens an interface suspended at 80)."""
    day = _day(passed_on, "--passed-on")
    store = open_registry(db_url)
    try:
        _record(lambda: Ledger(store).record_training(
            provider_code=object_code, object_kind=object_kind, passed_on=day, recorded_by=by,
            reference=reference), as_json)
        if not as_json:
            state = Ledger(store).interface_state(object_code, object_kind=object_kind)
            stderr.print(f"filing interface of {object_code}: {state}", markup=False)
    finally:
        store.dispose()


@ledger.command("correct", short_help="Take back an entry by a compensating one.")
@click.argument("entry_id", type=int)
@click.option("--by", "by", required=True, metavar="NAME", help="Who corrects.")
@click.option("--reason", required=True, help="Why the entry no longer stands.")
@db_option
@json_option
def correct_command(entry_id: int, by: str, reason: str, db_url: str, as_json: bool) -> None:
    """Take back what entry ENTRY_ID counts for, by a compensating entry (nothing is edited)."""
    store = open_registry(db_url)
    try:
        _record(lambda: Ledger(store).correct(entry_id=entry_id, reason=reason, recorded_by=by), as_json)
    finally:
        store.dispose()
