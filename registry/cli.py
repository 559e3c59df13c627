"""``icpwatch registry …``: import, export and look up the system of record."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from icpwatch.clikit import db_option, emit_json, json_option
from registry.domains import InvalidHostname
from registry.exporter import export_table
from registry.importer import KINDS, ImportRejected, import_file
from registry.lookup import LookupError_, Registry
from registry.protection import ProtectionKeyError, load_key, Protector
from registry.store import Store, StoreError, open_store
from registry.tabular import TableError

stderr = Console(stderr=True)


def open_registry(db_url: str) -> Store:
    """The store at ``db_url`` for a command; a store that cannot be opened is a clean CLI error."""
    try:
        return open_store(db_url)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


def _protector() -> Protector:
    try:
        return Protector(load_key())
    except ProtectionKeyError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def registry() -> None:
    """The filing registry: providers, filings, IP ranges, domains and the blacklist."""


@registry.command("import")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Load the good rows; write the bad ones to a report.")
@click.option("--report", type=click.Path(path_type=Path), help="Where the rejected rows go (default FILE.rejected.csv).")
@db_option
@json_option
def import_command(kind: str, file: Path, skip_invalid: bool, report: Path | None, db_url: str, as_json: bool) -> None:
    """Import KIND (providers, filings, ip-ranges, domains, blacklist) from FILE (.csv or .xlsx).

    A file with any invalid row changes nothing unless --skip-invalid is given; importing the same
    file again changes nothing.
    """
    store = open_registry(db_url)
    try:
        result = import_file(store, kind, file, protector=_protector(), skip_invalid=skip_invalid, report_path=report)
    except ImportRejected as exc:
        if as_json:
            emit_json({"kind": kind, "file": str(file), "imported": False,
                       "errors": [error.to_dict() for error in exc.errors]})
            sys.exit(1)
        raise click.ClickException(str(exc)) from None
    except TableError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.dispose()
    if as_json:
        emit_json({**result.to_dict(), "imported": True})
        return
    table = Table(title=f"{kind} from {file}", show_header=True)
    for column in ("rows", "inserted", "updated", "unchanged", "rejected"):
        table.add_column(column, justify="right")
    table.add_row(*(str(getattr(result, c)) for c in ("rows", "inserted", "updated", "unchanged", "rejected")))
    Console().print(table)
    if result.report:
        stderr.print(f"[yellow]{result.rejected} rejected row(s) written to {result.report}[/yellow]")
        for error in result.errors[:10]:
            stderr.print(f"  {error}", markup=False)


@registry.command("export")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("file", type=click.Path(path_type=Path))
@db_option
@json_option
def export_command(kind: str, file: Path, db_url: str, as_json: bool) -> None:
    """Export KIND to FILE (.csv or .xlsx) in the import columns, confidential columns masked."""
    store = open_registry(db_url)
    try:
        path, rows = export_table(store, kind, file, protector=_protector())
    except (TableError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.dispose()
    if as_json:
        emit_json({"kind": kind, "file": str(path), "rows": rows})
    else:
        stderr.print(f"{rows} {kind} row(s) written to {path}")


@registry.command("lookup")
@click.argument("value")
@db_option
@json_option
def lookup_command(value: str, db_url: str, as_json: bool) -> None:
    """Look up VALUE: a domain or URL, an IP address, or a filing/licence number."""
    store = open_registry(db_url)
    try:
        answer = Registry(store).lookup(value)
    except (LookupError_, InvalidHostname) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.dispose()
    if as_json:
        emit_json(answer)
        return
    _print_answer(answer)


def _print_answer(answer: dict[str, Any]) -> None:
    table = Table(show_header=False, title=f"{answer['kind']}: {answer['input']}")
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in answer.items():
        if key in ("kind", "input"):
            continue
        if isinstance(value, list):
            value = ", ".join(v if isinstance(v, str) else " ".join(str(x) for x in v.values()) for v in value) or "—"
        table.add_row(key, "—" if value is None else str(value))
    Console().print(table)
