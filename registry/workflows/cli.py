"""``icpwatch filing …``: drive every filing workflow from the command line.

Each step names who takes it (``--by NAME``) and for whom: a provider step ``--provider CODE``, an
authority step ``--province P`` (the subject's province decides), a host step ``--as host`` (the
default where a provider may also act on the host's behalf, ``--as provider``). Records and
materials come from a YAML or JSON file. A refused step exits 1 with the reason on stderr and
changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from icpwatch.clikit import db_option, emit_json, json_option
from registry.cli import open_registry
from registry.protection import ProtectionKeyError, Protector, load_key, mask_text
from registry.store import Store
from registry.workdays import CalendarError, WorkCalendar, add_working_days, load_schedule, loaded_years

from .core import KINDS, Actor, WorkflowError
from .orders import OrderError, Orders
from .service import Workflows



def _workflows(store: Store) -> Workflows:
    try:
        return Workflows(store, Protector(load_key()))
    except ProtectionKeyError as exc:
        raise click.ClickException(str(exc)) from None


def _read(path: Path) -> dict[str, Any]:
    """A record file: YAML or JSON (JSON is YAML), one mapping of field names to values."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise click.ClickException(f"{path}: cannot read the record: {exc}") from None
    if not isinstance(data, dict):
        raise click.ClickException(f"{path}: expected a mapping of field names to values")
    return data


def step(func: Callable[..., dict[str, Any] | list[Any]]) -> Callable[..., None]:
    """Open the store, run the step, print its answer; a refusal is a one-line error, never a trace."""

    @db_option
    @json_option
    @functools.wraps(func)
    def wrapper(db_url: str, as_json: bool, **kwargs: Any) -> None:
        store = open_registry(db_url)
        try:
            answer = func(_workflows(store), **kwargs)
        except (WorkflowError, OrderError, CalendarError, ValueError) as exc:
            raise click.ClickException(mask_text(str(exc))) from None
        finally:
            store.dispose()
        if as_json:
            emit_json(answer)
        else:
            _print(answer)

    return wrapper


def _print(answer: Any) -> None:
    console = Console()
    if isinstance(answer, list):
        table = Table(show_header=True)
        columns = [c for c in ("id", "kind", "state", "website_number", "provider", "provider_code", "target",
                               "review_province", "due", "estimated", "overdue") if answer and c in answer[0]]
        for c in columns:
            table.add_column(c)
        for row in answer:
            table.add_row(*("—" if row.get(c) is None else str(row.get(c)) for c in columns))
        console.print(table)
        return
    table = Table(show_header=False, title=f"{answer.get('kind', '')} {answer.get('id', '')}".strip())
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in answer.items():
        if key in ("transitions", "password", "password_note"):
            continue
        table.add_row(key, "—" if value in (None, {}, []) else str(value))
    console.print(table)
    for t in answer.get("transitions", []):
        console.print(f"  {t['at']}  {t['from'] or '(new)'} → {t['to']}  {t['action']} by {t['by']} "
                      f"({t['role']}{' ' + t['organisation'] if t['organisation'] else ''})"
                      f"{': ' + t['reason'] if t['reason'] else ''}", markup=False)
    if answer.get("password"):
        console.print(f"filing password (shown once, only its hash is kept): {answer['password']}", markup=False)


def _submitter(name: str, role: str, provider: str | None) -> Actor:
    return Actor(name, role, provider if role == "provider" else None)


by_option = click.option("--by", "by", required=True, help="Who takes the step (a person's name).")
provider_option = click.option("--provider", "provider", required=True, help="The provider's code.")
province_option = click.option("--province", "province", required=True,
                               help="The authority's province (the subject's province decides).")
as_option = click.option("--as", "role", type=click.Choice(["host", "provider"]), default="host", show_default=True,
                         help="The host itself, or its provider on its behalf.")
note_option = click.option("--note", help="Why, or anything the record should say.")


@click.group(short_help="Filing workflows: new filing, change, access, cancellation, licence, password reset.")
def filing() -> None:
    """The filing workflows (arts. 18–22, annex 1): new filing, change, added access,
    cancellation, licence conversion, password reset; and the working-day calendar."""


@filing.command("submit", short_help="Submit a new filing through one provider.")
@click.argument("record", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@provider_option
@by_option
@as_option
@note_option
@step
def submit(wf: Workflows, record: Path, provider: str, by: str, role: str, note: str | None) -> dict[str, Any]:
    """Submit a new filing (art. 18(1)) from RECORD (YAML/JSON) through one provider.

    Fields: subject_name, subject_type (单位/个人), subject_province, subject_certificate,
    website_name, contact_name, contact_phone, contact_id, domains, ips, services, preapprovals
    (a list of {service, document}).
    """
    return wf.submit_new_filing(_read(record), provider, _submitter(by, role, provider), note=note)


@filing.command("verify", short_help="The provider verifies and reports an application.")
@click.argument("application_id", type=int)
@provider_option
@by_option
@click.option("--method", help="How the truthfulness check was made (当面核验, 视频核验 …).")
@click.option("--reference", help="The truthfulness check form's number.")
@note_option
@step
def verify(wf: Workflows, application_id: int, provider: str, by: str, method: str | None, reference: str | None,
           note: str | None) -> dict[str, Any]:
    """The provider verifies and reports APPLICATION_ID (art. 18(2)); the automatic check follows."""
    return wf.provider_verify(application_id, Actor(by, "provider", provider), method=method, reference=reference,
                              note=note)


@filing.command("provider-return")
@click.argument("application_id", type=int)
@provider_option
@by_option
@click.option("--reason", required=True)
@step
def provider_return(wf: Workflows, application_id: int, provider: str, by: str, reason: str) -> dict[str, Any]:
    """The provider sends an untrue or inaccurate record back to the host (art. 18(2))."""
    return wf.provider_return(application_id, Actor(by, "provider", provider), reason)


@filing.command("approve")
@click.argument("application_id", type=int)
@province_option
@by_option
@note_option
@step
def approve(wf: Workflows, application_id: int, province: str, by: str, note: str | None) -> dict[str, Any]:
    """The authority approves (a new filing gets its number and password, shown once)."""
    return wf.approve(application_id, Actor(by, "authority", province), note=note)


@filing.command("return")
@click.argument("application_id", type=int)
@province_option
@by_option
@click.option("--reason", required=True)
@step
def return_command(wf: Workflows, application_id: int, province: str, by: str, reason: str) -> dict[str, Any]:
    """The authority returns the application with its reasons."""
    return wf.return_(application_id, Actor(by, "authority", province), reason)


@filing.command("resubmit")
@click.argument("application_id", type=int)
@click.argument("record", required=False, type=click.Path(path_type=Path, exists=True, dir_okay=False))
@by_option
@as_option
@click.option("--provider", help="The provider, when it resubmits on the host's behalf.")
@note_option
@step
def resubmit(wf: Workflows, application_id: int, record: Path | None, by: str, role: str, provider: str | None,
             note: str | None) -> dict[str, Any]:
    """Resubmit a returned application, with RECORD's fields replacing the submitted ones."""
    return wf.resubmit(application_id, _submitter(by, role, provider), _read(record) if record else None, note=note)


@filing.command("withdraw")
@click.argument("application_id", type=int)
@by_option
@as_option
@click.option("--provider", help="The provider, when it withdraws on the host's behalf.")
@click.option("--reason", required=True)
@step
def withdraw(wf: Workflows, application_id: int, by: str, role: str, provider: str | None, reason: str) -> dict[str, Any]:
    """Withdraw an application that is not decided yet."""
    return wf.withdraw(application_id, _submitter(by, role, provider), reason)


@filing.command("change", short_help="Submit a change to a filing.")
@click.argument("website_number")
@click.argument("changes", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@provider_option
@by_option
@as_option
@note_option
@step
def change(wf: Workflows, website_number: str, changes: Path, provider: str, by: str, role: str,
           note: str | None) -> dict[str, Any]:
    """Submit a change (art. 19) of WEBSITE_NUMBER from CHANGES (YAML/JSON).

    Fields: the record's fields to replace, and for the provider's access changes remove_access
    (provider codes) and access_ips.
    """
    return wf.submit_change(website_number, _read(changes), provider, _submitter(by, role, provider), note=note)


@filing.command("add-access")
@click.argument("website_number")
@provider_option
@by_option
@click.option("--password", envvar="ICPWATCH_FILING_PASSWORD", required=True,
              help="The filing password the host gave (or ICPWATCH_FILING_PASSWORD).")
@click.option("--ip", "ips", multiple=True, help="An address this provider serves the site from (repeatable).")
@note_option
@step
def add_access(wf: Workflows, website_number: str, provider: str, by: str, password: str, ips: tuple[str, ...],
               note: str | None) -> dict[str, Any]:
    """A later provider adds its access to a filed site with its number and password (art. 18(5))."""
    return wf.submit_add_access(website_number, provider, password, Actor(by, "provider", provider), ips=list(ips),
                                note=note)


@filing.command("cancel")
@click.argument("website_number")
@by_option
@click.option("--as", "role", type=click.Choice(["host", "provider", "authority"]), required=True,
              help="Who cancels (art. 22(1)-(3)).")
@click.option("--provider", help="The provider whose system takes it (host and provider).")
@click.option("--province", help="The authority's province (authority).")
@click.option("--password", envvar="ICPWATCH_FILING_PASSWORD", help="The filing password (host).")
@click.option("--reason", required=True)
@step
def cancel(wf: Workflows, website_number: str, by: str, role: str, provider: str | None, province: str | None,
           password: str | None, reason: str) -> dict[str, Any]:
    """Cancel WEBSITE_NUMBER's filing: by the host or the provider (reviewed), or by the authority."""
    if role == "authority":
        return wf.cancel_by_authority(website_number, Actor(by, "authority", province), reason=reason)
    if not provider:
        raise WorkflowError("--provider names the provider whose system takes the cancellation")
    return wf.submit_cancellation(website_number, _submitter(by, role, provider), provider, reason=reason,
                                  password=password)


@filing.command("forward")
@click.argument("application_id", type=int)
@provider_option
@by_option
@step
def forward(wf: Workflows, application_id: int, provider: str, by: str) -> dict[str, Any]:
    """The provider sends a host's cancellation on to the subject's province (art. 22(2))."""
    return wf.provider_forward(application_id, Actor(by, "provider", provider))


@filing.command("licence")
@click.argument("website_number")
@click.argument("licence_number")
@by_option
@as_option
@click.option("--provider", help="The provider, when it applies on the host's behalf.")
@note_option
@step
def licence(wf: Workflows, website_number: str, licence_number: str, by: str, role: str, provider: str | None,
            note: str | None) -> dict[str, Any]:
    """Apply to replace the subject's filing numbers by its operating licence (art. 21)."""
    return wf.submit_licence_conversion(website_number, licence_number, _submitter(by, role, provider), note=note)


@filing.command("password-reset")
@click.argument("website_number")
@click.argument("materials", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@provider_option
@by_option
@note_option
@step
def password_reset(wf: Workflows, website_number: str, materials: Path, provider: str, by: str,
                   note: str | None) -> dict[str, Any]:
    """The host applies for a password reset (annex 1) with MATERIALS (YAML/JSON:
    subject_certificate, contact_phone, contact_id)."""
    return wf.submit_password_reset(website_number, provider, _read(materials), Actor(by, "host"), note=note)


@filing.command("check-materials")
@click.argument("application_id", type=int)
@provider_option
@by_option
@step
def check_materials(wf: Workflows, application_id: int, provider: str, by: str) -> dict[str, Any]:
    """The provider checks the reset materials against the filing and reports or returns them."""
    return wf.provider_check(application_id, Actor(by, "provider", provider))


@filing.command("reset")
@click.argument("application_id", type=int)
@province_option
@by_option
@note_option
@step
def reset(wf: Workflows, application_id: int, province: str, by: str, note: str | None) -> dict[str, Any]:
    """The issuing province resets the password (shown once)."""
    return wf.reset_password(application_id, Actor(by, "authority", province), note=note)


@filing.command("refuse-reset")
@click.argument("application_id", type=int)
@province_option
@by_option
@click.option("--reason", required=True)
@step
def refuse_reset(wf: Workflows, application_id: int, province: str, by: str, reason: str) -> dict[str, Any]:
    """The issuing province refuses the reset, with its reason."""
    return wf.refuse_reset(application_id, Actor(by, "authority", province), reason)


@filing.command("show")
@click.argument("application_id", type=int)
@step
def show(wf: Workflows, application_id: int) -> dict[str, Any]:
    """One application with every transition (who, when, from, to, why)."""
    return wf.show(application_id)


@filing.command("list")
@click.option("--kind", type=click.Choice(KINDS))
@click.option("--state")
@click.option("--provider", help="Only this provider's applications.")
@click.option("--number", "website_number", help="Only this filing's applications.")
@click.option("--open", "open_only", is_flag=True, help="Only applications not finished.")
@click.option("--overdue", is_flag=True, help="Only applications past their deadline.")
@step
def list_command(wf: Workflows, kind: str | None, state: str | None, provider: str | None,
                 website_number: str | None, open_only: bool, overdue: bool) -> list[dict[str, Any]]:
    """Applications, newest first."""
    return wf.list(kind=kind, state=state, provider=provider, website_number=website_number, open_only=open_only,
                   overdue=overdue)


@filing.command("orders")
@click.option("--provider", help="Only this provider's orders.")
@click.option("--all", "all_", is_flag=True, help="Closed orders too.")
@click.option("--overdue", is_flag=True, help="Only open orders past their deadline.")
@step
def orders(wf: Workflows, provider: str | None, all_: bool, overdue: bool) -> list[dict[str, Any]]:
    """Stop-access orders and correction requests that verified findings opened."""
    rows = Orders(wf.store).orders(provider_code=provider, state=None if all_ else "open")
    today = wf.today()
    out = [{**o.to_dict(), "overdue": o.overdue(today)} for o in rows]
    return [o for o in out if o["overdue"]] if overdue else out


@filing.group("calendar")
def calendar() -> None:
    """Working days: load a year's official holiday schedule, show what is loaded, count a deadline."""


@calendar.command("load")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@by_option
@step
def calendar_load(wf: Workflows, file: Path, by: str) -> dict[str, Any]:
    """Load FILE, a year's official schedule (CSV: date,kind,name; kind holiday or workday).

    Replaces an earlier load of the same year; every deadline counted afterwards uses it.
    """
    return load_schedule(wf.store, file, loaded_by=by).to_dict()


@calendar.command("show")
@click.option("--year", type=int, help="Also list this year's days off and worked weekend days, and their source.")
@step
def calendar_show(wf: Workflows, year: int | None) -> dict[str, Any]:
    """The official schedules loaded, and where each year's days come from."""
    from registry.workdays import year_days

    cal = WorkCalendar.from_store(wf.store)
    out: dict[str, Any] = {"loaded": loaded_years(wf.store)}
    if year is not None:
        out["year"] = {"year": year, "source": cal.source(year), "estimated": cal.source(year) == "weekdays",
                       "differs_from_plain_week": [{"date": d, "workday": cal.is_workday(d)}
                                                   for d in year_days(cal, year)]}
    return out


@calendar.command("deadline")
@click.argument("start", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.argument("days", type=int)
@step
def calendar_deadline(wf: Workflows, start: Any, days: int) -> dict[str, Any]:
    """The DAYS-th working day after START (YYYY-MM-DD), and whether it is estimated."""
    begin: date = start.date()
    return add_working_days(begin, days, WorkCalendar.from_store(wf.store)).to_dict()
