"""DNS wire format written by hand for the crawler's common question: one A or AAAA over UDP.

Why by hand: asking through ``dns.asyncresolver.Resolver.resolve`` costs about a millisecond of
CPU a question — a new asyncio datagram endpoint per query, ``Message.to_wire``, and above all
``dns.message.from_wire`` (Name objects, enum lookups, RRset merging), then ``Answer`` and
``resolve_chaining`` — and the crawler asks two questions (A and AAAA) per homepage: about a
quarter of a crawler process's CPU.  This module builds the query bytes itself, exchanges them
over a fresh UDP socket on the running loop, and reads only the plain shape of a response:

* the header (QR set, QUERY opcode, TC clear, RCODE NOERROR or NXDOMAIN) and one question, the
  one asked;
* answer records of class IN of type CNAME, A or AAAA;
* authority records of class IN of type SOA (for the negative TTL) or NS (ignored);
* one OPT record in the additional section (extended RCODE 0, options dnspython reads as
  opaque data).

Every record is checked as strictly as ``dns.message.from_wire`` checks it (names as
``dns.name.from_wire_parser`` reads them: compression pointers strictly backwards and not into the
part of the name already read, at most 16 of them, labels of at most 63 bytes, names of at most
255; RDATA filling RDLENGTH exactly; no trailing bytes) and merged as dnspython merges RRsets
(TTL the smallest, duplicate addresses once).  Anything else — truncation, SERVFAIL, REFUSED or
another RCODE, other record types (DNAME, RRSIG, ...) or classes, several CNAMEs for one owner,
several SOAs, names whose text dnspython would escape, malformed data — makes :func:`parse_response`
return None, and the caller (:mod:`crawler.resolve`) asks dnspython instead, which handles all of
it (TCP on truncation, several nameservers, retries).  The tests compare this reading with
dnspython's on every kind of answer the sandbox DNS server gives, and on hostile datagrams.
Measured with ``benchmarks/bench_resolve.py`` (3,000 names, A and AAAA each, cache off): about
0.4 ms of CPU per ``Resolver.resolve_async`` with this path, 2.0 ms with dnspython alone, most of
what remains being asyncio's socket machinery and the kernel's.

:class:`Response` is the neutral form both paths produce: :mod:`crawler.resolve` converts a
dnspython message to it, so the CNAME-chasing rules read one representation.
"""
from __future__ import annotations

import asyncio
import functools
import re
import secrets
import socket
import struct
from typing import NamedTuple

import dns.edns
import dns.ipv6

__all__ = ["Response", "Query", "A", "AAAA", "CNAME", "NOERROR", "NXDOMAIN", "is_plain", "name_wire", "make_query",
           "matches", "parse_response", "exchange"]

A, NS, CNAME, SOA, AAAA, OPT = 1, 2, 5, 6, 28, 41
"""Record types read here (plain ints: comparing with enum members costs more)."""
IN = 1
NOERROR, NXDOMAIN = 0, 3
_HEADER = 12
_MAX_POINTERS = 16  # dns.name.MAX_COMPRESSION_POINTER_CHAIN
_MAX_TTL = 0x7FFFFFFF  # a larger TTL reads as 0 (RFC 2181 §8), as dnspython reads it
_RR = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH
_COUNTS = struct.Struct("!HHHH")
# Labels whose text dnspython writes unescaped and that the crawler meets: letters, digits, "-",
# "_" and "*".  A name with any other byte is left to dnspython, so that its text (escapes and
# all) is dnspython's own.
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_*-]{1,63}(?:\.[A-Za-z0-9_*-]{1,63})*")
_PLAIN_LABELS = re.compile(rb"[A-Za-z0-9_*-]+(?:\.[A-Za-z0-9_*-]+)*")
_ZERO_PREFIX = bytes(10)


@functools.lru_cache(maxsize=None)  # at most 65,536 codes, and responses carry few
def _parsed_option(code: int) -> bool:
    """Whether dnspython parses EDNS option ``code`` into a class of its own (and may refuse it when
    malformed); any other option it keeps as opaque bytes, and only those are read here."""
    try:
        return dns.edns.get_option_class(dns.edns.OptionType.make(code)) is not dns.edns.GenericOption
    except ValueError:
        return True  # not a code dnspython takes: declined, dnspython reports it


class Response(NamedTuple):
    """What one NOERROR or NXDOMAIN response says, in the form both wire paths produce.

    ``rrsets`` maps (owner, type) to (TTL, values) for the answer section's class IN records of
    type A, AAAA and CNAME, merged as dnspython merges RRsets: owner names as lower-case text
    without the final dot, values the addresses' text (in wire order, each once) or the CNAME
    target's name.  ``soa`` is (TTL, MINIMUM) of the authority section's first SOA, if any.
    """

    rcode: int
    rrsets: dict[tuple[str, int], tuple[int, tuple[str, ...]]]
    soa: tuple[int, int] | None


class Query(NamedTuple):
    """One query as sent: its bytes, and what a matching response must echo."""

    wire: bytes
    qid: int
    name: bytes  # the question's name, lower-case wire form
    question: bytes  # the question as sent: name, type and class


def is_plain(text: str) -> bool:
    """Whether ``text`` (no final dot) is a valid DNS name of labels of letters, digits, "-", "_"
    and "*" only: the names this module writes and reads, whose dnspython text is ``text`` itself."""
    return len(text) <= 253 and _PLAIN_TEXT.fullmatch(text) is not None


def name_wire(text: str) -> bytes | None:
    """Wire form of a plain absolute name (``"a.example.cn"``, no final dot), or None for any name
    this module does not read (see :func:`is_plain`: escapes, other characters, the root)."""
    if not is_plain(text):
        return None
    return b"".join(len(label).to_bytes(1, "big") + label.encode("ascii") for label in text.split(".")) + b"\0"


def make_query(text: str, rdtype: int, payload: int) -> Query | None:
    """The query dnspython sends for ``text``/``rdtype`` after ``use_edns(0, 0, payload)``: a
    random ID (from the system's CSPRNG: with a random source port, the defence against spoofed
    answers), RD set, one question of class IN and an OPT record (version 0, no flags, no
    options); None when :func:`name_wire` does not write the name."""
    wire = name_wire(text)
    if wire is None:
        return None
    qid = secrets.randbits(16)
    question = wire + struct.pack("!HH", rdtype, IN)
    opt = b"\x00" + struct.pack("!HHIH", OPT, payload, 0, 0)
    message = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1) + question + opt
    return Query(message, qid, wire.lower(), question)


def matches(data: bytes, query: Query) -> bool:
    """Whether ``data`` answers ``query``: same ID, QR set, QUERY opcode, and the same question
    (the name compared case-insensitively: label-length bytes are below "A", so ``bytes.lower``
    folds only letters), or no question at all with an error RCODE (as dnspython's
    ``Message.is_response`` accepts).  Anything else is not an answer to this query and is ignored."""
    if len(data) < _HEADER or data[0] != query.qid >> 8 or data[1] != query.qid & 0xFF:
        return False
    if data[2] & 0xF8 != 0x80:  # QR set, opcode QUERY
        return False
    if data[4:6] == b"\x00\x00":
        return data[3] & 0x0F in (1, 2, 4, 5)  # FORMERR, SERVFAIL, NOTIMP, REFUSED
    middle = _HEADER + len(query.name)
    return (data[4:6] == b"\x00\x01" and data[_HEADER:middle].lower() == query.name
            and data[middle : middle + 4] == query.question[-4:])


def _name(data: bytes, offset: int, end: int, text: bool = True) -> tuple[str, int] | None:
    """Read the (possibly compressed) name at ``offset``, not reading at or past ``end``, as
    ``dns.name.from_wire_parser`` reads it: (lower-case text, offset just past the name), or None
    when dnspython would refuse it or, with ``text``, when it is the root or its text would need
    escapes.  Without ``text`` the name is only checked (SOA and NS names) and "" returned."""
    labels: list[bytes] = []
    start = offset  # dnspython's biggest_pointer and restrict_end both stand here
    after = -1
    pointers = 0
    length = 1
    while True:
        if offset >= end:
            return None
        count = data[offset]
        if count == 0:
            offset += 1
            break
        if count < 64:
            offset += count + 1
            if offset > end:
                return None
            labels.append(data[offset - count : offset])
            length += count + 1
        elif count >= 192:
            if offset + 1 >= end:
                return None
            target = (count & 0x3F) << 8 | data[offset + 1]
            if after < 0:
                after = offset + 2
            # dnspython: a pointer must point below the start of the part read last (strictly
            # backwards, so never a loop), and the name there must end before that part.
            if target >= start:
                return None
            pointers += 1
            if pointers > _MAX_POINTERS:
                return None
            end = start
            offset = start = target
        else:  # extended label types (0x40, 0x80): dnspython's BadLabelType
            return None
    if length > 255:  # dnspython: NameTooLong
        return None
    if after < 0:
        after = offset
    if not text:
        return "", after
    joined = b".".join(labels)
    # A label holding a "." byte would be escaped ("\.") by dnspython: count the dots.
    if not labels or not _PLAIN_LABELS.fullmatch(joined) or joined.count(b".") != len(labels) - 1:
        return None
    return joined.decode("ascii").lower(), after


def _address(rdata: bytes) -> str:
    if len(rdata) == 4:
        return socket.inet_ntoa(rdata)
    if rdata[:10] == _ZERO_PREFIX:
        # "::a.b.c.d" and "::ffff:a.b.c.d" forms: the C library's rules differ from dnspython's.
        return dns.ipv6.inet_ntoa(rdata)
    return socket.inet_ntop(socket.AF_INET6, rdata)


def _record(data: bytes, offset: int, size: int) -> tuple[int, int, int, int] | None:
    """(type, TTL, RDATA start, RDATA end) of the class IN record whose fixed fields start at
    ``offset``, or None when it is of another class or runs past the message."""
    if offset + 10 > size:
        return None
    rdtype, rdclass, ttl, rdlength = _RR.unpack_from(data, offset)
    offset += 10
    stop = offset + rdlength
    if rdclass != IN or stop > size:
        return None
    return rdtype, (0 if ttl > _MAX_TTL else ttl), offset, stop


def parse_response(data: bytes, query: Query) -> Response | None:
    """Read a datagram that :func:`matches` ``query``; None for anything not of the plain shape
    (see the module docstring), which dnspython must then handle."""
    size = len(data)
    if size < _HEADER or data[2] & 0x02:  # TC: the whole answer needs TCP
        return None
    rcode = data[3] & 0x0F
    if rcode != NOERROR and rcode != NXDOMAIN:
        return None
    qdcount = data[4] << 8 | data[5]
    ancount, nscount, arcount = _COUNTS.unpack_from(data, 4)[1:]
    if qdcount != 1:
        return None
    offset = _HEADER + len(query.question)
    if offset > size:
        return None
    rrsets: dict[tuple[str, int], tuple[int, tuple[str, ...]]] = {}
    raw: dict[tuple[str, int], list[bytes]] = {}
    for _ in range(ancount):
        read = _name(data, offset, size)
        if read is None:
            return None
        owner, offset = read
        record = _record(data, offset, size)
        if record is None:
            return None
        rdtype, ttl, offset, stop = record
        key = (owner, rdtype)
        if rdtype == A or rdtype == AAAA:
            if stop - offset != (4 if rdtype == A else 16):
                return None
            rdata = data[offset:stop]
            seen = raw.get(key)
            if seen is None:
                raw[key] = [rdata]
                rrsets[key] = (ttl, (_address(rdata),))
            else:
                old_ttl, values = rrsets[key]
                if rdata not in seen:  # an RRset holds each record once
                    seen.append(rdata)
                    values = (*values, _address(rdata))
                rrsets[key] = (min(old_ttl, ttl), values)
        elif rdtype == CNAME:
            if key in rrsets:  # dnspython keeps the last of several CNAMEs: rare, left to it
                return None
            read = _name(data, offset, stop)
            if read is None or read[1] != stop:
                return None
            rrsets[key] = (ttl, (read[0],))
        else:  # DNAME, RRSIG, other types answering an A/AAAA question: dnspython's business
            return None
        offset = stop
    soa: tuple[int, int] | None = None
    for _ in range(nscount):
        read = _name(data, offset, size, text=False)
        if read is None:
            return None
        record = _record(data, read[1], size)
        if record is None:
            return None
        rdtype, ttl, offset, stop = record
        if rdtype == SOA:
            if soa is not None:  # several SOAs: RRset merging rules differ, left to dnspython
                return None
            mname = _name(data, offset, stop, text=False)
            rname = mname and _name(data, mname[1], stop, text=False)
            if not rname or rname[1] + 20 != stop:
                return None
            soa = (ttl, int.from_bytes(data[stop - 4 : stop], "big"))
        elif rdtype == NS:  # delegation information some resolvers add; checked, not used
            read = _name(data, offset, stop, text=False)
            if read is None or read[1] != stop:
                return None
        else:  # NSEC, RRSIG, ...
            return None
        offset = stop
    if arcount > 1:  # several additional records: not the plain shape
        return None
    if arcount:  # one OPT record, at the root
        if offset + 11 > size or data[offset] != 0:
            return None
        rdtype, _payload, ttl, rdlength = _RR.unpack_from(data, offset + 1)
        offset += 11
        stop = offset + rdlength
        if rdtype != OPT or ttl >> 24 or stop > size:  # ttl >> 24: the extended RCODE
            return None
        while offset < stop:  # options: code, length, data, filling RDLENGTH exactly
            if offset + 4 > stop:
                return None
            code, length = struct.unpack_from("!HH", data, offset)
            offset += 4 + length
            if offset > stop or _parsed_option(code):
                return None
    if offset != size:  # trailing junk
        return None
    return Response(rcode, rrsets, soa)


async def exchange(address: tuple[str, int], query: Query, timeout: float) -> bytes | None:
    """Send ``query`` to ``address`` (an IP literal and port) from a fresh UDP socket (a new
    random source port each time) and return the first datagram from that address and port that
    :func:`matches` the query; None when none came within ``timeout`` seconds.  Datagrams from
    elsewhere or not matching are ignored, as dnspython ignores them.  OSError propagates."""
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    loop = asyncio.get_running_loop()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            async with asyncio.timeout(timeout):
                await loop.sock_sendto(sock, query.wire, address)
                while True:
                    data, peer = await loop.sock_recvfrom(sock, 65535)
                    if peer[1] == port and _same_host(peer[0], host, family) and matches(data, query):
                        return data
        except TimeoutError:
            return None


def _same_host(peer: str, host: str, family: socket.AddressFamily) -> bool:
    """Whether the kernel's text of the sender's address is ``host`` (compared as bytes when the
    two texts differ, e.g. another spelling of one IPv6 address)."""
    if peer == host:
        return True
    try:
        return socket.inet_pton(family, peer.partition("%")[0]) == socket.inet_pton(family, host)
    except OSError:
        return False
