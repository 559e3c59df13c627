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
from operator import itemgetter
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
    deferred_indexes,
    insert_rows,
    key_ids,
    plan_merge,
    provider_codes,
    repeats,
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


def _protect(protector: Protector, kind: str, values: pd.Series) -> tuple[list[str | None], list[str | None]]:
    """(keyed hash, encrypted token) for each non-empty value.

    Equal values (one subject's certificate on each of its websites) are sealed once: the keyed hash
    already shows they are equal, so sharing the token reveals nothing more.
    """
    items = values.tolist()
    distinct = [value for value in dict.fromkeys(items) if value is not None]
    hashes = dict(zip(distinct, protector.keyed_hashes(kind, distinct)))
    tokens = dict(zip(distinct, protector.encrypt_many(distinct)))
    return list(map(hashes.get, items)), list(map(tokens.get, items))


def _joined(items: list) -> str:
    return ";".join(sorted(set(items)))


# Files at least this long are validated in worker processes, a chunk of rows each: per-cell
# validation and encryption are independent row by row and take most of a large import's time.
PARALLEL_ROWS = 50_000
CHUNK_ROWS = 25_000


def _row_values(check: Checker, protector: Protector) -> pd.DataFrame:
    """Everything that can be validated looking at one row alone, as the columns to store."""
    frame = check.frame
    filing = check.column("website_number", fields.website_filing, required=True).tolist()
    number = [parts and parts[0] for parts in filing]
    subject_name = check.column("subject_name", str.strip, required=True)
    subject_type = check.column("subject_type", fields.subject_type, required=True)
    province = check.column("subject_province", fields.province, required=True)
    for row, parts, named in zip(frame.index, filing, province.tolist()):
        if parts and named and parts[2] != named:
            check.add(row, "subject_province", frame.at[row, "subject_province"],
                      f"{parts[0]} is a {parts[2]} number; a subject files in its own province")
    website_name = check.column("website_name", str.strip, required=True)
    # A domain repeated within one row is the same filing saying it twice, not a conflict.
    domain_pairs = [list(dict.fromkeys(pairs)) for pairs in check.listed("domains", fields.domain).tolist()]
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
            "subject_number": [parts and parts[1] for parts in filing],
            "subject_name": subject_name,
            "subject_type": subject_type,
            "province": province,
            "certificate_hash": certificate_hash,
            "certificate_enc": certificate_enc,
            "name": website_name,
            "status": [status or "filed" for status in check.column("status", fields.status).tolist()],
            "licence_number": check.column("licence_number", fields.licence_number),
            "preapprovals": [";".join(items) or None for items in check.listed("preapprovals", str.strip).tolist()],
            "contact_name": check.column("contact_name", str.strip),
            "contact_phone_hash": phone_hash,
            "contact_phone_enc": phone_enc,
            "contact_id_hash": id_hash,
            "contact_id_enc": id_enc,
            "hosts": [[host for host, _ in pairs] for pairs in domain_pairs],
            "independent": [[covering for _, covering in pairs] for pairs in domain_pairs],
            "ips": check.listed("ips", fields.ip),
            "providers": check.listed("providers", str.strip),
        },
        index=frame.index,
        dtype=object,
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
    for row, host, earlier in repeats(pd.Series(exploded.to_numpy(), dtype=object)):
        check.add(exploded.index[row], "domains", host, f"domain also listed in row {exploded.index[earlier]}")
    listed = pd.DataFrame({"host": exploded.to_numpy(), "row": exploded.index.to_numpy()})
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
    found = repeats(rows["subject_number"])
    if not found:
        return
    later = [row for row, _, _ in found]
    earlier = [first for _, _, first in found]
    for column, source in columns.items():
        differs = as_text(rows.loc[later, column]).to_numpy() != as_text(rows.loc[earlier, column]).to_numpy()
        for (row, number, first), differ in zip(found, differs.tolist()):
            if differ:
                check.add(row, source, check.frame.at[row, source],
                          f"subject {number} is described differently in row {first}")


def _write(connection: Connection, good: pd.DataFrame) -> tuple[int, int, int]:
    tables = (Subject.__table__, Website.__table__, *(table for table, _ in CHILDREN))
    with deferred_indexes(connection, tables):
        return _write_rows(connection, good)


def _sorted_by(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows in ``column`` order, stable. (Python's sort over the values list: several times
    faster than pandas' sort on a million strings.)"""
    keys = frame[column].tolist()
    return frame.iloc[sorted(range(len(keys)), key=keys.__getitem__)]


def _write_rows(connection: Connection, good: pd.DataFrame) -> tuple[int, int, int]:
    now = datetime.now(timezone.utc)
    # Rows in key order turn the unique indexes' random inserts into appends, and give websites ids
    # in number order, so their children arrive in website_id order too.
    good = _sorted_by(good, "website_number")
    subjects = (
        _sorted_by(good.drop_duplicates("subject_number"), "subject_number")[
            ["subject_number", "subject_name", "subject_type", "province", "certificate_hash", "certificate_enc"]
        ]
        .rename(columns={"subject_name": "name"})
        .reset_index(drop=True)
    )
    apply_plan(connection, Subject.__table__, plan_merge(connection, Subject.__table__, subjects, "subject_number", SUBJECT_FIELDS))
    subject_ids = key_ids(connection, Subject.__table__, "subject_number")

    numbers = good["website_number"].tolist()
    websites = good[
        ["website_number", "name", "status", "licence_number", "preapprovals", "contact_name",
         "contact_phone_hash", "contact_phone_enc", "contact_id_hash", "contact_id_enc"]
    ].assign(subject_id=[subject_ids[number] for number in good["subject_number"].tolist()], updated_at=now)
    plan = plan_merge(connection, Website.__table__, websites.reset_index(drop=True), "website_number", WEBSITE_FIELDS)
    apply_plan(connection, Website.__table__, plan)
    website_ids = key_ids(connection, Website.__table__, "website_number")

    ids = [website_ids[number] for number in numbers]
    inserted = set(plan.insert["website_number"].tolist())
    # Only websites already stored can have changed children.
    known = [i for i, number in enumerate(numbers) if number not in inserted]
    changed: list[int] = []
    if known:
        rows = good.iloc[known]
        wanted = pd.DataFrame(
            {
                "website_id": [ids[i] for i in known],
                "domains_key": [_joined(items) for items in rows["hosts"].tolist()],
                "ips_key": [_joined(items) for items in rows["ips"].tolist()],
                "providers_key": [_joined(items) for items in rows["providers"].tolist()],
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
    rewrite_ids = set(changed)
    rewrite = [i for i, (number, website_id) in enumerate(zip(numbers, ids)) if number in inserted or website_id in rewrite_ids]
    _insert_children(connection, good.iloc[rewrite], [ids[i] for i in rewrite])

    updated_ids = set(plan.update["id"]) | set(changed)
    return len(plan.insert), len(updated_ids), len(good) - len(plan.insert) - len(updated_ids)


def _current_children(connection: Connection) -> pd.DataFrame:
    """Each stored website's children as the sorted, ';'-joined keys ``_joined`` makes of a row."""
    frames = []
    for table, key in CHILDREN:
        value = {"website_domains": "domain", "website_addresses": "ip", "access_records": "provider_code"}[table.name]
        grouped: dict[int, list[str]] = {}
        for website_id, item in connection.execute(select(table.c.website_id, table.c[value])):
            grouped.setdefault(website_id, []).append(item)
        frames.append(pd.Series({website_id: ";".join(sorted(items)) for website_id, items in grouped.items()},
                                name=key, dtype=object))
    if not any(len(frame) for frame in frames):
        return pd.DataFrame(columns=["website_id", *(key for _, key in CHILDREN)])
    return pd.concat(frames, axis=1).fillna("").rename_axis("website_id").reset_index()


def _insert_children(connection: Connection, rows: pd.DataFrame, ids: list[int]) -> None:
    """Domains, addresses and access records of ``rows`` (whose websites have ``ids``).

    Built as plain tuples: exploding lists in pandas costs more than the inserts themselves.
    """
    hosts, coverings = rows["hosts"].tolist(), rows["independent"].tolist()
    addresses, providers = rows["ips"].tolist(), rows["providers"].tolist()
    domains = sorted(
        ((website_id, host, covering)
         for website_id, names, covers in zip(ids, hosts, coverings)
         for host, covering in zip(names, covers)),
        key=itemgetter(1),  # domain order: appends to its unique index
    )
    insert_rows(connection, WebsiteDomain.__table__, ("website_id", "domain", "independent_domain"), domains)
    insert_rows(connection, WebsiteAddress.__table__, ("website_id", "ip"),
                [(website_id, ip) for website_id, ips in zip(ids, addresses) for ip in dict.fromkeys(ips)])
    insert_rows(
        connection,
        AccessRecord.__table__,
        ("website_id", "provider_code", "addresses"),
        [(website_id, code, ";".join(ips) or None)
         for website_id, codes, ips in zip(ids, providers, addresses) for code in dict.fromkeys(codes)],
    )
