"""The sandbox's DNS server: one zone for the whole miniature internet, served on loopback.

The crawler meets this server exactly as it meets the real DNS: over UDP and TCP on one port,
with NXDOMAIN, NODATA (SOA in authority), CNAME chains, wildcards, truncation and EDNS behaving
as a real server's do, plus per-name faults (SERVFAIL, REFUSED, silence, forced truncation) so
that the crawler's "unknown, never unfiled" paths can be exercised.

Why this design (measured with ``benchmarks/bench_sandbox_dns.py``, 100,000 sites, 2 cores):

* Ordinary queries (one question, class IN, no record but an optional OPT) are read, resolved and
  answered in wire form by hand (``sandbox.dnswire``): the zone's values are encoded to RDATA the
  first time their name is asked for, and answers are framed with ``struct`` and compression
  pointers to the question.  Building each answer with dnspython cost 200-300 us of CPU, which
  held the server to 1,700-5,000 new questions a second; by hand it costs 13-16 us.  dnspython
  still parses zone values other than addresses, names, plain MX and plain TXT, and answers
  every other query (other opcodes, classes, EDNS versions, extra records, garbage).
* Every answer's wire bytes are cached.  Later queries with the same header flags, question
  (case-insensitively) and EDNS shape are answered by copying the cached bytes with the
  client's ID and question spliced in (2-3 us).
* UDP is served by one thread in a blocking ``recvfrom``/``sendto`` loop (the least Python per
  datagram; no event loop); TCP (rare: truncation retries) by a ``socketserver`` thread per
  connection.
* Answers are built on first use, not at start: indexing 100,000 sites takes about 0.5 s of CPU.
  The index holds tuples of strings, bytes and ints only, which the garbage collector stops
  tracking: with per-name dicts or lists, its full passes took 0.3-0.6 s each and came every
  few tens of thousands of new names.
* Measured (100,000 sites, each of the zone's 350,000 questions asked once, then looped; dnsperf
  on the same 2 cores while other work kept them busy, load average 7-15): server CPU 19-26 us
  per new question and 5-6 us per repeated one, socket calls included, i.e. about 40,000 and
  170,000 a second of one core; 8,700-21,000 new and 42,000-80,000 repeated questions a second
  as the load varied; start 0.5-2.4 s (0.4-0.45 s of CPU).
* A real server (NSD, Knot, dnsmasq) as a subprocess was considered and not used: none of them
  can be told to time out, SERVFAIL or truncate one chosen name, nor to chase CNAMEs across
  the zones of the whole sandbox internet, as the crawler's resolver needs; with the hand-written
  path Python keeps up on its own.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import socketserver
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import idna

from . import dnswire
from .dnswire import EDNS_PAYLOAD  # largest UDP answer sent to an EDNS client; 512 without EDNS

__all__ = ["Zone", "SandboxDNS", "require_loopback", "BEHAVIOURS", "RECORD_TYPES"]

log = logging.getLogger(__name__)

RECORD_TYPES = frozenset({"A", "AAAA", "CNAME", "TXT", "NS", "SOA", "MX"})
"""Record types a zone holds (the ones the sandbox world needs)."""

BEHAVIOURS = frozenset({"servfail", "timeout", "truncate", "refused"})
"""Faults a name can be given: SERVFAIL; no answer at all; UDP answer with TC set and no records
(TCP gets the full answer); REFUSED."""

MAX_CNAME_CHAIN = 16
"""CNAME links followed in one answer; a loop is cut where it closes (the resolver detects it)."""

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


class _Resolution(NamedTuple):
    """What the zone says about one question: the answer and authority records in wire form."""

    rcode: int
    answer: Sequence[bytes]
    authority: Sequence[bytes]
    behaviour: str | None


# Plain ints, not dnspython's enum members, which the garbage collector tracks (and with them
# every tuple holding one).
_RDTYPES = {text: int(dns.rdatatype.from_text(text)) for text in RECORD_TYPES}
_CNAME, _SOA, _ANY = int(dns.rdatatype.CNAME), int(dns.rdatatype.SOA), int(dns.rdatatype.ANY)


def _rdtype(text: str) -> int:
    return _RDTYPES.get(text) or int(dns.rdatatype.from_text(text))


class _ZoneIndex:
    """Name lookup over a :class:`Zone`: exact names, empty non-terminals, wildcards, CNAMEs.

    Record values are encoded to wire RDATA the first time a name is asked for, so that indexing
    a large zone stays quick.  Those lazily filled tables are the only state: two threads
    resolving at once at worst encode the same name twice.
    """

    def __init__(self, zone: Zone) -> None:
        self.ttl = zone.ttl
        # Tuples, not lists or dicts, in this index's tables, including those filled as names are
        # asked for: the garbage collector stops tracking tuples of strings and numbers, so its
        # full passes (0.3-0.6 s each at 100,000 sites) neither walk the tables nor come more often
        # as they grow.
        self._names: dict[str, tuple[tuple[str, str], ...]] = {}  # every existing name -> its rows
        for name, rows in zone.records.items():
            key = normalise_name(name)
            self._names[key] = self._names.get(key, ()) + tuple(rows)
        # Every ancestor of an owner name exists, as an empty non-terminal, RFC 4592 §2.2.2.  An
        # ancestor already there has its own ancestors added, or will have as an owner.
        for name in list(self._names):
            labels = name.split(".")
            for i in range(1, len(labels)):
                ancestor = ".".join(labels[i:])
                if ancestor in self._names:
                    break
                self._names[ancestor] = ()
        self._behaviours = {normalise_name(n): b for n, b in zone.behaviours.items()}
        unknown = set(self._behaviours.values()) - BEHAVIOURS
        if unknown:
            raise ValueError(f"unknown DNS behaviours {sorted(unknown)}; expected {sorted(BEHAVIOURS)}")
        self._soa_owners = {name for name, rows in self._names.items()
                            if any(_rdtype(rtype) == _SOA for rtype, _ in rows)}
        self._encoded: dict[str, tuple[tuple[int, tuple[bytes, ...]], ...]] = {}
        self._soa: dict[str, tuple[bytes, ...]] = {}  # apex -> its SOA records for negative answers

    def _records(self, owner: str) -> tuple[tuple[int, tuple[bytes, ...]], ...]:
        """``owner``'s records: (type, wire RDATA of each record once, as in an RRset), a CNAME
        first, else in zone order (cached)."""
        records = self._encoded.get(owner)
        if records is None:
            by_type: dict[int, tuple[bytes, ...]] = {}
            for rtype, value in self._names.get(owner, ()):
                rdtype = _rdtype(rtype)
                wire = dnswire.rdata_wire(rdtype, value)
                same = by_type.get(rdtype, ())
                if wire not in same:
                    by_type[rdtype] = (*same, wire)
            if _CNAME in by_type:
                by_type = {_CNAME: by_type.pop(_CNAME), **by_type}
            records = self._encoded[owner] = tuple(by_type.items())
        return records

    def _owner(self, name: str) -> str | None:
        """The owner whose records answer ``name``: itself, the wildcard at its closest
        encloser, or None when the name does not exist (NXDOMAIN)."""
        if name in self._names:
            return name
        labels = name.split(".")
        for i in range(1, len(labels) + 1):
            encloser = ".".join(labels[i:])
            if encloser in self._names or i == len(labels):
                wildcard = f"*.{encloser}" if encloser else "*"
                return wildcard if self._names.get(wildcard) else None
        return None

    def _negative_soa(self, name: str) -> tuple[str, tuple[bytes, ...]]:
        """Apex and SOA records for the authority section of a negative answer about ``name``:
        the nearest enclosing SOA in the zone, else a default one at the name's top-level label."""
        apex = name.rpartition(".")[2]
        if self._soa_owners:
            labels = name.split(".")
            for i in range(len(labels)):
                candidate = ".".join(labels[i:])
                if candidate in self._soa_owners:
                    apex = candidate
                    break
        records = self._soa.get(apex)
        if records is None:
            rdatas = dict(self._records(apex)).get(_SOA) or [
                dnswire.rdata_wire(_SOA, DEFAULT_SOA.format(ttl=self.ttl))]
            owner = dnswire.name_wire(apex or ".")
            records = tuple(dnswire.rr(owner, _SOA, self.ttl, rdata) for rdata in rdatas)
            self._soa[apex] = records
        return apex, records

    def resolve(self, name: str, rdtype: int, at: int) -> _Resolution:
        """Answer ``name`` (lower-case text of the question's name)/``rdtype`` as an authoritative
        server for the whole sandbox would, following CNAMEs through the zone (a loop is served
        up to where it closes).  ``at`` is the offset of the answer section in the message: owner
        names are compression pointers to the question's name or to the CNAME target before."""
        answer: list[bytes] = []
        behaviour: str | None = None
        visited: set[str] = set()
        owner_wire = dnswire.QUESTION_NAME
        for _ in range(MAX_CNAME_CHAIN):
            owner = self._owner(name)
            if self._behaviours:
                behaviour = behaviour or self._behaviours.get(name) or (owner and self._behaviours.get(owner))
            if owner is None:
                return _Resolution(dns.rcode.NXDOMAIN, answer, self._negative_soa(name)[1], behaviour)
            records = self._records(owner)
            if records and records[0][0] == _CNAME and rdtype != _CNAME and rdtype != _ANY:
                target = records[0][1][0]
                record = dnswire.rr(owner_wire, _CNAME, self.ttl, target)
                answer.append(record)
                at += len(record)
                owner_wire = dnswire.pointer(at - len(target)) or target
                visited.add(name)
                name = dnswire.name_text(target).lower()
                if name in visited:
                    break
                continue
            found = False
            for t, rdatas in records:
                if t == rdtype or rdtype == _ANY:
                    found = True
                    answer += [dnswire.rr(owner_wire, t, self.ttl, rdata) for rdata in rdatas]
            if not found:
                apex, soa = self._negative_soa(name)
                if apex == name and rdtype in (_SOA, _ANY):
                    return _Resolution(dns.rcode.NOERROR, [*answer, *soa], (), behaviour)  # default SOA
                return _Resolution(dns.rcode.NOERROR, answer, soa, behaviour)
            break
        return _Resolution(dns.rcode.NOERROR, answer, (), behaviour)


class _Responder:
    """Turns query bytes into answer bytes for one zone, with the wire-answer cache."""

    def __init__(self, zone: Zone) -> None:
        self._index = _ZoneIndex(zone)
        # (key, tcp) -> (answer, truncated answer or None); None answer means stay silent.
        self._cache: dict[tuple[bytes, bool], tuple[bytes | None, bytes | None]] = {}
        self._lock = threading.Lock()

    def answer(self, data: bytes, tcp: bool) -> bytes | None:
        """Wire answer to ``data``, or None to send nothing (malformed, or a "timeout" name)."""
        question = dnswire.read_query(data)
        if question is None:
            return self._answer_parsed(data, tcp)
        built = self._cache.get((question.key, tcp))
        if built is None:
            built = self._build(data, question, tcp)
            if built is None:
                return self._answer_parsed(data, tcp)
            with self._lock:
                if len(self._cache) >= CACHE_SIZE:
                    del self._cache[next(iter(self._cache))]
                self._cache[(question.key, tcp)] = built
            return _fit(built, tcp, question.payload)  # built for this very query
        wire = _fit(built, tcp, question.payload)
        if wire is None:
            return None
        # Same question length, so compression pointers in the cached answer stay valid.
        return data[:2] + wire[2:12] + data[12 : question.end] + wire[question.end :]

    def _build(self, data: bytes, question: dnswire.Question,
               tcp: bool) -> tuple[bytes | None, bytes | None] | None:
        """The answer to an ordinary query and, when it may not fit a UDP client, its truncated
        form; None for a class other than IN or an EDNS version above 0 (dnspython answers)."""
        if question.rdclass != dns.rdataclass.IN or question.edns > 0:
            return None
        try:
            result = self._index.resolve(dnswire.name_text(question.name), question.rdtype, question.end)
        except (dns.exception.DNSException, ValueError, OSError) as exc:
            log.warning("sandbox DNS: bad zone data answering %r: %s", question.name, exc)
            result = _Resolution(dns.rcode.SERVFAIL, (), (), None)
        if result.behaviour == "timeout":
            return None, None
        if result.behaviour in ("servfail", "refused"):
            rcode = dns.rcode.SERVFAIL if result.behaviour == "servfail" else dns.rcode.REFUSED
            return dnswire.message(data, question, rcode, authoritative=False), None
        if result.behaviour == "truncate" and not tcp:
            truncated = dnswire.message(data, question, result.rcode, truncated=True)
            return truncated, truncated
        wire = dnswire.message(data, question, result.rcode, answer=result.answer, authority=result.authority)
        if tcp or len(wire) <= 512:  # fits any UDP client: no truncated form needed
            return wire, None
        return wire, dnswire.message(data, question, result.rcode, truncated=True)

    def _answer_parsed(self, data: bytes, tcp: bool) -> bytes | None:
        """Answer, with dnspython, a query that :func:`dnswire.read_query` does not read or that
        :meth:`_build` declines (another opcode, class or EDNS version, several questions or
        records, a compressed question)."""
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return _formerr(data)
        if query.flags & dns.flags.QR:
            return None
        response = dns.message.make_response(query, recursion_available=True, our_payload=EDNS_PAYLOAD)
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
        elif query.edns > 0:
            response.set_rcode(dns.rcode.BADVERS)
        elif len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
        elif query.question[0].rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.REFUSED)
        else:
            # An ordinary question in an unusual message (extra records, a compressed name): the
            # answer is the one to the plain query for it, which read_query reads and _build serves.
            question = query.question[0]
            plain = dns.message.make_query(question.name, question.rdtype, use_edns=query.edns,
                                           payload=query.payload)
            plain.id, plain.flags = query.id, query.flags
            return self.answer(plain.to_wire(), tcp)
        return response.to_wire()


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

