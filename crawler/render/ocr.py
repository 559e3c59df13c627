"""Reading a filing number drawn inside an image: Tesseract with its ``chi_sim`` model.

Used only when a page shows no visible ICP mark in its text or image alt/title: OCR is slow
(a few hundred milliseconds an image) and is reported as what it is — a reading, with
Tesseract's confidence, that an analyst should look at (the evidence keeps the image).

The image is read as the browser drew it (an element screenshot), upscaled 2× and framed with a
margin: footer images carry ~15 px text, below what Tesseract reads well at its native scale.
"""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import dataclass

from registry.numbers import LOOKALIKE_PREFIXES, PROVINCES, FilingMark, find_marks

__all__ = ["OCRReading", "OCRUnavailable", "ocr_available", "read_marks", "unread_province_marks"]

LANG = "chi_sim"
# chi_sim misreads about a quarter of the province characters at footer-image sizes (15 px text):
# 沪 as 污, 闽 as 阔, 鲁 as 各, 鄂 as 哪, 渝 as 注, 冀, 赣, 豫, 滇 (measured on all 33 at the
# sandbox's size; upscaling, binarising, a character whitelist and re-reading the character alone
# did not recover them), while the rest of the number reads well. Such a reading is kept, its
# province unread, rather than lost: the page does show an ICP number there.
_BEFORE_ICP_RE = re.compile(r"([\u3400-\u9fff])(?=\s*ICP)")
_PROBE_PROVINCE = "京"  # any province: only the rest of the number is read through it
_CJK_GAP_RE = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fffA-Za-z0-9])|(?<=[A-Za-z0-9])\s+(?=[\u3400-\u9fff])")


class OCRUnavailable(RuntimeError):
    """Tesseract, pytesseract or the chi_sim model is missing (scripts/install.sh installs them)."""


@dataclass(frozen=True)
class OCRReading:
    text: str                 # what Tesseract read, spaces between CJK characters removed
    confidence: float         # mean word confidence, 0-100
    marks: tuple[FilingMark, ...]
    #: numbers whose province character was misread: (the character read, the number parsed
    #: with a stand-in province — only its rest is a reading)
    unread_province: tuple[tuple[str, FilingMark], ...] = ()


def ocr_available() -> str | None:
    """None when OCR can run, else why not."""
    if shutil.which("tesseract") is None:
        return "tesseract is not installed (Debian: tesseract-ocr)"
    try:
        import pytesseract
    except ImportError:
        return "pytesseract is not installed"
    try:
        langs = pytesseract.get_languages(config="")
    except pytesseract.TesseractError as exc:  # pragma: no cover - broken installation
        return f"tesseract does not run: {exc}"
    if LANG not in langs:
        return f"tesseract has no {LANG} model (Debian: tesseract-ocr-chi-sim)"
    return None


def read_marks(png: bytes, *, scale: int = 2) -> OCRReading:
    """The filing marks Tesseract reads in the image ``png`` (one line of text expected)."""
    try:
        import pytesseract
        from PIL import Image, ImageOps
    except ImportError as exc:
        raise OCRUnavailable(str(exc)) from None
    image = Image.open(io.BytesIO(png)).convert("L")
    image = image.resize((image.width * scale, image.height * scale), Image.LANCZOS)
    background = image.getpixel((0, 0))
    image = ImageOps.expand(image, border=16, fill=background)
    try:
        data = pytesseract.image_to_data(image, lang=LANG, config="--psm 6",
                                         output_type=pytesseract.Output.DICT)
    except (pytesseract.TesseractError, pytesseract.TesseractNotFoundError) as exc:
        raise OCRUnavailable(str(exc)) from None
    words = [(w, float(c)) for w, c in zip(data["text"], data["conf"]) if w.strip() and float(c) >= 0]
    text = _CJK_GAP_RE.sub("", " ".join(w for w, _ in words))
    confidence = round(sum(c for _, c in words) / len(words), 1) if words else 0.0
    marks = find_marks(text)
    return OCRReading(text=text, confidence=confidence, marks=tuple(marks),
                      unread_province=unread_province_marks(text, marks))


def unread_province_marks(text: str, marks: list[FilingMark]) -> tuple[tuple[str, FilingMark], ...]:
    """The numbers in ``text`` that read as a number but for a character before ``ICP`` that is
    no province — nor one of the look-alike prefixes the grammar rejects on purpose (贵, 萌…)."""
    taken = [m.span for m in marks if m.span]
    out = []
    for match in _BEFORE_ICP_RE.finditer(text):
        read_as = match.group(1)
        if read_as in PROVINCES or read_as in LOOKALIKE_PREFIXES or any(a <= match.start() < b for a, b in taken):
            continue
        probe = find_marks(_PROBE_PROVINCE + text[match.end():])
        if probe and probe[0].span and probe[0].span[0] == 0 and probe[0].is_icp:
            out.append((read_as, probe[0]))
    return tuple(out)
