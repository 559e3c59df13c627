"""Writing a :class:`~reports.document.Document` in each format.

- ``html``: the document's Jinja2 template (``templates/<kind>.html.j2``), one self-contained file:
  styles inline, charts and screenshots embedded as base64 PNG.
- ``pdf``: HTML laid out by WeasyPrint, in Noto Sans CJK (Debian ``fonts-noto-cjk``): from
  ``templates/<kind>.pdf.j2`` where a document has one (it extends the HTML template and lays long
  lists out for print), else the HTML template; a long list in parts at once (``reports.pdf``).
- ``md``: ``templates/<kind>.md.j2``; charts are written beside it as PNG files and linked.
- ``xlsx``: a cover sheet with the document's heading, then one sheet per table (pandas + openpyxl).
- ``csv``: the document's main table in ``PATH``, each further table beside it as ``PATH-<name>.csv``
  (UTF-8 with BOM, so Excel opens Chinese text correctly).

A province adapts the wording by copying a template into a folder of its own and passing it as
``--templates DIR``: templates found there are used in place of the packaged ones.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)

from registry.protection import mask_text

from .document import Document, cn_date
from .pdf import PdfError, write_pdf

FORMATS = ("html", "pdf", "xlsx", "csv", "md")
#: screenshots above this size are linked, not embedded (a notice must stay mailable)
MAX_EMBEDDED_SCREENSHOT = 2 * 1024 * 1024


class RenderError(RuntimeError):
    """A format that cannot be written (unknown format, unwritable path, a template error)."""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def embed_file(path: str | None) -> str | None:
    """A screenshot on disk as a data URI, or None when it is missing or too large to embed."""
    if not path:
        return None
    try:
        p = Path(path)
        if not p.is_file() or p.stat().st_size > MAX_EMBEDDED_SCREENSHOT:
            return None
        return data_uri(p.read_bytes())
    except OSError:
        return None


def md_cell(value: Any) -> str:
    """A value fit for one Markdown table cell: pipes escaped, line breaks as <br>."""
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def environment(templates: str | os.PathLike[str] | None = None) -> Environment:
    loaders: list[Any] = []
    if templates is not None:
        if not Path(templates).is_dir():
            raise RenderError(f"--templates {templates}: not a folder")
        loaders.append(FileSystemLoader(str(templates)))
    loaders.append(PackageLoader("reports", "templates"))
    env = Environment(loader=ChoiceLoader(loaders), autoescape=select_autoescape(["html.j2", "pdf.j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(date=cn_date, md=md_cell, embed=embed_file)
    return env


def render_text(document: Document, fmt: str, *, templates: str | os.PathLike[str] | None = None,
                chart_links: dict[str, str] | None = None) -> str:
    """The document as HTML (for ``fmt`` html or pdf) or Markdown text (masked once more on the way out)."""
    env = environment(templates)
    names = [f"{document.kind}.{fmt}.j2"] + ([f"{document.kind}.html.j2"] if fmt == "pdf" else [])
    name = names[0]
    try:
        template = env.select_template(names)
        name = template.name or name
        charts = chart_links if chart_links is not None else {k: data_uri(v) for k, v in document.charts.items()}
        text = template.render(doc=document.context, title=document.title, charts=charts,
                               tables={t.key: t for t in document.tables}, fmt=fmt)
    except Exception as exc:  # jinja2 raises many kinds; the name of the template is what helps
        raise RenderError(f"template {name}: {type(exc).__name__}: {exc}") from exc
    return mask_text(text)


def _csv_paths(out: Path, document: Document) -> list[tuple[Path, pd.DataFrame]]:
    paths = [(out, document.tables[0].frame)]
    for table in document.tables[1:]:
        paths.append((out.with_name(f"{out.stem}-{table.key}{out.suffix or '.csv'}"), table.frame))
    return paths


def _masked(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.map(lambda v: mask_text(v) if isinstance(v, str) else v)


def _write_xlsx(document: Document, out: Path) -> None:
    from openpyxl.styles import Alignment, Font

    heading = document.context
    cover = pd.DataFrame({"项目": ["文书", "发文单位", "致", "范围", "日期", "文号"],
                          "内容": [document.title, heading.get("issuer", ""), heading.get("addressee", ""),
                                 heading.get("scope_label", ""), heading.get("issued_on", ""),
                                 heading.get("reference", "")]})
    with pd.ExcelWriter(out, engine="openpyxl") as writer:
        _masked(cover).to_excel(writer, sheet_name="说明", index=False)
        for table in document.tables:
            _masked(table.frame).to_excel(writer, sheet_name=table.title[:31], index=False, freeze_panes=(1, 0))
        for sheet in writer.book.worksheets:
            for cell in sheet[1]:
                cell.font = Font(bold=True)
            for column in sheet.columns:
                sample = [len(str(c.value)) for c in column[:200] if c.value is not None]
                width = min(max(sample + [6]) * 1.6 + 2, 60)
                sheet.column_dimensions[column[0].column_letter].width = width
            if sheet.max_row < 5000:  # wrapping costs time on very long sheets; only long text needs it
                for row in sheet.iter_rows(min_row=2):
                    for cell in row:
                        if isinstance(cell.value, str) and "\n" in cell.value:
                            cell.alignment = Alignment(wrap_text=True, vertical="top")


def write(document: Document, fmt: str, out: str | os.PathLike[str], *,
          templates: str | os.PathLike[str] | None = None) -> list[Path]:
    """Write ``document`` as ``fmt`` to ``out``; returns every file written (the first is ``out``)."""
    if fmt not in FORMATS:
        raise RenderError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RenderError(f"--out {path}: cannot create its folder ({exc.strerror})") from None
    written = [path]
    try:
        if fmt == "html":
            path.write_text(render_text(document, "html", templates=templates), encoding="utf-8")
        elif fmt == "pdf":
            write_pdf(render_text(document, "pdf", templates=templates), path)
        elif fmt == "md":
            links = {}
            for name, png in document.charts.items():
                chart = path.with_name(f"{path.stem}-{name}.png")
                chart.write_bytes(png)
                links[name] = chart.name
                written.append(chart)
            path.write_text(render_text(document, "md", templates=templates, chart_links=links), encoding="utf-8")
        elif fmt == "xlsx":
            _write_xlsx(document, path)
        else:
            written = []
            for target, frame in _csv_paths(path, document):
                _masked(frame).to_csv(target, index=False, encoding="utf-8-sig")
                written.append(target)
    except OSError as exc:
        raise RenderError(f"--out {path}: cannot write ({exc.strerror or exc})") from None
    except PdfError as exc:
        raise RenderError(str(exc)) from exc
    return written


def write_many(document: Document, formats: Sequence[str], stem: str | os.PathLike[str], **kw: Any) -> list[Path]:
    """The same document in several formats: ``STEM.html``, ``STEM.pdf`` …"""
    out: list[Path] = []
    for fmt in formats:
        out += write(document, fmt, Path(f"{stem}.{fmt}"), **kw)
    return out
