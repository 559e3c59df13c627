"""A warm, read-only, in-memory index of the registry for bulk matching during sweeps.

A sweep asks the same three questions millions of times — which filing covers this domain, which
IP filing record covers this address, which filing does this number name — so the index loads the
answers once from the store and keeps them in hash maps and sorted arrays:

* domains: ``independent_domain → website position`` (a dict; and a pandas Index for bulk joins);
* addresses: the IP filing records flattened into disjoint intervals, each owned by the most
  specific (longest-prefix) block that covers it, searched with ``bisect`` / ``numpy.searchsorted``;
* numbers: ``website_number → website position``.

Each website is one position in parallel arrays (number, status), so a hit costs no object
allocation beyond the small result tuple.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from registry.domains import (
    InvalidHostname,
    independent_domain,
    independent_domains,
    normalize_host,
    quick_independent_domain,
)
from registry.models import IPFilingRecord, Website, WebsiteDomain
from registry.store import Store

_V4_OFFSET = 0xFFFF << 32


class DomainHit(NamedTuple):
    independent_domain: str
    website_number: str | None
    status: str  # "filed", "cancelled" or "none"


class AddressHit(NamedTuple):
    ip: str
    cidr: str | None
    unit: str | None
    provider: str | None


@dataclass(frozen=True)
class _Interval:
    first: int
    last: int
    record: int


def flatten_blocks(blocks: Sequence[tuple[int, int, int]]) -> list[_Interval]:
    """Nested CIDR blocks → disjoint intervals owned by the most specific covering block.

    ``blocks`` are (first, last, record). CIDR blocks never partly overlap (they nest or are
    disjoint), so one sweep with a stack of open blocks does it.
    """
    ordered = sorted(blocks, key=lambda b: (b[0], -(b[1] - b[0])))
    out: list[_Interval] = []
    stack: list[tuple[int, int, int]] = []
    cursor = 0

    def close_until(position: int) -> None:
        nonlocal cursor
        while stack and stack[-1][1] < position:
            first, last, record = stack.pop()
            if cursor <= last:
                out.append(_Interval(cursor, last, record))
            cursor = last + 1

    for first, last, record in ordered:
        close_until(first)
        if stack and cursor < first:
            out.append(_Interval(cursor, first - 1, stack[-1][2]))
        stack.append((first, last, record))
        cursor = first
    close_until(1 << 129)
    return out


class RegistryIndex:
    """Answers domain, address and number questions from memory; build it with ``load``."""

    STATUSES = ("none", "filed", "cancelled")

    def __init__(
        self,
        numbers: np.ndarray,
        status_codes: np.ndarray,
        domain_positions: dict[str, int],
        blocks: pd.DataFrame,
    ) -> None:
        self._numbers = numbers
        self._status_codes = status_codes  # index into STATUSES, one byte per website
        # The single lookup reads these lists: indexing a numpy array yields a numpy scalar, which
        # costs more than the rest of a lookup. The number strings are shared with ``numbers``.
        self._number_list: list[str] = numbers.tolist()
        self._status_list: list[str] = [self.STATUSES[code] for code in status_codes.tolist()]
        self._domains = domain_positions
        self._number_positions: dict[str, int] | None = None  # built on first use
        self._blocks = blocks
        intervals = flatten_blocks(list(zip(blocks["first"], blocks["last"], range(len(blocks)))))
        self._starts = [iv.first for iv in intervals]
        self._ends = [iv.last for iv in intervals]
        self._owners = [iv.record for iv in intervals]
        v4 = [i for i, iv in enumerate(intervals) if iv.first >= _V4_OFFSET and iv.last < _V4_OFFSET + (1 << 32)]
        self._v4_starts = np.array([intervals[i].first - _V4_OFFSET for i in v4], dtype=np.int64)
        self._v4_ends = np.array([intervals[i].last - _V4_OFFSET for i in v4], dtype=np.int64)
        self._v4_owners = np.array([intervals[i].record for i in v4], dtype=np.int64)
        self._cidr = blocks["cidr"].to_numpy(dtype=object)
        self._unit = blocks["unit"].to_numpy(dtype=object)
        self._user = blocks["user_code"].to_numpy(dtype=object)

    @classmethod
    def load(cls, store: Store, *, batch: int = 50_000) -> RegistryIndex:
        """Read the store once, streaming: rows go straight into the index, never into a list."""
        code = {status: i for i, status in enumerate(cls.STATUSES)}
        with store.engine.connect() as connection:
            count = connection.execute(select(func.count()).select_from(Website)).scalar_one()
            ids = np.empty(count, dtype=np.int64)
            numbers = np.empty(count, dtype=object)
            statuses = np.zeros(count, dtype=np.int8)
            result = connection.execution_options(yield_per=batch).execute(
                select(Website.id, Website.website_number, Website.status).order_by(Website.id)
            )
            i = 0
            for website_id, number, status in result:
                ids[i], numbers[i], statuses[i] = website_id, number, code.get(status, 0)
                i += 1
            ids, numbers, statuses = ids[:i], numbers[:i], statuses[:i]
            domain_positions: dict[str, int] = {}
            result = connection.execution_options(yield_per=batch).execute(
                select(WebsiteDomain.independent_domain, WebsiteDomain.website_id)
                # Where two filings name one domain, the filed one wins over a cancelled one: the
                # ordering leaves it last, and later rows overwrite earlier ones.
                .join(Website, Website.id == WebsiteDomain.website_id)
                .order_by(Website.status.asc(), WebsiteDomain.id.desc())
            )
            for rows in result.partitions():
                website_ids = np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows))
                positions = np.searchsorted(ids, website_ids).tolist()
                domain_positions.update(zip((row[0] for row in rows), positions))
            blocks = pd.DataFrame(
                connection.execute(
                    select(
                        IPFilingRecord.cidr,
                        IPFilingRecord.first,
                        IPFilingRecord.last,
                        IPFilingRecord.unit,
                        IPFilingRecord.user_code,
                    )
                ).all(),
                columns=["cidr", "first", "last", "unit", "user_code"],
            ).astype(object)
        blocks["first"] = [int(v, 16) for v in blocks["first"]]
        blocks["last"] = [int(v, 16) for v in blocks["last"]]
        return cls(numbers, statuses, domain_positions, blocks)

    # --- sizes ----------------------------------------------------------------------------------

    @property
    def websites(self) -> int:
        return len(self._numbers)

    @property
    def domains(self) -> int:
        return len(self._domains)

    @property
    def blocks(self) -> int:
        return len(self._blocks)

    # --- domains --------------------------------------------------------------------------------

    def match_domain(self, value: str) -> DomainHit:
        """The filing that covers a host or URL (status ``none`` when there is none).

        Raises ``InvalidHostname`` for a value that is not a host under an ICANN public suffix.
        """
        covering = quick_independent_domain(value) or independent_domain(normalize_host(value))
        if covering is None:
            raise InvalidHostname(f"{value!r} is an IP address, not a domain")
        position = self._domains.get(covering)
        if position is None:
            return DomainHit(covering, None, "none")
        return DomainHit(covering, self._number_list[position], self._status_list[position])

    def match_domains(self, values: Iterable[str]) -> pd.DataFrame:
        """Bulk form: one row per value with ``independent_domain``, ``website_number``, ``status``.

        Values that are not domains get a null ``independent_domain`` and status ``invalid``.
        """
        values = list(values)
        covering = independent_domains(values)
        get = self._domains.get
        found = np.fromiter((get(c, -1) if c is not None else -1 for c in covering), dtype=np.int64, count=len(covering))
        hit = found >= 0
        positions = np.where(hit, found, 0)
        numbers = np.where(hit, self._numbers[positions] if len(self._numbers) else None, None)
        codes = np.where(hit, self._status_codes[positions] if len(self._numbers) else 0, 0)
        statuses = np.array(self.STATUSES, dtype=object)[codes]
        statuses[np.fromiter((c is None for c in covering), dtype=bool, count=len(covering))] = "invalid"
        return pd.DataFrame(
            {"value": values, "independent_domain": covering, "website_number": numbers, "status": statuses},
            dtype=object,  # absent values stay None rather than becoming NaN
        )

    # --- addresses ------------------------------------------------------------------------------

    def _owner(self, key: int) -> int | None:
        i = bisect_right(self._starts, key) - 1
        if i >= 0 and key <= self._ends[i]:
            return self._owners[i]
        return None

    def match_ip(self, value: str) -> AddressHit:
        """The most specific IP filing record covering an address (all fields None when none does)."""
        address = ipaddress.ip_address(value)
        key = int(address) + (_V4_OFFSET if address.version == 4 else 0)
        owner = self._owner(key)
        if owner is None:
            return AddressHit(str(address), None, None, None)
        return AddressHit(str(address), self._cidr[owner], self._unit[owner], self._user[owner])

    def match_ips(self, values: Iterable[str]) -> pd.DataFrame:
        """Bulk form for IPv4 with ``numpy.searchsorted``; IPv6 values fall back to ``match_ip``."""
        values = list(values)
        keys = np.full(len(values), -1, dtype=np.int64)
        v6: list[int] = []
        for i, value in enumerate(values):
            try:
                keys[i] = int(ipaddress.IPv4Address(value))
            except ValueError:
                v6.append(i)
        owners = np.full(len(values), -1, dtype=np.int64)
        if len(self._v4_starts):
            i = np.searchsorted(self._v4_starts, keys, side="right") - 1
            inside = (i >= 0) & (keys >= 0) & (keys <= self._v4_ends[np.maximum(i, 0)])
            owners = np.where(inside, self._v4_owners[np.maximum(i, 0)], -1)
        frame = pd.DataFrame(
            {
                "value": values,
                "cidr": np.where(owners >= 0, self._cidr[np.maximum(owners, 0)] if len(self._cidr) else None, None),
                "unit": np.where(owners >= 0, self._unit[np.maximum(owners, 0)] if len(self._unit) else None, None),
                "provider": np.where(owners >= 0, self._user[np.maximum(owners, 0)] if len(self._user) else None, None),
            },
            dtype=object,
        )
        for i in v6:
            try:
                hit = self.match_ip(values[i])
            except ValueError:
                continue
            frame.loc[i, ["cidr", "unit", "provider"]] = [hit.cidr, hit.unit, hit.provider]
        return frame

    # --- numbers --------------------------------------------------------------------------------

    def filing_status(self, website_number: str) -> str:
        """``filed``, ``cancelled`` or ``none`` for a normalised website number."""
        if self._number_positions is None:
            self._number_positions = {number: i for i, number in enumerate(self._numbers)}
        position = self._number_positions.get(website_number)
        return "none" if position is None else self.STATUSES[self._status_codes[position]]
