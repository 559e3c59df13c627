"""Importing filings: one row is a website filing with its subject, domains, addresses and the
providers that serve it (access records).

Rows that share a subject number must agree on the subject; a domain may be filed by one website
only, in the file and in the store. Confidential columns are validated, then kept only as an
AES-GCM token plus a keyed hash (the hash is what a re-import compares).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import Connection, Table, bindparam, delete, select

from registry import fields
from registry.models import AccessRecord, Subject, Website, WebsiteAddress, WebsiteDomain
from registry.protection import Protector
from registry.rows import (
    Checker,
    RowError,
    apply_plan,
    as_text,
    bulk_insert,
    deferred_indexes,
    plan_merge,
    provider_codes,
    read_existing,
)

SUBJECT_FIELDS = ["name", "subject_type", "province", "certificate_hash"]
WEBSITE_FIELDS = [
    "subject_id",
    "name",
    "status",
    "licence_number",
    "preapprovals",
    "contact_name",
    "contact_phone_hash",
    "contact_id_hash",
]
CHILDREN: tuple[tuple[Table, str], ...] = (
    (WebsiteDomain.__table__, "domains_key"),
    (WebsiteAddress.__table__, "ips_key"),
    (AccessRecord.__table__, "providers_key"),
)


def _protect(protector: Protector, kind: str, values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(keyed hash, encrypted token) for each non-empty value.

    Equal values (one subject's certificate on each of its websites) are sealed once: the keyed hash
    already shows they are equal, so sharing the token reveals nothing more.
    """
    sealed: dict[str, tuple[str, str]] = {}
    hashes: list[str | None] = []
    tokens: list[str | None] = []
    for value in values.tolist():
        if value is None:
            hashes.append(None), tokens.append(None)
            continue
        pair = sealed.get(value)
        if pair is None:
            pair = sealed[value] = (protector.keyed_hash(kind, value), protector.encrypt(value))
        hashes.append(pair[0]), tokens.append(pair[1])
    return pd.Series(hashes, index=values.index, dtype=object), pd.Series(tokens, index=values.index, dtype=object)


def _joined(items: list) -> str:
    return ";".join(sorted(set(items)))


# Files at least this long are validated in worker processes, a chunk of rows each: per-cell
# validation and encryption are independent row by row and take most of a large import's time.
PARALLEL_ROWS = 50_000
CHUNK_ROWS = 25_000


def _row_values(check: Checker, protector: Protector) -> pd.DataFrame:
    """Everything that can be validated looking at one row alone, as the columns to store."""
    frame = check.frame
    filing = check.column("website_number", fields.website_filing, required=True)
    number = filing.map(lambda parts: parts and parts[0])
    subject_name = check.column("subject_name", str.strip, required=True)
    subject_type = check.column("subject_type", fields.subject_type, required=True)
    province = check.column("subject_province", fields.province, required=True)
    number_province = filing.map(lambda parts: parts and parts[2])
    elsewhere = number_province.notna() & province.notna() & (number_province != province)
    for row in frame.index[elsewhere.to_numpy()]:
        check.add(row, "subject_province", frame.at[row, "subject_province"],
                  f"{number[row]} is a {number_province[row]} number; a subject files in its own province")
    website_name = check.column("website_name", str.strip, required=True)
    # A domain repeated within one row is the same filing saying it twice, not a conflict.
    domain_pairs = check.listed("domains", fields.domain).map(lambda pairs: list(dict.fromkeys(pairs)))
    nothing = (frame["domains"] == "") & (frame["ips"] == "")
    for row in frame.index[nothing.to_numpy()]:
        check.add(row, "domains", "", "a filing needs at least one domain (or, filed by IP alone, an address)")
    certificate = check.column("subject_certificate", fields.subject_certificate)
    phone = check.column("contact_phone", fields.contact_phone)
    contact_id = check.column("contact_id", fields.contact_id)
    certificate_hash, certificate_enc = _protect(protector, "subject_certificate", certificate)
    phone_hash, phone_enc = _protect(protector, "contact_phone", phone)
    id_hash, id_enc = _protect(protector, "contact_id", contact_id)
    return pd.DataFrame(
        {
            "website_number": number,
            "subject_number": filing.map(lambda parts: parts and parts[1]),
            "subject_name": subject_name,
            "subject_type": subject_type,
            "province": province,
            "certificate_hash": certificate_hash,
            "certificate_enc": certificate_enc,
            "name": website_name,
            "status": check.column("status", fields.status).map(lambda s: s or "filed"),
            "licence_number": check.column("licence_number", fields.licence_number),
            "preapprovals": check.listed("preapprovals", str.strip).map(lambda items: ";".join(items) or None),
            "contact_name": check.column("contact_name", str.strip),
            "contact_phone_hash": phone_hash,
            "contact_phone_enc": phone_enc,
            "contact_id_hash": id_hash,
            "contact_id_enc": id_enc,
            "hosts": domain_pairs.map(lambda pairs: [host for host, _ in pairs]),
            "independent": domain_pairs.map(lambda pairs: [covering for _, covering in pairs]),
            "ips": check.listed("ips", fields.ip),
            "providers": check.listed("providers", str.strip),
        },
        index=frame.index,
    )


_WORKER_PROTECTOR: Protector | None = None


def _chunk_values(frame: pd.DataFrame, file: str) -> tuple[pd.DataFrame, list[RowError]]:
    assert _WORKER_PROTECTOR is not None  # set before the workers were forked
    check = Checker(frame, Path(file))
    return _row_values(check, _WORKER_PROTECTOR), check.errors


def _all_row_values(check: Checker, protector: Protector) -> pd.DataFrame:
    frame = check.frame
    if len(frame) < PARALLEL_ROWS or "fork" not in multiprocessing.get_all_start_methods():
        return _row_values(check, protector)
    global _WORKER_PROTECTOR
    _WORKER_PROTECTOR = protector  # inherited by the forked workers: the key never crosses a pipe
    chunks = [frame.iloc[i : i + CHUNK_ROWS] for i in range(0, len(frame), CHUNK_ROWS)]
    try:
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=multiprocessing.get_context("fork")) as pool:
            parts = list(pool.map(_chunk_values, chunks, [check.file] * len(chunks)))
    finally:
        _WORKER_PROTECTOR = None
    for _, errors in parts:
        check.errors.extend(errors)
    return pd.concat([values for values, _ in parts])


def prepare_filings(check: Checker, connection: Connection, protector: Protector) -> Callable[[], tuple[int, int, int]]:
    rows = _all_row_values(check, protector)
    check.unique("website_number", rows["website_number"], "website number")
    listed = rows["providers"].explode().dropna()
    for row, code in listed[~listed.isin(provider_codes(connection))].items():
        check.add(row, "providers", code, "unknown provider code (import providers first)")
    _check_domains(check, connection, rows["website_number"], rows["hosts"])
    _check_subjects(check, rows)

    def write() -> tuple[int, int, int]:
        good = rows.drop(index=list(check.bad_rows), errors="ignore")
        return _write(connection, good)

    return write


def _check_domains(check: Checker, connection: Connection, number: pd.Series, hosts: pd.Series) -> None:
    """A domain belongs to one website: not twice in the file, not already another site's in the store."""
    exploded = hosts.explode().dropna()
    listed = pd.DataFrame({"host": exploded.to_numpy(), "row": exploded.index.to_numpy()})
    first = listed.groupby("host")["row"].transform("min")
    for row, host, earlier in zip(listed["row"], listed["host"], first):
        if earlier != row:
            check.add(row, "domains", host, f"domain also listed in row {earlier}")
    owners = connection.execute(
        select(WebsiteDomain.domain, Website.website_number).join(Website, Website.id == WebsiteDomain.website_id)
    ).all()
    if not owners:
        return
    owner = listed["host"].map(dict(owners))
    own_number = number.reindex(listed["row"]).to_numpy()
    clash = owner.notna() & (owner != own_number) & ~owner.isin(set(number.dropna()))
    for row, host, other in zip(listed["row"][clash], listed["host"][clash], owner[clash]):
        check.add(row, "domains", host, f"domain is already filed under {other}")


def _check_subjects(check: Checker, rows: pd.DataFrame) -> None:
    """Rows with the same subject number describe one subject and must agree on it."""
    columns = {"subject_name": "subject_name", "subject_type": "subject_type", "province": "subject_province",
               "certificate_hash": "subject_certificate"}
    keyed = rows[rows["subject_number"].notna()]
    if keyed.empty:
        return
    first = keyed.index.to_series().groupby(keyed["subject_number"].to_numpy()).transform("min")
    later = keyed[first.to_numpy() != keyed.index.to_numpy()]
    earlier_of = first[later.index]
    for column, source in columns.items():
        differs = as_text(later[column]).to_numpy() != as_text(rows.loc[earlier_of.to_numpy(), column]).to_numpy()
        for row in later.index[differs]:
            check.add(row, source, check.frame.at[row, source],
                      f"subject {rows.at[row, 'subject_number']} is described differently in row {earlier_of[row]}")


def _write(connection: Connection, good: pd.DataFrame) -> tuple[int, int, int]:
    tables = (Subject.__table__, Website.__table__, *(table for table, _ in CHILDREN))
    with deferred_indexes(connection, tables):
        return _write_rows(connection, good)


def _write_rows(connection: Connection, good: pd.DataFrame) -> tuple[int, int, int]:
    now = datetime.now(timezone.utc)
    # Rows in key order turn the unique indexes' random inserts into appends, and give websites ids
    # in number order, so their children arrive in website_id order too.
    good = good.sort_values("website_number", kind="stable")
    subjects = (
        good.drop_duplicates("subject_number").sort_values("subject_number", kind="stable")[
            ["subject_number", "subject_name", "subject_type", "province", "certificate_hash", "certificate_enc"]
        ]
        .rename(columns={"subject_name": "name"})
        .reset_index(drop=True)
    )
    apply_plan(connection, Subject.__table__, plan_merge(connection, Subject.__table__, subjects, "subject_number", SUBJECT_FIELDS))
    subject_ids = dict(connection.execute(select(Subject.subject_number, Subject.id)).all())

    websites = good[
        ["website_number", "name", "status", "licence_number", "preapprovals", "contact_name",
         "contact_phone_hash", "contact_phone_enc", "contact_id_hash", "contact_id_enc"]
    ].assign(subject_id=good["subject_number"].map(subject_ids), updated_at=now).reset_index(drop=True)
    plan = plan_merge(connection, Website.__table__, websites, "website_number", WEBSITE_FIELDS)
    apply_plan(connection, Website.__table__, plan)
    website_ids = dict(connection.execute(select(Website.website_number, Website.id)).all())

    new_ids = set(plan.insert["website_number"].map(website_ids))
    ids = good["website_number"].map(website_ids).astype(int)
    known = good[~ids.isin(new_ids).to_numpy()]  # only websites already stored can have changed children
    changed: list[int] = []
    if len(known):
        wanted = pd.DataFrame(
            {
                "website_id": known["website_number"].map(website_ids).astype(int).to_numpy(),
                "domains_key": known["hosts"].map(_joined).to_numpy(),
                "ips_key": known["ips"].map(_joined).to_numpy(),
                "providers_key": known["providers"].map(_joined).to_numpy(),
            }
        )
        merged = wanted.merge(_current_children(connection), on="website_id", how="left", suffixes=("", "__old"))
        differs = pd.Series(False, index=merged.index)
        for _, key in CHILDREN:
            differs |= merged[key] != merged[f"{key}__old"].fillna("")
        changed = merged.loc[differs, "website_id"].tolist()
    if changed:
        for table, _ in CHILDREN:
            connection.execute(delete(table).where(table.c.website_id == bindparam("wid")), [{"wid": w} for w in changed])
    rewrite = good[ids.isin(new_ids | set(changed)).to_numpy()]
    _insert_children(connection, rewrite, website_ids)

    updated_ids = set(plan.update["id"]) | set(changed)
    return len(plan.insert), len(updated_ids), len(good) - len(plan.insert) - len(updated_ids)


def _current_children(connection: Connection) -> pd.DataFrame:
    frames = []
    for table, key in CHILDREN:
        value = {"website_domains": "domain", "website_addresses": "ip", "access_records": "provider_code"}[table.name]
        existing = read_existing(connection, table, ["website_id", value])
        grouped = existing.groupby("website_id")[value].agg(lambda items: ";".join(sorted(items))).rename(key)
        frames.append(grouped)
    if not any(len(frame) for frame in frames):
        return pd.DataFrame(columns=["website_id", *(key for _, key in CHILDREN)])
    return pd.concat(frames, axis=1).fillna("").rename_axis("website_id").reset_index()


def _insert_children(connection: Connection, rows: pd.DataFrame, website_ids: dict[str, int]) -> None:
    if rows.empty:
        return
    ids = rows["website_number"].map(website_ids)
    domains = pd.DataFrame({"website_id": ids, "domain": rows["hosts"], "independent_domain": rows["independent"]})
    domains = domains.explode(["domain", "independent_domain"]).dropna().sort_values("domain", kind="stable")
    addresses = pd.DataFrame({"website_id": ids, "ip": rows["ips"]}).explode("ip").dropna().drop_duplicates()
    access = (
        pd.DataFrame(
            {
                "website_id": ids,
                "provider_code": rows["providers"],
                "addresses": rows["ips"].map(lambda items: ";".join(items) or None),
            }
        )
        .explode("provider_code")
        .dropna(subset=["provider_code"])
        .drop_duplicates(["website_id", "provider_code"])
    )
    for table, frame in ((WebsiteDomain.__table__, domains), (WebsiteAddress.__table__, addresses),
                         (AccessRecord.__table__, access)):
        bulk_insert(connection, table, frame)
