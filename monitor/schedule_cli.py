"""``icpwatch schedule add|list|remove`` and ``icpwatch monitor``: scheduled sweeps from the shell.

The commands are thin: they check their input, call :mod:`monitor.schedules`, and print either
a human line on stderr or, with ``--json``, one JSON document on stdout (DESIGN.md §4).
Alert URLs carry tokens, so every listing masks them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import click

from icpwatch.clikit import db_option, emit_json, fail, json_option, open_engine, resolver_option
from icpwatch.dbkit import DatabaseURLError
from monitor.alerts import AlertError, parse_alert
from monitor.schedules import DEFAULT_TZ, EVERY, Monitor, ScheduleError, add_schedule, list_schedules, remove_schedule


def _mask_alert(value: str) -> str:
    if "env:" in value:  # a reference to the environment holds no secret
        return value
    try:
        target = parse_alert(value)
    except AlertError:
        return "***"
    return f"{target.channel}={target.endpoint}"


def _masked(options: dict[str, Any]) -> dict[str, Any]:
    out = dict(options)
    if out.get("alert"):
        out["alert"] = [_mask_alert(a) for a in out["alert"]]
    return out


@click.group("schedule")
def schedule() -> None:
    """Sweeps that run on a cron schedule (run them with `icpwatch monitor`)."""


@schedule.command("add")
@click.argument("name")
@click.option("--cron", help='Cron expression, 5 fields: minute hour day month weekday (e.g. "0 2 * * *").')
@click.option("--every", type=click.IntRange(min=1), metavar="SECONDS",
              help="Test and trial use only: run every SECONDS seconds instead of on a cron expression.")
@click.option("--tz", "tz", default=DEFAULT_TZ, show_default=True, help="Time zone the cron expression is read in.")
@click.option("--targets", type=click.Path(exists=True, dir_okay=False, resolve_path=True),
              help="Sweep: file of targets, one domain, URL, IP or CIDR a line (stored as an absolute path).")
@click.option("--provider", multiple=True, metavar="CODE", help="Sweep: the provider's addresses and customers (repeatable).")
@click.option("--province", multiple=True, help="Sweep: the sites filed in a province (repeatable).")
@click.option("--scope", help="Sweep: a saved scope by name.")
@resolver_option(help="Sweep: the DNS server to ask, or several separated by commas, asked in turn.")
@click.option("--allow-private", is_flag=True, help="Sweep: permit loopback and private targets.")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False, resolve_path=True),
              help="Sweep: extra CA certificates (PEM) to trust.")
@click.option("--alert", multiple=True, metavar="[CHANNEL=]URL",
              help="Sweep: where to send new findings: dingtalk=URL, wecom=URL, feishu=URL, webhook=URL, a bare "
                   "URL, or CHANNEL=env:NAME to read it from the environment (repeatable).")
@click.option("--render", metavar="POLICY",
              help="Sweep: which sites to check in Chromium: none, uncertain, filed, all or sample:N.")
@click.option("--evidence-dir", type=click.Path(file_okay=False, resolve_path=True),
              help="Sweep: where rendered evidence is written (stored as an absolute path).")
@db_option
@json_option
def add(name: str, cron: str | None, every: int | None, tz: str, targets: str | None, provider: tuple[str, ...],
        province: tuple[str, ...], scope: str | None, resolver: str | None, allow_private: bool,
        ca_file: str | None, alert: tuple[str, ...], render: str | None, evidence_dir: str | None, db_url: str,
        as_json: bool) -> None:
    """Add the schedule NAME: the sweep with these options, run on --cron."""
    if (cron is None) == (every is None):
        fail("give exactly one of --cron EXPRESSION or --every SECONDS")
    if not (targets or provider or province or scope):
        fail("a scheduled sweep needs something to sweep: --targets, --provider, --province or --scope")
    if render is not None:
        from .render import RenderPolicyError, parse_policy

        try:
            render = str(parse_policy(render))
        except RenderPolicyError as exc:
            fail(str(exc))
    for value in alert:
        if "env:" not in value:
            try:
                parse_alert(value)
            except AlertError as exc:
                fail(str(exc))
    options: dict[str, Any] = {k: v for k, v in {
        "targets": targets, "provider": list(provider), "province": list(province), "scope": scope,
        "resolver": resolver, "allow_private": allow_private, "ca_file": ca_file, "alert": list(alert),
        "render": render, "evidence_dir": evidence_dir,
    }.items() if v not in (None, [], False)}
    engine = open_engine(db_url)
    try:
        add_schedule(engine, name, cron if cron is not None else f"{EVERY}{every}", options, tz)
        (row,) = [s for s in list_schedules(engine) if s["name"] == name.strip()]
    except ScheduleError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    row["options"] = _masked(row["options"])
    if as_json:
        emit_json(row)
    else:
        click.echo(f"schedule {row['name']} added: {row['cron']} ({row['timezone']}), next due {row['next_due']}", err=True)


@schedule.command("list")
@db_option
@json_option
def list_(db_url: str, as_json: bool) -> None:
    """List the schedules, their next due time and their last run."""
    engine = open_engine(db_url)
    try:
        rows = list_schedules(engine)
    finally:
        engine.dispose()
    for row in rows:
        row["options"] = _masked(row["options"])
    if as_json:
        emit_json({"schedules": rows})
        return
    if not rows:
        click.echo("no schedules", err=True)
    for row in rows:
        last = row["last_run"]
        last_text = f"last {last['status']} (due {last['due_at']})" if last else "never run"
        if row["skipped_runs"]:
            last_text += f"\tskipped {row['skipped_runs']} (last due {row['last_skipped_due']})"
        click.echo(f"{row['name']}\t{row['cron']}\t{row['timezone']}\t"
                   f"{'enabled' if row['enabled'] else 'disabled'}\tnext {row['next_due']}\t{last_text}\t"
                   f"{json.dumps(row['options'], ensure_ascii=False)}")


@schedule.command("remove")
@click.argument("name")
@db_option
@json_option
def remove(name: str, db_url: str, as_json: bool) -> None:
    """Remove the schedule NAME (its past runs are kept)."""
    engine = open_engine(db_url)
    try:
        remove_schedule(engine, name)
    except ScheduleError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    if as_json:
        emit_json({"removed": name})
    else:
        click.echo(f"schedule {name} removed", err=True)


@click.command("monitor")
@click.option("--poll", "poll_seconds", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds between re-reads of the schedules table.")
@click.option("--misfire-grace", type=click.FloatRange(min=0), default=3600.0, show_default=True,
              help="A run missed while no monitor ran is still run (once) if due within this many seconds.")
@click.option("--stop-timeout", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="On SIGTERM, seconds to wait for running sweeps after asking them to stop.")
@click.option("--command", "command_json", hidden=True,
              help="Tests only: a JSON list that replaces `python -m icpwatch sweep`.")
@db_option
def monitor(poll_seconds: float, misfire_grace: float, stop_timeout: float, command_json: str | None,
            db_url: str) -> None:
    """Run the scheduled sweeps until stopped (SIGTERM or Ctrl-C).

    Each due run is claimed in the database before it starts, so a restart or a second monitor on
    the same database never runs it twice; runs missed while no monitor ran are run once on start.
    """
    command = None
    if command_json:
        command = json.loads(command_json)
        if not (isinstance(command, list) and command and all(isinstance(c, str) for c in command)):
            fail("--command must be a JSON list of strings")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("monitor").setLevel(logging.INFO)
    try:
        runner = Monitor(db_url, poll_seconds=poll_seconds, misfire_grace=misfire_grace, command=command,
                         stop_timeout=stop_timeout)
    except DatabaseURLError as exc:
        fail(str(exc))
    runner.run_forever()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """The schedule commands on their own (`python -m monitor.schedule_cli`), as `icpwatch` has them."""


main.add_command(schedule)
main.add_command(monitor)

if __name__ == "__main__":
    main()
