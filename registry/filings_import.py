"""Importing filings: one row is a website filing with its subject, domains, addresses and the
providers that serve it (access records).

Rows that share a subject number must agree on the subject; a domain may be filed by one website
only, in the file and in the store. Confidential columns are validated, then kept only as an
AES-GCM token plus a keyed hash (the hash is what a re-import compares).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import Connection, Table, bindparam, delete, insert, select

from registry import fields
from registry.models import AccessRecord, Subject, Website, WebsiteAddress, WebsiteDomain
from registry.numbers import parse_number
from registry.protection import Protector
from registry.rows import Checker, apply_plan, plan_merge, provider_codes, read_existing, records

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
    """(keyed hash, encrypted token) for each non-empty value."""
    hashes = values.map(lambda v: None if v is None else protector.keyed_hash(kind, v))
    tokens = values.map(lambda v: None if v is None else protector.encrypt(v))
    return hashes, tokens


def _joined(items: list) -> str:
    return ";".join(sorted(set(items)))


def prepare_filings(check: Checker, connection: Connection, protector: Protector) -> Callable[[], tuple[int, int, int]]:
    frame = check.frame
    number = check.column("website_number", fields.website_number, required=True)
    check.unique("website_number", number, "website number")
    marks = number.map(lambda n: None if n is None else parse_number(n))
    subject_name = check.column("subject_name", str.strip, required=True)
    subject_type = check.column("subject_type", fields.subject_type, required=True)
    province = check.column("subject_province", fields.province, required=True)
    for row in frame.index:
        mark = marks[row]
        if mark is not None and province[row] is not None and mark.province_name != province[row]:
            check.add(
                row,
                "subject_province",
                frame.at[row, "subject_province"],
                f"{mark.normalized} is a {mark.province_name} number; a subject files in its own province",
            )
    website_name = check.column("website_name", str.strip, required=True)
    # A domain repeated within one row is the same filing saying it twice, not a conflict.
    domain_pairs = check.listed("domains", fields.domain).map(lambda pairs: list(dict.fromkeys(pairs)))
    ips = check.listed("ips", fields.ip)
    providers = check.listed("providers", str.strip)
    status = check.column("status", fields.status).map(lambda s: s or "filed")
    licence = check.column("licence_number", fields.licence_number)
    preapprovals = check.listed("preapprovals", str.strip).map(lambda items: ";".join(items) or None)
    certificate = check.column("subject_certificate", fields.subject_certificate)
    contact_name = check.column("contact_name", str.strip)
    phone = check.column("contact_phone", fields.contact_phone)
    contact_id = check.column("contact_id", fields.contact_id)

    hosts = domain_pairs.map(lambda pairs: [host for host, _ in pairs])
    for row in frame.index:
        if not hosts[row] and not ips[row] and not frame.at[row, "domains"] and not frame.at[row, "ips"]:
            check.add(row, "domains", "", "a filing needs at least one domain (or, filed by IP alone, an address)")

    known_providers = provider_codes(connection)
    for row, codes in providers.items():
        for code in codes:
            if code not in known_providers:
                check.add(row, "providers", code, "unknown provider code (import providers first)")

    _check_domains(check, connection, number, hosts)

    certificate_hash, certificate_enc = _protect(protector, "subject_certificate", certificate)
    phone_hash, phone_enc = _protect(protector, "contact_phone", phone)
    id_hash, id_enc = _protect(protector, "contact_id", contact_id)

    rows = pd.DataFrame(
        {
            "website_number": number,
            "subject_number": marks.map(lambda m: m and m.subject),
            "subject_name": subject_name,
            "subject_type": subject_type,
            "province": province,
            "certificate_hash": certificate_hash,
            "certificate_enc": certificate_enc,
            "name": website_name,
            "status": status,
            "licence_number": licence,
            "preapprovals": preapprovals,
            "contact_name": contact_name,
            "contact_phone_hash": phone_hash,
            "contact_phone_enc": phone_enc,
            "contact_id_hash": id_hash,
            "contact_id_enc": id_enc,
            "hosts": hosts,
            "independent": domain_pairs.map(lambda pairs: [covering for _, covering in pairs]),
            "ips": ips,
            "providers": providers,
        },
        index=frame.index,
    )
    _check_subjects(check, rows)

    def write() -> tuple[int, int, int]:
        good = rows.drop(index=list(check.bad_rows), errors="ignore")
        return _write(connection, good)

    return write


def _check_domains(check: Checker, connection: Connection, number: pd.Series, hosts: pd.Series) -> None:
    """A domain belongs to one website: not twice in the file, not already another site's in the store."""
    exploded = hosts.explode().dropna()
    first_row: dict[str, int] = {}
    for row, host in exploded.items():
        if host in first_row and first_row[host] != row:
            check.add(row, "domains", host, f"domain also listed in row {first_row[host]}")
        first_row.setdefault(host, int(row))
    owners = connection.execute(
        select(WebsiteDomain.domain, Website.website_number).join(Website, Website.id == WebsiteDomain.website_id)
    ).all()
    if not owners:
        return
    owner_of = dict(owners)
    in_file = set(number.dropna())
    for row, host in exploded.items():
        owner = owner_of.get(host)
        if owner is not None and owner != number[row] and owner not in in_file:
            check.add(row, "domains", host, f"domain is already filed under {owner}")


def _check_subjects(check: Checker, rows: pd.DataFrame) -> None:
    """Rows with the same subject number describe one subject and must agree on it."""
    columns = {"subject_name": "subject_name", "subject_type": "subject_type", "province": "subject_province",
               "certificate_hash": "subject_certificate"}
    first: dict[str, int] = {}
    for row, subject in rows["subject_number"].items():
        if subject is None:
            continue
        if subject not in first:
            first[subject] = int(row)
            continue
        earlier = first[subject]
        for column, source in columns.items():
            if rows.at[row, column] != rows.at[earlier, column]:
                check.add(row, source, check.frame.at[row, source],
                          f"subject {subject} is described differently in row {earlier}")


def _write(connection: Connection, good: pd.DataFrame) -> tuple[int, int, int]:
    now = datetime.now(timezone.utc)
    subjects = (
        good.drop_duplicates("subject_number")[
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

    wanted = pd.DataFrame(
        {
            "website_id": good["website_number"].map(website_ids).astype(int).to_numpy(),
            "domains_key": good["hosts"].map(_joined).to_numpy(),
            "ips_key": good["ips"].map(_joined).to_numpy(),
            "providers_key": good["providers"].map(_joined).to_numpy(),
        }
    )
    current = _current_children(connection)
    merged = wanted.merge(current, on="website_id", how="left", suffixes=("", "__old"))
    differs = pd.Series(False, index=merged.index)
    for _, key in CHILDREN:
        differs |= merged[key] != merged[f"{key}__old"].fillna("")
    new_ids = set(plan.insert["website_number"].map(website_ids))
    changed = merged[differs & ~merged["website_id"].isin(new_ids)]["website_id"].tolist()
    if changed:
        for table, _ in CHILDREN:
            connection.execute(delete(table).where(table.c.website_id == bindparam("wid")), [{"wid": w} for w in changed])
    rewrite = good[good["website_number"].map(website_ids).isin(new_ids | set(changed))]
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
    domains = domains.explode(["domain", "independent_domain"]).dropna()
    addresses = pd.DataFrame({"website_id": ids, "ip": rows["ips"].map(lambda items: sorted(set(items)))}).explode("ip").dropna()
    access = pd.DataFrame(
        {
            "website_id": ids,
            "provider_code": rows["providers"].map(lambda items: sorted(set(items))),
            "addresses": rows["ips"].map(lambda items: ";".join(items) or None),
        }
    ).explode("provider_code").dropna(subset=["provider_code"])
    for table, frame in ((WebsiteDomain.__table__, domains), (WebsiteAddress.__table__, addresses),
                         (AccessRecord.__table__, access)):
        if len(frame):
            connection.execute(insert(table), records(frame.astype(object)))
