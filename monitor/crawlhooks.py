"""What the monitor asks the crawler to record beyond its observation, through Scrapy settings.

The crawler's observation (``crawler.items``) carries the page's marks, links and contact details
but not its text, and two of the monitor's rules need a little of it:

* the pre-approval check (art. 20) classifies the homepage's words (``monitor.preapproval``);
* a look-alike mark such as ``贵ICP备12345678号`` is no filing to the grammar (Guizhou is 黔), so the
  extractor reports no mark at all — yet a page showing it shows a placeholder (NUMBER_MISMATCH),
  not "no number".

:class:`PageTextMiddleware` is a spider middleware: it sees each response together with the
observation the spider yields for it, and adds ``page["text"]`` (the visible text, whitespace
folded, capped at :data:`TEXT_CAP` characters) and ``page["lookalike_marks"]``. It only adds keys
inside ``page`` (a plain dict), so the crawler's item schema is unchanged. :func:`crawl_settings`
gives the settings that install it next to the crawler's own middlewares.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

TEXT_CAP = 4000
#: Look-alike prefixes (DESIGN.md §2): not filing prefixes, but pages show them as if they were.
LOOKALIKE_RE = re.compile(
    r"[贵云萌使领][ \u00a0\u200b]*ICP[ \u00a0]*[备備证證][ \u00a0:：]*[0-9０-９Xx]{4,}[ \u00a0]*[号號]?(?:[-－][0-9]+)?"
    r"|[\u4e00-\u9fff]ICP[ \u00a0]*[备備][ \u00a0:：]*[Xx×*＊]{4,}[ \u00a0]*[号號]?")
_SKIP = ("script", "style", "noscript", "template", "head", "title")
MIDDLEWARE = "monitor.crawlhooks.PageTextMiddleware"


def visible_text(html: str) -> str:
    """The text a reader sees, roughly: no scripts, styles or <noscript>; whitespace folded."""
    from lxml import etree, html as lhtml

    try:
        root = lhtml.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return ""
    etree.strip_elements(root, *_SKIP, with_tail=False)
    return " ".join(" ".join(root.itertext()).split())


def lookalike_marks(text: str) -> list[str]:
    """Look-alike marks in ``text`` (full-width forms folded first), as written after folding."""
    import unicodedata

    folded = unicodedata.normalize("NFKC", text)
    return list(dict.fromkeys(m.group().replace(" ", "") for m in LOOKALIKE_RE.finditer(folded)))


class PageTextMiddleware:
    """Adds ``text`` and ``lookalike_marks`` to the ``page`` of each observation of a page."""

    def process_spider_output(self, response: Any, result: Iterable[Any], spider: Any = None) -> Iterator[Any]:
        for item in result:
            self._annotate(response, item)
            yield item

    async def process_spider_output_async(self, response: Any, result: Any, spider: Any = None) -> Any:
        async for item in result:
            self._annotate(response, item)
            yield item

    @staticmethod
    def _annotate(response: Any, item: Any) -> None:
        try:
            page = item.get("page") if hasattr(item, "get") and "run_id" in item else None
        except (KeyError, TypeError):
            page = None
        if not isinstance(page, dict) or page.get("kind") != "site" or not hasattr(response, "body"):
            return
        from crawler.encoding import decode_body

        ctype = response.headers.get(b"Content-Type")
        decoded = decode_body(response.body, ctype.decode("latin-1") if ctype else None)
        text = visible_text(decoded.text)
        page["text"] = text[:TEXT_CAP]
        page["lookalike_marks"] = lookalike_marks(text)


def crawl_settings(*, resolver: str | None, rdap: str | None, ownership: bool = True,
                   quiet: bool = True) -> dict[str, Any]:
    """Scrapy settings a sweep adds to the crawler's: the text middleware, and ownership lookups
    pointed at the sweep's resolver and RDAP service (so a sandbox sweep asks only loopback)."""
    from crawler import settings as crawler_settings

    middlewares = dict(getattr(crawler_settings, "SPIDER_MIDDLEWARES", {}) or {})
    middlewares[MIDDLEWARE] = 20
    out: dict[str, Any] = {"SPIDER_MIDDLEWARES": middlewares, "ICPWATCH_OWNERSHIP": bool(ownership)}
    if resolver:
        out["ICPWATCH_OWNERSHIP_DNS"] = resolver
    if rdap:
        out["ICPWATCH_RDAP_URL"] = rdap
    if quiet:
        out.update({"LOG_LEVEL": "WARNING", "ICPWATCH_PROGRESS": "log"})
    return out
