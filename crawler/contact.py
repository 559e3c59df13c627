"""Contact details a homepage publishes: phone/fax, e-mail, postal address (art. 14(3)).

``CONTACT_MISSING`` is raised when none of the three is on the homepage, so this errs on the side
of *finding* a contact when the page plainly offers one, and stays away from the numbers a page
is full of that are not contacts: filing marks (their spans are blanked out by the caller),
dates, prices, QQ-like digit runs without a label.

* Phones: mainland mobiles (1[3-9] + 9 digits, optionally +86), landlines with an area code
  (0 + 2–3 digits, then 7–8 digits, optional extension), 400/800 service numbers, and whatever
  digit string follows a 电话/手机/热线/传真/Tel/Phone/Fax label (a local number may lack its area
  code). ``tel:`` links count too.
* E-mail: ordinary addresses (file names such as ``logo@2x.png`` excluded), ``mailto:`` links,
  and the obfuscated forms pages use against harvesters — ``name[at]example.cn``,
  ``name#example.cn``, ``name(at)example(dot)cn`` — but those only after an e-mail label, since
  ``#`` and "at" mean many other things.
* Addresses: the text after an 地址/Address label (up to the next label or separator), and
  unlabelled strings with the administrative structure of a Chinese address (…省/市/区/县 …
  路/街/道/巷 … 号).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["find_contacts"]

_SEP = r"[\s\-－—]?"
# One pass for the three shapes: mobile, landline with area code and extension, 400/800.
# (No re.IGNORECASE in the patterns run over whole pages: it makes a search over mostly
# Chinese text several times slower; letter cases are spelled out instead.)
_PHONE_RE = re.compile(
    r"(?<![\w+])(?:"
    rf"(?:\+?86{_SEP})?1[3-9]\d(?:{_SEP}\d{{4}}){{2}}"
    r"|(?:\(0\d{2,3}\)|（0\d{2,3}）|0\d{2,3})[\s\-－—]?[2-9]\d{6,7}(?:\s*(?:-|转|[Ee][Xx][Tt]\.?)\s*\d{1,5})?"
    r"|[48]00[\s\-－—]?\d{3}[\s\-－—]?\d{4}"
    r")(?!\d)")
_PHONE_LABEL_RE = re.compile(
    r"(?:电话|电 话|手机|热线|客服|传真|联系方式|Tel|TEL|Phone|PHONE|Fax|FAX|Mobile)\s*[:：]?\s*"
    r"((?:\+?86[\s\-－—]?|[(（]?0\d{2,3}[)）]?[\s\-－—]?)?\d{3,4}[\s\-－—]?\d{3,4}"
    r"(?:\s*(?:转|-|ext\.?)\s*\d{1,5})?)(?!\d)")

_EMAIL_RE = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
                       r"\.[A-Za-z]{2,24}(?![\w-])")
_NOT_EMAIL_TLD = frozenset({"png", "jpg", "jpeg", "gif", "webp", "svg", "css", "js", "ico"})
_AT = r"(?:\s*(?:\[at\]|\(at\)|\{at\}|（at）|\[@\]|\(@\)|#|＃|@)\s*|\s+at\s+)"
_DOT = r"(?:\s*(?:\[dot\]|\(dot\)|\{dot\}|（dot）)\s*|\s+dot\s+|\.)"
_OBFUSCATED_EMAIL_RE = re.compile(
    r"(?:邮箱|邮件|电子邮件|电邮|E-?mail|EMAIL|Mail)\s*[:：]?\s*"
    rf"([A-Za-z0-9][A-Za-z0-9._%+-]*){_AT}([A-Za-z0-9-]+(?:{_DOT}[A-Za-z0-9-]+)+)", re.I)
_DOT_RE = re.compile(_DOT, re.I)
_EMAIL_LABEL_RE = re.compile(r"邮箱|邮件|电邮|[Mm][Aa][Ii][Ll]")

_ADDRESS_LABEL_RE = re.compile(
    r"(?:公司地址|联系地址|办公地址|通讯地址|地址|地 址|Add(?:ress)?|ADD(?:RESS)?)\s*[:：]\s*"
    r"([^\n|｜]{4,80}?)"
    r"(?=\s{2,}|[\n|｜]|\s*(?:电话|传真|手机|邮编|邮政编码|邮箱|[Tt][Ee][Ll]|[Ff][Aa][Xx]"
    r"|[Ee]-?[Mm][Aa][Ii][Ll]|QQ|备案|版权|[Cc][Oo][Pp][Yy][Rr][Ii][Gg][Hh][Tt]|©)|$)")
# Unlabelled addresses are found from their end — a street and a house number — and then the
# administrative head (…省/自治区/市) is looked for just before it; scanning every run of Chinese
# characters for a possible head would be slow.
_STREET_NUMBER_RE = re.compile(
    r"(?:路|街|大道|大街|巷|弄|胡同)\s*\d+(?:[-－]\d+)?\s*号(?:[\u4e00-\u9fff\d]{0,12}?(?:楼|室|层|座))?")
_ADDRESS_HEAD_RE = re.compile(r"[\u4e00-\u9fff]{2,8}?(?:省|自治区|市)[\u4e00-\u9fff\d]{0,30}$")
_ADDRESS_LOOKBACK = 40
_ADDRESS_LEAD_RE = re.compile(r"^.*(?:位于|地处|坐落于|坐落在|设在|[:：])")
# Full-width ASCII (digits, ＠, ：) and the ideographic space; normalised only where present.
_WIDE_RE = re.compile(r"[\uff01-\uff5e\u3000]+")


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def _phone(raw: str) -> str:
    """A displayed phone number without its inner spaces (separators kept as hyphens)."""
    s = re.sub(r"[\s\-－—]+", "-", raw.strip().replace("（", "(").replace("）", ")"))
    return s.strip("-")


def find_contacts(text: str, hrefs: Iterable[str] = ()) -> dict[str, list[str]]:
    """Phones, e-mails and addresses in a page's visible ``text`` (marks already blanked out)
    and its link ``hrefs`` (``tel:``, ``mailto:``)."""
    if _WIDE_RE.search(text):  # full-width digits, ＠ and ：, as plain ASCII
        text = _WIDE_RE.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    phones = [_phone(m.group()) for m in _PHONE_RE.finditer(text)]
    for m in _PHONE_LABEL_RE.finditer(text):
        candidate = _phone(m.group(1))
        if sum(c.isdigit() for c in candidate) >= 7 and not any(
                candidate in p or p in candidate for p in phones):
            phones.append(candidate)

    emails = [m.group() for m in _EMAIL_RE.finditer(text)
              if m.group().rsplit(".", 1)[-1].lower() not in _NOT_EMAIL_TLD] if "@" in text else []
    if _EMAIL_LABEL_RE.search(text):
        for m in _OBFUSCATED_EMAIL_RE.finditer(text):
            emails.append(f"{m.group(1)}@{_DOT_RE.sub('.', m.group(2))}".lower())

    for href in hrefs:
        scheme, _, rest = href.strip().partition(":")
        value = rest.split("?", 1)[0].strip()
        if scheme.lower() == "mailto" and "@" in value:
            emails.append(value)
        elif scheme.lower() == "tel" and sum(c.isdigit() for c in value) >= 7:
            phones.append(_phone(value))

    addresses = [m.group(1).strip(" ,，;；。") for m in _ADDRESS_LABEL_RE.finditer(text)] \
        if ("址" in text or "dd" in text or "DD" in text) else []
    for m in (_STREET_NUMBER_RE.finditer(text) if "号" in text else ()):
        window = text[max(0, m.start() - _ADDRESS_LOOKBACK):m.start()]
        head = _ADDRESS_HEAD_RE.search(window)
        if head is not None:
            found = _ADDRESS_LEAD_RE.sub("", head.group()) + m.group()
            if not any(found in a or a in found for a in addresses):
                addresses.append(found)
    return {"phone": _dedupe(phones), "email": _dedupe(e.lower() for e in emails),
            "address": _dedupe(addresses)}
