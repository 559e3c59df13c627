"""Sweep targets: one domain, URL, IP address or CIDR block a line, parsed into :class:`Target`.

CIDR blocks are expanded lazily (a generator), so a /16 costs no memory up front; a block with
more addresses than ``cidr_cap`` is an error that asks for a higher ``--cidr-cap``, and an IPv4
/8 (or larger) or an IPv6 /64 (or larger) is refused outright whatever the cap: expanding it
would take days or never finish.  Host names are canonicalised by the registry's grammar
(:func:`registry.domains.normalize_host`: lower case, IDN labels to punycode), so a target and a
filing record name the same host the same way.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from crawler.guard import ALLOWED_SCHEMES, InvalidURLHost, is_ip_address, url_host
from registry.domains import InvalidHostname, independent_domain, normalize_host

__all__ = ["Target", "TargetError", "parse_targets", "homepage_urls", "DEFAULT_CIDR_CAP"]

DEFAULT_CIDR_CAP = 65536
"""Largest block expanded unless the user raises ``--cidr-cap`` (a /16)."""

MIN_IPV4_PREFIX = 9
"""An IPv4 block must be longer than /8: a /8 is 16.7 million addresses."""

MIN_IPV6_PREFIX = 65
"""An IPv6 block must be longer than /64: a /64 is 2**64 addresses."""

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_INLINE_COMMENT = re.compile(r"\s+#.*$")


class TargetError(ValueError):
    """A target line that cannot be used; names the line number, the reason and the text."""

    def __init__(self, line: int, reason: str, raw: str = "") -> None:
        self.line = line
        self.reason = reason
        self.raw = raw
        super().__init__(f"line {line}: {reason}" + (f" ({raw!r})" if raw else ""))


@dataclass(frozen=True)
class Target:
    """One thing to sweep.

    ``kind`` is "domain", "url", "ip" or "cidr_member"; ``host`` is the canonical host (punycode
    name or IP text); ``url`` is set for "url" targets; ``scheme_hint`` is the scheme the user
    wrote ("http"/"https"), None when the spider should try http first and fall back to https.
    """

    line: int
    raw: str
    kind: str
    host: str
    url: str | None = None
    scheme_hint: str | None = None


def target_text(line: str) -> str:
    """The target text of a line: whitespace trimmed, a ``#`` comment (whole line, or after
    whitespace) removed.  A ``#`` straight after text is a URL fragment and stays."""
    text = line.strip()
    if text.startswith("#"):
        return ""
    return _INLINE_COMMENT.sub("", text)


def _cidr(lineno: int, text: str, cap: int) -> Iterator[Target]:
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            fixed = ipaddress.ip_network(text, strict=False)
            raise TargetError(lineno, f"host bits set in CIDR block; did you mean {fixed}?", text) from None
        raise TargetError(lineno, f"not a CIDR block: {exc}", text) from None
    minimum = MIN_IPV4_PREFIX if network.version == 4 else MIN_IPV6_PREFIX
    if network.prefixlen < minimum:
        raise TargetError(
            lineno,
            f"CIDR block /{network.prefixlen} is too large to sweep (IPv{network.version} blocks "
            f"must be /{minimum} or longer); split it into smaller blocks",
            text,
        )
    if network.num_addresses > cap:
        raise TargetError(
            lineno,
            f"CIDR block has {network.num_addresses} addresses, more than the cap of {cap}; "
            "raise --cidr-cap to sweep it",
            text,
        )
    # hosts(): no network/broadcast address for IPv4 (all of a /31 or /32), no subnet-router
    # anycast for IPv6.
    for address in network.hosts():
        yield Target(lineno, text, "cidr_member", str(address))


def _url(lineno: int, text: str, scheme_hint: str | None) -> Target:
    url = text if scheme_hint is not None else "http://" + text
    try:
        host = url_host(url)
    except InvalidURLHost as exc:
        raise TargetError(lineno, f"bad URL: {exc}", text) from None
    return Target(lineno, text, "url", host, url, scheme_hint)


def _one(lineno: int, text: str, cap: int) -> Iterator[Target]:
    scheme = _SCHEME.match(text)
    if scheme:
        name = scheme.group(1).lower()
        if name not in ALLOWED_SCHEMES:
            raise TargetError(lineno, f"scheme {name!r} is not http or https", text)
        yield _url(lineno, text, name)
        return
    if "/" in text and is_ip_address(text.split("/", 1)[0]):
        yield from _cidr(lineno, text, cap)
        return
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if is_ip_address(bare):
        yield Target(lineno, text, "ip", normalize_host(bare))
        return
    if any(c in text for c in "/:?#@"):  # host:port, host/path ... without a scheme
        yield _url(lineno, text, None)
        return
    try:
        host = normalize_host(text)
    except InvalidHostname as exc:
        raise TargetError(lineno, f"not a domain, URL, IP address or CIDR block: {exc}", text) from None
    yield Target(lineno, text, "domain", host)


def parse_targets(lines: Iterable[str], *, cidr_cap: int = DEFAULT_CIDR_CAP) -> Iterator[Target]:
    """Targets from ``lines`` (1-based line numbers), lazily; raises :class:`TargetError` at the
    first unusable line.  Blank lines and ``#`` comments are skipped."""
    if cidr_cap < 1:
        raise ValueError("cidr_cap must be at least 1")
    for lineno, line in enumerate(lines, start=1):
        text = target_text(line)
        if text:
            yield from _one(lineno, text, cidr_cap)


def parse_target_line(lineno: int, line: str, *, cidr_cap: int = DEFAULT_CIDR_CAP) -> Iterator[Target]:
    """The targets of one line that was line ``lineno`` of a list (a target queued on its own
    keeps the line number it had in the user's file)."""
    text = target_text(line)
    if text:
        yield from _one(lineno, text, cidr_cap)


def _http(host: str) -> str:
    return f"http://[{host}]/" if ":" in host else f"http://{host}/"


def homepage_urls(target: Target) -> list[str]:
    """The homepages to fetch for ``target``, http first (the spider falls back to https).

    A domain that is its own independent domain (the apex) gives the apex and ``www.``; a
    ``www.`` name or any other sub-domain gives just itself; an IP gives ``http://ip/``; a URL
    gives itself.
    """
    if target.kind == "url":
        assert target.url is not None
        return [target.url]
    if target.kind in ("ip", "cidr_member"):
        return [_http(target.host)]
    host = target.host
    if host.startswith("www."):
        return [_http(host)]
    try:
        apex = independent_domain(host)
    except InvalidHostname:
        apex = None  # e.g. a name under no public suffix: fetch just the name
    if apex == host:
        return [_http(host), _http("www." + host)]
    return [_http(host)]
