"""``icpwatch demo``: the whole chain on a miniature internet, in about a minute.

It generates a sandbox world, loads the world's registry, serves the world on loopback (DNS, web
hosts on ports 80/443 of 127.x addresses, RDAP), sweeps it, marks the findings verified (a demo
shortcut, labelled as such: in real use an analyst verifies each finding) and prints what was
found and where everything was written.

This lives in ``icpwatch`` rather than ``monitor`` because it composes the sandbox with the rest;
like every command it never reads the world's ground truth.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from icpwatch.clikit import emit_json, json_option

IMPORT_ORDER = ("providers", "ip-ranges", "domains", "blacklist", "filings")
DEMO_REVIEWER = "icpwatch demo"
DEMO_REASON = "demo shortcut: verified without an analyst's review"
# Small provider blocks keep the IP-range probes of the demo's sweep to a few thousand addresses.
DEMO_NETWORK = "127.77.0.0/22"


class DemoError(RuntimeError):
    """The demo could not run (ports taken or not permitted, the world did not start …)."""


def _serve(spec: Path, state: Path, timeout: float = 120) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """``icpwatch world serve`` in its own process, so serving and crawling each get a core."""
    ready = state / "ready.json"
    ready.unlink(missing_ok=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "icpwatch", "world", "serve", str(spec), "--dns", "127.0.0.1:0",
         "--state-dir", str(state), "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    while not (ready.exists() and ready.stat().st_size):
        if server.poll() is not None:
            error = server.stderr.read().decode(errors="replace") if server.stderr else ""
            raise DemoError(f"the sandbox world did not start: {error.strip()[-1500:]}")
        if time.monotonic() > deadline:
            server.terminate()
            raise DemoError("the sandbox world did not start within two minutes")
        time.sleep(0.2)
    return server, json.loads(ready.read_text())


def _points(db_url: str) -> dict[str, int]:
    """This cycle's points per assessment object, as the scoring ledger recorded the verifications."""
    from datetime import datetime, timezone

    from registry.ledger import Ledger
    from registry.ledger.standing import china_date
    from registry.store import open_store

    store = open_store(db_url)
    try:
        year = china_date(datetime.now(timezone.utc)).year
        return {s.code: s.points for s in Ledger(store).standings(year) if s.points}
    finally:
        store.dispose()


def _write_reports(db_url: str, workdir: Path, sweep_id: int) -> dict[str, Any]:
    """The last step: the notice of unfiled sites (HTML and PDF) and each party's scorecard (HTML)."""
    from icpwatch.dbkit import create_engine_for
    from reports.gather import Scope
    from reports.notice import build_notice
    from reports.render import write, write_many
    from reports.scorecard import build_scorecard, cycle_year, standings_in_scope

    out = workdir / "reports"
    engine = create_engine_for(db_url)
    try:
        year = cycle_year(engine, Scope(sweep_id))
        notice = [str(p) for p in write_many(build_notice(engine, Scope(sweep_id)), ("html", "pdf"), out / "notice")]
        scorecards = [str(write(build_scorecard(engine, Scope(sweep_id, provider=s.code)), "html",
                                out / f"scorecard-{s.code}.html")[0])
                      for s in standings_in_scope(engine, Scope(sweep_id), year)]
    finally:
        engine.dispose()
    return {"directory": str(out), "notice": notice, "scorecards": scorecards}


def run_demo(workdir: Path, *, sites: int | None, seed: int) -> dict[str, Any]:
    from monitor.sweep import SweepOptions, run_sweep
    from monitor.targets import Selection
    from monitor.verify import decide
    from registry.importer import import_file
    from registry.protection import Protector, load_key
    from registry.store import open_store
    from sandbox.generate import generate_world, targets, write_registry
    from sandbox.spec import save

    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "icpwatch-demo.sqlite3"
    for leftover in workdir.glob("icpwatch-demo.sqlite3*"):
        leftover.unlink()
    db_url = f"sqlite:///{db_path}"

    world = generate_world(sites=sites, seed=seed, network=DEMO_NETWORK)
    spec = save(world, workdir / "world.yaml")
    targets_file = workdir / "targets.txt"
    targets_file.write_text("\n".join(targets(world)) + "\n", encoding="utf-8")
    registry_dir = workdir / "registry"
    write_registry(world, registry_dir)

    store = open_store(db_url)
    protector = Protector(load_key())
    loaded = {}
    try:
        for kind in IMPORT_ORDER:
            loaded[kind] = import_file(store, kind, registry_dir / f"{kind}.csv", protector=protector).rows
    finally:
        store.dispose()

    server, info = _serve(spec, workdir / "sandbox")
    try:
        # rendering only the sites whose static estimate is unsure keeps the demo under 2 minutes
        options = SweepOptions(resolver=info["dns"], allow_private=True, ca_file=info["ca_file"],
                               rdap=info.get("rdap"), created_by=DEMO_REVIEWER, render="uncertain")
        result = run_sweep(db_url, Selection(files=[str(targets_file)]), options)
    finally:
        server.terminate()
        server.wait(timeout=30)
    document = result.document
    sweep_id = document["sweep_id"]
    from icpwatch.dbkit import create_engine_for

    engine = create_engine_for(db_url)
    try:
        decision = decide(engine, "verify", sweep_id=sweep_id, all_in_sweep=True, by=DEMO_REVIEWER,
                          reason=DEMO_REASON)
    finally:
        engine.dispose()
    verified = set(decision.changed) | set(decision.unchanged)
    findings = [{**f, "status": "verified" if f["id"] in verified else f["status"]} for f in document["findings"]]
    return {
        "workdir": str(workdir),
        "db": db_url,
        "world": {"spec": str(spec), "sites": len(world.sites), "targets": str(targets_file),
                  "registry": str(registry_dir), "imported": loaded},
        "sweep_id": sweep_id,
        "render": {k: document["render"].get(k) for k in ("policy", "available", "selected", "rendered", "failed",
                                                            "seconds")},
        "counts": document["counts"],
        "unknown": len(document["unknown"]),
        "findings": len(findings),
        "by_code": dict(sorted(Counter(f["code"] for f in findings).items())),
        "verified": {"count": len(verified), "by": DEMO_REVIEWER, "reason": DEMO_REASON},
        "points_by_party": _points(db_url),
        "reports": _write_reports(db_url, workdir, sweep_id),
        "seconds": round(time.monotonic() - started, 1),
    }


def _print(summary: dict[str, Any]) -> None:
    from monitor.cli import by_code_table

    console = Console()
    world = summary["world"]
    console.print(f"[bold]World[/bold] {world['sites']} sites, spec {world['spec']}")
    console.print(f"[bold]Registry[/bold] imported {', '.join(f'{k} {v}' for k, v in world['imported'].items())}")
    console.print(f"[bold]Sweep {summary['sweep_id']}[/bold]: {summary['findings']} findings, "
                  f"{summary['unknown']} targets unknown (failed observations raise no finding)")
    render = summary["render"]
    if render["available"]:
        console.print(f"[bold]Rendered[/bold] {render['rendered']} of {render['selected']} homepages whose static "
                      f"display estimate was unsure ({render['failed']} failed, {render['seconds']} s)")
    else:
        console.print("[yellow]No Chromium here: display findings are static estimates from the page source[/yellow]")
    console.print(by_code_table(summary["by_code"], "Findings by rule"))
    points = Table(title="Points this cycle (verified findings)")
    points.add_column("responsible party")
    points.add_column("points", justify="right")
    for party, value in summary["points_by_party"].items():
        points.add_row(party, str(value))
    console.print(points)
    console.print(f"[yellow]All findings were marked verified by '{summary['verified']['by']}' — "
                  f"{summary['verified']['reason']}.[/yellow]")
    console.print(f"Store: {summary['db']}  (try: icpwatch findings list --sweep {summary['sweep_id']} "
                  f"--db {summary['db']})")
    console.print(f"[bold]Reports[/bold] notice: {', '.join(summary['reports']['notice'])}; "
                  f"{len(summary['reports']['scorecards'])} scorecards in {summary['reports']['directory']}")
    console.print(f"Done in {summary['seconds']} s.")


@click.command("demo")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("icpwatch-demo"),
              show_default=True, help="Where the world, its registry, the store and the outputs go.")
@click.option("--sites", type=click.IntRange(10, 20000), default=None,
              help="Sites in the world (default: a few hundred covering every case).")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed of the world.")
@json_option
def demo(workdir: Path, sites: int | None, seed: int, as_json: bool) -> None:
    """Generate a sandbox world, load its registry, serve it on loopback, sweep it, and show the
    findings and the points they carry.

    The world is served on ports 80 and 443 of 127.x addresses, which needs root (or the
    CAP_NET_BIND_SERVICE capability).
    """
    # The demo's world includes hostile servers and unused addresses on purpose: what Scrapy logs
    # about them is recorded as observations anyway, and would only bury the summary here.
    for handler in logging.getLogger().handlers:
        handler.addFilter(lambda record: not record.name.startswith("scrapy"))
    if os.geteuid() != 0:
        raise click.ClickException("the demo serves its world on ports 80 and 443 of 127.x addresses: "
                                   "run it as root or grant CAP_NET_BIND_SERVICE to Python")
    try:
        summary = run_demo(workdir.resolve(), sites=sites, seed=seed)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        emit_json(summary)
    else:
        _print(summary)
