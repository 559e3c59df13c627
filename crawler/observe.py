"""What every spider shares: the visit carried through a fetch, redirect bookkeeping, and turning
a failure into an observation status.

A *visit* is one host of one target (or one probe of an address) followed from its first URL to
wherever it leads.  It travels in ``request.meta["icpwatch"]`` so the downloader middleware that
handles HTTP redirects and the spider that handles meta/script redirects write to the same chain.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from twisted.python.failure import Failure

from .guard import may_be_address, parse_address

META_KEY = "icpwatch"
ALLOWED_SCHEMES = ("http", "https")
DEFAULT_MAX_REDIRECTS = 10


class RedirectStopped(Exception):
    """A redirect that is not followed: loop, too many hops, or a refused target."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class HopRefused(Exception):
    """A URL the crawler will not fetch (scheme, obfuscated or special address literal)."""


@dataclass(slots=True)
class Visit:
    """One host of one target followed hop by hop; see :mod:`crawler.items` for the fields."""

    key: str
    target: str
    line: int | None
    kind: str
    host: str
    url: str
    fallbacks: list[str] = field(default_factory=list)
    chain: list[dict[str, Any]] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    probe: dict[str, Any] | None = None
    host_header: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def hosts(self) -> list[str]:
        """Every host name this visit touched (for the ``dns`` field), in order."""
        out: list[str] = []
        for url in [self.url, *(h["url"] for h in self.chain), *(h.get("location_abs") or "" for h in self.chain)]:
            host = urlsplit(url).hostname if url else None
            if host and host not in out:
                out.append(host)
        return out


def canonical(url: str) -> str:
    """The URL without fragment, for loop detection."""
    return urldefrag(url)[0]


def literal_address(host: str) -> str | None:
    """The address a host literal names, or None for a name.  Raises HopRefused for literals
    written to dodge a filter: decimal (2130706433), short (127.1), octal/hex forms, and IPv6
    literals that embed an IPv4 address (::ffff:127.0.0.1)."""
    host = host.strip("[]").rstrip(".")
    if not may_be_address(host):
        return None
    try:
        addr = parse_address(host)
    except ValueError:
        pass
    else:
        if addr.version == 6 and (addr.ipv4_mapped is not None or addr.sixtofour is not None
                                  or addr.teredo is not None):
            raise HopRefused(f"IPv6 literal embedding an IPv4 address ({host})")
        return str(addr)
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            packed = socket.inet_aton(host)
        except OSError:
            return None
        raise HopRefused(f"obfuscated address literal {host!r} ({socket.inet_ntoa(packed)})")
    return None


def check_url(url: str, guard: Any) -> None:
    """Refuse what must never be fetched: other schemes, localhost names, odd address literals,
    and (through the address guard) address literals it refuses.  Names are checked when they
    are resolved (the guarded DNS resolver)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise HopRefused(f"scheme {parts.scheme or '(none)'!r} is not fetched (http and https only)")
    host = (parts.hostname or "").lower()
    if not host:
        raise HopRefused(f"no host in {url!r}")
    if host == "localhost" or host.endswith(".localhost"):
        raise HopRefused(f"{host} names this machine")
    address = literal_address(host)
    if address is not None and ipaddress.ip_address(address) in _Never():
        raise HopRefused(f"unspecified or this-network address ({address})")
    if guard is not None:
        try:
            guard.check_url(url)
        except Exception as exc:  # AddressRefused: "refused: <reason> (<address>)"
            if type(exc).__name__ != "AddressRefused":
                raise
            raise HopRefused(str(exc).removeprefix("refused: ")) from None


#: refused even with --allow-private: nothing is served there, and they mean "this host"
_NEVER = (ipaddress.ip_network("0.0.0.0/8"), ipaddress.ip_network("::/128"))


class _Never:
    def __contains__(self, ip: object) -> bool:
        return any(ip.version == n.version and ip in n for n in _NEVER)  # type: ignore[attr-defined]


def next_hop(visit: Visit, *, url: str, status: int | None, location: str, kind: str,
             ip: str | None, delay: float | None = None, guard: Any = None,
             max_redirects: int = DEFAULT_MAX_REDIRECTS) -> str:
    """Record a redirect hop on ``visit`` and return the absolute URL to fetch next, or raise
    :class:`RedirectStopped` (status redirect_loop / too_many_redirects / refused).  The hop is
    recorded either way, so the chain shows where it stopped."""
    target = urljoin(url, location.strip())
    hop: dict[str, Any] = {"url": url, "status": status, "location": location, "kind": kind, "ip": ip}
    if delay is not None:
        hop["delay"] = delay
    visit.chain.append(hop)
    if not visit.seen:
        visit.seen.append(canonical(visit.url))
    if canonical(url) not in visit.seen:
        visit.seen.append(canonical(url))
    if canonical(target) in visit.seen:
        what = "redirects to itself" if canonical(target) == canonical(url) else "redirect loop"
        raise RedirectStopped("redirect_loop", f"{what}: {url} -> {target}")
    if len(visit.chain) > max_redirects:
        raise RedirectStopped("too_many_redirects", f"more than {max_redirects} redirects")
    try:
        check_url(target, guard)
    except HopRefused as exc:
        raise RedirectStopped("refused", f"redirect to {target} refused: {exc}") from None
    visit.seen.append(canonical(target))
    return target


# ---------------------------------------------------------------------------------------------
# failures
# ---------------------------------------------------------------------------------------------
def _causes(exc: BaseException | None) -> list[BaseException]:
    """exc, its causes and contexts, and the reasons wrapped in Twisted's wrapper exceptions."""
    out: list[BaseException] = []
    stack = [exc]
    while stack and len(out) < 32:
        cur = stack.pop(0)
        if cur is None or any(cur is seen for seen in out):
            continue
        out.append(cur)
        stack.extend([cur.__cause__, cur.__context__])
        for reason in getattr(cur, "reasons", None) or []:
            stack.append(reason.value if isinstance(reason, Failure) else reason)
    return out


def _names(excs: list[BaseException]) -> set[str]:
    names: set[str] = set()
    for e in excs:
        for cls in type(e).__mro__:
            names.add(cls.__name__)
    return names


_CONNECTION_LOST = frozenset({"ConnectionResetError", "ConnectionAbortedError", "BrokenPipeError"})


@dataclass(slots=True)
class Classified:
    status: str
    error: str
    before_response: bool = False
    resolution: Any = None


def classify(failure: Failure | BaseException) -> Classified:
    """The observation status for a failed fetch, its human text, whether nothing was received
    (so an https fallback may be tried), and the DNS resolution when a lookup failed."""
    exc = failure.value if isinstance(failure, Failure) else failure
    excs = _causes(exc)
    names = _names(excs)
    text = _text(exc, excs)
    for e in excs:
        if isinstance(e, RedirectStopped):
            return Classified(e.status, str(e))
        if isinstance(e, HopRefused):
            return Classified("refused", f"refused: {e}")
        if type(e).__name__ == "AddressRefused":
            return Classified("refused", str(e))
        if hasattr(e, "refusal") or hasattr(e, "resolution"):
            refusal = getattr(e, "refusal", None)
            resolution = getattr(e, "resolution", None)
            if refusal:
                return Classified("refused", str(refusal) if not isinstance(refusal, str) or refusal.startswith("refused")
                                  else f"refused: {refusal}", resolution=resolution)
            kind = getattr(resolution, "status", None) or "error"
            return Classified("dns_error", f"DNS {kind}: {text}", resolution=resolution)
    if "DNSLookupError" in names or "CannotResolveHostError" in names:
        return Classified("dns_error", f"DNS lookup failed: {text}")
    if "IgnoreRequest" in names and "DOWNLOAD_MAXSIZE" in text:
        return Classified("too_large", text)
    if names & {"DownloadTimeoutError", "TimeoutError", "TCPTimedOutError", "ConnectingCancelledError"}:
        return Classified("timeout", text)
    if names & {"DownloadCancelledError", "CancelledError"}:
        return Classified("too_large", text or "download cancelled: body over the size cap")
    if names & {"Error", "VerificationError", "CertificateError", "SSLError"} and any(
            type(e).__module__.startswith(("OpenSSL", "service_identity", "ssl", "twisted.internet._sslverify"))
            for e in excs):
        return Classified("tls_error", text, before_response=True)
    if "_MalformedChunkedDataError" in names or "ParseError" in names or "BadHeaders" in names:
        return Classified("protocol_error", text)
    if "ClientPayloadError" in names:  # aiohttp: the body ended before its declared end
        if names & _CONNECTION_LOST:  # the handler puts the reset that cut it short as its cause
            return Classified("connection_error", text)
        return Classified("protocol_error", f"incomplete or malformed response body ({text})")
    if "HttpProcessingError" in names:  # aiohttp: malformed status line or headers, a line over the cap
        return Classified("protocol_error", text)
    if names & {"ConnectionRefusedError", "DownloadConnectionRefusedError", "NoRouteError",
                "ConnectError"} and "ResponseFailed" not in names:
        return Classified("connection_error", text, before_response=True)
    # closed or reset before any response (Twisted: ResponseNeverReceived; aiohttp: one of these
    # outside a body, whose errors are ClientPayloadErrors)
    if names & {"ResponseNeverReceived", "ServerDisconnectedError", "ClientOSError", "ClientConnectionResetError"}:
        return Classified("connection_error", text, before_response=True)
    if "ConnectionDone" in names and "ConnectionLost" not in names and names & {
            "ResponseDataLossError", "_DataLoss", "ResponseFailed", "DownloadFailedError"}:
        # the response started and the connection was closed cleanly before the body was
        # complete: a malformed message (broken chunked encoding, short Content-Length)
        return Classified("protocol_error", f"incomplete or malformed response body ({text})")
    if names & {"ResponseDataLossError", "_DataLoss", "ResponseFailed", "DownloadFailedError",
                "ConnectionLost", "ConnectionDone"}:
        return Classified("connection_error", text)
    return Classified("error", text)


def _text(exc: BaseException, excs: list[BaseException]) -> str:
    for e in excs:
        msg = str(e).strip()
        if msg and not msg.startswith("[<twisted.python.failure.Failure"):
            return f"{type(e).__name__}: {msg}"[:500]
    inner = [type(e).__name__ for e in excs]
    return " <- ".join(inner)[:500] or type(exc).__name__
