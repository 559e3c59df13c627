"""The ``homepage`` spider: one observation per host of each target.

A domain is checked at its apex and at ``www.`` (``crawler.targets.homepage_urls``), each over
http:// first, followed to wherever it leads, falling back to https:// when http:// received
nothing (refused, reset before a response, TLS).  A URL target is fetched as given; an address
target is fetched by address.  Target key: ``<target line as given>|<host>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from ..observe import Visit
from .base import ObservingSpider

HOMEPAGE_KINDS = ("domain", "url", "ip")


def homepage_visits(targets: Iterator[object]) -> Iterator[Visit]:
    """Visits for parsed targets: one per host, its URLs in order (first tried, then fallbacks)."""
    from ..targets import homepage_urls

    for t in targets:
        kind = getattr(t, "kind", None)
        if kind not in HOMEPAGE_KINDS:
            continue
        by_host: dict[str, list[str]] = {}
        for url in homepage_urls(t):
            host = urlsplit(url).hostname or ""
            by_host.setdefault(host, []).append(url)
        raw = str(getattr(t, "raw", ""))
        for host, urls in by_host.items():
            fallbacks = urls[1:]
            if getattr(t, "scheme_hint", None) is None:
                fallbacks += ["https://" + u[len("http://"):] for u in urls if u.startswith("http://")]
            yield Visit(key=f"{raw}|{host}", target=raw, line=_line(t), kind=str(kind),
                        host=host, url=urls[0], fallbacks=fallbacks)


def _line(t: object) -> int | None:
    line = getattr(t, "line", None)
    return line if isinstance(line, int) else None


class HomepageSpider(ObservingSpider):
    """Fetches the homepage of each domain (apex and www.), URL and address target."""

    name = "homepage"

    def visits(self) -> Iterator[Visit]:
        return homepage_visits(self.parsed_targets())
