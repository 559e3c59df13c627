"""The hash chain: one canonical encoding of an entry, and the walk that checks it.

Each entry's hash is SHA-256 over a fixed list of its fields (the previous entry's hash and its
own sequence number among them) encoded as JSON with sorted keys, no whitespace, UTF-8, dates in
ISO form and timestamps in UTC to the microsecond. Any change to a hashed field changes the hash;
removing or reordering entries breaks a ``prev_hash`` link or the run of sequence numbers; removing
the last entries leaves the chain head pointing past the tail. JSON is used as the encoding rather
than a hand-made byte format because its canonical form is fixed by three ``json.dumps`` options.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Protocol

GENESIS_HASH = "0" * 64
ENCODING_VERSION = 1

#: the fields that are hashed, in the order they are documented (the encoding sorts them anyway)
HASHED_FIELDS = (
    "seq", "year", "object_kind", "object_code", "points", "kind", "article", "code", "finding_ref",
    "occurred_on", "reason", "detail", "corrects_id", "recorded_by", "recorded_at", "prev_hash",
)


class ChainedRow(Protocol):
    id: int
    seq: int
    prev_hash: str
    hash: str


def utc_timestamp(value: datetime) -> str:
    """A timestamp as the chain hashes it. SQLite hands back naive datetimes: they were stored in
    UTC, so a naive value is read as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_detail(detail: dict[str, Any] | None) -> str | None:
    """The stored (and hashed) form of an entry's detail."""
    if not detail:
        return None
    return json.dumps(detail, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def canonical_encoding(row: Any) -> bytes:
    """The bytes an entry's hash is computed over."""
    document: dict[str, Any] = {"v": ENCODING_VERSION}
    for name in HASHED_FIELDS:
        value = getattr(row, name)
        if isinstance(value, datetime):
            value = utc_timestamp(value)
        elif isinstance(value, date):
            value = value.isoformat()
        document[name] = value
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def entry_hash(row: Any) -> str:
    return hashlib.sha256(canonical_encoding(row)).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """What ``verify`` found: ``ok`` with the number of entries checked, or the first bad entry."""

    ok: bool
    checked: int
    first_bad_id: int | None = None
    first_bad_seq: int | None = None
    problem: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS_HASH

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "first_bad_id": self.first_bad_id,
                "first_bad_seq": self.first_bad_seq, "problem": self.problem,
                "head": {"seq": self.head_seq, "hash": self.head_hash}}


def walk(rows: Iterable[ChainedRow], *, head_seq: int, head_hash: str) -> ChainReport:
    """Check ``rows`` (in ``seq`` order) link by link, then against the recorded head.

    The first entry whose hash, link or sequence number is wrong is the one named: an edited entry
    fails its own hash, an entry after a removed or moved one fails its link or its number.
    """
    previous_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    last: ChainedRow | None = None
    for row in rows:
        where = f"entry {row.id} (seq {row.seq})"
        if row.seq != expected_seq:
            problem = (f"{where}: expected seq {expected_seq} — entries were removed before it"
                       if row.seq > expected_seq else f"{where}: seq out of order (expected {expected_seq})")
            return ChainReport(False, checked, row.id, row.seq, problem, head_seq, head_hash)
        if row.prev_hash != previous_hash:
            return ChainReport(False, checked, row.id, row.seq,
                               f"{where}: prev_hash does not match the entry before it — the chain was "
                               "reordered or an entry before it was replaced", head_seq, head_hash)
        if entry_hash(row) != row.hash:
            return ChainReport(False, checked, row.id, row.seq,
                               f"{where}: content does not match its hash — the entry was changed",
                               head_seq, head_hash)
        previous_hash, expected_seq, checked, last = row.hash, expected_seq + 1, checked + 1, row
    tail_seq = last.seq if last else 0
    if tail_seq != head_seq or previous_hash != head_hash:
        return ChainReport(False, checked, None, tail_seq + 1 if tail_seq < head_seq else tail_seq,
                           f"the chain ends at seq {tail_seq} but its head records seq {head_seq} "
                           f"({head_hash[:12]}…) — entries at the end were removed or the head was changed",
                           head_seq, head_hash)
    return ChainReport(True, checked, head_seq=head_seq, head_hash=head_hash)
