"""The ``icpwatch`` command: the composition root that gathers each package's command group.

Each package owns its sub-commands (``registry.cli``, ``sandbox.cli``, …); only this module
imports them all, so the packages themselves keep their one-way dependencies (DESIGN.md §3).
"""

from __future__ import annotations

import logging

import click

from icpwatch import __version__
from crawler.cli import crawl
from crawler.inspect_cli import inspect
from icpwatch.demo import demo
from monitor.alerts_cli import alerts
from monitor.cli import findings, scope, sweep
from monitor.schedule_cli import monitor, schedule
from registry.cli import registry
from registry.ledger.cli import ledger
from registry.workflows.cli import filing
from sandbox.cli import world
from registry.protection import install_masking
from reports.cli import report


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="icpwatch")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
def main(verbose: int) -> None:
    """icpwatch — find websites that break China's website-filing rules, and carry the findings
    to their consequences.

    Every sub-command has --help; --db URL (or ICPWATCH_DB) picks the store, and --json prints one
    JSON document on stdout.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Scrapy lowers the root logger's level when a crawl starts; the handler keeps the chosen one,
    # so a crawl's per-item debug records are never formatted.
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    install_masking()


for command in (registry, world, crawl, inspect, sweep, findings, alerts, scope, schedule, monitor, demo, ledger,
                filing, report):
    main.add_command(command)
