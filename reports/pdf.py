"""A document's HTML as one PDF, laid out by WeasyPrint — a long document in parts at once.

WeasyPrint lays a document out on one core. A template marks the element that holds a long list
(the notice's sites) with ``data-pdf-parts``; when that list is long and more than one core is
free, its entries are cut into parts: the first part carries what precedes the list, the last
what follows it, and each part is a document of its own (same ``<head>``, so the same styles and
page size) laid out in a worker process, starting on a new page.

The page margins (the footer's "第 N 页 / 共 M 页") depend on the whole document, which no part
knows: parts are laid out without their margin boxes, and once the page count is known one more
WeasyPrint document of that many empty pages, with the same ``<head>``, draws the margin boxes,
which pypdf lays over the pages of the parts. So the numbering comes from the template's own
``@page`` rules, as in a document laid out whole. Page-based content in the body (``target-counter``,
running headers with ``string()``) would count per part; no template uses it.
"""

from __future__ import annotations

import copy
import io
import math
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml.html import HtmlElement

#: the folder that holds this package: a part's process imports the same code as its caller
_SOURCE = str(Path(__file__).resolve().parents[1])

#: the attribute that marks the element whose children may be laid out in parts
PARTS_ATTRIBUTE = "data-pdf-parts"
#: fewer entries than this are not worth a process of their own (starting one costs about a second)
MIN_PART = 400
#: parts per worker: more, smaller parts even out the first one's extra content (summary, charts) and a
#: core that other work slows down; each costs a process start
PARTS_PER_WORKER = 2

_MARGIN_BOXES = ("top-left-corner", "top-left", "top-center", "top-right", "top-right-corner",
                 "right-top", "right-middle", "right-bottom", "bottom-right-corner", "bottom-right",
                 "bottom-center", "bottom-left", "bottom-left-corner", "left-bottom", "left-middle", "left-top")
#: a user stylesheet: !important in a user sheet overrides the author's margin boxes
NO_MARGIN_BOXES = "@page { %s }" % " ".join(f"@{box} {{ content: none !important; }}" for box in _MARGIN_BOXES)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def split_parts(html: str, *, workers: int, min_part: int = MIN_PART) -> list[str]:
    """``html`` as documents that share the entries of its ``data-pdf-parts`` element: about
    ``PARTS_PER_WORKER`` a worker, of at least ``min_part`` entries; ``[html]`` when it has no such
    element or too few entries to share."""
    import lxml.html

    root = lxml.html.document_fromstring(html, parser=lxml.html.HTMLParser(huge_tree=True))
    marked = root.xpath(f"//*[@{PARTS_ATTRIBUTE}]")
    if not marked:
        return [html]
    holder = marked[0]
    entries = list(holder)
    size = max(min_part, math.ceil(len(entries) / (workers * PARTS_PER_WORKER)), 1)
    if len(entries) <= size:
        return [html]
    for entry in entries:
        holder.remove(entry)  # the rest of the document is small: each part copies it
    path = root.getroottree().getpath(holder)
    groups = [entries[i:i + size] for i in range(0, len(entries), size)]
    parts = []
    for number, group in enumerate(groups):
        skeleton = copy.deepcopy(root)
        twin = skeleton.getroottree().xpath(path)[0]
        if number > 0:
            _prune(twin, before=True)
        if number < len(groups) - 1:
            _prune(twin, before=False)
        twin.extend(group)
        parts.append(lxml.html.tostring(skeleton, encoding="unicode", doctype="<!DOCTYPE html>"))
    return parts


def _prune(node: HtmlElement, *, before: bool) -> None:
    """Drop what precedes (or follows) ``node`` in ``<body>``, at each level up to it."""
    while node.getparent() is not None and node.tag != "body":
        parent = node.getparent()
        siblings = list(parent)
        at = siblings.index(node)
        for sibling in (siblings[:at] if before else siblings[at + 1:]):
            parent.remove(sibling)  # its tail text goes with it
        if before:
            parent.text = None
        else:
            node.tail = None
        node = parent


class PdfError(RuntimeError):
    """A part of a document that could not be laid out."""


def _lay_out_part(html: str) -> bytes:
    """One part as PDF, without its margin boxes, laid out by ``python -m reports.pdf`` in a process of
    its own: a fresh interpreter, not a fork (the caller may hold threads and an initialised Pango),
    and not multiprocessing's spawn, which re-imports the caller's main script."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_SOURCE, os.environ.get("PYTHONPATH")])))
    with tempfile.TemporaryDirectory(prefix="pdf-part-") as tmp:
        out = Path(tmp) / "part.pdf"
        proc = subprocess.run([sys.executable, "-m", "reports.pdf", str(out)], input=html.encode("utf-8"),
                              capture_output=True, env=env)
        if proc.returncode != 0 or not out.is_file():
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise PdfError(f"laying out a part of the PDF failed: {tail[0]}")
        return out.read_bytes()


def _margins(html: str, pages: int) -> bytes:
    """``pages`` empty pages of ``html``'s document: only their margin boxes, numbered for the whole."""
    import lxml.html
    from weasyprint import HTML

    root = lxml.html.document_fromstring(html, parser=lxml.html.HTMLParser(huge_tree=True))
    body = root.find("body")
    for child in list(body):
        body.remove(child)
    body.text = None
    for number in range(pages):
        page = lxml.html.Element("div")
        if number:
            page.set("style", "break-before: page")
        body.append(page)
    return HTML(string=lxml.html.tostring(root, encoding="unicode", doctype="<!DOCTYPE html>")).write_pdf()


def write_pdf(html: str, out: Path, *, workers: int | None = None, min_part: int = MIN_PART) -> None:
    """Write ``html`` as the PDF ``out``: whole, or in parts on ``workers`` processes (default: one
    per usable core) when its marked list is long enough to share (see :func:`split_parts`)."""
    workers = workers or usable_cores()
    parts = split_parts(html, workers=workers, min_part=min_part) if workers > 1 else [html]
    if len(parts) == 1:
        from weasyprint import HTML

        HTML(string=html).write_pdf(out)
        return
    with ThreadPoolExecutor(min(workers, len(parts))) as pool:  # each thread waits on its process
        laid_out = list(pool.map(_lay_out_part, parts))
    _join(laid_out, html, out)


def _join(parts: list[bytes], html: str, out: Path) -> None:
    """The parts' pages in order, each overlaid with its margin boxes, as one PDF."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for part in parts:
        writer.append(PdfReader(io.BytesIO(part)))  # keeps the bookmarks of the headings
    margins = PdfReader(io.BytesIO(_margins(html, len(writer.pages))))
    for page, margin in zip(writer.pages, margins.pages, strict=True):
        page.merge_page(margin)
        page.compress_content_streams()
    writer.add_metadata(PdfReader(io.BytesIO(parts[0])).metadata or {})
    with open(out, "wb") as fh:
        writer.write(fh)


if __name__ == "__main__":  # a part: its HTML on standard input, its PDF without margin boxes to the file named
    from weasyprint import CSS, HTML

    part = HTML(string=sys.stdin.buffer.read().decode("utf-8"))
    part.write_pdf(sys.argv[1], stylesheets=[CSS(string=NO_MARGIN_BOXES)])
