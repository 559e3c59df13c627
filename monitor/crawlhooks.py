"""What the monitor asks of the crawler for a sweep, as Scrapy settings: ownership lookups pointed
at the sweep's resolver and RDAP service (so a sandbox sweep asks only loopback), and quiet logs.

Everything a rule reads from a page (marks, look-alike marks, links, contact details, the visible
text the pre-approval check classifies) is the crawler's own observation (``crawler.extract``).
"""

from __future__ import annotations

from typing import Any


def crawl_settings(*, resolver: str | None, rdap: str | None, ownership: bool = True,
                   quiet: bool = True) -> dict[str, Any]:
    """Scrapy settings a sweep adds to the crawler's."""
    out: dict[str, Any] = {"ICPWATCH_OWNERSHIP": bool(ownership)}
    if resolver:
        out["ICPWATCH_OWNERSHIP_DNS"] = resolver
    if rdap:
        out["ICPWATCH_RDAP_URL"] = rdap
    if quiet:
        out.update({"LOG_LEVEL": "WARNING", "ICPWATCH_PROGRESS": "log"})
    return out
