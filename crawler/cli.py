"""``icpwatch crawl``: turn a targets file into observations in the store (and a JSON Lines feed).

The lead adds :data:`crawl` to the ``icpwatch`` group (``main.add_command(crawl)``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from icpwatch.clikit import db_option, emit_json, fail, json_option, resolver_option


workers_option = click.option(
    "--workers", type=click.IntRange(1, 256), default=1, show_default=True,
    help="Crawl the homepage targets in this many processes, sharing a Redis queue.")
redis_option = click.option(
    "--redis", "redis_url", envvar="ICPWATCH_REDIS_URL", default="redis://127.0.0.1:6379/0", show_default=True,
    help="Redis holding the queue the workers share (--workers, --join).")


@click.command("crawl")
@click.option("--targets", "targets_file", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="File of targets: one domain, URL, IP address or CIDR block a line (# comments).")
@resolver_option()
@click.option("--allow-private", is_flag=True,
              help="Permit loopback and private addresses (refused by default, as observations).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also append the observations to this JSON Lines file.")
@click.option("--run", "run_id", default=None, metavar="ID",
              help="Resume this run: targets already stored for it are not fetched again.")
@click.option("--cidr-cap", type=click.IntRange(1, 1 << 24), default=65536, show_default=True,
              help="Most addresses one CIDR block may expand to.")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="PEM file of the CAs to trust (default: the system's trust store).")
@workers_option
@redis_option
@click.option("--join", "join_run", default=None, metavar="ID",
              help="Work on run ID's queue (started elsewhere with --workers) from this machine; no --targets.")
@db_option
@json_option
def crawl(targets_file: Path | None, resolver: str | None, allow_private: bool, output: Path | None,
          run_id: str | None, cidr_cap: int, ca_file: Path | None, workers: int, redis_url: str,
          join_run: str | None, db_url: str, as_json: bool) -> None:
    """Fetch the homepage of every target (apex and www. of a domain; http first, then https) and
    probe CIDR blocks on ports 80 and 443, recording every outcome as an observation.

    A failure (DNS, timeout, TLS, refused…) is recorded with its status: it means unknown,
    never "no filing".  Progress goes to stderr; with --json one summary document goes to stdout.
    """
    from .runner import crawl_settings, run_crawl
    from .store import CrawlStoreError, open_crawl_store
    from .targets import TargetError
    from .workers import WorkerError, run_worker

    if (targets_file is None) == (join_run is None):
        fail("give either --targets FILE or --join RUN")
        return
    # The icpwatch command has set up logging (level from -v, masking): Scrapy adds no handler of its own.
    settings: dict[str, object] = {"ICPWATCH_LOG_HANDLER": False}
    if as_json:
        settings["ICPWATCH_PROGRESS"] = "log"
    try:
        if join_run is not None:
            rid = join_run
            run_worker(join_run, redis_url=redis_url, settings=crawl_settings(
                db_url=db_url, run_id=join_run, resolver=resolver, allow_private=allow_private, ca_file=ca_file,
                cidr_cap=cidr_cap, settings=settings))
        else:
            assert targets_file is not None
            lines = targets_file.read_text(encoding="utf-8-sig").splitlines()
            rid = run_crawl(lines, db_url=db_url, resolver=resolver, allow_private=allow_private,
                            output=output, run_id=run_id, ca_file=ca_file, cidr_cap=cidr_cap,
                            settings=settings, workers=workers, redis_url=redis_url)
    except TargetError as exc:
        fail(f"{targets_file}: {exc}")
        return
    except (CrawlStoreError, WorkerError, ValueError) as exc:
        fail(str(exc))
        return
    store = open_crawl_store(db_url, migrate=False)
    try:
        run = store.get_run(rid) or {}
        summary = {"run_id": rid, "state": run.get("state"), "observations": store.count(rid),
                   "by_status": store.status_counts(rid), "output": str(output) if output else None}
    finally:
        store.dispose()
    if as_json:
        emit_json(summary)
    else:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(summary["by_status"].items()))
        click.echo(f"run {rid} {summary['state']}: {summary['observations']} observations ({counts})", err=True)
        sys.stdout.flush()
