"""OCR of a number drawn in an image: Tesseract's chi_sim model on the sandbox's real PNG (the
browser-rendered path is covered by the ``image`` layout in test_render_display)."""

from __future__ import annotations

import pytest

from crawler.render.ocr import ocr_available, read_marks
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


def test_a_misread_prefix_gives_no_mark_rather_than_a_wrong_one() -> None:
    """Tesseract reads 沪 as 污 at footer size: the grammar then finds no mark (the page stays
    unjudged on that image) instead of a number from another province."""
    _, png = _image_bytes("沪ICP证030173号", *image_size(["沪ICP证030173号"]))
    reading = read_marks(png)
    assert all(m.province in (None, "沪") for m in reading.marks)
