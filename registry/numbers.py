"""The filing-number grammar: what a filing mark on a page looks like, and what it means.

Implements DESIGN.md §2 "Filing marks a page may show" (art. 14(3) display duty, art. 21
operating licence). Six kinds of mark are recognised; only the first four are ICP marks:

======================  =========================================  ============================
kind                    canonical form                             grammar
======================  =========================================  ============================
``WEBSITE_FILING``      ``京ICP备2021000001号-3``                  P ``ICP备`` N ``号-`` S
``SUBJECT_FILING``      ``京ICP备2021000001号``                    P ``ICP备`` N ``号``
``APP_FILING``          ``粤ICP备2023000001号-2A`` (``-1X``)       P ``ICP备`` N ``号-`` S (A|X)
``LICENCE``             ``京ICP证030173号``                        P ``ICP证`` L ``号``
``TELECOM_LICENCE``     ``粤B2-20090059``, ``B1.B2-20190001``      [P] C(.C)* ``-`` YYYYNNNN
``PUBLIC_SECURITY``     ``京公网安备11010802020000号``             P ``公网安备`` 14 digits ``号``
======================  =========================================  ============================

* P is a province prefix from :data:`PROVINCES` — the 31 that real numbers use, plus 蜀 and 陇.
  Guizhou is 黔 and Yunnan 滇: ``贵ICP备``/``云ICP备`` are placeholders or false hits (阿里云ICP备案),
  and 萌 (a fan "registry") or the licence-plate 使/领 are not filings at all.
* N, the subject number, is 8 digits (two-digit year + 6, older numbers) or 10 (four-digit year
  + 6). S, the site sequence, is 1 or more. C is a service category A1, A2, B1 or B2; national
  (cross-region) telecom licences carry no province prefix. L is 6 digits (year + 4).
* A public-security (MPS) number starts with the 6-digit area code of the bureau, so its first two
  digits must be the prefix's province code. It is never an ICP mark (DESIGN.md §2).

Spellings seen on real pages are accepted and canonicalised: whitespace (including line breaks,
U+00A0 and U+3000) between the parts, zero-width characters, full-width letters and digits,
traditional 備/號/証/證/網 and traditional province characters, HTML entities, lower-case ``icp``,
hyphen variants (- － — – ‐ …), a missing 号, the site suffix before 号 (``…12345678-2号`` →
``…12345678号-2``) and labels (``备案号：``, ``ICP备案号:``, ``ICP证：``).

Two outcomes are kept apart on purpose, because the sweep scores them differently (DESIGN.md §2
"What a sweep looks for"): text that is a mark but not a real number — a placeholder
(``京ICP备12345678号``), a wrong digit count — comes back as a :class:`FilingMark` with
``valid=False`` and a ``reason`` (the page *shows* a number; ``NUMBER_MISMATCH``), while text that
is not a mark at all makes :func:`parse_number` raise :class:`InvalidFilingNumber` and is never
returned by :func:`find_marks` (the page shows *no* number).

Known limits, chosen on purpose: in free text :func:`find_marks` does not allow spaces *inside*
the digits (``2021 000001``) — that would glue a number to the next one — while
:func:`parse_number`, given one mark, does; a four-digit "sequence" that looks like a year
(``京ICP备…号 - 2024``) is taken as the copyright year, not as the site sequence; the scanner
folds only the variants listed above, so exotic NFKC forms (``①``, mathematical digits) are
understood by :func:`parse_number` alone; marks inside images or added by JavaScript are the
crawler's business, not this module's.
"""

from __future__ import annotations

import bisect
import enum
import functools
import html
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "PROVINCES",
    "PROVINCE_CODES",
    "UNREAD_PROVINCE",
    "LOOKALIKE_PREFIXES",
    "FilingMark",
    "InvalidFilingNumber",
    "MarkKind",
    "find_lookalikes",
    "find_marks",
    "normalize_text",
    "parse_number",
]


class MarkKind(str, enum.Enum):
    """The kind of a filing mark; the values are what JSON output shows."""

    WEBSITE_FILING = "website_filing"
    SUBJECT_FILING = "subject_filing"
    APP_FILING = "app_filing"
    LICENCE = "licence"
    TELECOM_LICENCE = "telecom_licence"
    PUBLIC_SECURITY = "public_security"


class InvalidFilingNumber(ValueError):
    """The text is not a filing mark at all; the message says precisely why."""


PROVINCES: Mapping[str, str] = MappingProxyType({
    "京": "北京", "津": "天津", "冀": "河北", "晋": "山西", "蒙": "内蒙古",
    "辽": "辽宁", "吉": "吉林", "黑": "黑龙江", "沪": "上海", "苏": "江苏",
    "浙": "浙江", "皖": "安徽", "闽": "福建", "赣": "江西", "鲁": "山东",
    "豫": "河南", "鄂": "湖北", "湘": "湖南", "粤": "广东", "桂": "广西",
    "琼": "海南", "渝": "重庆", "川": "四川", "黔": "贵州", "滇": "云南",
    "藏": "西藏", "陕": "陕西", "甘": "甘肃", "青": "青海", "宁": "宁夏",
    "新": "新疆",
    # Not the official abbreviations, but real sites show them and the filing system accepted them.
    "蜀": "四川", "陇": "甘肃",
})

#: GB/T 2260 province codes: the first two digits of a public-security number's area code.
PROVINCE_CODES: Mapping[str, str] = MappingProxyType({
    "北京": "11", "天津": "12", "河北": "13", "山西": "14", "内蒙古": "15",
    "辽宁": "21", "吉林": "22", "黑龙江": "23", "上海": "31", "江苏": "32",
    "浙江": "33", "安徽": "34", "福建": "35", "江西": "36", "山东": "37",
    "河南": "41", "湖北": "42", "湖南": "43", "广东": "44", "广西": "45",
    "海南": "46", "重庆": "50", "四川": "51", "贵州": "52", "云南": "53",
    "西藏": "54", "陕西": "61", "甘肃": "62", "青海": "63", "宁夏": "64",
    "新疆": "65",
})

#: Stands for the province character of a number read from an image (OCR) where that character
#: could not be read: ``?ICP备2021000001号-1``. Such a number matches a filing that agrees in
#: everything else; it is never itself a valid number.
UNREAD_PROVINCE = "?"

# Prefixes people use that are not filings; each gets its own explanation (DESIGN.md §2).
_LOOKALIKE_PREFIXES: Mapping[str, str] = MappingProxyType({
    "贵": "Guizhou numbers use 黔 (黔ICP备…); '贵' is a placeholder or a false hit",
    "云": "Yunnan numbers use 滇 (滇ICP备…); '云ICP备' is a false hit inside a word such as "
          "阿里云ICP备案, or a placeholder",
    "萌": "'萌ICP备' is a fan 'registry' (萌备), not a MIIT filing",
    "使": "'使' is a licence-plate prefix (embassy vehicles), not a filing prefix",
    "领": "'领' is a licence-plate prefix (consulate vehicles), not a filing prefix",
})
#: the prefixes that look like a province's but are not (the grammar never returns them as marks)
LOOKALIKE_PREFIXES = _LOOKALIKE_PREFIXES

# Traditional forms a page may use, folded 1:1 to the simplified characters the grammar uses.
_TRADITIONAL = {
    "備": "备", "號": "号", "証": "证", "證": "证", "網": "网",
    "滬": "沪", "遼": "辽", "蘇": "苏", "閩": "闽", "贛": "赣", "魯": "鲁", "粵": "粤",
    "瓊": "琼", "陝": "陕", "隴": "陇", "寧": "宁", "晉": "晋",
}
_TRADITIONAL_TABLE = str.maketrans(_TRADITIONAL)

# Invisible characters pages insert (sometimes deliberately, to dodge scanners): zero-width space,
# non-joiner, joiner, LRM/RLM, word joiner, BOM, soft hyphen. NFKC keeps them, so remove them.
_INVISIBLE = "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]+")
_LOWER_ICP_RE = re.compile(r"(?<![A-Za-z])icp(?![A-Za-z])", re.IGNORECASE)


def normalize_text(text: str) -> str:
    """Fold the spellings real pages use into the plain form the grammar is written for.

    HTML entities are unescaped, zero-width characters removed, NFKC applied (full-width letters
    and digits become ASCII, U+00A0 and U+3000 become spaces), traditional 備號証證網 and
    traditional province characters become simplified, and a free-standing ``icp`` in any case
    becomes ``ICP``. Hyphen variants are left alone (the grammar accepts them all).
    """
    text = html.unescape(text)  # first: an entity may encode a full-width or invisible character
    text = _INVISIBLE_RE.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(_TRADITIONAL_TABLE)
    return _LOWER_ICP_RE.sub("ICP", text)


# --- the grammar -------------------------------------------------------------------------------
# One set of patterns serves both entry points. They are tolerant (they accept full-width and
# traditional variants directly) so that find_marks can run them over the original text without
# first normalising a whole page, which keeps a 1 MB scan to a few milliseconds; parse_number runs
# them over normalize_text() output, which they accept just as well. Each pattern begins with a
# character class so that the regex engine can skip ahead to candidate characters in C.

_PROV_CHARS = "".join(PROVINCES) + "".join(
    k for k, v in _TRADITIONAL.items() if v in PROVINCES)
_S = r"\s*"  # between parts: spaces, tabs, line breaks, U+00A0, U+3000
_DIGIT = "[0-9０-９]"
_TEMPLATE_CHARS = "Xx*Ｘｘ＊"
_NUM = f"[0-9０-９{_TEMPLATE_CHARS}]+"  # digits, or a template such as XXXXXXXX / 2021xxxxxx
_DASH = "[-－—–‐‑‒−﹣―]"
_HAO = "[号號]"
_COLON = f"(?:[:：]{_S})?"
_APP = "[AaXxＡａＸｘ]"
_NOT_ALNUM = "(?![0-9A-Za-z０-９Ａ-Ｚａ-ｚ])"
_CATEGORY = "[ABabＡＢａｂ][12１２]"
_CATEGORIES = f"{_CATEGORY}(?:{_S}[.．、/／,，]{_S}{_CATEGORY})*"

# Province-prefixed marks: ICP filings and licences, public-security numbers, telecom licences.
_PREFIXED_RE = re.compile(
    f"(?P<prov>[{_PROV_CHARS}]){_S}"
    "(?:"
    # 京ICP备2021000001号-3 / 京ICP备12345678-2号 / 京ICP证030173号 / 粤ICP备2023000001号-2A
    f"[IiＩｉ][CcＣｃ][PpＰｐ]{_S}(?P<icp>[备備证証證]){_S}{_COLON}(?P<num>{_NUM})"
    "(?:"
    f"{_S}{_DASH}{_S}(?P<pre_seq>{_DIGIT}{{1,4}})(?P<pre_app>{_APP})?{_S}{_HAO}"
    f"|(?:{_S}(?P<hao>{_HAO}))?"
    # A year is not a site sequence: "京ICP备2021000001号 - 2024 版权所有" ends at 号.
    f"(?:{_S}{_DASH}{_S}(?!(?:19|20|１９|２０){_DIGIT}{{2}}(?!{_DIGIT}))"
    f"(?P<seq>{_DIGIT}{{1,4}})(?P<app>{_APP})?{_NOT_ALNUM})?"
    ")"
    # 京公网安备11010802020000号
    f"|(?P<ps>公{_S}[网網]{_S}安{_S}[备備]){_S}{_COLON}(?P<ps_num>{_DIGIT}+)(?:{_S}{_HAO})?"
    # 粤B2-20090059
    f"|(?P<tl_cats>{_CATEGORIES}){_S}{_DASH}{_S}(?P<tl_num>{_DIGIT}{{4,12}})(?!{_DIGIT})"
    ")"
)

# National telecom licences carry no province: B2-20090059, B1.B2-20190001.
_TELECOM_RE = re.compile(
    f"(?P<tl_cats>{_CATEGORIES}){_S}{_DASH}{_S}(?P<tl_num>{_DIGIT}{{4,12}})(?!{_DIGIT})")

# A footer template left unfilled: 备案号：xxxx. Needs the label, since bare X's mean nothing.
_TEMPLATE = (f"(?=[0-9０-９]*[{_TEMPLATE_CHARS}][0-9０-９]*[{_TEMPLATE_CHARS}])"  # two X's at least
             f"[0-9０-９{_TEMPLATE_CHARS}]+")
_LABELLED_TEMPLATE_RE = re.compile(
    f"[备備]{_S}案{_S}(?:编{_S})?[号號]{_S}{_COLON}(?P<tpl>{_TEMPLATE})"
    f"(?![A-Za-zＡ-Ｚａ-ｚ])(?:{_S}{_HAO})?")

# parse_number only: labels that may precede the mark, and a template with no prefix at all.
_LABEL_RE = re.compile(
    r"^(?:(?:ICP|网站|工信部)?备案(?:编号|号码|号)?|(?:[" + _PROV_CHARS + r"]?ICP证|ICP许可证"
    r"|ICP经营许可证|ICP)(?:编号|号)?"
    r"|(?:增值电信业务)?经营许可证(?:编号|号)?|许可证(?:编号|号)?)[:：]?")
_BARE_TEMPLATE_RE = re.compile(f"(?:ICP(?P<icp>[备证])[:：]?)?(?P<tpl>{_TEMPLATE}){_HAO}?")


# --- the mark ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class FilingMark:
    """One filing mark as seen on a page, with its canonical form and verdict."""

    text: str                   # exactly as seen in the input
    normalized: str             # canonical form, e.g. "京ICP备2021000001号-3"
    kind: MarkKind
    province: str | None        # canonical single-character prefix, e.g. "黔", "蜀"
    province_name: str | None   # e.g. "贵州", "四川"
    subject_number: str | None  # digits of the subject part (the template, for a template)
    site_sequence: int | None   # 3 in …号-3; None for a subject number
    placeholder: bool           # all zeros, 12345678, repeated digit, XXXXXXXX …
    valid: bool                 # grammatically a real number of its kind, not a placeholder
    reason: str | None          # why not valid, when not valid
    span: tuple[int, int] | None = None  # [start, end) in the scanned text (find_marks only)

    @property
    def is_icp(self) -> bool:
        """An ICP mark (filing or operating licence); never public security or telecom licence."""
        return self.kind in _ICP_KINDS

    @property
    def website_number(self) -> str | None:
        """The canonical website filing number, when this is one."""
        return self.normalized if self.kind is MarkKind.WEBSITE_FILING else None

    @property
    def subject(self) -> str | None:
        """The subject filing number ("京ICP备2021000001号") of a website, subject or app filing."""
        if self.kind not in _FILING_KINDS or self.province is None or self.subject_number is None:
            return None
        return f"{self.province}ICP备{self.subject_number}号"

    @property
    def app_suffix(self) -> str | None:
        """"A" (app) or "X" (mini-program / quick app) for an app filing, else None."""
        return self.normalized[-1] if self.kind is MarkKind.APP_FILING else None

    def to_dict(self) -> dict:
        """A JSON-ready dict: every field, the kind as its value, and the derived properties."""
        return {
            "text": self.text,
            "normalized": self.normalized,
            "kind": self.kind.value,
            "province": self.province,
            "province_name": self.province_name,
            "subject_number": self.subject_number,
            "site_sequence": self.site_sequence,
            "placeholder": self.placeholder,
            "valid": self.valid,
            "reason": self.reason,
            "span": list(self.span) if self.span is not None else None,
            "is_icp": self.is_icp,
            "website_number": self.website_number,
            "subject": self.subject,
        }


_FILING_KINDS = frozenset({MarkKind.WEBSITE_FILING, MarkKind.SUBJECT_FILING, MarkKind.APP_FILING})
_ICP_KINDS = _FILING_KINDS | {MarkKind.LICENCE}


# --- verdicts ----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _fold(part: str) -> str:
    """A matched part in canonical ASCII/simplified form, whitespace removed."""
    return "".join(normalize_text(part).split())


_ASCENDING = "0123456789" * 4
_DESCENDING = "9876543210" * 4


@functools.lru_cache(maxsize=4096)
def _placeholder_reason(number: str) -> str | None:
    """Why a number is a placeholder rather than an issued number, or None."""
    if "X" in number or "*" in number:
        return f"template value {number!r}, not a number"
    if number == "0" * len(number):
        return f"placeholder {number!r}: all zeros"
    if len(number) > 1 and number == number[0] * len(number):
        return f"placeholder {number!r}: the digit {number[0]} repeated"
    # 12345678, 123456789, 1234567890, 0123456789, 87654321 …: typed by hand into templates.
    if len(number) >= 6 and ((number[0] in "01" and number in _ASCENDING)
                             or (number[0] in "89" and number in _DESCENDING)):
        return f"placeholder {number!r}: a run of consecutive digits"
    return None


def placeholder_reason(number: str) -> str | None:
    """Why the digits of a subject or licence number are a placeholder (all zeros, 12345678 …), or None."""
    return _placeholder_reason(number)


def _province(prefix: str | None) -> tuple[str | None, str | None]:
    if prefix is None:
        return None, None
    prov = _fold(prefix)
    return prov, PROVINCES[prov]


def _icp_mark(text: str, prefix: str | None, icp: str, num: str, seq: str | None,
              app: str | None, span: tuple[int, int] | None) -> FilingMark:
    """Judge a 备 (filing) or 证 (licence) mark from its parts."""
    province, province_name = _province(prefix)
    licence = _fold(icp) == "证"
    number = _fold(num).upper()
    sequence = int(_fold(seq)) if seq is not None else None
    suffix = _fold(app).upper() if app is not None else ""

    if licence:
        kind = MarkKind.LICENCE
    elif sequence is None:
        kind = MarkKind.SUBJECT_FILING
    else:
        kind = MarkKind.APP_FILING if suffix else MarkKind.WEBSITE_FILING
    normalized = f"{province or ''}ICP{'证' if licence else '备'}{number}号"
    if sequence is not None:
        normalized += f"-{sequence}{suffix}"

    reason = _placeholder_reason(number)
    placeholder = reason is not None
    if reason is None and licence:
        if len(number) != 6:
            reason = (f"licence number {number} has {len(number)} digits; "
                      "operating-licence numbers have 6 (year + 4)")
        elif suffix:
            reason = f"app suffix -{sequence}{suffix} on an operating licence"
    elif reason is None:
        if len(number) not in (8, 10):
            reason = (f"subject number {number} has {len(number)} digits; filing numbers have 8 "
                      "(two-digit year + 6) or 10 (four-digit year + 6)")
        elif len(number) == 10 and not number.startswith("20"):
            reason = f"subject number {number} does not start with a year 20xx"
    if reason is None and sequence == 0:
        reason = "site sequence 0; sequences start at 1"
    return FilingMark(
        text=text, normalized=normalized, kind=kind, province=province,
        province_name=province_name, subject_number=number, site_sequence=sequence,
        placeholder=placeholder, valid=reason is None, reason=reason, span=span)


def _public_security_mark(text: str, prefix: str, num: str,
                          span: tuple[int, int] | None) -> FilingMark:
    province, province_name = _province(prefix)
    number = _fold(num)
    reason = _placeholder_reason(number)
    placeholder = reason is not None
    if reason is None and len(number) != 14:
        reason = (f"public-security number {number} has {len(number)} digits; "
                  "they have 14 (6-digit area code + 8)")
    if reason is None and number[:2] != PROVINCE_CODES[province_name]:
        reason = (f"area code {number[:6]} is not in {province_name} "
                  f"(its numbers start with {PROVINCE_CODES[province_name]})")
    return FilingMark(
        text=text, normalized=f"{province}公网安备{number}号", kind=MarkKind.PUBLIC_SECURITY,
        province=province, province_name=province_name, subject_number=None,
        site_sequence=None, placeholder=placeholder, valid=reason is None, reason=reason,
        span=span)


def _telecom_mark(text: str, prefix: str | None, cats: str, num: str,
                  span: tuple[int, int] | None) -> FilingMark:
    province, province_name = _province(prefix)
    categories = ".".join(re.findall(r"[AB][12]", _fold(cats).upper()))
    number = _fold(num)
    reason = _placeholder_reason(number)
    placeholder = reason is not None
    if reason is None and len(number) != 8:
        reason = (f"licence number {number} has {len(number)} digits; "
                  "telecom licence numbers have 8 (year + 4)")
    if reason is None and not ("1990" <= number[:4] <= "2099"):
        reason = f"licence number {number} does not start with a year"
    return FilingMark(
        text=text, normalized=f"{province or ''}{categories}-{number}",
        kind=MarkKind.TELECOM_LICENCE, province=province, province_name=province_name,
        subject_number=None, site_sequence=None, placeholder=placeholder,
        valid=reason is None, reason=reason, span=span)


def _template_mark(text: str, icp: str | None, tpl: str,
                   span: tuple[int, int] | None) -> FilingMark:
    """An unfilled template (备案号：xxxx, XXXXXXXX号): a placeholder with no province."""
    licence = icp is not None and _fold(icp) == "证"
    number = _fold(tpl).upper()
    return FilingMark(
        text=text, normalized=f"ICP{'证' if licence else '备'}{number}号",
        kind=MarkKind.LICENCE if licence else MarkKind.SUBJECT_FILING, province=None,
        province_name=None, subject_number=number, site_sequence=None, placeholder=True,
        valid=False, reason=_placeholder_reason(number), span=span)


def _mark_from_match(m: re.Match[str], text: str, span: tuple[int, int] | None) -> FilingMark:
    g = m.groupdict()
    if g.get("icp") is not None and g.get("num") is not None:
        if g["pre_seq"] is not None:  # the suffix was written before 号
            seq, app = g["pre_seq"], g["pre_app"]
        else:
            seq, app = g["seq"], g["app"]
        return _icp_mark(text, g["prov"], g["icp"], g["num"], seq, app, span)
    if g.get("ps") is not None:
        return _public_security_mark(text, g["prov"], g["ps_num"], span)
    if g.get("tl_cats") is not None:
        return _telecom_mark(text, g.get("prov"), g["tl_cats"], g["tl_num"], span)
    return _template_mark(text, g.get("icp"), g["tpl"], span)


# --- parse_number ------------------------------------------------------------------------------

_TRAILING_PUNCT = " \t\r\n,，;；。.|｜、"


def parse_number(text: str) -> FilingMark:
    """Parse one mark, optionally preceded by a label such as ``备案号：``.

    Returns the mark (possibly ``valid=False`` with a reason, e.g. for a placeholder); raises
    :class:`InvalidFilingNumber` when the text is not a filing mark at all.
    """
    if not isinstance(text, str):
        raise InvalidFilingNumber(f"expected a string, got {type(text).__name__}")
    # "Spaces anywhere": inside the number too, which find_marks (on free text) does not allow.
    compact = "".join(normalize_text(text).split()).rstrip(_TRAILING_PUNCT)
    if not compact:
        raise InvalidFilingNumber("empty input: no filing mark")
    candidates = [compact]
    label = _LABEL_RE.match(compact)
    if label and label.end() < len(compact):
        candidates.append(compact[label.end():])
    for candidate in candidates:
        for pattern in (_PREFIXED_RE, _TELECOM_RE, _LABELLED_TEMPLATE_RE, _BARE_TEMPLATE_RE):
            m = pattern.fullmatch(candidate)
            if m:
                return _mark_from_match(m, text, None)
    # Diagnose what followed an explicit "label:"; otherwise the whole text (an "ICP" that
    # merely looked like a label, as in "ICP备2021000001号", is part of the would-be mark).
    explained = candidates[-1] if label and label.group()[-1] in ":：" else compact
    raise InvalidFilingNumber(_diagnose(explained, text))


def _diagnose(s: str, original: str) -> str:
    """Say precisely why ``s`` (normalised, no whitespace, label removed) is not a mark."""
    shown = original.strip()
    m = _PREFIXED_RE.match(s) or _TELECOM_RE.match(s)
    if m:
        return f"unexpected text {s[m.end():]!r} after the mark {m.group()!r} in {shown!r}"
    m = re.search(r"ICP(?:备|证)?|公网安备", s)
    if m:
        head = m.group()
        before = s[:m.start()]
        if not before:
            return (f"no province prefix before {head!r} in {shown!r}: a filing number starts "
                    f"with one of {''.join(PROVINCES)}")
        prefix = before[-1]
        if prefix in _LOOKALIKE_PREFIXES:
            return f"{prefix + head!r} is not a filing: {_LOOKALIKE_PREFIXES[prefix]}"
        if prefix not in PROVINCES:
            return (f"{prefix!r} in {prefix + head!r} is not a province prefix; filing numbers "
                    f"use one of {''.join(PROVINCES)}")
        if len(before) > 1:
            return f"unexpected text {before[:-1]!r} before {prefix + head!r} in {shown!r}"
        if head == "ICP":
            return f"expected 备 or 证 after {prefix + head!r} in {shown!r}"
        rest = s[m.end():].lstrip(":：")
        if not rest or not rest[0].isdigit() and rest[0] not in "X*":
            return f"no number after {prefix + head!r} in {shown!r}"
        return f"{shown!r} is not a well-formed {prefix + head} number"
    if re.fullmatch(f"[0-9]+号?(?:{_DASH}[0-9]+[AX]?)?", s):
        return (f"bare number {s!r} in {shown!r}: a filing mark needs its prefix, "
                "as in 京ICP备2021000001号 or 京ICP证030173号")
    m = re.search(r"[AB][12]", s, re.IGNORECASE)
    if m:
        before = s[:m.start()]
        if before and before[-1] in _LOOKALIKE_PREFIXES:
            return f"{before[-1]!r} is not a province prefix: {_LOOKALIKE_PREFIXES[before[-1]]}"
        if before and before[-1] not in PROVINCES:
            return f"{before[-1]!r} is not a province prefix of a telecom licence in {shown!r}"
        return (f"{shown!r} is not a telecom licence number: expected a category (A1, A2, B1, "
                "B2), a hyphen and 8 digits, as in 粤B2-20090059")
    return (f"{shown!r} is not a filing mark: expected e.g. 京ICP备2021000001号-3, "
            "京ICP证030173号, 粤B2-20090059 or 京公网安备11010802020000号")


# --- find_marks --------------------------------------------------------------------------------

# Only entities and invisible characters change length when normalised; everything else the
# patterns accept in its raw form, so most pages are scanned with no copy and no index map.
_NEEDS_PREPASS_RE = re.compile(f"[&{_INVISIBLE}]")
# Written to start with a character class, so the engine skips to candidates in C.
_PREPASS_RE = re.compile(
    f"[&{_INVISIBLE}](?:(?<=&)"
    f"(?:#[0-9]{{1,7}}|#[xX][0-9a-fA-F]{{1,6}}|[A-Za-z][A-Za-z0-9]{{1,31}});?"
    f"|(?<!&)[{_INVISIBLE}]*)")
_ALNUM_BEFORE = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                          "０１２３４５６７８９") | {chr(c) for c in range(0xFF21, 0xFF3B)} \
    | {chr(c) for c in range(0xFF41, 0xFF5B)}


@functools.lru_cache(maxsize=4096)
def _prepass_replacement(token: str) -> str:
    """What an entity or an invisible run stands for (cached: pages repeat the same few)."""
    return _INVISIBLE_RE.sub("", html.unescape(token)) if token[0] == "&" else ""


class _OffsetMap:
    """The text with entities unescaped and invisible characters removed, and the way back.

    Only replaced tokens are recorded (where each starts in both texts, its lengths, and the
    total shrinkage up to its end); the text between them is copied, so a position there maps
    by a constant shift. A match that starts or ends inside a replaced token is widened to the
    whole token, so the span always covers what the reader saw.
    """

    def __init__(self, text: str) -> None:
        pieces: list[str] = []
        self.norm_starts: list[int] = []   # token start in the pre-passed text
        self.norm_ends: list[int] = []     # token end in the pre-passed text
        self.orig_starts: list[int] = []
        self.orig_ends: list[int] = []
        self.shifts: list[int] = []        # original minus pre-passed position after the token
        shift = o = 0
        for m in _PREPASS_RE.finditer(text):
            token = m.group()
            replacement = _prepass_replacement(token)
            if replacement == token:  # "&foo;" that is no entity: copied like any text
                continue
            start, end = m.span()
            pieces.append(text[o:start])
            pieces.append(replacement)
            o = end
            self.norm_starts.append(start - shift)
            self.norm_ends.append(start - shift + len(replacement))
            self.orig_starts.append(start)
            self.orig_ends.append(end)
            shift += end - start - len(replacement)
            self.shifts.append(shift)
        pieces.append(text[o:])
        self.text = "".join(pieces)

    def start(self, p: int) -> int:
        i = bisect.bisect_right(self.norm_starts, p) - 1
        if i < 0:
            return p
        if p < self.norm_ends[i]:
            return self.orig_starts[i]
        return p + self.shifts[i]

    def end(self, p: int) -> int:
        i = bisect.bisect_right(self.norm_starts, p - 1) - 1  # the token at or before char p-1
        if i < 0:
            return p
        if p - 1 < self.norm_ends[i]:
            return self.orig_ends[i]
        return p + self.shifts[i]


# A look-alike shows the shape of a filing without being one: a prefix of _LOOKALIKE_PREFIXES
# with digits, or a real-looking prefix with the digits blanked (京ICP备XXXXXXXX号, 某ICP备****号).
# The grammar rejects them, yet a page that shows one shows a placeholder, not "no number".
_LOOKALIKE_RE = re.compile(
    "[" + "".join(_LOOKALIKE_PREFIXES) + "]"
    r"[ \u00a0]*ICP[ \u00a0]*[备证][ \u00a0:：]*[0-9Xx]{4,}[ \u00a0]*号?(?:-[0-9]+)?"
    r"|[\u4e00-\u9fff]ICP[ \u00a0]*备[ \u00a0:：]*[Xx×*＊]{4,}[ \u00a0]*号?")


def find_lookalikes(text: str) -> list[str]:
    """The look-alike marks in a page's text, each once, as written after folding (full-width
    forms, traditional characters and invisible characters folded; spaces dropped)."""
    folded = normalize_text(text)
    return list(dict.fromkeys(m.group().replace(" ", "").replace("\u00a0", "")
                              for m in _LOOKALIKE_RE.finditer(folded)))


def find_marks(text: str) -> list[FilingMark]:
    """Every filing mark in a page's visible text, in order, each with its span in ``text``.

    Marks never overlap. Look-alikes (阿里云ICP备案, 贵ICP备…, 萌ICP备…) are not returned;
    placeholders and malformed numbers of a recognised shape are, with ``valid=False``.
    """
    if _NEEDS_PREPASS_RE.search(text):
        offsets: _OffsetMap | None = _OffsetMap(text)
        scanned = offsets.text
    else:
        offsets, scanned = None, text

    found: list[tuple[int, int, re.Match[str]]] = []
    found.extend((m.start(), m.end(), m) for m in _PREFIXED_RE.finditer(scanned))
    for m in _TELECOM_RE.finditer(scanned):
        # Unprefixed, "B2-2009…" could be a part number: insist on a token boundary and a
        # well-formed number. (Prefixed ones found above win the overlap resolution below.)
        if m.start() and scanned[m.start() - 1] in _ALNUM_BEFORE:
            continue
        number = _fold(m.group("tl_num"))
        if len(number) == 8 and "1990" <= number[:4] <= "2099":
            found.append((m.start(), m.end(), m))
    for m in _LABELLED_TEMPLATE_RE.finditer(scanned):
        if scanned[max(0, m.start() - 1):m.start()] != "安":  # 公安备案号 / 公网安备案号 (MPS)
            found.append((m.start(), m.end(), m))
    found.sort(key=lambda f: (f[0], -f[1]))

    marks: list[FilingMark] = []
    last_end = -1
    for start, end, m in found:
        if start < last_end:
            continue
        last_end = end
        if offsets is not None:
            start, end = offsets.start(start), offsets.end(end)
        marks.append(_mark_from_match(m, text[start:end], (start, end)))
    return marks
