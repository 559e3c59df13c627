"""OCR of a number drawn in an image: Tesseract's chi_sim model on the sandbox's real PNG (the
browser-rendered path is covered by the ``image`` layout in test_render_display)."""

from __future__ import annotations

import pytest

from crawler.render.ocr import ocr_available, read_marks, unread_province_marks
from registry.numbers import find_marks
from sandbox.pages import _image_bytes, image_size


@pytest.mark.parametrize("mark", ["粤ICP备2021000123号-1", "京ICP备05000296号-2", "浙ICP备2020000001号-3"])
def test_tesseract_reads_the_number_in_the_image(mark: str) -> None:
    why = ocr_available()
    if why is not None:
        pytest.fail(f"OCR is required: {why}")
    ctype, png = _image_bytes(mark, *image_size([mark]))
    assert ctype == "image/png"
    reading = read_marks(png)
    assert [m.normalized for m in reading.marks] == [mark], reading
    assert 50 < reading.confidence <= 100


def test_an_image_without_a_number_reads_as_none() -> None:
    ctype, png = _image_bytes("欢迎光临本站", 200, 28)
    reading = read_marks(png)
    assert reading.marks == ()


@pytest.mark.parametrize("province", list("冀沪闽赣鲁豫鄂渝滇"))
def test_a_misread_province_gives_the_rest_of_the_number_never_another_province(province: str) -> None:
    """chi_sim misreads these province characters at footer size (沪 as 污, 闽 as 阔 …): the
    reading is never a number of another province, and when the province is misread the rest of
    the number is kept, its province unread."""
    for mark in (f"{province}ICP备2021000123号", f"{province}ICP证030173号"):
        _, png = _image_bytes(mark, *image_size([mark]))
        reading = read_marks(png)
        assert all(m.province == province for m in reading.marks), reading
        read = [m.normalized for m in reading.marks]
        read += [province + m.normalized[1:] for read_as, m in reading.unread_province if read_as != province]
        assert read == [mark], reading


def test_lookalike_prefixes_stay_unread() -> None:
    """贵ICP备 is a placeholder or false hit (Guizhou is 黔), never a number with its province unread."""
    _, png = _image_bytes("贵ICP备2021000123号", *image_size(["贵ICP备2021000123号"]))
    reading = read_marks(png)
    assert reading.marks == () and reading.unread_province == (), reading


@pytest.mark.parametrize(("text", "expected"), [
    ("污ICP备2021000123号-1", [("污", "ICP备2021000123号-1")]),           # the province misread
    ("阔 ICP证030173号 粤ICP备12345678号", [("阔", "ICP证030173号")]),       # a readable one stays a mark
    ("沪ICP备2021000123号", []),                                            # read right: a mark, not this
    ("贵ICP备2021000123号", []), ("萌ICP备2021000123号", []),                # look-alikes stay unread
    ("污ICP备案系统", []), ("污公网安备11010502000001号", []),               # no ICP number follows
])
def test_unread_province_readings_from_the_text_tesseract_gives(text: str, expected: list[tuple[str, str]]) -> None:
    """What read_marks keeps of a reading whose province character is no province, independent of
    which characters this machine's Tesseract happens to misread."""
    got = [(read_as, m.normalized[1:]) for read_as, m in unread_province_marks(text, find_marks(text))]
    assert got == expected
