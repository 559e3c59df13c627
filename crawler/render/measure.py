"""Finding and measuring the filing marks of a rendered page.

The page gives its text as a reader sees it (``measure.js``, phase ``collect``); the registry's
grammar (:func:`registry.numbers.find_marks`) finds the marks in it — the grammar is written once,
in Python, never again in JavaScript — and the page measures each one (phase ``measure``). Marks
come from four places, each reported with its ``source``:

* ``text`` — text of the rendered DOM that is also in the served HTML;
* ``script`` — rendered text that the served HTML does not carry (written by a script);
* ``image_alt`` — the ``alt`` (or ``title``) of an image, measured as the image's box;
* ``ocr`` — read from an image's pixels by Tesseract (:mod:`crawler.render.ocr`), only when no
  visible ICP mark was found otherwise, with its confidence.

``<noscript>`` text is reported as a mark that is not visible (a browser that runs scripts never
shows it), so a page whose number is only there is ``not_displayed`` rather than ``no_mark``.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from registry.numbers import FilingMark, find_marks

__all__ = ["MEASURE_JS", "Collected", "find_page_marks", "utf16_offsets"]

MEASURE_JS = resources.files(__package__).joinpath("measure.js").read_text(encoding="utf-8")


def utf16_offsets(text: str, offsets: list[int]) -> list[int]:
    """Python (code point) offsets of ``text`` as JavaScript (UTF-16) offsets."""
    if all(ord(c) < 0x10000 for c in text):
        return offsets
    out = []
    for i in offsets:
        out.append(i + sum(1 for c in text[:i] if ord(c) >= 0x10000))
    return out


def mark_entry(fm: FilingMark, source: str) -> dict[str, Any]:
    """The issue's mark shape (plus validity) for one grammar match."""
    return {"text": fm.text, "number": fm.normalized, "kind": fm.kind.value, "province": fm.province,
            "placeholder": fm.placeholder, "valid": fm.valid, "reason": fm.reason, "source": source,
            "visible": False, "hidden_reason": None}


class Collected:
    """What phase ``collect`` returned, and the marks found in it."""

    def __init__(self, data: dict[str, Any], static_numbers: set[str] | None) -> None:
        self.data = data
        self.text: str = data["text"]
        self.marks: list[dict[str, Any]] = []
        self.items: list[dict[str, Any]] = []     # what phase "measure" measures, one per mark
        self.unmeasured: list[dict[str, Any]] = []  # noscript marks: never rendered
        self._find(static_numbers)

    def _find(self, static_numbers: set[str] | None) -> None:
        found = find_marks(self.text)
        starts = utf16_offsets(self.text, [fm.span[0] for fm in found if fm.span])
        ends = utf16_offsets(self.text, [fm.span[1] for fm in found if fm.span])
        for fm, start, end in zip(found, starts, ends):
            in_source = static_numbers is None or fm.normalized in static_numbers
            self.marks.append(mark_entry(fm, "text" if in_source else "script"))
            self.items.append({"start": start, "end": end})
        for img in self.data["images"]:
            for attr in ("alt", "title"):
                value = img.get(attr)
                if not value:
                    continue
                for fm in find_marks(value):
                    self.marks.append(mark_entry(fm, "image_alt"))
                    self.items.append({"image": img["index"]})
        for text in self.data["noscript"]:
            for fm in find_marks(text):
                entry = mark_entry(fm, "text")
                entry["hidden_reason"] = "inside <noscript>: not shown by a browser that runs scripts"
                self.unmeasured.append(entry)

    def images_to_read(self, *, max_images: int = 4) -> list[dict[str, Any]]:
        """Images worth OCR: no mark in their alt/title, shown at a size that can hold one line of
        a number; the last ``max_images`` in document order (footers come last)."""
        with_marks = {i["image"] for i in self.items if "image" in i}
        out = [img for img in self.data["images"]
               if img["index"] not in with_marks and 60 <= img["width"] <= 1400 and 10 <= img["height"] <= 160]
        return out[-max_images:]


def find_page_marks(collected: Collected, measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The marks of ``collected`` with their measurements merged in (same order)."""
    out = []
    for mark, m in zip(collected.marks, measured):
        out.append({**mark, "visible": bool(m["visible"]), "hidden_reason": m["hidden_reason"],
                    "box": m["box"], "rects": m["rects"][:8], "line_box": m["line_box"], "fixed": m["fixed"],
                    "links": m["links"], "element": m.get("element")})
    out.extend({**u, "box": None, "rects": [], "line_box": None, "fixed": None, "links": []}
               for u in collected.unmeasured)
    return out
