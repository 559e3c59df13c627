"""Test helpers for the registry: write small import files, load the shipped examples."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pandas as pd

from registry.importer import ImportResult, import_file
from registry.protection import Protector
from registry.store import Store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ORDER = ("providers", "ip-ranges", "domains", "blacklist", "filings")


def protector() -> Protector:
    return Protector(base64.urlsafe_b64decode(os.environ["ICPWATCH_KEY"]))


def write_csv(path: Path, header: str, *rows: str) -> Path:
    path.write_text("\n".join((header, *rows)) + "\n", encoding="utf-8")
    return path


def load(store: Store, kind: str, path: Path, **options: object) -> ImportResult:
    return import_file(store, kind, path, protector=protector(), **options)  # type: ignore[arg-type]


def load_examples(store: Store) -> dict[str, ImportResult]:
    return {kind: load(store, kind, EXAMPLES / f"{kind}.csv") for kind in ORDER}


def table(store: Store, name: str) -> pd.DataFrame:
    with store.engine.connect() as connection:
        result = connection.exec_driver_sql(f"SELECT * FROM {name} ORDER BY id")
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def snapshot(store: Store) -> dict[str, list[tuple]]:
    """Every registry table's rows (ids included): equal snapshots mean nothing changed."""
    names = ("providers", "subjects", "websites", "website_domains", "website_addresses", "access_records",
             "ip_filing_records", "domain_filing_records", "blacklist")
    with store.engine.connect() as connection:
        return {
            name: [tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {name} ORDER BY id")]
            for name in names
        }
