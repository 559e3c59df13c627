"""The static estimate in the rendered check's shape, for when no browser renders the page
(``--no-render``, or Chromium missing): ``"rendered": false`` and a note saying so — never a
silent guess. Values the source cannot tell (CSS not in the page, a number drawn in an image)
stay ``null`` and are listed in ``display.unknown``.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from ..encoding import decode_body
from ..extract import PageExtract, extract
from .display import ICP_KINDS
from .network import FetchRefused, GuardedFetcher

__all__ = ["static_document", "static_inspect"]

_SOURCES = {"text": "text", "image_alt": "image_alt", "script": "script"}


def _display(page: PageExtract) -> dict[str, Any]:
    icp = [m for m in page.marks if m.kind in ICP_KINDS]
    base = {"number": None, "visible": False, "bottom": None, "centred": None, "link": False,
            "link_href": None, "link_kind": None, "estimate": True, "unknown": []}
    if not icp:
        return {**base, "verdict": "no_mark", "why": "no ICP mark in the page source"}
    shown = [m for m in icp if m.displayed is not False]
    if not shown:
        return {**base, "number": icp[0].number, "verdict": "not_displayed",
                "why": "; ".join(f"{m.number}: {m.evidence.get('hidden') if m.hidden else m.source}" for m in icp)}
    best = min(shown, key=lambda m: (m.placeholder, m.kind != "website_filing",
                                     m.in_footer is False or m.centred is False, m.link_kind is None))
    unknown = [name for name, value in (("bottom", best.in_footer), ("centred", best.centred),
                                        ("visible", best.displayed)) if value is None]
    if best.in_footer is False or best.centred is False:
        verdict = "misplaced"
    else:
        verdict = "compliant" if best.link_kind else "link_missing"
    return {**base, "number": best.number, "visible": best.displayed, "bottom": best.in_footer,
            "centred": best.centred, "link": best.link_kind is not None, "link_href": best.link_href,
            "link_kind": best.link_kind, "verdict": verdict, "unknown": unknown,
            "why": "; ".join(f"{k}: {v}" for k, v in best.evidence.items())}


def static_document(target: str, final_url: str, html: bytes, content_type: str | None,
                    chain: list[dict[str, Any]], reason: str) -> dict[str, Any]:
    """The inspect document from the served bytes alone."""
    decoded = decode_body(html, content_type)
    page = extract(decoded.text, final_url, content_type=content_type)
    marks = [{"text": m.text, "number": m.number, "kind": m.kind, "province": m.province,
              "placeholder": m.placeholder, "valid": m.valid,
              "source": _SOURCES.get(m.source, "text"), "visible": m.displayed,
              "hidden_reason": m.evidence.get("hidden") if m.hidden else
              (f"only in {m.source}" if m.displayed is False else None)} for m in page.marks]
    marks += [{"text": n, "number": n, "kind": "public_security", "province": n[0], "placeholder": False,
               "valid": True, "source": "text", "visible": None, "hidden_reason": None}
              for n in page.public_security]
    return {"target": target, "final_url": final_url, "rendered": False, "status": "ok", "error": None,
            "redirect_chain": chain, "marks": marks, "display": _display(page), "contact": page.contact,
            "measurements": {"static": {m.number: {"in_footer": m.in_footer, "centred": m.centred,
                                                   "hidden": m.hidden, "evidence": m.evidence}
                                        for m in page.marks},
                             "page_kind": page.kind, "encoding": decoded.encoding},
            "evidence": {"html_sha256": hashlib.sha256(html).hexdigest(), "html_bytes": len(html),
                         "screenshot": None},
            "notes": [f"not rendered ({reason}): a static estimate from the page source; "
                      "bottom/centred/visible are not measured", *page.notes]}


def static_inspect(target: str | Path, fetcher: GuardedFetcher | None, reason: str) -> dict[str, Any]:
    """Fetch (through the guarded fetcher, redirects followed and recorded) or read ``target``,
    and estimate statically."""
    if isinstance(target, Path):
        return static_document(str(target), str(target), target.read_bytes(), None, [], reason)
    assert fetcher is not None

    async def fetch() -> Any:
        try:
            return await fetcher.fetch(target)
        finally:
            await fetcher.close()

    try:
        result = asyncio.run(fetch())
    except FetchRefused as exc:
        return {"target": target, "final_url": None, "rendered": False, "status": exc.status,
                "error": exc.reason, "redirect_chain": [], "marks": [], "display": None, "contact": None,
                "measurements": {}, "evidence": {},
                "notes": [f"not rendered ({reason}); the page could not be fetched: unknown, no verdict"]}
    ctype = next((v for k, v in result.headers.items() if k.lower() == "content-type"), None)
    doc = static_document(target, result.url, result.body, ctype, result.hops, reason)
    if result.status >= 400:
        doc["status"], doc["error"] = "http_error", f"HTTP {result.status}"
    return doc
