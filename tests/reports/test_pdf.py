"""The PDF of a long document laid out in parts at once: the same sites, in order, once each, and
pages numbered for the whole document."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import lxml.html
import pytest

from reports.pdf import split_parts
from tests.reports.conftest import Swept

FOOTER = re.compile(r"第 (\d+) 页 / 共 (\d+) 页")


def pages_of(pdf: Path) -> list[str]:
    """The text of each page (pdftotext ends each page with a form feed)."""
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")[:-1]
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert len(pages) == int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    return pages


def test_a_long_list_is_cut_into_parts_and_the_rest_is_kept_once() -> None:
    entries = "".join(f'<div class="e">条目{i}</div>' for i in range(23))
    html = ('<!DOCTYPE html><html lang="zh-CN"><head><style>.e { color: #111 }</style></head><body>'
            '<h1>开头</h1><section><p>前言</p><div class="list" data-pdf-parts>' + entries + '</div><p>结尾</p></section>'
            '<div>签名</div></body></html>')
    parts = [lxml.html.document_fromstring(p) for p in split_parts(html, workers=2, min_part=5)]
    assert len(parts) == 4  # two a worker, ceil(23 / 4) = 6 entries each
    assert [e.text for p in parts for e in p.find_class("e")] == [f"条目{i}" for i in range(23)]
    for number, part in enumerate(parts):
        assert part.get("lang") == "zh-CN" and part.find("head/style") is not None  # same styles, same language
        text = part.text_content()
        assert ("开头" in text and "前言" in text) == (number == 0)
        assert ("结尾" in text and "签名" in text) == (number == len(parts) - 1)
        assert part.find_class("list")  # the entries stay inside their own element
    assert split_parts(html, workers=2, min_part=23) == [html]  # too few to share
    assert split_parts(html.replace(" data-pdf-parts", ""), workers=2, min_part=1) == [html.replace(" data-pdf-parts", "")]


@pytest.mark.slow
def test_a_notice_in_parts_keeps_every_site_in_order_and_numbers_its_pages(swept: Swept, tmp_path: Path) -> None:
    from icpwatch.dbkit import create_engine_for
    from reports.gather import Scope
    from reports.notice import build_notice
    from reports.pdf import write_pdf
    from reports.render import render_text

    engine = create_engine_for(swept.db)
    try:
        document = build_notice(engine, Scope(swept.first["sweep_id"]))
    finally:
        engine.dispose()
    rows = document.context["rows"]
    html = render_text(document, "pdf")
    whole, parted = tmp_path / "whole.pdf", tmp_path / "parted.pdf"
    write_pdf(html, whole, workers=1)
    write_pdf(html, parted, workers=2, min_part=5)
    count = len(split_parts(html, workers=2, min_part=5))
    assert count == 4
    texts = {}
    for pdf in (whole, parted):
        pages = pages_of(pdf)
        for number, page in enumerate(pages, 1):  # one footer a page, numbered for the whole document
            assert FOOTER.findall(page) == [(str(number), str(len(pages)))], (pdf.name, number)
        texts[pdf.name] = pages
    pages = texts["parted.pdf"]
    assert len(texts["whole.pdf"]) <= len(pages) <= len(texts["whole.pdf"]) + count - 1  # each part starts a page
    text = "\n".join(pages)
    at = [m.start() for r in rows for m in re.finditer(rf"(?m)^{r.id}\s+{re.escape(r.site)}\b", text)]
    assert len(at) == len(rows) and at == sorted(at), "every site once, in the notice's order"
    assert text.count("服务地址及归属：") == len(rows)
    assert "未备案网站通报" in pages[0] and "一、汇总" in pages[0] and "一、汇总" not in "".join(pages[1:])
    closing = "涉及个人信息的内容已按规定脱敏"  # what follows the list: in the last part only
    assert closing in pages[-1] and text.count(closing) == 1 and document.context["issued_on"] in pages[-1]
    fonts = subprocess.run(["pdffonts", str(parted)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Noto-Sans-CJK-SC.*\byes\b", fonts), fonts


def test_the_pdf_template_escapes_what_it_prints() -> None:
    from reports.render import environment

    env = environment()
    assert env.autoescape("notice.pdf.j2") and env.autoescape("notice.html.j2")
