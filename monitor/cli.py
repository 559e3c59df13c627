"""The monitor's commands: ``icpwatch sweep``, ``icpwatch findings …`` and ``icpwatch scope …``.

The lead adds :data:`sweep`, :data:`findings` and :data:`scope` to the ``icpwatch`` group. With
``--json`` each prints one JSON document on stdout and nothing else; progress and the crawler's
log go to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from crawler.cli import redis_option, workers_option
from icpwatch.clikit import db_option, emit_json, fail, json_option, open_engine, resolver_option

ALERT_JOIN_SECONDS = 60.0


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _findings_table(title: str, rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in ("id", "code", "domain / ip", "party", "article", "pts", "status", ""):
        table.add_column(col)
    for f in rows:
        table.add_row(str(f["id"]), f["code"], f.get("domain") or f.get("ip") or "",
                      f"{f.get('provider') or '—'} ({f.get('party_kind')})", f["article"], str(f["points"]),
                      f["status"], "new" if f.get("new") else "")
    return table


# ---------------------------------------------------------------------------------------------
# sweep
# ---------------------------------------------------------------------------------------------
@click.command("sweep")
@click.option("--targets", "targets_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="File of targets: one domain, URL, IP address or CIDR block a line (repeatable).")
@click.option("--provider", "providers", multiple=True, metavar="CODE",
              help="Every domain and address the registry links to this provider, and its IP blocks (repeatable).")
@click.option("--province", "provinces", multiple=True, metavar="P",
              help="Websites whose subject is in this province, and the blocks recorded for it (repeatable).")
@click.option("--scope", "scope_name", default=None, metavar="NAME", help="A saved scope (icpwatch scope add).")
@resolver_option()
@click.option("--allow-private", is_flag=True, help="Permit loopback and private targets (refused by default).")
@click.option("--render", default="none", show_default=True, metavar="POLICY",
              help="Which sites to check in Chromium after the crawl: none, uncertain (filed sites whose static "
                   "display estimate is unsure or raised a display finding), filed, unfiled (sites served without a "
                   "filing: the notice's screenshots), all, or sample:N "
                   "(N % of filed sites, the same ones every sweep).")
@click.option("--evidence-dir", type=click.Path(file_okay=False), default=None,
              help="Where rendered evidence (screenshots, served HTML, measurements) is written "
                   "(default: evidence/ next to an SQLite store, else ./icpwatch-evidence).")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="PEM file of the CAs to trust (default: the system's trust store).")
@click.option("--rdap", default=None, metavar="URL", help="RDAP base URL for address owners (default: the real registries).")
@click.option("--no-ownership", is_flag=True, help="Do not look up who owns the serving addresses.")
@click.option("--cidr-cap", type=click.IntRange(1, 1 << 24), default=65536, show_default=True,
              help="Most addresses one CIDR block may expand to.")
@click.option("--alert", "alerts", multiple=True, metavar="[CHANNEL=]URL",
              help="Send the new findings here: webhook (default), dingtalk=, wecom=, feishu= (repeatable).")
@click.option("--by", "created_by", default=None, metavar="NAME", help="Who runs the sweep (recorded).")
@click.option("--run", "crawl_run", default=None, metavar="ID", help="Judge this stored crawl run instead of crawling.")
@workers_option
@redis_option
@db_option
@json_option
def sweep(targets_files: tuple[Path, ...], providers: tuple[str, ...], provinces: tuple[str, ...],
          scope_name: str | None, resolver: str | None, allow_private: bool, render: str,
          evidence_dir: str | None, ca_file: Path | None,
          rdap: str | None, no_ownership: bool, cidr_cap: int, alerts: tuple[str, ...], created_by: str | None,
          crawl_run: str | None, workers: int, redis_url: str, db_url: str, as_json: bool) -> None:
    """Sweep targets: crawl them, judge what was seen against the registry, store the findings.

    A target whose crawl failed (DNS, timeout, TLS, refused…) is listed as unknown and raises
    nothing. Findings are suspected until verified (icpwatch findings verify). Display findings
    come from the rendered check for the sites --render picks (Chromium, bottom centre measured),
    and are static estimates from the page source for the others; a render that failed leaves
    the estimate and is listed.
    """
    from crawler.targets import TargetError
    from crawler.workers import WorkerError

    from .sweep import SweepError, SweepOptions, run_sweep
    from .targets import Selection, TargetSelectionError

    selection = Selection(files=[str(f) for f in targets_files], providers=list(providers),
                          provinces=list(provinces), scope=scope_name)
    options = SweepOptions(resolver=resolver, allow_private=allow_private, render=render, evidence_dir=evidence_dir,
                           ca_file=str(ca_file) if ca_file else None, rdap=rdap, ownership=not no_ownership,
                           cidr_cap=cidr_cap, alerts=list(alerts), created_by=created_by, crawl_run=crawl_run,
                           workers=workers, redis_url=redis_url)
    try:
        result = run_sweep(db_url, selection, options, engine=open_engine(db_url))
    except (TargetSelectionError, TargetError, SweepError, WorkerError, ValueError) as exc:
        fail(str(exc))
        return
    doc = result.document
    if as_json:
        emit_json(doc)
    else:
        _print_sweep(doc)
    if result.alert_thread is not None:
        click.echo("sending alerts…", err=True)
        result.alert_thread.join(ALERT_JOIN_SECONDS)
    sys.stdout.flush()


def by_code_table(by_code: dict[str, int], title: str = "findings by rule") -> Any:
    """A table of finding counts by rule code."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("code")
    table.add_column("count", justify="right")
    for code, count in by_code.items():
        table.add_row(code, str(count))
    return table


def _print_sweep(doc: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    counts = Table(title=f"sweep {doc['sweep_id']}: observations", show_header=True)
    counts.add_column("status")
    counts.add_column("n", justify="right")
    for k, v in doc["counts"].items():
        if k == "dns":
            for kind, n in v.items():
                counts.add_row(f"  dns {kind}", str(n))
        else:
            counts.add_row(k, str(v))
    console.print(counts)
    s = doc["summary"]
    console.print(f"{s['targets']} targets, {s['sites_judged']} sites judged, {s['unknown']} unknown, "
                  f"{s['findings']} findings ({s['new']} new)")
    console.print(by_code_table(s["by_code"]))
    r = doc.get("render") or {}
    if r.get("policy", "none") != "none" and r.get("available"):
        console.print(f"rendered ({r['policy']}): {r['rendered']} of {r['selected']} sites in {r['seconds']} s, "
                      f"{r['failed']} failed (static estimate kept)")
        for f in r.get("failures") or []:
            console.print(f"  [yellow]render failed:[/yellow] {f['url']}: {f['status']} {f.get('error') or ''}")
    for note in doc.get("notes") or []:
        console.print(f"[yellow]note:[/yellow] {note}")


# ---------------------------------------------------------------------------------------------
# findings
# ---------------------------------------------------------------------------------------------
@click.group("findings")
def findings() -> None:
    """List, inspect, verify and dismiss findings."""


@findings.command("list")
@click.option("--sweep", "sweep_id", type=int, default=None, help="Only findings this sweep saw.")
@click.option("--diff", "other", type=int, default=None, metavar="OTHER",
              help="Compare with sweep OTHER of the same scope: new, persisting, resolved, sites changed.")
@click.option("--status", type=click.Choice(["suspected", "verified", "dismissed"]), default=None)
@click.option("--code", default=None, help="Only this rule code.")
@click.option("--limit", type=int, default=None, help="At most this many (newest first).")
@db_option
@json_option
def list_cmd(sweep_id: int | None, other: int | None, status: str | None, code: str | None, limit: int | None,
             db_url: str, as_json: bool) -> None:
    """Findings, newest first; with --diff, what changed between two sweeps."""
    from sqlalchemy import select

    from .models import Finding, Sighting, Sweep
    from .store import MonitorStore
    from .sweep import finding_json

    engine = open_engine(db_url)
    if other is not None:
        from .diff import DiffError, diff

        if sweep_id is None:
            fail("--diff OTHER needs --sweep ID")
        try:
            with MonitorStore(engine).session() as s:
                a, b = s.get(Sweep, other), s.get(Sweep, sweep_id)
                if a is None or b is None:
                    fail(f"no sweep {other if a is None else sweep_id}")
                older, newer = (other, sweep_id) if a.started_at <= b.started_at else (sweep_id, other)
            doc = diff(engine, older, newer)
        except DiffError as exc:
            fail(str(exc))
            return
        if status:
            for k in ("new", "persisting", "resolved"):
                doc[k] = [f for f in doc[k] if f["status"] == status]
        if as_json:
            emit_json(doc)
            return
        console = _console()
        for k in ("new", "persisting", "resolved"):
            console.print(_findings_table(f"{k} ({len(doc[k])})", doc[k]))
        for site in doc["sites_changed"]:
            console.print(f"changed: {site['target']}: " + ", ".join(k for k in site if k != "target"))
        return
    with MonitorStore(engine).session() as s:
        q = select(Finding)
        if sweep_id is not None:
            q = q.join(Sighting, Sighting.finding_id == Finding.id).where(Sighting.sweep_id == sweep_id)
        if status:
            q = q.where(Finding.status == status)
        if code:
            q = q.where(Finding.code == code)
        q = q.order_by(Finding.id.desc())
        if limit:
            q = q.limit(limit)
        rows = [finding_json(f) for f in s.scalars(q)]
    if as_json:
        emit_json({"sweep": sweep_id, "status": status, "count": len(rows), "findings": rows})
    else:
        _console().print(_findings_table(f"{len(rows)} findings", rows))


@findings.command("show")
@click.argument("finding_id", type=int)
@db_option
@json_option
def show_cmd(finding_id: int, db_url: str, as_json: bool) -> None:
    """One finding with its evidence, decision and sightings."""
    from sqlalchemy import select

    from .models import Finding, Sighting
    from .store import MonitorStore
    from .sweep import finding_json

    with MonitorStore(open_engine(db_url)).session() as s:
        f = s.get(Finding, finding_id)
        if f is None:
            fail(f"no finding {finding_id}")
            return
        sightings = s.scalars(select(Sighting).where(Sighting.finding_id == f.id).order_by(Sighting.seen_at)).all()
        doc = {**finding_json(f), "fingerprint": f.fingerprint, "website_number": f.website_number,
               "first_seen_at": f.first_seen_at, "last_seen_at": f.last_seen_at,
               "first_sweep_id": f.first_sweep_id, "last_sweep_id": f.last_sweep_id,
               "decided_by": f.decided_by, "decided_at": f.decided_at, "reason": f.reason,
               "evidence": f.evidence,
               "sightings": [{"sweep_id": x.sweep_id, "seen_at": x.seen_at} for x in sightings]}
    if as_json:
        emit_json(doc)
        return
    from icpwatch.clikit import dumps

    console = _console()
    console.print(f"[bold]finding {doc['id']}[/bold] {doc['code']} (art. {doc['article']}, {doc['points']} points) "
                  f"— {doc['status']}")
    console.print(f"about: {doc['domain'] or doc['ip']}  target: {doc['target']}  party: {doc['provider']} "
                  f"({doc['party_kind']})")
    if doc["decided_by"]:
        console.print(f"decided by {doc['decided_by']} at {doc['decided_at']}: {doc['reason']}")
    console.print(f"sightings: {len(doc['sightings'])} (first sweep {doc['first_sweep_id']}, last {doc['last_sweep_id']})")
    click.echo(dumps(doc["evidence"]))


def _decision_command(decision: str) -> click.Command:
    verb = "Verify" if decision == "verify" else "Dismiss"

    @click.command(decision)
    @click.argument("ids", nargs=-1, type=int)
    @click.option("--sweep", "sweep_id", type=int, default=None, help="With --all: every suspected finding of this sweep.")
    @click.option("--all", "all_in_sweep", is_flag=True, help="Every suspected finding of --sweep ID.")
    @click.option("--by", "by", required=True, metavar="NAME", help="Who decides (recorded).")
    @click.option("--reason", required=True, metavar="TEXT", help="Why (recorded).")
    @db_option
    @json_option
    def command(ids: tuple[int, ...], sweep_id: int | None, all_in_sweep: bool, by: str, reason: str,
                db_url: str, as_json: bool) -> None:
        from .verify import DecisionError, decide

        if all_in_sweep and sweep_id is None:
            fail("--all needs --sweep ID")
        try:
            result = decide(open_engine(db_url), decision, ids=list(ids), sweep_id=sweep_id,
                            all_in_sweep=all_in_sweep, by=by, reason=reason)
        except DecisionError as exc:
            fail(str(exc))
            return
        if as_json:
            emit_json(result.to_dict())
        else:
            click.echo(f"{result.status}: {len(result.changed)} changed, {len(result.unchanged)} unchanged"
                       + (f", not found: {', '.join(map(str, result.missing))}" if result.missing else ""))
        if result.missing:
            sys.exit(1)

    command.help = (f"{verb} findings by id, or every suspected finding of a sweep (--sweep ID --all); "
                    "--by and --reason are recorded.")
    return command


findings.add_command(_decision_command("verify"))
findings.add_command(_decision_command("dismiss"))


@findings.command("rescore")
@db_option
@json_option
def rescore_cmd(db_url: str, as_json: bool) -> None:
    """Bring the scoring ledger and the orders in line with every decided finding.

    A decision is committed before its ledger entries and orders are written; if the process
    stopped in between, this catches up. Replaying adds nothing that is already there.
    """
    from sqlalchemy import select

    from .models import Finding
    from .orders import apply_decision
    from .scoring import score_all
    from .store import MonitorStore

    engine = open_engine(db_url)
    result = score_all(engine)
    with MonitorStore(engine).session() as s:
        verified = list(s.scalars(select(Finding.id).where(Finding.status == "verified")))
    opened = apply_decision(engine, "verified", verified)
    doc = {**result.to_dict(), "orders": len(opened)}
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"ledger: {len(result.recorded)} recorded, {len(result.withdrawn)} withdrawn, "
                   f"{len(result.unchanged)} already there, {len(result.unscored)} unscored; "
                   f"{len(opened)} orders for verified findings")


# ---------------------------------------------------------------------------------------------
# scopes
# ---------------------------------------------------------------------------------------------
@click.group("scope")
def scope() -> None:
    """Saved sweep scopes (sweep --scope NAME)."""


@scope.command("add")
@click.argument("name")
@click.option("--targets", "targets_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--provider", "providers", multiple=True, metavar="CODE")
@click.option("--province", "provinces", multiple=True, metavar="P")
@click.option("--replace", is_flag=True, help="Replace a scope of that name.")
@db_option
@json_option
def scope_add(name: str, targets_files: tuple[Path, ...], providers: tuple[str, ...], provinces: tuple[str, ...],
              replace: bool, db_url: str, as_json: bool) -> None:
    """Save NAME: target lines (read now), providers and provinces (resolved at each sweep)."""
    from .targets import Selection, TargetSelectionError, save_scope

    try:
        doc = save_scope(open_engine(db_url), name, Selection(files=[str(f) for f in targets_files],
                         providers=list(providers), provinces=list(provinces)), replace=replace)
    except TargetSelectionError as exc:
        fail(str(exc))
        return
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"scope {name}: {doc['lines']} lines, providers {doc['providers']}, provinces {doc['provinces']}")


@scope.command("list")
@db_option
@json_option
def scope_list(db_url: str, as_json: bool) -> None:
    """The saved scopes."""
    from .targets import list_scopes

    rows = list_scopes(open_engine(db_url))
    if as_json:
        emit_json({"scopes": rows})
    else:
        for r in rows:
            click.echo(f"{r['name']}: {r['lines']} lines, providers {r['providers']}, provinces {r['provinces']}")


@scope.command("remove")
@click.argument("name")
@db_option
@json_option
def scope_remove(name: str, db_url: str, as_json: bool) -> None:
    """Remove a saved scope."""
    from .targets import remove_scope

    removed = remove_scope(open_engine(db_url), name)
    if as_json:
        emit_json({"name": name, "removed": removed})
    elif removed:
        click.echo(f"removed scope {name}")
    if not removed:
        fail(f"no scope {name!r}", code=1)


__all__ = ["sweep", "findings", "scope"]
