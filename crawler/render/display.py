"""The display verdict from measured numbers (DESIGN.md §2 "Bottom centre, made measurable").

The page measures (:mod:`crawler.render.measure`); this module judges, from the numbers and the
thresholds alone — never from class names or markup:

* *bottom*: no more than max(``bottom_px``, ``bottom_fraction`` × page height) of the page lies
  below the mark's box, or the mark sits in a footer fixed to the bottom of the viewport;
* *centred*: the centre of the mark's box, or of the line box it sits in, is within
  ``centre_fraction`` × page width of the page's centre;
* *link*: the mark itself links to a filing system, or a visible link to one starts within
  ``link_gap_px`` below the mark (at or below it: not above). Hosts match exactly
  (:func:`crawler.extract.filing_link_kind`); legacy systems count, with a warning.

The verdict for a page: ``no_mark`` (no ICP mark at all — a public-security number or a telecom
licence alone is no ICP mark), ``not_displayed`` (ICP marks exist, none visible), else the best
placed visible ICP mark is judged: ``misplaced`` unless bottom and centred, ``link_missing``
unless linked, else ``compliant``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..extract import filing_link_kind

__all__ = ["DisplayThresholds", "VERDICTS", "judge_display", "judge_mark"]

VERDICTS = ("compliant", "misplaced", "link_missing", "not_displayed", "no_mark")
#: ICP kinds (what art. 14(3) asks to show); telecom and public-security numbers are not.
ICP_KINDS = ("website_filing", "subject_filing", "app_filing", "licence")


@dataclass(frozen=True)
class DisplayThresholds:
    """The rendered rule's thresholds: settings (``ICPWATCH_DISPLAY_*``), not literals in code."""

    bottom_px: float = 300.0
    bottom_fraction: float = 0.15
    centre_fraction: float = 0.10
    link_gap_px: float = 80.0
    #: a fixed box counts as a bottom footer when its bottom edge is this close to the viewport's
    fixed_bottom_px: float = 4.0

    @classmethod
    def from_settings(cls, settings: Any) -> DisplayThresholds:
        """From a Scrapy Settings (or any mapping with ``get``)."""
        get = settings.get
        return cls(bottom_px=float(get("ICPWATCH_DISPLAY_BOTTOM_PX", cls.bottom_px)),
                   bottom_fraction=float(get("ICPWATCH_DISPLAY_BOTTOM_FRACTION", cls.bottom_fraction)),
                   centre_fraction=float(get("ICPWATCH_DISPLAY_CENTRE_FRACTION", cls.centre_fraction)),
                   link_gap_px=float(get("ICPWATCH_DISPLAY_LINK_GAP_PX", cls.link_gap_px)),
                   fixed_bottom_px=float(get("ICPWATCH_DISPLAY_FIXED_BOTTOM_PX", cls.fixed_bottom_px)))

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _centre_offset(box: dict[str, float] | None, page_width: float) -> float | None:
    if not box or box.get("width", 0) <= 0:
        return None
    return abs(box["left"] + box["width"] / 2 - page_width / 2)


def judge_mark(m: dict[str, Any], page: dict[str, Any], base_url: str,
               t: DisplayThresholds) -> dict[str, Any]:
    """bottom/centred/link of one measured mark, each with the numbers it was decided on.

    ``m`` is a measurement from measure.js (box, line box, fixed, links); ``page`` the page's
    {width, height, viewport}. Boxes are in page coordinates (CSS px from the document's top left).
    """
    box = m.get("box")
    height, width = float(page["height"]), float(page["width"])
    allowance = max(t.bottom_px, t.bottom_fraction * height)
    below = height - box["bottom"] if box else None
    fixed = m.get("fixed") or None
    fixed_bottom = bool(fixed and fixed.get("bottom_gap") is not None
                        and fixed["bottom_gap"] <= t.fixed_bottom_px
                        and fixed.get("top", 0) >= page["viewport"]["height"] / 2)
    bottom = bool(box) and (below <= allowance or fixed_bottom)
    tolerance = t.centre_fraction * width
    off_box = _centre_offset(box, width)
    off_line = _centre_offset(m.get("line_box"), width)
    centred = any(off is not None and off <= tolerance for off in (off_box, off_line))

    link_href = link_kind = None
    link_why = "no link to the filing system on or within %g px below the number" % t.link_gap_px
    candidates = []
    for link in m.get("links") or []:
        kind = filing_link_kind(link.get("href"), base_url)
        if kind is None or not link.get("visible", True):
            continue
        gap = None if link.get("contains") else link["box"]["top"] - box["bottom"] if box else None
        if link.get("contains"):
            candidates.append((0, -1.0, link, kind, "the number itself links to it"))
        elif gap is not None and gap <= t.link_gap_px and link["box"]["top"] >= box["top"] - 2:
            candidates.append((1, gap, link, kind, f"a link to it starts {max(gap, 0):.0f} px below the number"))
    if candidates:
        candidates.sort(key=lambda c: (c[0], c[1], c[3] != "current"))
        _, _, link, link_kind, link_why = candidates[0]
        link_href = link.get("href")
    return {
        "bottom": bottom, "centred": centred, "link": link_href is not None,
        "link_href": link_href, "link_kind": link_kind,
        "why": {
            "bottom": (f"in a footer fixed to the bottom of the viewport ({fixed['bottom_gap']:.0f} px from its edge)"
                       if fixed_bottom else
                       f"{below:.0f} px of the {height:.0f} px page lie below it (allowed {allowance:.0f})"
                       if box else "no rendered box"),
            "centred": (f"box centre {off_box:.0f} px, line centre "
                        f"{'-' if off_line is None else f'{off_line:.0f}'} px from the page centre "
                        f"(allowed {tolerance:.0f})" if off_box is not None else "no rendered box"),
            "link": link_why,
        },
        "numbers": {"below_px": below, "bottom_allowance_px": allowance, "centre_offset_px": off_box,
                    "line_centre_offset_px": off_line, "centre_tolerance_px": tolerance},
    }


def _verdict(j: dict[str, Any]) -> str:
    if not (j["bottom"] and j["centred"]):
        return "misplaced"
    return "compliant" if j["link"] else "link_missing"


_RANK = {"compliant": 0, "link_missing": 1, "misplaced": 2}


def judge_display(marks: list[dict[str, Any]], page: dict[str, Any], base_url: str,
                  t: DisplayThresholds) -> dict[str, Any]:
    """The page's display verdict from its measured marks (see the module docstring).

    Each ICP mark gets its own ``judgement``; the page is judged on its best placed visible one.
    """
    icp = [m for m in marks if m.get("kind") in ICP_KINDS]
    empty = {"number": None, "visible": False, "bottom": False, "centred": False, "link": False,
             "link_href": None, "link_kind": None, "warnings": []}
    if not icp:
        others = sorted({m["kind"] for m in marks})
        return {**empty, "verdict": "no_mark",
                "why": "no ICP mark on the page" + (f" (only {', '.join(others)})" if others else "")}
    visible = [m for m in icp if m.get("visible")]
    for m in visible:
        m["judgement"] = judge_mark(m, page, base_url, t)
    if not visible:
        hidden = "; ".join(f"{m['number']}: {m.get('hidden_reason') or 'not visible'}" for m in icp)
        return {**empty, "number": icp[0]["number"], "verdict": "not_displayed",
                "why": f"ICP marks exist but none is visible ({hidden})"}
    # Prefer a real website number over a placeholder, then the best verdict, then the lowest.
    best = min(visible, key=lambda m: (m.get("placeholder", False), m["kind"] != "website_filing",
                                       _RANK[_verdict(m["judgement"])], -(m["box"] or {}).get("bottom", 0)))
    j = best["judgement"]
    warnings = []
    if j["link_kind"] == "legacy":
        warnings.append(f"links to a legacy filing system ({j['link_href']}); today's is beian.miit.gov.cn")
    verdict = _verdict(j)
    return {"number": best["number"], "visible": True, "bottom": j["bottom"], "centred": j["centred"],
            "link": j["link"], "link_href": j["link_href"], "link_kind": j["link_kind"],
            "verdict": verdict, "warnings": warnings,
            "why": "; ".join(f"{k}: {v}" for k, v in j["why"].items())}
