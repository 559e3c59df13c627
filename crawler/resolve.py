"""DNS resolution for the crawler, with dnspython, against the resolver the user names.

A :class:`Resolution` records what the DNS said about one name: the whole CNAME chain, every A
answer then every AAAA answer, and an outcome that tells the failures apart — NXDOMAIN, NODATA,
SERVFAIL, REFUSED, timeout, a CNAME loop, a chain longer than ``max_chain`` — because a sweep
must report a name that does not exist differently from one it could not resolve ("unknown,
never unfiled", DESIGN.md §2).

How a name is resolved: A and AAAA are asked separately (concurrently in :meth:`Resolver.
resolve_async`).  Each answer's CNAME links are read from the response by this module, not by
dnspython's answer chaining, so that a loop or an over-long chain is reported as such (dnspython
only says "chain too long", wrapped in "all nameservers failed").  When a response stops at a
CNAME target without records for it, the target is asked in turn; every link is counted against
``max_chain`` and checked against the names already seen.  The chasing logic is one generator
(:meth:`Resolver._chase`) that yields questions and receives replies, driven by a synchronous and
an asynchronous loop, so the rules are written once.

dnspython does the wire work: EDNS0 with a 1232-byte payload, UDP with retry over TCP when the
answer comes back truncated (``dns.resolver.Resolver`` does this by itself; the tests check it
against the sandbox's forced truncation), per-try ``timeout`` and an overall ``lifetime`` that
bounds the whole resolution of a name, both address families included.  On the asyncio path a
question is first asked by :mod:`crawler.dnswire` (``fast_path``): a hand-built query over a fresh
UDP socket to the server asked first, one try of min(``timeout``, remaining lifetime), and a
hand-written reading of the plain shape of an answer, at a fraction of dnspython's CPU cost (the
crawler asks two questions per homepage).  Whatever that reading declines (truncation, SERVFAIL,
REFUSED, unusual records, malformed data) goes to dnspython with the remaining lifetime, starting
at the same server; a try that timed out, starting at the next.  With several servers
(``--resolver A,B``), one that stays silent stops being asked first for a while
(:class:`crawler.nameservers.ServerOrder`).  Both paths hand the chasing logic one neutral form
of a response (:class:`crawler.dnswire.Response`), so that the results are the same whichever
path answered.

Results are cached per name in an LRU of ``cache_size`` entries: answers for the smallest TTL
seen (at most :data:`MAX_CACHE_TTL`), NXDOMAIN/NODATA for the SOA's negative TTL (at most
:data:`MAX_NEGATIVE_TTL`), failures for :data:`FAILURE_TTL` seconds only, so that the http and
https attempts at one host in quick succession do not each wait out a timeout.
"""
from __future__ import annotations

import asyncio
import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.inet
import dns.message
import dns.name
import dns.nameserver
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from registry.domains import InvalidHostname, normalize_host

from . import dnswire
from .guard import is_ip_address
from .nameservers import ServerOrder

__all__ = ["Resolution", "Resolver", "STATUSES", "parse_nameserver", "parse_nameservers"]

STATUSES = ("ok", "nxdomain", "nodata", "servfail", "timeout", "refused", "cname_loop", "chain_too_long", "error")

MAX_CACHE_TTL = 3600
"""Longest time a positive answer is kept, whatever its TTL says."""
MAX_NEGATIVE_TTL = 300
"""Longest time NXDOMAIN or NODATA is kept (RFC 2308 suggests up to 3 hours; sweeps want fresher)."""
DEFAULT_NEGATIVE_TTL = 60
"""Negative TTL when a negative answer carries no SOA."""
FAILURE_TTL = 5.0
"""Time a SERVFAIL, REFUSED, timeout or other failure is kept."""
EDNS_PAYLOAD = 1232
"""UDP payload size advertised with EDNS0 (the DNS flag day 2020 figure)."""

_TIMEOUT_TEXT = "no answer before the resolution lifetime expired"

_TERMINAL = frozenset({"nxdomain", "cname_loop", "chain_too_long"})
"""Outcomes of the A question that make asking AAAA pointless."""


@dataclass(frozen=True)
class Resolution:
    """What the DNS said about ``name`` (canonical punycode, no trailing dot).

    ``status`` is one of :data:`STATUSES`; ``cname_chain`` lists the CNAME targets in order
    (empty when ``name`` owns its addresses); ``addresses`` are the A answers then the AAAA
    answers; ``error`` explains a failure (or notes a failure of one address family when the
    other succeeded); ``nameserver`` is the server whose answers these are ("host:port"; several,
    comma-separated, when the questions were answered by different servers) or, when that is not
    known (a failure, an NXDOMAIN read by dnspython), every server configured; ``elapsed`` in
    seconds.
    """

    name: str
    status: str
    cname_chain: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    error: str | None = None
    nameserver: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples as lists)."""
        # by hand: dataclasses.asdict walks and deep-copies every value, once per observation
        return {"name": self.name, "status": self.status, "cname_chain": list(self.cname_chain),
                "addresses": list(self.addresses), "error": self.error, "nameserver": self.nameserver,
                "elapsed": self.elapsed}


_CHAIN_LIMIT = 16
"""CNAME links dnspython follows in one response before giving up (``dns.message.MAX_CHAIN``)."""


@dataclass(frozen=True)
class _Reply:
    """The outcome of one question: "answer" or "nxdomain" with the response, or a failure."""

    status: str
    response: dnswire.Response | None = None
    error: str | None = None
    server: str | None = None  # "host:port" of the server that gave ``response``, when known


@dataclass(frozen=True)
class _Chase:
    """The outcome of resolving one name for one record type, CNAMEs followed."""

    status: str
    chain: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    ttl: float = 0.0
    error: str | None = None


_Question = tuple[str, dns.rdatatype.RdataType]  # (name as _text gives it, type)
_ChaseSteps = Generator[_Question, _Reply, _Chase]


def parse_nameserver(spec: str) -> tuple[str, int]:
    """``HOST[:PORT]``, ``[v6]:PORT`` or a bare IPv6 address → (address, port); port 53 by default.

    The host must be an IP address: naming the resolver by a name would need another resolver.
    """
    text = spec.strip()
    port_text = ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"bad resolver {spec!r}: expected [IPv6]:PORT")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host = text
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(f"bad resolver {spec!r}: the host must be an IP address") from None
    if not port_text:
        return address, 53
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad resolver {spec!r}: port must be 1-65535")
    return address, int(port_text)


def parse_nameservers(spec: str) -> list[tuple[str, int]]:
    """A comma-separated list of :func:`parse_nameserver` specs, asked in that order."""
    servers = [parse_nameserver(part) for part in spec.split(",") if part.strip()]
    if not servers:
        raise ValueError(f"bad resolver {spec!r}: no server named")
    return servers


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


def _response(message: dns.message.Message) -> dnswire.Response:
    """The neutral form of a response dnspython read (what :func:`dnswire.parse_response` reads by
    hand): the answer section's class IN A, AAAA and CNAME RRsets, the first SOA in authority."""
    rrsets: dict[tuple[str, int], tuple[int, tuple[str, ...]]] = {}
    for rrset in message.answer:
        if rrset.rdclass != dns.rdataclass.IN or not len(rrset):
            continue
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            rrsets[(_text(rrset.name), int(rrset.rdtype))] = (rrset.ttl, tuple(rd.address for rd in rrset))
        elif rrset.rdtype == dns.rdatatype.CNAME:
            rrsets[(_text(rrset.name), dnswire.CNAME)] = (rrset.ttl, tuple(_text(rd.target) for rd in rrset))
    soa = None
    for rrset in message.authority:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            soa = (rrset.ttl, rrset[0].minimum)
            break
    return dnswire.Response(message.rcode(), rrsets, soa)


def _walk(response: dnswire.Response, start: str, rdtype: int,
          limit: int) -> tuple[list[str], tuple[str, ...] | None, float]:
    """Follow ``start``'s CNAMEs through one response's answer section.

    Returns the CNAME targets in order (stopping after a repeated name or ``limit`` links), the
    ``rdtype`` addresses of the last name if it has that RRset, and the smallest TTL met.
    """
    links: list[str] = []
    seen = {start}
    current = start
    ttl = float(MAX_CACHE_TTL)
    rrsets = response.rrsets
    while True:
        found = rrsets.get((current, rdtype))
        if found is not None:
            return links, found[1], min(ttl, found[0])
        cname = rrsets.get((current, dnswire.CNAME))
        if cname is None or len(links) >= limit:
            return links, None, ttl
        ttl = min(ttl, cname[0])
        current = cname[1][0]
        links.append(current)
        if current in seen:
            return links, None, ttl
        seen.add(current)


def _negative_ttl(response: dnswire.Response | None) -> float:
    """RFC 2308 negative TTL: min(SOA TTL, SOA minimum), capped at :data:`MAX_NEGATIVE_TTL`."""
    if response is not None and response.soa is not None:
        return float(min(*response.soa, MAX_NEGATIVE_TTL))
    return float(DEFAULT_NEGATIVE_TTL)


def _fast_reply(response: dnswire.Response, qname: str, rdtype: int, server: str) -> _Reply | None:
    """The :class:`_Reply` the dnspython path gives for ``response`` (read by :mod:`dnswire`), or
    None when dnspython would call it an error of its own making (left to dnspython).

    dnspython's ``resolve_chaining`` follows at most :data:`_CHAIN_LIMIT` CNAMEs: a loop or a
    longer chain raises ChainTooLong, which :func:`_reply_from_error` turns into an "answer"
    reply whatever the RCODE; an NXDOMAIN whose chain ends at a record of the asked type raises
    AnswerForNXDOMAIN.
    """
    rrsets = response.rrsets
    name, links, found = qname, 0, False
    while links < _CHAIN_LIMIT:
        if (name, rdtype) in rrsets:
            found = True
            break
        cname = rrsets.get((name, dnswire.CNAME))
        if cname is None:
            break
        name = cname[1][0]
        links += 1
    if links >= _CHAIN_LIMIT or response.rcode == dnswire.NOERROR:
        return _Reply("answer", response, server=server)
    return None if found else _Reply("nxdomain", response, server=server)


def _dns_name(text: str) -> dns.name.Name:
    """The dnspython name of a name as :func:`_text` writes it."""
    return dns.name.from_text(text, origin=dns.name.root)


def _reply_from_error(exc: dns.exception.DNSException, qname: dns.name.Name) -> _Reply:
    """Classify what dnspython raised for one question."""
    if isinstance(exc, dns.resolver.NXDOMAIN):
        responses = exc.responses()
        response = responses.get(qname) or next(iter(responses.values()), None)
        return _Reply("nxdomain", None if response is None else _response(response))
    if isinstance(exc, dns.exception.Timeout):
        return _Reply("timeout", error=_TIMEOUT_TEXT)
    if isinstance(exc, dns.resolver.NoNameservers):
        found: dict[str, str] = {}
        for entry in exc.kwargs.get("errors") or ():
            _, _, _, problem, response = entry
            if isinstance(problem, dns.message.ChainTooLong) and response is not None:
                # dnspython gave up following the chain (a loop, or > 16 links): read it ourselves.
                return _Reply("answer", _response(response))
            if problem == "SERVFAIL":
                found.setdefault("servfail", "server failure (SERVFAIL)")
            elif problem == "REFUSED":
                found.setdefault("refused", "query refused (REFUSED)")
            else:
                found.setdefault("error", str(problem))
        for status in ("servfail", "refused", "error"):
            if status in found:
                return _Reply(status, error=found[status])
        return _Reply("error", error=str(exc))
    return _Reply("error", error=f"{type(exc).__name__}: {exc}")


class _TTLCache:
    """Thread-safe LRU of Resolutions with per-entry expiry (shared by the sync and async paths)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[str, tuple[float, Resolution]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str) -> Resolution | None:
        if self._size <= 0:
            return None
        with self._lock:
            entry = self._data.get(name)
            if entry is None:
                return None
            expires, resolution = entry
            if expires <= time.monotonic():
                del self._data[name]
                return None
            self._data.move_to_end(name)
            return resolution

    def put(self, name: str, resolution: Resolution, ttl: float) -> None:
        if self._size <= 0 or ttl <= 0:
            return
        with self._lock:
            self._data[name] = (time.monotonic() + ttl, resolution)
            self._data.move_to_end(name)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


class Resolver:
    """Resolves names to a :class:`Resolution`, synchronously or with asyncio.

    ``nameserver`` is ``HOST[:PORT]`` / ``[v6]:PORT``, or several of them separated by commas and
    asked in that order (``--resolver``), or None for the system's (``/etc/resolv.conf``; its search
    list is never applied).  ``timeout`` bounds one try at one server, ``lifetime`` the whole
    resolution of a name; ``max_chain`` is the longest CNAME chain accepted; ``cache_size`` 0
    disables the cache; ``fast_path`` False makes :meth:`resolve_async` ask dnspython only (the
    results are the same; see the module docstring).
    Safe to share between threads.
    """

    def __init__(self, nameserver: str | None = None, *, timeout: float = 2.0, lifetime: float = 5.0,
                 max_chain: int = 8, cache_size: int = 100_000, fast_path: bool = True) -> None:
        if timeout <= 0 or lifetime <= 0:
            raise ValueError("timeout and lifetime must be positive")
        if max_chain < 0:
            raise ValueError("max_chain must not be negative")
        self.timeout = timeout
        self.lifetime = lifetime
        self.max_chain = max_chain
        self._cache = _TTLCache(cache_size)
        self._sync = self._configure(dns.resolver.Resolver, nameserver)
        self._async = self._configure(dns.asyncresolver.Resolver, nameserver)
        servers = [_server_text(ns, self._sync) for ns in self._sync.nameservers]
        self.nameserver = ",".join(servers)
        self._fast_servers = _udp_servers(self._async) if fast_path else None
        # The asyncio path learns from its fast tries which server is silent (dnspython does not
        # say): the order moves past it, and dnspython then starts where the order starts.
        self._order = ServerOrder(servers)
        self._async_from: dict[int, Any] = {0: self._async}
        self._nameserver_spec = nameserver

    def _configure(self, cls: Callable[..., Any], nameserver: str | None) -> Any:
        if nameserver is None:
            try:
                resolver = cls(configure=True)
            except dns.resolver.NoResolverConfiguration as exc:
                raise ValueError(f"no system resolver configured ({exc}); name one with --resolver") from None
        else:
            resolver = cls(configure=False)
            resolver.nameservers = [dns.nameserver.Do53Nameserver(address, port)
                                    for address, port in parse_nameservers(nameserver)]
        resolver.timeout = self.timeout
        resolver.lifetime = self.lifetime
        resolver.cache = None  # Resolutions are cached here, per name
        resolver.use_edns(0, 0, EDNS_PAYLOAD)
        return resolver

    # ------------------------------------------------------------------ shared logic

    def _prepare(self, name: str) -> tuple[str, str | None, Resolution | None]:
        """(canonical name, the name to ask as :func:`_text` writes it, or a finished Resolution
        for IPs, errors and cache hits)."""
        try:
            canonical = normalize_host(name)
        except (InvalidHostname, TypeError) as exc:
            return name, None, Resolution(name, "error", error=f"not a host name: {exc}")
        if is_ip_address(canonical):
            return canonical, None, Resolution(canonical, "ok", addresses=(canonical,))
        cached = self._cache.get(canonical)
        if cached is not None:
            return canonical, None, cached
        if dnswire.is_plain(canonical):  # a valid DNS name whose text is itself: dnspython not needed
            return canonical, canonical.lower(), None
        try:
            return canonical, _text(dns.name.from_text(canonical + ".")), None
        except dns.exception.DNSException as exc:
            return canonical, None, Resolution(canonical, "error", error=f"not a DNS name: {exc}")

    def _chase(self, qname: str, rdtype: dns.rdatatype.RdataType) -> _ChaseSteps:
        """Resolve ``qname``/``rdtype`` following CNAMEs: yields questions, receives replies."""
        chain: list[str] = []
        seen = {qname}
        current = qname
        ttl = float(MAX_CACHE_TTL)
        while True:
            reply = yield current, rdtype
            if reply.status not in ("answer", "nxdomain"):
                return _Chase(reply.status, tuple(chain), error=reply.error)
            if reply.response is None:  # NXDOMAIN with no response to read: nothing to follow
                return _Chase("nxdomain", tuple(chain), ttl=DEFAULT_NEGATIVE_TTL)
            links, addresses, walk_ttl = _walk(reply.response, current, rdtype, self.max_chain + 1 - len(chain))
            ttl = min(ttl, walk_ttl)
            for target in links:
                if target in seen:
                    chain.append(target)
                    return _Chase("cname_loop", tuple(chain), error=f"CNAME chain loops back to {target}")
                seen.add(target)
                chain.append(target)
                if len(chain) > self.max_chain:
                    return _Chase("chain_too_long", tuple(chain), error=f"more than {self.max_chain} CNAMEs")
            if addresses is not None:
                return _Chase("ok", tuple(chain), addresses, ttl)
            if reply.status == "nxdomain":
                return _Chase("nxdomain", tuple(chain), ttl=min(ttl, _negative_ttl(reply.response)))
            if links:  # the response stopped at a CNAME target: ask for the target itself
                current = chain[-1]
                continue
            return _Chase("nodata", tuple(chain), ttl=min(ttl, _negative_ttl(reply.response)))

    def _combine(self, name: str, a: _Chase, aaaa: _Chase | None, started: float,
                 servers: list[str | None]) -> Resolution:
        """One Resolution from the A and AAAA outcomes and the servers whose replies they read
        (None for a reply of no known server); caches it."""
        elapsed = time.monotonic() - started
        if aaaa is None or a.status in _TERMINAL:
            status, chain, addresses, error, ttl = a.status, a.chain, a.addresses, a.error, a.ttl
        elif a.addresses or aaaa.addresses:
            status, addresses = "ok", a.addresses + aaaa.addresses
            chain = a.chain if a.status == "ok" else aaaa.chain
            failed = [f"{family}: {c.status}" + (f" ({c.error})" if c.error else "")
                      for family, c in (("A", a), ("AAAA", aaaa)) if c.status not in ("ok", "nodata")]
            error = "; ".join(failed) or None
            ttl = min(c.ttl for c in (a, aaaa) if c.status in ("ok", "nodata"))
        elif a.status == "nodata" and aaaa.status == "nodata":
            status, chain, addresses, error, ttl = "nodata", a.chain or aaaa.chain, (), None, min(a.ttl, aaaa.ttl)
        else:  # at least one family failed and neither gave addresses: the name's state is unknown
            worst = a if a.status != "nodata" else aaaa
            status, chain, addresses, error, ttl = worst.status, worst.chain or a.chain, (), worst.error, worst.ttl
        if status not in ("ok", "nxdomain", "nodata"):
            ttl = FAILURE_TTL
        nameserver = ",".join(dict.fromkeys(servers)) if servers and None not in servers else self.nameserver
        resolution = Resolution(name, status, chain, addresses, error, nameserver, round(elapsed, 6))
        self._cache.put(name, resolution, ttl)
        return resolution

    # ------------------------------------------------------------------ synchronous

    def resolve(self, name: str) -> Resolution:
        """Resolve ``name`` (a host name, IDN allowed; an IP literal is returned as is)."""
        canonical, start, done = self._prepare(name)
        if done is not None:
            return done
        assert start is not None
        started = time.monotonic()
        deadline = started + self.lifetime
        servers: list[str | None] = []
        a = self._drive(self._chase(start, dns.rdatatype.A), deadline, servers)
        aaaa = None if a.status in _TERMINAL else \
            self._drive(self._chase(start, dns.rdatatype.AAAA), deadline, servers)
        return self._combine(canonical, a, aaaa, started, servers)

    def _drive(self, steps: _ChaseSteps, deadline: float, servers: list[str | None]) -> _Chase:
        try:
            question = next(steps)
            while True:
                reply = self._ask(question, deadline)
                servers.append(reply.server)
                question = steps.send(reply)
        except StopIteration as stop:
            return stop.value

    def _ask(self, question: _Question, deadline: float) -> _Reply:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _Reply("timeout", error=_TIMEOUT_TEXT)
        qname = _dns_name(question[0])
        try:
            answer = self._sync.resolve(qname, question[1], raise_on_no_answer=False, lifetime=remaining,
                                        search=False)
        except dns.exception.DNSException as exc:
            return _reply_from_error(exc, qname)
        return _reply_from_answer(answer)

    # ------------------------------------------------------------------ asyncio

    async def resolve_async(self, name: str) -> Resolution:
        """:meth:`resolve` on the running asyncio loop; A and AAAA are asked concurrently."""
        canonical, start, done = self._prepare(name)
        if done is not None:
            return done
        assert start is not None
        started = time.monotonic()
        deadline = started + self.lifetime
        servers: list[str | None] = []
        a, aaaa = await asyncio.gather(
            self._drive_async(self._chase(start, dns.rdatatype.A), deadline, servers),
            self._drive_async(self._chase(start, dns.rdatatype.AAAA), deadline, servers),
        )
        return self._combine(canonical, a, aaaa, started, servers)

    async def _drive_async(self, steps: _ChaseSteps, deadline: float, servers: list[str | None]) -> _Chase:
        try:
            question = next(steps)
            while True:
                reply = await self._ask_async(question, deadline)
                servers.append(reply.server)
                question = steps.send(reply)
        except StopIteration as stop:
            return stop.value

    async def _ask_async(self, question: _Question, deadline: float) -> _Reply:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _Reply("timeout", error=_TIMEOUT_TEXT)
        start = self._order.first
        if self._fast_servers is not None:
            reply, heard = await self._ask_fast(question, min(self.timeout, remaining), start)
            if heard:
                self._order.answered(start)
            elif heard is False:
                # after silence dnspython starts at the next server: starting at the silent one
                # again would cost the question two timeouts
                self._order.silent(start)
                start += 1
            if reply is not None:
                return reply
            remaining = deadline - time.monotonic()  # dnspython gets what the fast try left
            if remaining <= 0:
                return _Reply("timeout", error=_TIMEOUT_TEXT)
        qname = _dns_name(question[0])
        resolve: Callable[..., Awaitable[dns.resolver.Answer]] = self._async_starting_at(start).resolve
        try:
            answer = await resolve(qname, question[1], raise_on_no_answer=False, lifetime=remaining, search=False)
        except dns.exception.DNSException as exc:
            return _reply_from_error(exc, qname)
        return _reply_from_answer(answer)

    def _async_starting_at(self, index: int) -> Any:
        """The dnspython resolver whose list of servers starts at server ``index``."""
        index %= len(self._async.nameservers)
        resolver = self._async_from.get(index)
        if resolver is None:
            resolver = self._configure(dns.asyncresolver.Resolver, self._nameserver_spec)
            servers = list(self._async.nameservers)
            resolver.nameservers = servers[index:] + servers[:index]
            self._async_from[index] = resolver
        return resolver

    async def _ask_fast(self, question: _Question, timeout: float,
                        index: int) -> tuple[_Reply | None, bool | None]:
        """One try by :mod:`crawler.dnswire` at server ``index``: (its reply, or None when
        dnspython must answer instead; whether the server answered at all, None when nothing was
        asked).  dnspython answers for a name or a response not read here, no answer within
        ``timeout``, and a socket error."""
        qname, rdtype = question
        query = dnswire.make_query(qname, rdtype, EDNS_PAYLOAD)
        if query is None:
            return None, None
        try:
            assert self._fast_servers is not None
            data = await dnswire.exchange(self._fast_servers[index], query, timeout)
        except (OSError, NotImplementedError):  # a socket error, or a loop without sock_sendto:
            return None, False  # dnspython reports it (or gets through) its own way
        if data is None:
            return None, False
        response = dnswire.parse_response(data, query)
        server = self._order.servers[index]
        return (None if response is None else _fast_reply(response, qname, rdtype, server)), True


def _address_port(server: Any, resolver: dns.resolver.BaseResolver) -> tuple[str, int] | None:
    """(address, port) of one of ``resolver``'s nameservers if it is asked over plain UDP/TCP."""
    if isinstance(server, dns.nameserver.Do53Nameserver):
        return server.address, server.port
    if isinstance(server, str) and dns.inet.is_address(server):
        return server, resolver.nameserver_ports.get(server, resolver.port)
    return None


def _udp_servers(resolver: dns.resolver.BaseResolver) -> list[tuple[str, int]] | None:
    """(address, port) of each of ``resolver``'s nameservers, if all are asked over plain UDP/TCP."""
    servers = [_address_port(server, resolver) for server in resolver.nameservers]
    return None if not servers or None in servers else servers  # type: ignore[return-value]


def _server_text(server: Any, resolver: dns.resolver.BaseResolver) -> str:
    """``HOST:PORT`` / ``[v6]:PORT`` of one of ``resolver``'s nameservers (its own text if it is
    not asked over plain UDP/TCP)."""
    found = _address_port(server, resolver)
    return _host_port(*found) if found else str(server)


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _reply_from_answer(answer: dns.resolver.Answer) -> _Reply:
    """The reply of an answer dnspython read, naming the server that gave it."""
    address, port = getattr(answer, "nameserver", None), getattr(answer, "port", None)
    server = _host_port(address, port) if address and port else None
    return _Reply("answer", _response(answer.response), server=server)
