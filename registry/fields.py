"""Validators for the registry's import columns: each takes one cell's text and returns the value
to store, or raises ``FieldError`` with a reason a person can act on.

They are small and pure so the importer can apply them column by column (and cache them for
columns with many repeated values, such as provider codes and provinces).
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date

from registry.domains import InvalidHostname, independent_domain, normalize_host, quick_independent_domain
from registry.numbers import PROVINCES, InvalidFilingNumber, MarkKind, parse_number, placeholder_reason


class FieldError(ValueError):
    """One cell's value is not acceptable; the message is the reason."""


# The filing system's "主办单位性质" values: everything but 个人 is an organisation (单位).
SUBJECT_TYPES = {
    "单位": "单位",
    "个人": "个人",
    "企业": "单位",
    "政府机关": "单位",
    "事业单位": "单位",
    "社会团体": "单位",
    "民办非企业单位": "单位",
    "基金会": "单位",
    "律师执业机构": "单位",
    "群众性团体组织": "单位",
}

_PROVINCE_SUFFIX = re.compile(r"(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区)$")
_PROVINCE_NAMES = {name: name for name in PROVINCES.values()} | dict(PROVINCES)


def province(value: str) -> str:
    """'京', '北京', '北京市' and '广西壮族自治区' all give the short name ('北京', '广西')."""
    key = _PROVINCE_SUFFIX.sub("", value.strip()) or value.strip()
    try:
        return _PROVINCE_NAMES[key]
    except KeyError:
        raise FieldError(f"not a province of mainland China: {value!r}") from None


def subject_type(value: str) -> str:
    try:
        return SUBJECT_TYPES[value.strip()]
    except KeyError:
        raise FieldError(f"subject type must be 单位 or 个人 (or an organisation type), not {value!r}") from None


# The form a registry export already uses. Checking it with one regex instead of the full grammar
# makes a million-row import affordable; anything else goes through ``parse_number``.
_CANONICAL_WEBSITE = re.compile(rf"([{''.join(PROVINCES)}])ICP备(\d{{8}}|20\d{{8}})号-([1-9]\d{{0,3}})")


def website_filing(value: str) -> tuple[str, str, str]:
    """(website number, subject number, province name) of a website filing number."""
    canonical = _CANONICAL_WEBSITE.fullmatch(value)
    if canonical is not None and placeholder_reason(canonical[2]) is None:
        return value, f"{canonical[1]}ICP备{canonical[2]}号", PROVINCES[canonical[1]]
    normalized = website_number(value)
    mark = parse_number(normalized)
    assert mark.subject is not None and mark.province_name is not None  # a valid website number has both
    return normalized, mark.subject, mark.province_name


def website_number(value: str) -> str:
    try:
        mark = parse_number(value)
    except InvalidFilingNumber as exc:
        raise FieldError(str(exc)) from None
    if mark.kind is MarkKind.SUBJECT_FILING:
        raise FieldError(f"{mark.normalized} is a subject number; a website number ends in its site sequence (…号-N)")
    if mark.kind is not MarkKind.WEBSITE_FILING:
        raise FieldError(f"{mark.normalized} is a {mark.kind.value.replace('_', ' ')} number, not a website filing number")
    if mark.placeholder:
        raise FieldError(f"{mark.normalized} is a placeholder, not a real filing number")
    if not mark.valid:
        raise FieldError(mark.reason or f"{value!r} is not a valid website filing number")
    return mark.normalized


def licence_number(value: str) -> str:
    """An operating licence (京ICP证030173号) or a telecom business licence (京B2-20090059)."""
    try:
        mark = parse_number(value)
    except InvalidFilingNumber as exc:
        raise FieldError(str(exc)) from None
    if mark.kind not in (MarkKind.LICENCE, MarkKind.TELECOM_LICENCE) or not mark.valid:
        raise FieldError(f"{value!r} is not an operating licence number (…ICP证…号) or a telecom licence (…B2-…)")
    return mark.normalized


def domain(value: str) -> tuple[str, str]:
    """(host as filed, the independent domain that covers it)."""
    covering = quick_independent_domain(value)
    if covering is not None:  # already canonical: the host is the value itself
        return value, covering
    try:
        host = normalize_host(value)
        covering = independent_domain(host)
    except InvalidHostname as exc:
        raise FieldError(str(exc)) from None
    if covering is None:  # only an IP literal has no independent domain
        raise FieldError(f"{value!r} is an IP address; list it under the addresses column")
    return host, covering


_DOTTED_QUAD = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)")


def ip(value: str) -> str:
    if _DOTTED_QUAD.fullmatch(value):  # already canonical IPv4: the common case, and 10x cheaper
        return value
    try:
        return str(ipaddress.ip_address(value.strip().strip("[]")))
    except ValueError:
        raise FieldError(f"not an IP address: {value!r}") from None


def cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value.strip())
    except ValueError as exc:
        raise FieldError(f"not a CIDR block: {exc}") from None


def iso_date(value: str) -> date:
    text = value.strip().replace("/", "-")
    # Spreadsheets turn dates into "2024-03-01 00:00:00" when the column is a date column.
    text = text.split(" ")[0].split("T")[0]
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FieldError(f"not a date (YYYY-MM-DD): {value!r}") from None


def status(value: str) -> str:
    text = value.strip().lower() or "filed"
    aliases = {"filed": "filed", "已备案": "filed", "cancelled": "cancelled", "canceled": "cancelled", "已注销": "cancelled"}
    try:
        return aliases[text]
    except KeyError:
        raise FieldError(f"status must be filed or cancelled, not {value!r}") from None


def blacklist_kind(value: str) -> str:
    text = value.strip().lower()
    if text not in ("subject", "domain"):
        raise FieldError(f"kind must be subject or domain, not {value!r}")
    return text


_MASKED = re.compile(r"\*{2,}")
_NOT_DIGIT = re.compile(r"\D")
_PHONE = re.compile(r"^\+?[\d\- ()]{7,20}$")
_ID = re.compile(r"^(\d{17}[\dX]|\d{15})$")
_CERTIFICATE = re.compile(r"^[0-9A-Z]{8,20}$")


def _confidential(value: str, pattern: re.Pattern[str], what: str) -> str:
    text = value.strip().replace(" ", "").upper()
    if _MASKED.search(text):
        raise FieldError(f"{what} is masked (exported data cannot be re-imported as the original)")
    if not pattern.match(text):
        raise FieldError(f"not a {what}")
    return text


def contact_phone(value: str) -> str:
    text = value.strip()
    if _MASKED.search(text):
        raise FieldError("phone number is masked (exported data cannot be re-imported as the original)")
    if not _PHONE.match(text) or len(_NOT_DIGIT.sub("", text)) < 7:
        raise FieldError("not a phone number")
    return text


def contact_id(value: str) -> str:
    return _confidential(value, _ID, "resident ID number (15 or 18 characters)")


def subject_certificate(value: str) -> str:
    return _confidential(value, _CERTIFICATE, "certificate number (8–20 letters and digits)")


def looks_like_certificate(value: str) -> bool:
    """A blacklist value is a certificate number (kept encrypted) rather than a subject's name."""
    return bool(_CERTIFICATE.match(value.strip().upper())) and any(ch.isdigit() for ch in value)
