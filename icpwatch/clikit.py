"""Pieces every sub-command shares: the ``--db``, ``--json`` and ``--resolver`` options and how
output is written.

This module imports nothing from the icpwatch packages, so any of them may use it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DB_FILE = "icpwatch.sqlite3"


def default_db_url() -> str:
    """The store: ``ICPWATCH_DB`` when set, else an SQLite file in the working directory."""
    return os.environ.get("ICPWATCH_DB") or f"sqlite:///{Path.cwd() / DEFAULT_DB_FILE}"


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db_url",
        default=default_db_url,
        show_default="$ICPWATCH_DB or ./icpwatch.sqlite3",
        help="SQLAlchemy URL of the store (sqlite:///FILE or postgresql+psycopg://…).",
    )(func)


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document on stdout and nothing else."
    )(func)


RESOLVER_HELP = "DNS server to ask, or several separated by commas, asked in turn (default: the system's)."


def resolver_option(help: str = RESOLVER_HELP) -> Callable[[F], F]:
    """``--resolver HOST[:PORT][,HOST[:PORT]…]``, as :func:`crawler.resolve.parse_nameservers` reads it."""
    return click.option("--resolver", default=None, metavar="HOST[:PORT][,…]", help=help)


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, default=_default, sort_keys=False)


def emit_json(document: Any) -> None:
    """Write one JSON document to stdout; everything else a command says goes to stderr."""
    sys.stdout.write(dumps(document) + "\n")
    sys.stdout.flush()


def open_engine(db_url: str) -> Any:
    """The SQLAlchemy engine of the store at ``db_url``; a malformed URL stops the command with
    why (exit status 2)."""
    from .dbkit import DatabaseURLError, create_engine_for  # the store's own kit, not a domain package

    try:
        return create_engine_for(db_url)
    except DatabaseURLError as exc:
        fail(str(exc))


def fail(message: str, code: int = 2) -> None:
    """Stop the command with a clear message on stderr (never a traceback for bad input)."""
    raise click.ClickException(message) if code == 1 else _Exit(message, code)


class _Exit(click.ClickException):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code
