"""The evidence of one rendered page: what an analyst shows the site's owner.

* ``bottom.png`` — the bottom of the page as a visitor at 1366×768 sees it when scrolled to the
  end (the lowest 320 px of the screen, or down from the judged mark when it sits higher in the
  last screen), with the judged mark outlined in red (when it is there);
* ``mark.png`` — when the judged mark is elsewhere (a misplaced number), the area around it,
  outlined;
* ``page.html`` — the HTML as served, byte for byte, and ``measurements.json`` — every measured
  value and threshold;
* SHA-256 of the served HTML, of the rendered DOM and of each screenshot, so the files can be
  shown to be the ones the check produced.

Without an evidence directory the screenshots are still taken and hashed (the hash is the
record), but nothing is written.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Captured", "Evidence", "capture", "evidence_slug", "write_evidence"]

_SLUG_RE = re.compile(r"[^A-Za-z0-9._-]+")
#: height of the bottom-of-page screenshot (more when the judged mark sits higher in the last screen)
BOTTOM_PX = 320

# Outlines the judged mark, scrolls to the end of the page and makes the pixels steady as
# Playwright's screenshots with animations "disabled" and caret "hide" do: finite animations at
# their end, endless ones stopped, no blinking caret (an adopted style sheet, which the DOM's
# serialisation does not carry), web fonts loaded. It returns the sizes the clip is computed
# from, measured before the outline was added, and where the visual viewport then sits. One
# call: the screenshot itself is then a single DevTools command (Playwright's page.screenshot
# adds five round trips to the page around it, most of a screenshot's cost).
_PREPARE_JS = """async (box) => {
  const root = document.documentElement, size = [root.scrollHeight, window.innerHeight, window.innerWidth];
  document.querySelectorAll('[data-icpwatch-outline]').forEach((e) => e.remove());
  if (box) {
    const d = document.createElement('div');
    d.setAttribute('data-icpwatch-outline', '');
    const pad = 4;
    Object.assign(d.style, {position: box.fixed ? 'fixed' : 'absolute', left: (box.left - pad) + 'px',
      top: (box.top - pad) + 'px', width: (box.width + 2 * pad) + 'px', height: (box.height + 2 * pad) + 'px',
      border: '3px solid #e00', boxSizing: 'border-box', zIndex: 2147483647, pointerEvents: 'none'});
    root.appendChild(d);
  }
  window.scrollTo(0, root.scrollHeight);
  for (const a of document.getAnimations()) {
    if (!a.effect || a.playbackRate === 0) continue;
    try { Number.isFinite(a.effect.getComputedTiming().endTime) ? a.finish() : a.cancel(); } catch (e) {}
  }
  try {
    const caret = new CSSStyleSheet();
    caret.replaceSync('* { caret-color: transparent !important; }');
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, caret];
  } catch (e) {}
  // a font still loading delays the picture by two seconds at most (the page's own script could
  // hand back a promise that never settles)
  try { await Promise.race([document.fonts.ready, new Promise((r) => setTimeout(r, 2000))]); } catch (e) {}
  const vv = window.visualViewport;
  return {size, left: vv ? vv.pageLeft : window.scrollX, top: vv ? vv.pageTop : window.scrollY,
          scale: vv ? vv.scale : 1};
}"""
# What of _PREPARE_JS moves boxes, undone. (Stopped animations stay stopped: the narrow viewport
# is measured with them at rest, as the screenshot shows them.)
_UNDO_JS = """() => {
  document.querySelectorAll('[data-icpwatch-outline]').forEach((e) => e.remove());
  window.scrollTo(0, 0);
}"""


@dataclass
class Evidence:
    target: str
    final_url: str
    html: bytes
    judged: dict[str, Any] | None
    measurements: dict[str, Any]


def evidence_slug(target: str) -> str:
    """A directory name for ``target``: readable, safe, and unique by a short hash."""
    readable = _SLUG_RE.sub("_", re.sub(r"^[a-z]+://", "", target))[:80].strip("_.") or "page"
    return f"{readable}-{hashlib.sha256(target.encode()).hexdigest()[:10]}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _capture(cdp: Any, clip: dict[str, float], *, beyond_viewport: bool = False) -> bytes:
    """A PNG of ``clip`` (CSS px of the document) through the page's DevTools session. PNG is
    lossless: the pixels hashed are the pixels shown; "optimizeForSpeed" only compresses less."""
    shot = await cdp.send("Page.captureScreenshot", {
        "format": "png", "optimizeForSpeed": True, "captureBeyondViewport": beyond_viewport,
        "clip": {**clip, "scale": clip.get("scale", 1)}})
    return base64.b64decode(shot["data"])


@dataclass
class Captured:
    """What :func:`capture` took in the browser: the screenshots (PNG) and the rendered DOM."""

    screenshot: bytes
    mark_screenshot: bytes | None
    dom: bytes


async def capture(page: Any, cdp: Any, judged: dict[str, Any] | None) -> Captured:
    """Take the screenshots of ``page`` (measured at 1366×768; ``cdp`` is its DevTools session)
    with ``judged``'s mark outlined; then take the outline away and scroll back to the top, so
    the page measures as before (the narrow viewport is measured after this), and serialise the
    DOM."""
    box = (judged or {}).get("box")
    fixed = (judged or {}).get("fixed")
    outline = None
    if box:
        outline = dict(box)
        if fixed:  # measured at scroll 0: its viewport position is its page position
            outline["fixed"] = True
    shown = await page.evaluate(_PREPARE_JS, outline)
    height, vh, vw = shown["size"]
    # The lowest BOTTOM_PX of the viewport: the footer a visitor sees, and a fraction of the
    # encoding cost of the whole viewport (this runs for every page of a sweep).
    clip = {"x": 0, "y": max(0, vh - BOTTOM_PX), "width": vw, "height": min(BOTTOM_PX, vh)}
    if box and (fixed or box["bottom"] >= height - vh) and not fixed:
        mark_top = box["top"] - (height - vh)  # where the mark sits in the scrolled viewport
        clip["y"] = max(0, min(clip["y"], mark_top - 40))
        clip["height"] = vh - clip["y"]
    # The clip in the viewport, as a rectangle of the document (as Playwright's page screenshot
    # computes it).
    scale = shown["scale"] or 1
    bottom = await _capture(cdp, {"x": shown["left"] + clip["x"], "y": shown["top"] + clip["y"],
                                  "width": clip["width"] / scale, "height": clip["height"] / scale,
                                  "scale": scale})
    mark_shot = None
    if box and not (fixed or box["bottom"] >= height - vh):
        top = max(0.0, box["top"] - 120)
        mark_shot = await _capture(
            cdp, {"x": 0, "y": top, "width": vw, "height": max(1.0, min(360.0, height - top))},
            beyond_viewport=True)
    await page.evaluate(_UNDO_JS)
    return Captured(bottom, mark_shot, await _serialised_dom(cdp))  # the page's DOM, without the outline


async def _serialised_dom(cdp: Any) -> bytes:
    """The rendered DOM as the browser itself serialises it (DevTools' DOM.getOuterHTML, native
    code): a page script that overrides ``outerHTML`` or ``XMLSerializer`` cannot alter it.
    Playwright's ``page.content()`` is as safe but first injects its helper script into a world of
    its own in every new document, which cost a sixth of a render's CPU."""
    # ``document`` is unforgeable: no page can redefine or shadow it
    handle = (await cdp.send("Runtime.evaluate", {"expression": "document"}))["result"]["objectId"]
    try:
        return (await cdp.send("DOM.getOuterHTML", {"objectId": handle}))["outerHTML"].encode("utf-8")
    finally:
        await cdp.send("Runtime.releaseObject", {"objectId": handle})


def write_evidence(captured: Captured, ev: Evidence, directory: Path | None) -> dict[str, Any]:
    """The evidence document of a page: hashes of what was served and captured, and, when a
    directory is given, the files under ``directory/<slug>/``."""
    doc: dict[str, Any] = {
        "final_url": ev.final_url,
        "html_sha256": _sha(ev.html), "html_bytes": len(ev.html),
        "dom_sha256": _sha(captured.dom),
        "screenshot_sha256": _sha(captured.screenshot),
        "outlined": bool((ev.judged or {}).get("box")),
        "screenshot": None,
    }
    if captured.mark_screenshot is not None:
        doc["mark_screenshot_sha256"] = _sha(captured.mark_screenshot)
        doc["mark_screenshot"] = None
    if directory is not None:
        where = Path(directory) / evidence_slug(ev.target)
        where.mkdir(parents=True, exist_ok=True)
        (where / "bottom.png").write_bytes(captured.screenshot)
        doc["screenshot"] = str(where / "bottom.png")
        if captured.mark_screenshot is not None:
            (where / "mark.png").write_bytes(captured.mark_screenshot)
            doc["mark_screenshot"] = str(where / "mark.png")
        (where / "page.html").write_bytes(ev.html)
        (where / "measurements.json").write_text(
            json.dumps({"target": ev.target, "final_url": ev.final_url, **ev.measurements},
                       ensure_ascii=False, indent=1), encoding="utf-8")
        doc["html"] = str(where / "page.html")
        doc["measurements"] = str(where / "measurements.json")
    return doc
