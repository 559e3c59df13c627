"""Turn a response body into text, reading Chinese pages correctly even when they lie.

The order is the browser's (WHATWG "encoding sniffing"): a byte-order mark, then the
``Content-Type`` header, then a ``<meta>`` declaration within the first 4 KiB, then detection.
Labels are resolved with :func:`w3lib.encoding.resolve_encoding`, which already reads ``gb2312``,
``gbk``, ``cp936`` and ``zh-cn`` as ``gb18030`` (a strict superset: a GBK page decodes the same,
and a page that mislabels GB18030-only characters as GBK still decodes) and ``iso-8859-1`` /
``ascii`` as ``cp1252``.

What a browser does not do, and a compliance crawler must: a declaration that does not decode
the bytes is not trusted. Chinese hosting is full of them — a server-wide
``Content-Type: text/html; charset=utf-8`` in front of a GBK page, a copied template's
``<meta charset="gbk">`` on a UTF-8 page. When the declared codec fails a strict decode, the
other declaration (meta after header), then UTF-8, then GB18030 are tried strictly, then
charset-normalizer's guess; the first that decodes cleanly wins and ``lied`` is set (``source``
says who was right: ``"meta"`` when the page's own declaration corrected the header). A clean
decode is not always proof: GB18030 and the single-byte Western codecs accept almost any bytes,
so a body that is unmistakably UTF-8, or a "Latin-1" body that the meta or detection reads as
Chinese, overrides them too. Only when nothing decodes cleanly is the declared codec used with
replacement characters (still ``lied=True``, so the evidence shows the text is damaged). A filing number read through the wrong
codec is a number *not seen*, which would turn into a false "not displayed" finding.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass

from w3lib.encoding import (html_body_declared_encoding, http_content_type_encoding, read_bom,
                            resolve_encoding)

__all__ = ["Decoded", "decode_body"]

#: What a page with no declaration and no detectable non-ASCII text is read as.
DEFAULT_ENCODING = "utf-8"

# A UTF-8-valid body with at least this many bytes of multi-byte sequences is UTF-8 whatever
# it declares: GBK/GB18030 text is practically never valid UTF-8 once it holds a few Chinese
# characters (the classic counter-example, 联通 in GBK, is 4 bytes), while UTF-8 Chinese text
# often *is* strictly decodable as GB18030, which accepts almost any pair of high bytes — so "the
# declaration decoded without error" is no proof for a multi-byte legacy codec.
_UTF8_EVIDENCE_BYTES = 8

# Single-byte Western codecs decode (nearly) any bytes, so a strict decode proves nothing: a
# Chinese page behind a server default "charset=iso-8859-1" decodes "cleanly" into mojibake.
# For these, a body with high bytes is checked against detection too.
_SINGLE_BYTE_WESTERN = frozenset({"cp1252", "iso8859-1", "iso8859-15", "cp1250", "cp1251",
                                  "ascii"})
_CJK_CODECS = frozenset({"gb18030", "big5hkscs", "big5", "utf-8"})


@dataclass(frozen=True)
class Decoded:
    """A decoded body and how its encoding was decided (all of it goes into the evidence)."""

    text: str
    encoding: str          # the codec actually used, e.g. "utf-8", "gb18030"
    declared: str | None   # what the header (else the meta) said, normalised; None if nothing
    source: str            # "bom" | "header" | "meta" | "detected" | "default"
    lied: bool             # the declaration did not decode the bytes cleanly; another did

    def to_dict(self) -> dict:
        return {"encoding": self.encoding, "declared": self.declared, "source": self.source,
                "lied": self.lied}


def _codec(name: str | None) -> str | None:
    """The Python codec name for a resolved label, or None when Python has no such codec."""
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _detect(body: bytes) -> str | None:
    """charset-normalizer's best guess (a Scrapy/requests dependency), resolved; None if unsure."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - installed with Scrapy
        return None
    best = from_bytes(body[:65536]).best()
    return _codec(resolve_encoding(best.encoding) or best.encoding) if best is not None else None


def _contradicted(body: bytes, declared: str, other: str | None,
                  utf8: str | None) -> tuple[str, str] | None:
    """(codec, source) that reads the body for certain although ``declared`` decoded it
    "cleanly", or None when the declaration stands."""
    if utf8 is not None and declared != "utf-8" and len(body) - len(utf8) >= _UTF8_EVIDENCE_BYTES:
        return "utf-8", "detected"
    if declared in _SINGLE_BYTE_WESTERN and (utf8 is None or len(utf8) != len(body)):
        if other in _CJK_CODECS and _strict(body, other) is not None:
            return other, "meta"
        guess = _detect(body)
        if guess in _CJK_CODECS and _strict(body, guess) is not None:
            return guess, "detected"
    return None


def _fallbacks(body: bytes, declared: str, other: str | None) -> Iterator[tuple[str, str]]:
    """(codec, source) to try after ``declared`` failed, each once; detection only if reached."""
    tried = {declared}
    for candidate, source in ((other, "meta"), ("utf-8", "detected"), ("gb18030", "detected")):
        if candidate is not None and candidate not in tried:
            tried.add(candidate)
            yield candidate, source
    guess = _detect(body)
    if guess is not None and guess not in tried:
        yield guess, "detected"


def decode_body(body: bytes, content_type: str | None = None) -> Decoded:
    """Decode ``body`` (the raw bytes of a response) given its ``Content-Type`` header."""
    header = _codec(http_content_type_encoding(content_type))
    meta = _codec(html_body_declared_encoding(body))
    if meta in ("utf-16-le", "utf-16-be", "utf-16", "utf-32"):
        meta = "utf-8"  # WHATWG: a <meta> can only be read if it is ASCII-compatible
    declared = header or meta
    declared_source = "header" if header else ("meta" if meta else None)

    bom_encoding, bom = read_bom(body)
    if bom_encoding:
        codec = _codec(bom_encoding) or "utf-8"
        text = body[len(bom):].decode(codec, "replace")
        return Decoded(text, codec, declared, "bom", declared is not None and declared != codec)

    utf8 = _strict(body, "utf-8")

    if declared is not None:
        text = utf8 if declared == "utf-8" else _strict(body, declared)
        other = meta if header else None
        better = _contradicted(body, declared, other, utf8) if text is not None else None
        if text is not None and better is None:
            return Decoded(text, declared, declared, declared_source, False)
        if better is not None:  # decoded "cleanly", but another codec reads it for certain
            codec, source = better
            source = "meta" if codec == other else source
            return Decoded(utf8 if codec == "utf-8" else body.decode(codec), codec, declared,
                           source, True)
        # It failed: the other declaration, UTF-8, GB18030, then detection — all strictly.
        for candidate, source in _fallbacks(body, declared, other):
            text = utf8 if candidate == "utf-8" else _strict(body, candidate)
            if text is not None:
                return Decoded(text, candidate, declared, source, True)
        return Decoded(body.decode(declared, "replace"), declared, declared, declared_source, True)

    # Nothing declared: UTF-8 if it decodes (ASCII-only pages land here too), else GB18030 —
    # the legacy encoding of nearly every undeclared Chinese page — else detection.
    if utf8 is not None:
        ascii_only = len(utf8) == len(body)
        return Decoded(utf8, "utf-8", None, "default" if ascii_only else "detected", False)
    for candidate in ("gb18030", _detect(body)):
        if candidate is not None:
            text = _strict(body, candidate)
            if text is not None:
                return Decoded(text, candidate, None, "detected", False)
    return Decoded(body.decode(DEFAULT_ENCODING, "replace"), DEFAULT_ENCODING, None, "default",
                   False)
