"""The address guard: which addresses and URLs the crawler may connect to.

A sweep's targets come from users, registries and the pages themselves (redirects), so any of them
may point the crawler at the machine it runs on or at the network behind it (SSRF).  The guard
refuses, unless ``--allow-private`` is given:

* loopback, private (RFC 1918), CGNAT (100.64/10), link-local, unspecified, "this network",
  IETF protocol assignments (192.0.0/24, 2001::/23), benchmarking (198.18/15, 2001:2::/48),
  documentation (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20), multicast,
  broadcast, reserved (240/4, IPv6 outside 2000::/3), unique local (fc00::/7), site-local
  (fec0::/10), discard-only (100::/64), local-use NAT64 (64:ff9b:1::/48);
* the same addresses wrapped in IPv6: IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible
  (``::a.b.c.d``), IPv4-translated (``::ffff:0:a.b.c.d``), NAT64 (64:ff9b::/96), 6to4
  (2002::/16) and Teredo (2001::/32, server and de-obfuscated client) — the embedded IPv4 address
  is checked and the reason names the wrapper ("IPv4-mapped private address");
* the machine's own interface addresses (:func:`local_addresses`), even public ones;
* any URL whose scheme is not http or https.

The special-purpose ranges are an explicit table (IANA special-purpose registries) rather than
``ipaddress``'s ``is_private``/``is_global``, whose answers have changed between Python releases.

URL hosts are read the way browsers read them (WHATWG URL Standard, host parsing): tabs and
newlines removed, ``\\`` as ``/``, userinfo dropped, percent-decoding, UTS-46 mapping (full-width
digits and dots), and IPv4 numbers in decimal, octal or hex with 1-4 parts (``2130706433``,
``0x7f.1``, ``0177.0.0.1``, ``127.1``).  The host Python's ``urllib`` sees is checked as well, so
a URL both parsers disagree on is refused if either reading is.
"""
from __future__ import annotations

import fcntl
import functools
import ipaddress
import logging
import re
import socket
import struct
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

import idna

from registry.domains import InvalidHostname, normalize_host

__all__ = [
    "AddressGuard",
    "AddressRefused",
    "InvalidURLHost",
    "local_addresses",
    "may_be_address",
    "parse_address",
    "parse_host",
    "url_host",
]

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})


class AddressRefused(Exception):
    """The crawler must not connect to ``address``; ``reason`` says why in a few words.

    ``str()`` is the observation recorded for the target: ``refused: private address (10.0.0.1)``.
    ``url`` is set when the refusal came from checking a URL.
    """

    def __init__(self, address: str, reason: str, *, url: str | None = None) -> None:
        super().__init__(address, reason)
        self.address = address
        self.reason = reason
        self.url = url

    def __str__(self) -> str:
        return f"refused: {self.reason} ({self.address})"


class InvalidURLHost(ValueError):
    """A URL or host that no browser could connect to (WHATWG host parsing fails)."""


_Rules = tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str | None], ...]
"""(network, reason) rows; a None reason means "allowed"."""


def _nets(*rows: tuple[str, str | None]) -> _Rules:
    return tuple((ipaddress.ip_network(net), reason) for net, reason in rows)


# First match wins; None means "allowed".  Specific exceptions come before their enclosing block.
_V4_RULES = _nets(
    ("0.0.0.0/32", "unspecified address"),
    ("0.0.0.0/8", "this-network address"),
    ("10.0.0.0/8", "private address"),
    ("100.64.0.0/10", "CGNAT address"),
    ("127.0.0.0/8", "loopback address"),
    ("169.254.0.0/16", "link-local address"),
    ("172.16.0.0/12", "private address"),
    ("192.0.0.9/32", None),  # PCP anycast: globally reachable
    ("192.0.0.10/32", None),  # TURN anycast: globally reachable
    ("192.0.0.0/24", "IETF protocol assignment address"),
    ("192.0.2.0/24", "documentation address"),
    ("192.88.99.0/24", "reserved address"),  # deprecated 6to4 relay anycast
    ("192.168.0.0/16", "private address"),
    ("198.18.0.0/15", "benchmarking address"),
    ("198.51.100.0/24", "documentation address"),
    ("203.0.113.0/24", "documentation address"),
    ("224.0.0.0/4", "multicast address"),
    ("255.255.255.255/32", "broadcast address"),
    ("240.0.0.0/4", "reserved address"),
)

# Checked before any unwrapping (both lie inside ::/96, the IPv4-compatible block).
_V6_EXACT = _nets(("::/128", "unspecified address"), ("::1/128", "loopback address"))

# Checked after the embedded IPv4 address of a wrapper form was found acceptable.
_V6_RULES = _nets(
    ("::ffff:0:0/96", None),  # IPv4-mapped: the embedded address decides
    ("::ffff:0:0:0/96", "reserved address"),  # IPv4-translated (SIIT): never global
    ("::/96", "deprecated IPv4-compatible address"),
    ("64:ff9b::/96", None),  # NAT64 well-known prefix: the embedded address decides
    ("64:ff9b:1::/48", "local-use NAT64 address"),
    ("100::/64", "discard-only address"),
    ("2001::/32", None),  # Teredo: the embedded addresses decide
    ("2001:1::1/128", None),
    ("2001:1::2/128", None),
    ("2001:1::3/128", None),
    ("2001:3::/32", None),
    ("2001:4:112::/48", None),
    ("2001:2::/48", "benchmarking address"),
    ("2001:10::/28", "reserved address"),  # ORCHID (deprecated)
    ("2001:20::/28", "reserved address"),  # ORCHIDv2
    ("2001:db8::/32", "documentation address"),
    ("2001::/23", "IETF protocol assignment address"),
    ("2002::/16", None),  # 6to4: the embedded address decides
    ("3fff::/20", "documentation address"),
    ("5f00::/16", "reserved address"),  # SRv6 SIDs
    ("2000::/3", None),  # global unicast
    ("fc00::/7", "unique local address"),
    ("fe80::/10", "link-local address"),
    ("fec0::/10", "site-local address"),
    ("ff00::/8", "multicast address"),
    ("::/0", "reserved address"),
)

_V4_MASK = 0xFFFFFFFF


def _embedded(ip: ipaddress.IPv6Address) -> tuple[str, tuple[ipaddress.IPv4Address, ...]] | None:
    """The wrapper name and the IPv4 address(es) an IPv6 address carries, or None."""
    value = int(ip)
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", (ip.ipv4_mapped,)
    if value >> 32 == 0xFFFF0000:
        return "IPv4-translated", (ipaddress.IPv4Address(value & _V4_MASK),)
    if value >> 32 == 0:
        return "IPv4-compatible", (ipaddress.IPv4Address(value & _V4_MASK),)
    if value >> 32 == int(ipaddress.IPv6Address("64:ff9b::")) >> 32:
        return "NAT64", (ipaddress.IPv4Address(value & _V4_MASK),)
    if ip.sixtofour is not None:
        return "6to4", (ip.sixtofour,)
    if ip.teredo is not None:
        server, client = ip.teredo
        return "Teredo", (client, server)
    return None


# --------------------------------------------------------------------------- own addresses


def _ipv4_from_fib_trie(path: Path) -> set[str]:
    """Local IPv4 addresses from ``/proc/net/fib_trie``: entries followed by a ``host LOCAL`` line."""
    found: set[str] = set()
    last: str | None = None
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            last = stripped[3:].strip()
        elif last and "host LOCAL" in stripped:
            found.add(last)
    return found


def _ipv4_from_ioctl() -> set[str]:
    """Local IPv4 addresses by SIOCGIFADDR on every interface (Linux, when /proc is absent)."""
    found: set[str] = set()
    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(sock.fileno(), siocgifaddr, struct.pack("256s", name[:15].encode()))
            except OSError:
                continue
            found.add(socket.inet_ntoa(packed[20:24]))
    return found


def _ipv6_from_proc(path: Path) -> set[str]:
    """Local IPv6 addresses from ``/proc/net/if_inet6`` (32 hex digits per line)."""
    found: set[str] = set()
    for line in path.read_text().splitlines():
        fields = line.split()
        if fields and len(fields[0]) == 32:
            found.add(str(ipaddress.IPv6Address(int(fields[0], 16))))
    return found


@functools.lru_cache(maxsize=1)
def local_addresses() -> frozenset[str]:
    """This machine's interface addresses, read once per process without any network traffic.

    Linux: IPv4 from ``/proc/net/fib_trie`` (else an ``ioctl(SIOCGIFADDR)`` per interface), IPv6
    from ``/proc/net/if_inet6``.  Elsewhere the set is empty (loopback and private addresses are
    refused anyway; only a public address bound to this machine would then go unrecognised).
    ``getaddrinfo(gethostname())`` is deliberately not used: it can send a DNS query.
    """
    found: set[str] = set()
    fib = Path("/proc/net/fib_trie")
    try:
        found |= _ipv4_from_fib_trie(fib) if fib.exists() else _ipv4_from_ioctl()
    except (OSError, ValueError) as exc:
        log.warning("could not read this machine's IPv4 addresses: %s", exc)
    inet6 = Path("/proc/net/if_inet6")
    try:
        if inet6.exists():
            found |= _ipv6_from_proc(inet6)
    except (OSError, ValueError) as exc:
        log.warning("could not read this machine's IPv6 addresses: %s", exc)
    return frozenset(found)


# --------------------------------------------------------------------------- WHATWG host parsing

_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_C0_SPACE = "".join(chr(c) for c in range(0x21))
_SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp", "file"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_FORBIDDEN_HOST = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")


def _ipv4_number(part: str) -> int | None:
    """One part of a WHATWG IPv4 address: decimal, ``0x`` hex or leading-zero octal; None if not."""
    radix = 10
    if part[:2] in ("0x", "0X"):
        part, radix = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        part, radix = part[1:], 8
    if part == "":
        return 0
    try:
        return int(part, radix) if part.isalnum() and part.isascii() else None
    except ValueError:
        return None


def _ends_in_number(host: str) -> bool:
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    last = parts[-1]
    if last and last.isascii() and last.isdigit():
        return True
    return last[:2] in ("0x", "0X") and _ipv4_number(last) is not None


def _parse_ipv4(host: str) -> ipaddress.IPv4Address:
    """The WHATWG IPv4 parser: 1-4 numeric parts, the last one filling the remaining bytes."""
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4 or any(p == "" for p in parts):
        raise InvalidURLHost(f"{host!r} is not a valid IPv4 address")
    numbers = [_ipv4_number(p) for p in parts]
    if any(n is None for n in numbers):
        raise InvalidURLHost(f"{host!r} is not a valid IPv4 address")
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise InvalidURLHost(f"{host!r} is out of range for an IPv4 address")
    address = values[-1]
    for i, n in enumerate(values[:-1]):
        address += n * 256 ** (3 - i)
    return ipaddress.IPv4Address(address)


def parse_host(host: str) -> str:
    """A URL host (already percent-decoded or not) in canonical form, as a browser reads it.

    Returns the IP address text (``127.0.0.1`` for ``0x7f.1``; IPv6 compressed, mapped IPv4 in
    dotted form) or the lower-case ASCII/punycode name.  Raises :class:`InvalidURLHost`.
    """
    if host.startswith("["):
        if not host.endswith("]"):
            raise InvalidURLHost(f"unterminated IPv6 literal {host!r}")
        inner = host[1:-1]
        if "%" in inner:
            raise InvalidURLHost(f"zone identifiers are not allowed in URLs: {host!r}")
        try:
            return normalize_host(str(ipaddress.IPv6Address(inner)))
        except ValueError as exc:
            raise InvalidURLHost(f"{host!r} is not a valid IPv6 address: {exc}") from None
    try:
        decoded = urllib.parse.unquote(host, errors="strict") if "%" in host else host
    except UnicodeDecodeError:
        raise InvalidURLHost(f"{host!r} percent-decodes to invalid UTF-8") from None
    if not decoded.isascii():
        try:
            decoded = idna.uts46_remap(decoded, std3_rules=False, transitional=False)
        except (idna.IDNAError, UnicodeError) as exc:
            raise InvalidURLHost(f"{host!r} is not a valid host name: {exc}") from None
    decoded = decoded.lower()
    if not decoded or _FORBIDDEN_HOST.search(decoded):
        raise InvalidURLHost(f"{host!r} is empty or contains a character a host cannot have")
    if _ends_in_number(decoded):
        return str(_parse_ipv4(decoded))
    try:
        return normalize_host(decoded)
    except InvalidHostname as exc:
        raise InvalidURLHost(str(exc)) from None


def _split_url(url: str) -> tuple[str, str]:
    """(scheme, raw host) of an absolute URL, split as the WHATWG URL parser splits it."""
    cleaned = _TAB_NEWLINE.sub("", url.strip(_C0_SPACE))
    match = _SCHEME.match(cleaned)
    if not match:
        raise InvalidURLHost(f"not an absolute URL (no scheme): {url!r}")
    scheme = match.group(1).lower()
    rest = cleaned[match.end():]
    if scheme in _SPECIAL_SCHEMES:
        rest = rest.replace("\\", "/")
        rest = rest.lstrip("/")  # special schemes ignore any number of slashes before the host
    elif rest.startswith("//"):
        rest = rest[2:]
    else:
        return scheme, ""  # javascript:, data:, mailto: ... have no host
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host_port = authority.rpartition("@")[2]
    if host_port.startswith("["):
        end = host_port.find("]")
        return scheme, host_port[: end + 1] if end != -1 else host_port
    return scheme, host_port.partition(":")[0]


def url_host(url: str) -> str:
    """The canonical host of an http(s) URL as a browser reads it (see :func:`parse_host`)."""
    scheme, raw = _split_url(url)
    if not raw:
        raise InvalidURLHost(f"no host in {url!r}")
    return parse_host(raw)


# --------------------------------------------------------------------------- the guard


class AddressGuard:
    """Decides whether the crawler may connect to an address or fetch a URL.

    ``allow_private=True`` (``--allow-private``, for the sandbox and internal sweeps) lifts every
    address-class refusal; malformed addresses and non-http(s) schemes are refused regardless.
    ``own_addresses`` defaults to :func:`local_addresses`.
    """

    def __init__(self, *, allow_private: bool = False, own_addresses: Iterable[str] | None = None) -> None:
        self.allow_private = allow_private
        own = local_addresses() if own_addresses is None else own_addresses
        self._own: frozenset[IPAddress] = frozenset(ipaddress.ip_address(a) for a in own)

    def refusal(self, address: str) -> str | None:
        """Why ``address`` (an IP literal, optionally ``[bracketed]``) is refused, or None."""
        text = address.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        try:
            ip = parse_address(text)
        except ValueError:
            return "malformed address"
        if self.allow_private:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
            ip = ipaddress.IPv6Address(text.partition("%")[0])
        return self._classify(ip)

    def _classify(self, ip: IPAddress) -> str | None:
        if isinstance(ip, ipaddress.IPv4Address):
            reason = _first_match(ip, _V4_RULES)
        else:
            reason = _first_match(ip, _V6_EXACT)
            if reason is None:
                wrapped = _embedded(ip)
                if wrapped is not None:
                    label, inner = wrapped
                    for embedded in inner:
                        inner_reason = self._classify(embedded)
                        if inner_reason is not None:
                            return f"{label} {inner_reason}"
                reason = _first_match(ip, _V6_RULES)
        if reason is None and ip in self._own:
            return "own address"
        return reason

    def check(self, address: str) -> None:
        """Raise :class:`AddressRefused` unless ``address`` may be connected to."""
        reason = self.refusal(address)
        if reason is not None:
            raise AddressRefused(address, reason)

    def check_url(self, url: str) -> None:
        """Raise :class:`AddressRefused` unless ``url`` is http(s) with an acceptable host.

        A host that is an IP address in any spelling a browser accepts is checked; a host name
        passes here and its addresses are checked when it is resolved.
        """
        try:
            scheme, raw = _split_url(url)
        except InvalidURLHost as exc:
            raise AddressRefused(url, f"malformed URL: {exc}", url=url) from None
        if scheme not in ALLOWED_SCHEMES:
            raise AddressRefused(url, f"scheme {scheme!r} is not http or https", url=url)
        try:
            host = parse_host(raw) if raw else ""
        except InvalidURLHost as exc:
            raise AddressRefused(raw or url, f"malformed host: {exc}", url=url) from None
        if not host:
            raise AddressRefused(url, "malformed URL: no host", url=url)
        hosts = [host]
        try:  # the reading of Python's urllib (and so of Twisted/Scrapy), when it differs
            other = urllib.parse.urlsplit(url.strip()).hostname
        except ValueError:
            other = None
        if other and other != host:
            try:
                hosts.append(parse_host(other))
            except InvalidURLHost:
                pass
        for candidate in hosts:
            if is_ip_address(candidate):
                reason = self.refusal(candidate)
                if reason is not None:
                    raise AddressRefused(candidate, reason, url=url)


def _first_match(ip: IPAddress, rules: _Rules) -> str | None:
    for network, reason in rules:
        if ip in network:
            return reason
    return None


_NOT_IPV4_LITERAL = re.compile(r"[^0-9a-fA-FxX.]")


def may_be_address(host: str) -> bool:
    """False when ``host`` cannot be an address literal in any spelling a browser accepts: IPv6
    has a colon, and IPv4's decimal, octal and hex forms use only hex digits, "x" and dots.  Most
    hosts are names, and a failed parse costs an exception: this test comes first."""
    return ":" in host or _NOT_IPV4_LITERAL.search(host) is None


@functools.lru_cache(maxsize=65536)
def parse_address(text: str) -> IPAddress:
    """:func:`ipaddress.ip_address`, cached (the objects are immutable): a sweep meets the same
    serving addresses again and again, at every hop and every check."""
    return ipaddress.ip_address(text)


def is_ip_address(host: str) -> bool:
    """True for an IP address in its plain text form (no brackets, no port)."""
    if not may_be_address(host):
        return False
    try:
        parse_address(host)
    except ValueError:
        return False
    return True
