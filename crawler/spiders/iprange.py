"""The ``iprange`` spider: probe every address of CIDR blocks to find what answers by IP alone.

Each address is probed on port 80 (http) and 443 (https), once with no Host header (sent empty,
so the server must pick its default virtual host) and once with the address as Host — the
default virtual host and any site reachable by IP alone both show up.  Four observations per
address; target key ``<cidr line>|<address>|<scheme>|<none|address>``.  A closed port is a
``connection_error`` observation (nothing listens), not a failure of the sweep.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..observe import Visit
from .base import ObservingSpider

PROBES = (("http", 80, "none"), ("http", 80, "address"), ("https", 443, "none"), ("https", 443, "address"))


def probe_visits(targets: Iterator[object]) -> Iterator[Visit]:
    for t in targets:
        if getattr(t, "kind", None) != "cidr_member":
            continue
        ip = str(getattr(t, "host"))
        raw = str(getattr(t, "raw", None) or getattr(t, "line", ""))
        literal = f"[{ip}]" if ":" in ip else ip
        line = getattr(t, "line", None)
        for scheme, port, mode in PROBES:
            yield Visit(key=f"{raw}|{ip}|{scheme}|{mode}", target=raw,
                        line=line if isinstance(line, int) else None, kind="cidr_member", host=ip,
                        url=f"{scheme}://{literal}/", probe={"port": port, "scheme": scheme, "host_header": mode},
                        host_header="" if mode == "none" else literal)


class IPRangeSpider(ObservingSpider):
    """Probes each address of the CIDR targets (capped by ICPWATCH_CIDR_CAP / --cidr-cap)."""

    name = "iprange"

    def visits(self) -> Iterator[Visit]:
        return probe_visits(self.parsed_targets())
