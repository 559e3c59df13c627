"""The sandbox's DNS server: one zone for the whole miniature internet, served on loopback.

The crawler meets this server exactly as it meets the real DNS: over UDP and TCP on one port,
with NXDOMAIN, NODATA (SOA in authority), CNAME chains, wildcards, truncation and EDNS behaving
as a real server's do, plus per-name faults (SERVFAIL, REFUSED, silence, forced truncation) so
that the crawler's "unknown, never unfiled" paths can be exercised.

Why this design (measured with ``benchmarks/bench_sandbox_dns.py``, 100,000 sites, 2 cores):

* Every answer is built by dnspython (``dns.message.make_response``, ``dns.rrset``) the first
  time a question is seen, and its wire bytes are cached.  Later queries with the same
  header flags, question (case-insensitively) and EDNS shape are answered by copying the cached
  bytes with the client's ID and question spliced in; only that peek at the query header and
  question is done by hand, because parsing every query with dnspython caps a Python server at
  a few thousand queries a second.
* UDP is served by one thread in a blocking ``recvfrom``/``sendto`` loop (the least Python per
  datagram; no event loop); TCP (rare: truncation retries) by a ``socketserver`` thread per
  connection.
* Answers are built on first use, not at start: indexing 100,000 sites takes under a second,
  whereas building every answer up front with dnspython (50-250 us each on this machine) would
  take a minute or more.
* Measured (100,000 sites, dnsperf on the same 2 cores, other work running): start 0.7 s;
  60,000-70,000 queries a second once answers are cached; 4,000-5,000 a second for questions
  seen for the first time, which is dnspython's cost of building an answer.
* A real server (NSD, Knot, dnsmasq) as a subprocess was considered and not used: none of them
  can be told to time out, SERVFAIL or truncate one chosen name, nor to chase CNAMEs across
  the zones of the whole sandbox internet, as the crawler's resolver needs.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from typing import Iterable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rrset
import idna

__all__ = ["Zone", "SandboxDNS", "require_loopback", "BEHAVIOURS", "RECORD_TYPES"]

log = logging.getLogger(__name__)

RECORD_TYPES = frozenset({"A", "AAAA", "CNAME", "TXT", "NS", "SOA", "MX"})
"""Record types a zone holds (the ones the sandbox world needs)."""

BEHAVIOURS = frozenset({"servfail", "timeout", "truncate", "refused"})
"""Faults a name can be given: SERVFAIL; no answer at all; UDP answer with TC set and no records
(TCP gets the full answer); REFUSED."""

MAX_CNAME_CHAIN = 16
"""CNAME links followed in one answer; a loop is cut where it closes (the resolver detects it)."""

EDNS_PAYLOAD = 1232
"""Largest UDP answer sent to an EDNS client (the DNS flag day 2020 figure); 512 without EDNS."""

CACHE_SIZE = 500_000
"""Cached wire answers kept; the oldest are dropped first."""

DEFAULT_SOA = "ns1.sandbox.invalid. hostmaster.sandbox.invalid. 1 3600 600 86400 {ttl}"
"""SOA served for negative answers under a top-level label whose zone declares no SOA."""

_MAX_UDP_QUERY = 65535


def require_loopback(host: str) -> str:
    """Return ``host`` if it is a loopback address literal (127.0.0.0/8 or ::1); else ValueError.

    The sandbox must never listen on, or be reachable at, anything but this machine's loopback.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"sandbox host must be a loopback address literal, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"sandbox host must be on loopback (127.0.0.0/8 or ::1), not {host}")
    return host


def normalise_name(name: str) -> str:
    """Lower-case ASCII (punycode) form of ``name`` without the trailing dot, as zones key names."""
    bare = name.rstrip(".")
    if bare.isascii() and bare == bare.lower():
        return bare
    # The idna package directly: dnspython 2.9 ignores idna releases it thinks too old.
    return idna.encode(bare, uts46=True).decode("ascii").lower()


@dataclass
class Zone:
    """Every record of the sandbox internet, keyed by owner name.

    Names are lower-case ASCII (punycode) without the trailing dot; ``"*.example.cn"`` is a
    wildcard.  Values are zone-file text relative to the root ("a.cdn-example.net" is absolute);
    a TXT value not starting with a double quote is taken as one literal string.
    ``behaviours`` maps a name (or a wildcard) to one of :data:`BEHAVIOURS`.
    """

    records: dict[str, list[tuple[str, str]]]
    behaviours: dict[str, str] = field(default_factory=dict)
    ttl: int = 300

    def add(self, name: str, rtype: str, value: str) -> None:
        """Add one record, normalising the name; ValueError for a type the sandbox does not serve."""
        rtype = rtype.upper()
        if rtype not in RECORD_TYPES:
            raise ValueError(f"unsupported record type {rtype!r}; expected one of {sorted(RECORD_TYPES)}")
        self.records.setdefault(normalise_name(name), []).append((rtype, value))

    def add_rows(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """Add (name, rtype, value) rows, e.g. those of :func:`sandbox.rdap.origin_records`."""
        for name, rtype, value in rows:
            self.add(name, rtype, value)


@dataclass(frozen=True)
class _Resolution:
    """What the zone says about one question, before it is put on the wire."""

    rcode: dns.rcode.Rcode
    answer: tuple[dns.rrset.RRset, ...] = ()
    authority: tuple[dns.rrset.RRset, ...] = ()
    behaviour: str | None = None


class _ZoneIndex:
    """Name lookup over a :class:`Zone`: exact names, empty non-terminals, wildcards, CNAMEs.

    Record values are parsed into dnspython rdata the first time a name is asked for, so that
    indexing a large zone stays quick.  Not thread-safe: callers serialise :meth:`resolve`.
    """

    def __init__(self, zone: Zone) -> None:
        self.ttl = zone.ttl
        self._raw: dict[str, list[tuple[str, str]]] = {}
        for name, rows in zone.records.items():
            self._raw.setdefault(normalise_name(name), []).extend(rows)
        self._behaviours = {normalise_name(n): b for n, b in zone.behaviours.items()}
        unknown = set(self._behaviours.values()) - BEHAVIOURS
        if unknown:
            raise ValueError(f"unknown DNS behaviours {sorted(unknown)}; expected {sorted(BEHAVIOURS)}")
        # Every ancestor of an owner name exists (as an empty non-terminal), RFC 4592 §2.2.2.
        self._existing: set[str] = set(self._raw)
        for name in self._raw:
            labels = name.split(".")
            for i in range(1, len(labels)):
                self._existing.add(".".join(labels[i:]))
        self._parsed: dict[str, dict[int, list[dns.rdata.Rdata]]] = {}
        self._soa: dict[str, dns.rrset.RRset] = {}

    def _rdatas(self, owner: str) -> dict[int, list[dns.rdata.Rdata]]:
        """Parsed records of ``owner`` by type (cached)."""
        parsed = self._parsed.get(owner)
        if parsed is None:
            parsed = {}
            for rtype, value in self._raw.get(owner, ()):
                rdtype = dns.rdatatype.from_text(rtype)
                parsed.setdefault(rdtype, []).append(_parse_rdata(rdtype, value))
            self._parsed[owner] = parsed
        return parsed

    def _owner(self, name: str) -> str | None:
        """The owner whose records answer ``name``: itself, the wildcard at its closest
        encloser, or None when the name does not exist (NXDOMAIN)."""
        if name in self._existing:
            return name
        labels = name.split(".")
        for i in range(1, len(labels) + 1):
            encloser = ".".join(labels[i:])
            if encloser in self._existing or i == len(labels):
                wildcard = f"*.{encloser}" if encloser else "*"
                return wildcard if wildcard in self._raw else None
        return None

    def _negative_soa(self, name: str) -> dns.rrset.RRset:
        """SOA for the authority section of a negative answer about ``name``: the nearest
        enclosing SOA in the zone, else a default one at the name's top-level label."""
        labels = name.split(".")
        apex = labels[-1]
        for i in range(len(labels)):
            candidate = ".".join(labels[i:])
            if candidate in self._raw and dns.rdatatype.SOA in self._rdatas(candidate):
                apex = candidate
                break
        soa = self._soa.get(apex)
        if soa is None:
            rdatas = (self._rdatas(apex) if apex in self._raw else {}).get(dns.rdatatype.SOA) or [
                _parse_rdata(dns.rdatatype.SOA, DEFAULT_SOA.format(ttl=self.ttl))
            ]
            soa = dns.rrset.from_rdata_list(_dname(apex), self.ttl, rdatas)
            self._soa[apex] = soa
        return soa

    def resolve(self, qname: dns.name.Name, rdtype: int) -> _Resolution:
        """Answer ``qname``/``rdtype`` as an authoritative server for the whole sandbox would,
        following CNAMEs through the zone (a loop is served up to where it closes)."""
        answer: list[dns.rrset.RRset] = []
        behaviour: str | None = None
        visited: set[str] = set()
        name = qname
        for _ in range(MAX_CNAME_CHAIN):
            key = name.to_text(omit_final_dot=True).lower() if name != dns.name.root else ""
            owner = self._owner(key)
            behaviour = behaviour or self._behaviours.get(key) or (owner and self._behaviours.get(owner))
            if owner is None:
                return _Resolution(dns.rcode.NXDOMAIN, tuple(answer), (self._negative_soa(key),), behaviour)
            records = self._rdatas(owner)
            cname = records.get(dns.rdatatype.CNAME)
            if cname and rdtype not in (dns.rdatatype.CNAME, dns.rdatatype.ANY):
                answer.append(dns.rrset.from_rdata_list(name, self.ttl, cname[:1]))
                visited.add(key)
                name = cname[0].target
                if name.to_text(omit_final_dot=True).lower() in visited:
                    break
                continue
            wanted = [t for t in records if rdtype in (t, dns.rdatatype.ANY)]
            answer.extend(dns.rrset.from_rdata_list(name, self.ttl, records[t]) for t in wanted)
            if not wanted:
                soa = self._negative_soa(key)
                if soa.name == name and rdtype in (dns.rdatatype.SOA, dns.rdatatype.ANY):
                    return _Resolution(dns.rcode.NOERROR, (*answer, soa), (), behaviour)  # default SOA
                return _Resolution(dns.rcode.NOERROR, tuple(answer), (soa,), behaviour)
            break
        return _Resolution(dns.rcode.NOERROR, tuple(answer), (), behaviour)


def _dname(name: str) -> dns.name.Name:
    return dns.name.from_text(name + "." if name else ".")


_ADDRESS_TYPES = {dns.rdatatype.A: dns.rdtypes.IN.A.A, dns.rdatatype.AAAA: dns.rdtypes.IN.AAAA.AAAA}


def _parse_rdata(rdtype: int, value: str) -> dns.rdata.Rdata:
    """dnspython rdata for one zone value; a bare TXT value is one literal string."""
    if rdtype in _ADDRESS_TYPES:  # the commonest records: built directly, skipping the tokenizer
        return _ADDRESS_TYPES[rdtype](dns.rdataclass.IN, rdtype, value.strip())
    if rdtype == dns.rdatatype.TXT and not value.startswith('"'):
        raw = value.encode()
        chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
        return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, value, origin=dns.name.root, relativize=False)


@dataclass(frozen=True)
class _Peek:
    """What the fast path reads from a query's header and question without a full parse."""

    key: bytes  # header flags and counts, lower-cased question, EDNS version/flags
    question_end: int
    payload: int  # the client's UDP size (512 without EDNS)


def _peek(data: bytes) -> _Peek | None:
    """Read an ordinary query (QUERY opcode, one question, nothing but an optional OPT record)
    just far enough to key the answer cache; anything else returns None for the full parse."""
    n = len(data)
    if n < 17 or data[2] & 0xF8 or data[4:11] != b"\x00\x01\x00\x00\x00\x00\x00" or data[11] > 1:
        return None
    i = 12
    while (length := data[i]) != 0:
        if length > 63:
            return None
        i += length + 1
        if i >= n:
            return None
    end = i + 5
    # Label-length bytes are <= 63, so bytes.lower() only folds the name's letters.
    key = data[2:12] + data[12 : i + 1].lower() + data[i + 1 : end]
    if data[11] == 0:
        return _Peek(key, end, 512) if end == n else None
    # One additional record: it must be an OPT at the root whose RDATA ends the message.
    if n < end + 11 or data[end] != 0 or data[end + 1 : end + 3] != b"\x00\x29":
        return None
    if end + 11 + int.from_bytes(data[end + 9 : end + 11], "big") != n:
        return None
    payload = max(512, int.from_bytes(data[end + 3 : end + 5], "big"))
    return _Peek(key + data[end + 5 : end + 9], end, payload)


class _Responder:
    """Turns query bytes into answer bytes for one zone, with the wire-answer cache."""

    def __init__(self, zone: Zone) -> None:
        self._index = _ZoneIndex(zone)
        # (key, tcp) -> (answer, truncated answer or None); None answer means stay silent.
        self._cache: dict[tuple[bytes, bool], tuple[bytes | None, bytes | None]] = {}
        self._lock = threading.Lock()

    def answer(self, data: bytes, tcp: bool) -> bytes | None:
        """Wire answer to ``data``, or None to send nothing (malformed, or a "timeout" name)."""
        peek = _peek(data)
        if peek is None:
            return self._answer_parsed(data, tcp)
        built = self._cache.get((peek.key, tcp))
        if built is None:
            try:
                query = dns.message.from_wire(data)
            except dns.exception.DNSException:
                return _formerr(data)
            with self._lock:
                built = self._respond(query, tcp)
                if len(self._cache) >= CACHE_SIZE:
                    del self._cache[next(iter(self._cache))]
                self._cache[(peek.key, tcp)] = built
        wire = _fit(built, tcp, peek.payload)
        if wire is None:
            return None
        # Same question length, so compression pointers in the cached answer stay valid.
        return data[:2] + wire[2:12] + data[12 : peek.question_end] + wire[peek.question_end :]

    def _answer_parsed(self, data: bytes, tcp: bool) -> bytes | None:
        """Answer a query the fast path does not key (odd opcode, counts, extra records)."""
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return _formerr(data)
        if query.flags & dns.flags.QR:
            return None
        with self._lock:
            built = self._respond(query, tcp)
        return _fit(built, tcp, query.payload if query.edns >= 0 else 512)

    def _respond(self, query: dns.message.Message, tcp: bool) -> tuple[bytes | None, bytes | None]:
        response = dns.message.make_response(query, recursion_available=True, our_payload=EDNS_PAYLOAD)
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response.to_wire(), None
        if query.edns > 0:
            response.set_rcode(dns.rcode.BADVERS)
            return response.to_wire(), None
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire(), None
        question = query.question[0]
        if question.rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.REFUSED)
            return response.to_wire(), None
        try:
            result = self._index.resolve(question.name, question.rdtype)
        except (dns.exception.DNSException, ValueError) as exc:
            log.warning("sandbox DNS: bad zone data answering %s: %s", question.name, exc)
            result = _Resolution(dns.rcode.SERVFAIL)
        if result.behaviour == "timeout":
            return None, None
        if result.behaviour in ("servfail", "refused"):
            response.set_rcode(dns.rcode.SERVFAIL if result.behaviour == "servfail" else dns.rcode.REFUSED)
            return response.to_wire(), None
        response.flags |= dns.flags.AA
        response.set_rcode(result.rcode)
        if result.behaviour == "truncate" and not tcp:
            truncated = _truncated(response)
            return truncated, truncated
        response.answer.extend(result.answer)
        response.authority.extend(result.authority)
        wire = response.to_wire()
        if tcp or len(wire) <= 512:  # fits any UDP client: no truncated form needed
            return wire, None
        response.answer.clear()
        response.authority.clear()
        return wire, _truncated(response)


def _truncated(response: dns.message.Message) -> bytes:
    """``response`` as sent when its records do not fit: TC set, header and question only."""
    response.flags |= dns.flags.TC
    wire = response.to_wire()
    response.flags &= ~dns.flags.TC
    return wire


def _formerr(data: bytes) -> bytes | None:
    """FORMERR for an unparsable query whose header is readable; silence otherwise."""
    if len(data) < 12 or data[2] & 0x80:
        return None
    response = dns.message.Message(id=int.from_bytes(data[:2], "big"))
    response.flags = dns.flags.QR
    response.set_rcode(dns.rcode.FORMERR)
    return response.to_wire()


def _fit(built: tuple[bytes | None, bytes | None], tcp: bool, payload: int) -> bytes | None:
    """The answer to send: the full one, or over UDP its truncated form when the full one is
    larger than the client allows (512 bytes without EDNS, else its payload up to EDNS_PAYLOAD)."""
    wire, truncated = built
    if wire is None or tcp or truncated is None:
        return wire
    limit = min(payload, EDNS_PAYLOAD) if payload > 512 else 512
    return truncated if len(wire) > limit else wire


class _TCPHandler(socketserver.BaseRequestHandler):
    """One TCP connection: length-prefixed queries in, length-prefixed answers out (RFC 7766)."""

    server: _TCPServer

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(self.server.idle_timeout)
        reader = conn.makefile("rb")
        try:
            while (prefix := reader.read(2)) and len(prefix) == 2:
                data = reader.read(int.from_bytes(prefix, "big"))
                wire = self.server.responder.answer(data, tcp=True)
                if wire is not None:
                    conn.sendall(len(wire).to_bytes(2, "big") + wire)
        except OSError:
            pass
        finally:
            reader.close()


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    idle_timeout = 30.0

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily, responder: _Responder) -> None:
        self.address_family = family
        self.responder = responder
        super().__init__(address, _TCPHandler)


class SandboxDNS:
    """Serves a :class:`Zone` over UDP and TCP on one loopback port, from background threads.

    The zone is read at :meth:`start` (and :meth:`reload`); later edits to it are not seen.
    """

    def __init__(self, zone: Zone, host: str = "127.0.0.1", port: int = 5353) -> None:
        self.zone = zone
        self.host = require_loopback(host)
        self.port = port
        self._responder: _Responder | None = None
        self._udp: socket.socket | None = None
        self._tcp: _TCPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = False

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) being served."""
        return self.host, self.port

    def start(self) -> tuple[str, int]:
        """Index the zone, bind UDP and TCP on the same port (port 0: a free one), and serve in
        background threads; returns (host, port) at once."""
        if self._threads:
            raise RuntimeError("SandboxDNS already started")
        self._responder = _Responder(self.zone)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._udp, self._tcp = _bind_pair(self.host, self.port, family, self._responder)
        self.port = self._udp.getsockname()[1]
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._serve_udp, name=f"sandbox-dns-udp-{self.port}", daemon=True),
            threading.Thread(target=self._tcp.serve_forever, kwargs={"poll_interval": 0.2},
                             name=f"sandbox-dns-tcp-{self.port}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self.host, self.port

    def reload(self, zone: Zone | None = None) -> None:
        """Serve ``zone`` (default: the current zone object, re-read) from now on."""
        if zone is not None:
            self.zone = zone
        responder = _Responder(self.zone)
        self._responder = responder
        if self._tcp is not None:
            self._tcp.responder = responder

    def stop(self) -> None:
        """Stop serving and close both sockets; safe to call twice."""
        if not self._threads:
            return
        self._stopping = True
        assert self._udp is not None and self._tcp is not None
        family = self._udp.family
        with socket.socket(family, socket.SOCK_DGRAM) as waker:  # wakes the blocking recvfrom
            waker.sendto(b"", (self.host, self.port))
        self._tcp.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)
        self._tcp.server_close()
        self._udp.close()
        self._threads = []

    def _serve_udp(self) -> None:
        sock = self._udp
        assert sock is not None
        while True:
            try:
                data, peer = sock.recvfrom(_MAX_UDP_QUERY)
            except OSError:
                return
            if self._stopping:
                return
            assert self._responder is not None
            try:
                wire = self._responder.answer(data, tcp=False)
            except Exception:  # a bad query must never stop the server
                log.exception("sandbox DNS: failed to answer a query from %s", peer)
                continue
            if wire is not None:
                try:
                    sock.sendto(wire, peer)
                except OSError:
                    pass

    def __enter__(self) -> SandboxDNS:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _bind_pair(host: str, port: int, family: socket.AddressFamily,
               responder: _Responder) -> tuple[socket.socket, _TCPServer]:
    """A UDP socket and a TCP server on the same port; with port 0, retried until a port is
    free for both."""
    attempts = 20 if port == 0 else 1
    for attempt in range(attempts):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            udp.bind((host, port))
            bound = udp.getsockname()[1]
            return udp, _TCPServer((host, bound), family, responder)
        except OSError:
            udp.close()
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")

