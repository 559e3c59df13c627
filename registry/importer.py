"""``icpwatch registry import KIND FILE``: load providers, filings, IP ranges, domains or the
blacklist from CSV/XLSX into the store.

How it behaves, because a filing centre relies on it:

* Every bad cell is reported with file, row, column and reason; confidential values in those
  reports are masked.
* All-or-nothing by default: a file with any bad row changes nothing. ``skip_invalid`` loads the
  good rows and writes the bad ones, with their reasons, to a report file.
* Idempotent: rows are compared with what the store holds (vectorised, with pandas merges) and only
  new or changed records are written, so re-importing a file changes nothing.
* One transaction per file: a failure half-way leaves the store as it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Table, insert

from registry import fields
from registry.fields import FieldError
from registry.filings_import import prepare_filings
from registry.models import BlacklistEntry, DomainFilingRecord, ImportBatch, IPFilingRecord, Provider
from registry.protection import Protector, mask_text, mask_value
from registry.rows import (
    CONFIDENTIAL,
    Checker,
    MergePlan,
    RowError,
    apply_plan,
    as_text,
    file_sha256,
    plan_merge,
    provider_codes,
    read_existing,
)
from registry.store import Store
from registry.tabular import read_table, write_table

log = logging.getLogger(__name__)

KINDS = ("providers", "filings", "ip-ranges", "domains", "blacklist")

COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "providers": (("code", "name", "province"), ("parent_code", "licence_number")),
    "filings": (
        ("website_number", "subject_name", "subject_type", "subject_province", "website_name", "domains"),
        (
            "ips",
            "providers",
            "status",
            "licence_number",
            "preapprovals",
            "subject_certificate",
            "contact_name",
            "contact_phone",
            "contact_id",
        ),
    ),
    "ip-ranges": (("cidr", "unit"), ("user", "province", "reported_on")),
    "domains": (("domain", "registrar"), ("reported_on",)),
    "blacklist": (("kind", "value"), ("reason",)),
}



class ImportRejected(ValueError):
    """The file has invalid rows and nothing was imported (all-or-nothing)."""

    def __init__(self, path: Path, errors: list[RowError]) -> None:
        self.path = path
        self.errors = errors
        rows = len({error.row for error in errors})
        listed = "\n".join(f"  {error}" for error in errors[:20])
        more = f"\n  … and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(
            f"{path}: {rows} invalid row{'s' if rows != 1 else ''}; nothing was imported "
            f"(use --skip-invalid to load the good rows and report the bad ones)\n{listed}{more}"
        )


@dataclass
class ImportResult:
    kind: str
    file: str
    rows: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    report: str | None = None
    errors: list[RowError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "report": self.report,
            "errors": [error.to_dict() for error in self.errors],
        }


# --- per kind: validate the frame into clean rows, then write them -------------------------------


def _keyed_writer(
    check: Checker, connection: Connection, table: Table, rows: pd.DataFrame, key: str, compare: list[str]
) -> Callable[[], tuple[int, int, int]]:
    """The write step of a kind whose records are identified by one ``key`` column."""

    def write() -> tuple[int, int, int]:
        good = rows.drop(index=list(check.bad_rows), errors="ignore")
        plan = plan_merge(connection, table, good, key, compare)
        apply_plan(connection, table, plan)
        return len(plan.insert), len(plan.update), plan.unchanged

    return write


def _providers(check: Checker, connection: Connection, protector: Protector) -> Callable[[], tuple[int, int, int]]:
    frame = check.frame
    code = check.column("code", str.strip, required=True)
    name = check.column("name", str.strip, required=True)
    province = check.column("province", fields.province, required=True)
    check.unique("code", code, "provider code")
    licence = check.column("licence_number", str.strip)
    parents = set(code.dropna()) | provider_codes(connection)
    parent = check.column("parent_code", str.strip)
    for row, value in parent.dropna().items():
        if value not in parents:
            check.add(row, "parent_code", frame.at[row, "parent_code"], "unknown group company code")
        elif value == code[row]:
            check.add(row, "parent_code", value, "a provider cannot be its own group company")
    rows = pd.DataFrame(
        {"code": code, "name": name, "province": province, "parent_code": parent, "licence_number": licence}
    )

    return _keyed_writer(check, connection, Provider.__table__, rows, "code",
                         ["name", "province", "parent_code", "licence_number"])


def _ip_ranges(check: Checker, connection: Connection, protector: Protector) -> Callable[[], tuple[int, int, int]]:
    frame = check.frame
    network = check.column("cidr", fields.cidr, required=True)
    for row, net in network.dropna().items():
        if net.version == 4 and net.prefixlen < 8 or net.version == 6 and net.prefixlen < 19:
            check.add(row, "cidr", frame.at[row, "cidr"], "block is larger than any real allocation")
    cidr = network.map(lambda net: None if net is None else str(net))
    check.unique("cidr", cidr, "block")
    unit = check.column("unit", str.strip, required=True)
    codes = provider_codes(connection)
    user = check.column("user", str.strip)
    for row, value in user.dropna().items():
        if value not in codes:
            check.add(row, "user", value, "unknown provider code (import providers first)")
    province = check.column("province", fields.province)
    reported = check.column("reported_on", fields.iso_date)
    bounds = network.map(lambda net: None if net is None else _bounds(net))
    rows = pd.DataFrame(
        {
            "cidr": cidr,
            "first": bounds.map(lambda b: b and b[0]),
            "last": bounds.map(lambda b: b and b[1]),
            "prefixlen": network.map(lambda net: None if net is None else net.prefixlen),
            "unit": unit,
            "user_code": user,
            "province": province,
            "reported_on": reported,
        }
    )

    return _keyed_writer(check, connection, IPFilingRecord.__table__, rows, "cidr",
                         ["unit", "user_code", "province", "reported_on"])


def _bounds(network: Any) -> tuple[str, str]:
    """Block bounds as 32 hex digits, IPv4 mapped into ::ffff:0:0/96 so one ordering serves both."""
    offset = 0xFFFF << 32 if network.version == 4 else 0
    return (
        f"{int(network.network_address) + offset:032x}",
        f"{int(network.broadcast_address) + offset:032x}",
    )


def _domains(check: Checker, connection: Connection, protector: Protector) -> Callable[[], tuple[int, int, int]]:
    pairs = check.column("domain", fields.domain, required=True)
    domain = pairs.map(lambda pair: pair and pair[0])
    check.unique("domain", domain, "domain")
    registrar = check.column("registrar", str.strip, required=True)
    reported = check.column("reported_on", fields.iso_date)
    rows = pd.DataFrame({"domain": domain, "registrar": registrar, "reported_on": reported})

    return _keyed_writer(check, connection, DomainFilingRecord.__table__, rows, "domain", ["registrar", "reported_on"])


def _blacklist(check: Checker, connection: Connection, protector: Protector) -> Callable[[], tuple[int, int, int]]:
    frame = check.frame
    kind = check.column("kind", fields.blacklist_kind, required=True)
    raw = check.column("value", str.strip, required=True)
    reason = check.column("reason", str.strip)
    match_key: list[str | None] = []
    display: list[str | None] = []
    encrypted: list[str | None] = []
    for row in frame.index:
        value, what = raw[row], kind[row]
        if value is None or what is None:
            match_key.append(None), display.append(None), encrypted.append(None)
        elif what == "domain":
            try:
                host, _ = fields.domain(value)
            except FieldError as exc:
                check.add(row, "value", value, str(exc))
                host = None
            match_key.append(host), display.append(host), encrypted.append(None)
        elif fields.looks_like_certificate(value):
            certificate = value.replace(" ", "").upper()
            match_key.append(protector.keyed_hash("subject_certificate", certificate))
            display.append(mask_value("subject_certificate", certificate))
            encrypted.append(protector.encrypt(certificate))
        else:
            match_key.append(value), display.append(value), encrypted.append(None)
    keys = pd.Series(list(zip(kind, match_key)), index=frame.index).map(lambda pair: None if None in pair else pair)
    check.unique("value", keys, "blacklist entry")
    rows = pd.DataFrame(
        {"kind": kind, "match_key": match_key, "display_value": display, "value_enc": encrypted, "reason": reason},
        index=frame.index,
    )

    def write() -> tuple[int, int, int]:
        good = rows.drop(index=list(check.bad_rows), errors="ignore").copy()
        good["key"] = good["kind"] + "\x1f" + good["match_key"]
        existing = read_existing(connection, BlacklistEntry.__table__, ["id", "kind", "match_key", "reason"])
        existing["key"] = existing["kind"] + "\x1f" + existing["match_key"]
        merged = good.merge(existing[["key", "id", "reason"]], on="key", how="left", suffixes=("", "__old"))
        known = merged["id"].notna()
        changed = known & (as_text(merged["reason"]) != as_text(merged["reason__old"]))
        plan = MergePlan(
            insert=good[~known.to_numpy()].drop(columns="key"),
            update=merged[changed][["reason", "id"]].assign(id=lambda f: f["id"].astype(int)),
            unchanged=int((known & ~changed).sum()),
        )
        apply_plan(connection, BlacklistEntry.__table__, plan)
        return len(plan.insert), len(plan.update), plan.unchanged

    return write


PREPARERS: dict[str, Callable[[Checker, Connection, Protector], Callable[[], tuple[int, int, int]]]] = {
    "providers": _providers,
    "filings": prepare_filings,
    "ip-ranges": _ip_ranges,
    "domains": _domains,
    "blacklist": _blacklist,
}


def default_report_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejected.csv")


def import_file(
    store: Store,
    kind: str,
    path: str | Path,
    *,
    protector: Protector,
    skip_invalid: bool = False,
    report_path: str | Path | None = None,
) -> ImportResult:
    """Validate and load one file; see the module docstring for the guarantees."""
    if kind not in PREPARERS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    path = Path(path)
    required, optional = COLUMNS[kind]
    started = time.perf_counter()
    frame = read_table(path, required, optional)
    log.info("%s: read %d rows in %.1f s", path, len(frame), time.perf_counter() - started)
    check = Checker(frame, path)
    result = ImportResult(kind=kind, file=str(path), rows=len(frame))
    with store.engine.begin() as connection:
        started = time.perf_counter()
        write = PREPARERS[kind](check, connection, protector)
        log.info("%s: validated in %.1f s (%d errors)", path, time.perf_counter() - started, len(check.errors))
        if check.errors and not skip_invalid:
            raise ImportRejected(path, sorted(check.errors, key=lambda e: e.row))
        result.errors = sorted(check.errors, key=lambda e: e.row)
        result.rejected = len(check.bad_rows)
        started = time.perf_counter()
        result.inserted, result.updated, result.unchanged = write()
        log.info("%s: written in %.1f s", path, time.perf_counter() - started)
        connection.execute(
            insert(ImportBatch.__table__).values(
                kind=kind,
                file_name=str(path),
                file_sha256=file_sha256(path),
                rows=result.rows,
                inserted=result.inserted,
                updated=result.updated,
                unchanged=result.unchanged,
                rejected=result.rejected,
            )
        )
    if result.errors:
        report = Path(report_path) if report_path else default_report_path(path)
        result.report = str(write_rejected(frame, result.errors, report))
    return result


def write_rejected(frame: pd.DataFrame, errors: list[RowError], path: Path) -> Path:
    """The rejected rows as they were in the file (confidential cells masked), with the reasons."""
    reasons: dict[int, list[str]] = {}
    for error in errors:
        reasons.setdefault(error.row, []).append(f"{error.column}: {error.reason}")
    rejected = frame.loc[sorted(reasons)].copy()
    for column in rejected.columns:
        masker = (lambda v, c=column: mask_value(c, v) if v else v) if column in CONFIDENTIAL else mask_text
        rejected[column] = rejected[column].map(masker)
    rejected.insert(0, "row", rejected.index)
    rejected["errors"] = [" | ".join(reasons[row]) for row in rejected.index]
    return write_table(rejected, path)


__all__ = ["COLUMNS", "CONFIDENTIAL", "KINDS", "ImportRejected", "ImportResult", "RowError", "import_file"]
