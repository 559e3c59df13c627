"""DNS wire format written by hand for the sandbox server's common path.

Why by hand: building one answer with dnspython (``dns.message``, ``dns.rrset``, ``dns.name``)
costs 150-300 us of CPU, which held the sandbox server to a few thousand questions a second
asked for the first time; it must answer 20,000 a second with 100,000 sites.  Only the plain
cases are here: reading an ordinary query's question, encoding names, addresses and plain TXT
strings, and framing an answer.  dnspython still parses every other zone value and every query
this module does not read (see ``sandbox.dns``), and the tests compare these answers with
dnspython's parse of them.
"""
from __future__ import annotations

import re
import socket
import struct
from collections.abc import Sequence
from typing import NamedTuple

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

__all__ = ["Question", "read_query", "name_text", "name_wire", "rdata_wire", "rr", "pointer", "message",
           "HEADER", "QUESTION_NAME", "EDNS_PAYLOAD"]

HEADER = 12
"""Bytes of the DNS header; the question's name starts here."""

QUESTION_NAME = b"\xc0\x0c"
"""Compression pointer to the question's name, the owner of most answer records."""

EDNS_PAYLOAD = 1232
"""UDP payload size this server advertises (the DNS flag day 2020 figure)."""

_OPT = b"\x00\x00\x29" + EDNS_PAYLOAD.to_bytes(2, "big") + bytes(6)  # root, OPT, size, version 0, no options
_RR_FIXED = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH
_COUNTS = struct.Struct("!HHHH")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_*-]{1,63}(?:\.[A-Za-z0-9_*-]{1,63})*\.?")
_MAX_POINTER = 0x3FFF


class Question(NamedTuple):
    """An ordinary query as :func:`read_query` reads it."""

    key: bytes  # cache key: header flags and counts, lower-cased question, EDNS version and flags
    name: bytes  # the question's name, lower-cased, wire form
    rdtype: int
    rdclass: int
    end: int  # offset just past the question
    edns: int  # EDNS version, -1 without an OPT record
    payload: int  # the client's UDP size (512 without EDNS)


def read_query(data: bytes) -> Question | None:
    """Read an ordinary query (QUERY opcode, one question, nothing but an optional OPT record);
    anything else returns None for a full parse.  EDNS options are ignored, as RFC 6891 §6.1.2
    lets a server that implements none (padding, RFC 8467, is for encrypted transports)."""
    n = len(data)
    if n < 17 or data[2] & 0xF8 or data[4:11] != b"\x00\x01\x00\x00\x00\x00\x00" or data[11] > 1:
        return None
    i = HEADER
    while (length := data[i]) != 0:
        if length > 63:  # a compression pointer or an extended label type
            return None
        i += length + 1
        if i >= n:
            return None
    end = i + 5
    if end > n:
        return None
    # Label-length bytes are <= 63, so bytes.lower() only folds the name's letters.
    name = data[HEADER : i + 1].lower()
    rdtype, rdclass = struct.unpack_from("!HH", data, i + 1)
    key = data[2:12] + name + data[i + 1 : end]
    if data[11] == 0:
        return Question(key, name, rdtype, rdclass, end, -1, 512) if end == n else None
    # One additional record: it must be an OPT at the root whose RDATA ends the message.
    if n < end + 11 or data[end] != 0 or data[end + 1 : end + 3] != b"\x00\x29":
        return None
    if end + 11 + int.from_bytes(data[end + 9 : end + 11], "big") != n:
        return None
    payload = max(512, int.from_bytes(data[end + 3 : end + 5], "big"))
    return Question(key + data[end + 5 : end + 9], name, rdtype, rdclass, end, data[end + 6], payload)


def name_text(wire: bytes) -> str:
    """The text of an uncompressed wire name, without the final dot ("" for the root)."""
    text = bytearray(wire)
    i = labels = 0
    while length := text[i]:
        text[i] = 0x2E  # "."
        i += length + 1
        labels += 1
    name = text[1:-1].decode("latin-1")
    if name.count(".") == labels - 1 or not labels:
        return name
    return dns.name.from_wire(wire, 0)[0].to_text(omit_final_dot=True)  # a label with a dot: escaped


def name_wire(text: str) -> bytes:
    """Uncompressed wire form of an absolute zone-file name ("a.example.cn" or "a.example.cn.")."""
    if _PLAIN_NAME.fullmatch(text) and len(text) < 254:
        return "".join([chr(len(label)) + label for label in text.rstrip(".").split(".")]).encode() + b"\0"
    return dns.name.from_text(text, origin=dns.name.root).to_wire()  # escapes, IDN, root


def rdata_wire(rdtype: int, value: str) -> bytes:
    """RDATA of one zone value, uncompressed; a TXT value not starting with a double quote is one
    literal string.  Addresses, names, plain MX values and such TXT strings are encoded here, the
    rest (quoted TXT, SOA, anything unusual) by dnspython."""
    if rdtype == dns.rdatatype.A:
        return socket.inet_pton(socket.AF_INET, value.strip())
    if rdtype == dns.rdatatype.AAAA:
        return socket.inet_pton(socket.AF_INET6, value.strip())
    if rdtype in (dns.rdatatype.CNAME, dns.rdatatype.NS):
        return name_wire(value.strip())
    if rdtype == dns.rdatatype.MX:
        preference, _, exchange = value.strip().partition(" ")
        if preference.isdigit() and int(preference) <= 0xFFFF and exchange and " " not in exchange:
            return int(preference).to_bytes(2, "big") + name_wire(exchange)
    if rdtype == dns.rdatatype.TXT and not value.startswith('"'):
        raw = value.encode()
        if len(raw) < 256:
            return bytes((len(raw),)) + raw
        chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)]
        return b"".join(bytes((len(chunk),)) + chunk for chunk in chunks)
    rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, value, origin=dns.name.root, relativize=False)
    return rdata.to_wire()


def rr(owner: bytes, rdtype: int, ttl: int, rdata: bytes) -> bytes:
    """One resource record of class IN: ``owner`` is a wire name or a compression pointer."""
    return owner + _RR_FIXED.pack(rdtype, dns.rdataclass.IN, ttl, len(rdata)) + rdata


def pointer(offset: int) -> bytes | None:
    """A compression pointer to ``offset``, or None past the 14 bits a pointer holds."""
    return (0xC000 | offset).to_bytes(2, "big") if offset <= _MAX_POINTER else None


def message(query: bytes, question: Question, rcode: int, *, authoritative: bool = True,
            truncated: bool = False, answer: Sequence[bytes] = (), authority: Sequence[bytes] = ()) -> bytes:
    """The answer to ``query`` with ``rcode`` (below 16) and the given records: its ID and question
    echoed, RD copied and RA set as dnspython's ``make_response(recursion_available=True)`` does,
    and an OPT record (version 0, no options) when the query had one."""
    flags = 0x80 | (query[2] & 0x01) | (0x04 if authoritative else 0) | (0x02 if truncated else 0)
    edns = question.edns >= 0
    return b"".join((query[:2], bytes((flags, 0x80 | rcode)),
                     _COUNTS.pack(1, len(answer), len(authority), edns), query[HEADER : question.end],
                     *answer, *authority, _OPT if edns else b""))
