"""``icpwatch registry export KIND FILE``: the store back out in the import columns.

Confidential columns leave the store masked, never decrypted: an export is an output like any
other (chapter 7). Everything else round-trips, so an export re-imports as "unchanged" apart from
the masked columns, which the importer refuses to take as originals.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, select

from registry.importer import COLUMNS, KINDS
from registry.models import (
    AccessRecord,
    BlacklistEntry,
    DomainFilingRecord,
    IPFilingRecord,
    Provider,
    Subject,
    Website,
    WebsiteAddress,
    WebsiteDomain,
)
from registry.protection import Protector, mask_value
from registry.store import Store
from registry.tabular import write_table


def _frame(connection: Connection, statement) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    result = connection.execute(statement)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _masked(protector: Protector, kind: str, tokens: pd.Series) -> pd.Series:
    return tokens.map(lambda token: "" if pd.isna(token) else mask_value(kind, protector.decrypt(token)))


def _grouped(connection: Connection, table, value: str) -> pd.Series:  # type: ignore[no-untyped-def]
    frame = _frame(connection, select(table.c.website_id, table.c[value]))
    return frame.groupby("website_id")[value].agg(lambda items: ";".join(sorted(items)))


def _filings(connection: Connection, protector: Protector) -> pd.DataFrame:
    frame = _frame(
        connection,
        select(
            Website.id,
            Website.website_number,
            Subject.name.label("subject_name"),
            Subject.subject_type,
            Subject.province.label("subject_province"),
            Website.name.label("website_name"),
            Website.status,
            Website.licence_number,
            Website.preapprovals,
            Subject.certificate_enc,
            Website.contact_name,
            Website.contact_phone_enc,
            Website.contact_id_enc,
        )
        .join(Subject, Subject.id == Website.subject_id)
        .order_by(Website.website_number),
    )
    frame["domains"] = frame["id"].map(_grouped(connection, WebsiteDomain.__table__, "domain")).fillna("")
    frame["ips"] = frame["id"].map(_grouped(connection, WebsiteAddress.__table__, "ip")).fillna("")
    frame["providers"] = frame["id"].map(_grouped(connection, AccessRecord.__table__, "provider_code")).fillna("")
    frame["subject_certificate"] = _masked(protector, "subject_certificate", frame["certificate_enc"])
    frame["contact_phone"] = _masked(protector, "contact_phone", frame["contact_phone_enc"])
    frame["contact_id"] = _masked(protector, "contact_id", frame["contact_id_enc"])
    return frame


def _simple(connection: Connection, kind: str, protector: Protector) -> pd.DataFrame:
    if kind == "providers":
        return _frame(connection, select(Provider).order_by(Provider.code))
    if kind == "ip-ranges":
        frame = _frame(connection, select(IPFilingRecord).order_by(IPFilingRecord.first, IPFilingRecord.prefixlen))
        return frame.rename(columns={"user_code": "user"})
    if kind == "domains":
        return _frame(connection, select(DomainFilingRecord).order_by(DomainFilingRecord.domain))
    frame = _frame(connection, select(BlacklistEntry).order_by(BlacklistEntry.kind, BlacklistEntry.display_value))
    return frame.rename(columns={"display_value": "value"})


def export_table(store: Store, kind: str, path: str | Path, *, protector: Protector) -> tuple[Path, int]:
    """Write one KIND to .csv or .xlsx; returns the path and the number of rows."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    with store.engine.connect() as connection:
        frame = _filings(connection, protector) if kind == "filings" else _simple(connection, kind, protector)
    required, optional = COLUMNS[kind]
    out = frame.reindex(columns=[*required, *optional]).astype(object).where(lambda f: f.notna(), "")
    return write_table(out, path), len(out)
