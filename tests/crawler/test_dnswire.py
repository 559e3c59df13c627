"""The crawler's hand-written DNS wire path against dnspython, over real sockets on loopback.

* Every kind of answer the sandbox DNS server gives is read by :func:`dnswire.parse_response`
  exactly as dnspython reads it (compared in the neutral form :func:`crawler.resolve._response`
  makes of dnspython's message), or declined (None) where dnspython must handle it.
* Hostile datagrams: malformed ones are declined, and whatever the hand parser does accept,
  dnspython accepts and reads the same (mutations of real answers); datagrams with a wrong ID,
  a wrong question, or from another address or port are ignored, not accepted.
* :meth:`Resolver.resolve_async` gives identical results with the fast path on and off.
"""
from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import dns.exception
import dns.flags
import dns.ipv6
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from crawler import dnswire
from crawler.resolve import EDNS_PAYLOAD, Resolution, Resolver, _response
from sandbox.dns import SandboxDNS, Zone

A, AAAA = dns.rdatatype.A, dns.rdatatype.AAAA


def build_zone() -> Zone:
    """Every shape of answer the sandbox gives an A or AAAA question."""
    zone = Zone(records={}, behaviours={
        "broken.t.cn": "servfail", "silent.t.cn": "timeout", "tc.t.cn": "truncate", "closed.t.cn": "refused",
    })
    rows = [
        ("v4.t.cn", "A", "127.0.3.1"),
        ("v6.t.cn", "AAAA", "::1"),
        ("dual.t.cn", "A", "127.0.3.2"), ("dual.t.cn", "A", "127.0.3.3"), ("dual.t.cn", "AAAA", "::1"),
        ("dual.t.cn", "AAAA", "2001:db8::7"), ("dual.t.cn", "AAAA", "::ffff:127.0.0.9"),
        ("mixed.t.cn", "A", "127.0.3.4"), ("mixed.t.cn", "A", "10.1.2.3"), ("mixed.t.cn", "A", "203.0.113.7"),
        ("mixed.t.cn", "TXT", "v=spf1 -all"), ("mixed.t.cn", "MX", "10 mail.t.cn"),
        ("www.t.cn", "CNAME", "t.cn.cdn-a.net"),
        ("t.cn.cdn-a.net", "CNAME", "edge7.cdn-b.net"),
        ("edge7.cdn-b.net", "A", "127.0.3.5"), ("edge7.cdn-b.net", "AAAA", "::1"),
        ("caps.t.cn", "CNAME", "EDGE7.CDN-B.NET."),
        ("dangling.t.cn", "CNAME", "gone.cdn-a.net"),
        ("mx-only.t.cn", "MX", "10 mail.t.cn"),
        ("deep.sub.t.cn", "A", "127.0.3.6"),
        ("*.wild.t.cn", "A", "127.0.3.7"),
        ("loop1.t.cn", "CNAME", "loop2.t.cn"), ("loop2.t.cn", "CNAME", "loop3.t.cn"),
        ("loop3.t.cn", "CNAME", "loop1.t.cn"),
        ("self.t.cn", "CNAME", "self.t.cn"),
        ("tc.t.cn", "A", "127.0.3.8"), ("broken.t.cn", "A", "127.0.3.9"),
        ("silent.t.cn", "A", "127.0.3.10"), ("closed.t.cn", "A", "127.0.3.11"),
        ("例子.中国", "A", "127.0.3.12"),
        ("_srv-like.t.cn", "A", "127.0.3.15"),
        ("soa.cn", "SOA", "ns1.soa.cn. admin.soa.cn. 7 3600 600 86400 42"),
        ("here.soa.cn", "A", "127.0.3.16"),
        ("to-soa.t.cn", "CNAME", "gone.soa.cn"),
    ]
    for name, rtype, value in rows:
        zone.add(name, rtype, value)
    for i in range(100):  # 100 addresses: 1,600 bytes, more than the 1,232 a UDP answer may carry
        zone.add("big.t.cn", "A", f"127.0.4.{i + 1}")
    for i in range(12):  # c0 -> ... -> c12 (A): 12 links
        zone.add(f"c{i}.t.cn", "CNAME", f"c{i + 1}.t.cn")
    zone.add("c12.t.cn", "A", "127.0.3.13")
    for i in range(20):  # l0 -> ... -> l20 (A): more links than the server puts in one answer
        zone.add(f"l{i}.t.cn", "CNAME", f"l{i + 1}.t.cn")
    zone.add("l20.t.cn", "A", "127.0.3.14")
    return zone


PLAIN = ["v4.t.cn", "v6.t.cn", "dual.t.cn", "mixed.t.cn", "www.t.cn", "caps.t.cn", "dangling.t.cn",
         "mx-only.t.cn", "sub.t.cn", "nope.t.cn", "deep.sub.t.cn", "anything.wild.t.cn", "a.b.wild.t.cn",
         "loop1.t.cn", "loop3.t.cn", "self.t.cn", "c0.t.cn", "c4.t.cn", "c11.t.cn", "l0.t.cn", "l16.t.cn",
         "xn--fsqu00a.xn--fiqs8s", "_srv-like.t.cn", "here.soa.cn", "missing.soa.cn", "soa.cn", "to-soa.t.cn",
         "t.cn", "cn", "gone.cdn-a.net", "edge7.cdn-b.net"]
"""Names whose A and AAAA answers the hand parser reads (plain shape)."""
DECLINED = [(name, rdtype) for name in ("broken.t.cn", "closed.t.cn", "tc.t.cn") for rdtype in (A, AAAA)]
DECLINED.append(("big.t.cn", A))
"""Questions whose answers it leaves to dnspython (SERVFAIL, REFUSED, forced and real truncation)."""


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxDNS]:
    host = f"127.0.{random.randint(4, 250)}.{random.randint(2, 250)}"
    with SandboxDNS(build_zone(), host=host, port=0) as dns_server:
        yield dns_server


def ask(server: tuple[str, int], query: dnswire.Query, timeout: float = 2.0) -> bytes:
    """One UDP exchange with a plain blocking socket (what the server sends, unread)."""
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query.wire, server)
        return sock.recvfrom(65535)[0]


def query(name: str, rdtype: int = A) -> dnswire.Query:
    made = dnswire.make_query(name, rdtype, EDNS_PAYLOAD)
    assert made is not None
    return made


def dnspython_reading(data: bytes) -> dnswire.Response | None:
    """What dnspython's resolver reads from ``data`` (None when from_wire refuses it), neutral form."""
    try:
        message = dns.message.from_wire(data, raise_on_truncation=True)
    except (dns.exception.DNSException, ValueError):
        return None
    return _response(message)


def same(a: Resolution, b: Resolution) -> bool:
    return (a.name, a.status, a.cname_chain, a.addresses, a.error, a.nameserver) == \
        (b.name, b.status, b.cname_chain, b.addresses, b.error, b.nameserver)


# --------------------------------------------------------------------------- queries


@pytest.mark.parametrize("rdtype", [A, AAAA])
def test_query_bytes_are_dnspythons(rdtype: int) -> None:
    made = query("WWW.Example.cn", rdtype)
    reference = dns.message.make_query("WWW.Example.cn.", rdtype, use_edns=0, payload=EDNS_PAYLOAD)
    reference.id = made.qid
    assert made.wire == reference.to_wire()
    assert made.name == b"\x03www\x07example\x02cn\x00"
    assert len({query("a.cn").qid for _ in range(50)}) > 40  # random IDs


def test_names_not_plain_are_left_to_dnspython() -> None:
    for text in ["a b.cn", "a\\.b.cn", "ex$mple.cn", "例子.中国", ".", "", "a..b", "x" * 64 + ".cn",
                 ".".join(["abcdefg"] * 32)]:
        assert dnswire.make_query(text, A, EDNS_PAYLOAD) is None, text
    assert dnswire.is_plain(".".join(["a" * 63] * 3) + "." + "b" * 61)  # 253 characters: 255 on the wire
    assert not dnswire.is_plain(".".join(["a" * 63] * 3) + "." + "b" * 62)


# --------------------------------------------------------------------------- real answers


@pytest.mark.parametrize("rdtype", [A, AAAA])
def test_every_plain_sandbox_answer_is_read_as_dnspython_reads_it(server: SandboxDNS, rdtype: int) -> None:
    for name in PLAIN:
        made = query(name, rdtype)
        data = ask(server.address, made)
        assert dnswire.matches(data, made), name
        expected = dnspython_reading(data)
        assert expected is not None, name
        assert dnswire.parse_response(data, made) == expected, name


def test_the_readings_cover_every_shape(server: SandboxDNS) -> None:
    def read(name: str, rdtype: int = A) -> dnswire.Response:
        made = query(name, rdtype)
        response = dnswire.parse_response(ask(server.address, made), made)
        assert response is not None
        return response

    assert read("dual.t.cn").rrsets == {("dual.t.cn", A): (300, ("127.0.3.2", "127.0.3.3"))}
    assert read("dual.t.cn", AAAA).rrsets == {("dual.t.cn", AAAA): (300, ("::1", "2001:db8::7", "::ffff:127.0.0.9"))}
    www = read("www.t.cn")
    assert www.rrsets[("www.t.cn", dnswire.CNAME)] == (300, ("t.cn.cdn-a.net",))
    assert www.rrsets[("edge7.cdn-b.net", A)] == (300, ("127.0.3.5",))
    assert read("caps.t.cn").rrsets[("caps.t.cn", dnswire.CNAME)][1] == ("edge7.cdn-b.net",)  # lower-cased
    nxdomain = read("missing.soa.cn")
    assert (nxdomain.rcode, nxdomain.rrsets, nxdomain.soa) == (dnswire.NXDOMAIN, {}, (300, 42))
    nodata = read("mx-only.t.cn")
    assert (nodata.rcode, nodata.rrsets, nodata.soa) == (dnswire.NOERROR, {}, (300, 300))
    assert len(read("loop1.t.cn").rrsets) == 3 and len(read("l0.t.cn").rrsets) == 16


def test_answers_it_does_not_read_are_declined(server: SandboxDNS) -> None:
    for name, rdtype in DECLINED:
        made = query(name, rdtype)
        data = ask(server.address, made)
        assert dnswire.matches(data, made)
        assert dnswire.parse_response(data, made) is None, name
    made = query("tc.t.cn")
    assert dns.message.from_wire(ask(server.address, made)).flags & dns.flags.TC


def test_ipv6_text_is_dnspythons() -> None:
    rng = random.Random(5)
    samples = [bytes(16), bytes(15) + b"\x01", bytes(15) + b"\x02", bytes(12) + b"\x7f\x00\x00\x01",
               bytes(10) + b"\xff\xff\x7f\x00\x00\x01", bytes(10) + b"\xff\xff" + bytes(4),
               bytes(10) + b"\x00\x01" + bytes(4), b"\x20\x01\x0d\xb8" + bytes(12), b"\x00\x01" + bytes(14)]
    for _ in range(3000):  # random words, many of them zero: every compression case
        samples.append(b"".join(rng.choice([b"\x00\x00", b"\x00\x00", b"\x00\x01", b"\xff\xff",
                                            rng.randbytes(2)]) for _ in range(8)))
    for raw in samples:
        assert dnswire._address(raw) == dns.ipv6.inet_ntoa(raw), raw.hex()


# --------------------------------------------------------------------------- hostile datagrams


def response_for(made: dnswire.Query, answer: bytes = b"", ancount: int = 0, *, flags: int = 0x8180,
                 authority: bytes = b"", nscount: int = 0, additional: bytes | None = None,
                 question: bytes | None = None) -> bytes:
    """A response to ``made``: given sections (raw), the question echoed, an OPT unless told."""
    opt = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00" if additional is None else additional
    arcount = 0 if not opt else (2 if opt.count(b"\x00\x29") == 2 else 1)
    header = struct.pack("!HHHHHH", made.qid, flags, 1, ancount, nscount, arcount)
    return header + (made.question if question is None else question) + answer + authority + opt


def rr(owner: bytes, rdtype: int, rdata: bytes, ttl: int = 60, rdclass: int = 1) -> bytes:
    return owner + struct.pack("!HHIH", rdtype, rdclass, ttl, len(rdata)) + rdata


QNAME = b"\xc0\x0c"  # pointer to the question's name
V4 = bytes((127, 0, 0, 5))


def hostile(made: dnswire.Query) -> dict[str, bytes]:
    """Malformed or unusual responses to ``made`` (a question for "host.t.cn")."""
    end = 12 + len(made.question)  # offset of the answer section
    return {
        "pointer to itself": response_for(made, rr(struct.pack("!H", 0xC000 | end), 1, V4), 1),
        "pointer forwards": response_for(made, rr(struct.pack("!H", 0xC000 | (end + 30)), 1, V4), 1),
        "pointer out of range": response_for(made, rr(b"\xff\xff", 1, V4), 1),
        "pointer loop": response_for(made, rr(b"\x01a" + struct.pack("!H", 0xC000 | end), 1, V4), 1),
        "pointer into its own name": response_for(
            made, rr(b"\x01a\x01b" + struct.pack("!H", 0xC000 | (end + 2)), 1, V4), 1),
        "truncated pointer": response_for(made, b"\xc0", 1, additional=b""),
        "truncated record header": response_for(made, QNAME + b"\x00\x01\x00\x01\x00", 1, additional=b""),
        "truncated rdata": response_for(made, QNAME + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x7f\x00", 1,
                                        additional=b""),
        "count beyond the data": response_for(made, rr(QNAME, 1, V4), 2),
        "A of 5 bytes": response_for(made, rr(QNAME, 1, V4 + b"\x00"), 1),
        "AAAA of 4 bytes": response_for(made, rr(QNAME, 28, V4), 1),
        "CNAME longer than its RDATA": response_for(made, QNAME + struct.pack("!HHIH", 5, 1, 60, 4) + b"\x03abc\x00",
                                                    1),
        "CNAME with bytes after its name": response_for(made, rr(QNAME, 5, b"\x03abc\x00\x00"), 1),
        "extended label type": response_for(made, rr(b"\x41abc\x00", 1, V4), 1),
        "label with a dot": response_for(made, rr(QNAME, 5, b"\x03a.b\x02cn\x00"), 1),
        "label needing escapes": response_for(made, rr(QNAME, 5, b"\x03a$b\x02cn\x00"), 1),
        "root CNAME target": response_for(made, rr(QNAME, 5, b"\x00"), 1),
        "name over 255 bytes": response_for(made, rr(QNAME, 5, b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63
                                                     + b"\x3f" + b"c" * 63 + b"\x3f" + b"d" * 63 + b"\x00"), 1),
        "trailing junk": response_for(made, rr(QNAME, 1, V4), 1) + b"\x00",
        "DNAME": response_for(made, rr(QNAME, 39, b"\x03abc\x00"), 1),
        "RRSIG": response_for(made, rr(QNAME, 46, bytes(18) + b"\x00" + bytes(8)), 1),
        "class CH": response_for(made, rr(QNAME, 1, V4, rdclass=3), 1),
        "two CNAMEs for one owner": response_for(
            made, rr(QNAME, 5, b"\x01x\x02cn\x00") + rr(QNAME, 5, b"\x01y\x02cn\x00"), 2),
        "TC set": response_for(made, rr(QNAME, 1, V4), 1, flags=0x8380),
        "SERVFAIL": response_for(made, flags=0x8182),
        "REFUSED": response_for(made, flags=0x8185),
        "YXDOMAIN": response_for(made, flags=0x8186),
        "extended RCODE": response_for(made, additional=b"\x00\x00\x29\x04\xd0\x01\x00\x00\x00\x00\x00"),
        "two OPT records": response_for(made, additional=b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00" * 2),
        "OPT not at the root": response_for(made, additional=b"\x01a\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"),
        "OPT option overrunning": response_for(made, additional=b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x04"
                                               + b"\xfd\xe9\x00\x09"),
        "OPT with an EDE option": response_for(made, additional=b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x06"
                                               + b"\x00\x0f\x00\x02\x00\x17"),
        "SOA missing its counters": response_for(made, authority=rr(b"\x02cn\x00", 6, b"\x00\x00" + bytes(16)),
                                                 nscount=1),
        "NSEC in authority": response_for(made, authority=rr(b"\x02cn\x00", 47, b"\x00\x00\x06\x00"),
                                          nscount=1),
        "SOA in the answer": response_for(made, rr(QNAME, 6, b"\x00\x00" + bytes(20)), 1),
        "no question": struct.pack("!HHHHHH", made.qid, 0x8182, 0, 0, 0, 0),
        "two questions": struct.pack("!HHHHHH", made.qid, 0x8180, 2, 0, 0, 0) + made.question * 2,
    }


DNSPYTHON_READS = {"label with a dot", "label needing escapes", "root CNAME target", "DNAME", "RRSIG",
                   "two CNAMEs for one owner", "TC set", "SERVFAIL", "REFUSED", "YXDOMAIN", "extended RCODE",
                   "OPT with an EDE option", "SOA in the answer", "no question", "two questions"}
"""Of :func:`hostile`'s datagrams, those well formed (dnspython reads them; its resolver then
answers, retries over TCP or reports the error); from_wire refuses every other one."""


def test_hostile_datagrams_are_declined() -> None:
    made = query("host.t.cn")
    for label, data in hostile(made).items():
        assert dnswire.parse_response(data, made) is None, label
        try:
            dns.message.from_wire(data)
        except dns.exception.DNSException:
            assert label not in DNSPYTHON_READS, label
        else:
            assert label in DNSPYTHON_READS, label


def test_well_formed_unusual_answers_are_accepted_only_as_dnspython_reads_them() -> None:
    made = query("host.t.cn")
    accepted = {
        "EDNS option dnspython keeps opaque": response_for(
            made, rr(QNAME, 1, V4), 1, additional=b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x06"
            + b"\xfd\xe9\x00\x02ab"),
        "no OPT record": response_for(made, rr(QNAME, 1, V4), 1, additional=b""),
        "owner in another case": response_for(made, rr(b"\x04HOST\x01T\x02cN\x00", 1, V4), 1),
        "duplicate addresses, TTLs merged": response_for(
            made, rr(QNAME, 1, V4, ttl=90) + rr(QNAME, 1, V4, ttl=30) + rr(QNAME, 1, b"\x7f\x00\x00\x06", 70), 3),
        "TTL with the high bit set": response_for(made, rr(QNAME, 1, V4, ttl=0x80000001), 1),
        "pointer chain": response_for(made, rr(QNAME, 5, b"\x01x" + struct.pack("!H", 0xC000 | 17))
                                      + rr(b"\x01y" + struct.pack("!H", 0xC000 | (12 + len(made.question) + 12)),
                                           1, V4), 2),
        "NS in authority, SOA compressed": response_for(
            made, authority=rr(b"\x01t\x02cn\x00", 2, b"\x02ns\xc0\x11") + rr(b"\xc0\x11", 6, b"\x00\xc0\x11"
                                                                              + struct.pack("!IIIII", 1, 2, 3, 4, 5)),
            nscount=2, flags=0x8183),
    }
    for label, data in accepted.items():
        reading = dnswire.parse_response(data, made)
        assert reading is not None and reading == dnspython_reading(data), label
    assert dnswire.parse_response(accepted["duplicate addresses, TTLs merged"], made).rrsets == {
        ("host.t.cn", A): (30, ("127.0.0.5", "127.0.0.6"))}
    assert dnswire.parse_response(accepted["TTL with the high bit set"], made).rrsets[("host.t.cn", A)][0] == 0
    assert dnswire.parse_response(accepted["NS in authority, SOA compressed"], made).soa == (60, 5)


def test_whatever_it_accepts_dnspython_reads_the_same(server: SandboxDNS) -> None:
    """Mutated real answers (bytes changed, cut, inserted): the hand parser either declines one
    or reads exactly what dnspython reads from it."""
    rng = random.Random(11)
    originals = []
    for name in ["www.t.cn", "dual.t.cn", "missing.soa.cn", "loop1.t.cn", "mx-only.t.cn", "c0.t.cn"]:
        for rdtype in (A, AAAA):
            made = query(name, rdtype)
            originals.append((made, ask(server.address, made)))
    originals += [(query("host.t.cn"), data) for data in hostile(query("host.t.cn")).values()]
    accepted = 0
    for _ in range(6000):
        made, data = rng.choice(originals)
        if data[:2] != struct.pack("!H", made.qid):
            continue
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            if len(mutated) <= 12:
                break
            at = rng.randrange(12, len(mutated))
            action = rng.random()
            if action < 0.6:
                mutated[at] = rng.choice([0, 1, 0x3F, 0x40, 0xC0, 0xFF, rng.randrange(256)])
            elif action < 0.8:
                del mutated[at:]
            else:
                mutated[at:at] = bytes([rng.randrange(256)])
        if not dnswire.matches(bytes(mutated), made):
            continue
        reading = dnswire.parse_response(bytes(mutated), made)
        if reading is not None:
            accepted += 1
            assert reading == dnspython_reading(bytes(mutated)), bytes(mutated).hex()
    assert accepted > 100  # the comparison did happen


class HostileServer:
    """A UDP server on 127.0.0.1 that answers each query with ``script(query, peer)``: a list of
    (socket to send from: "self", "other-port" or "other-host", datagram)."""

    def __init__(self, script: Callable[[bytes], list[tuple[str, bytes]]]) -> None:
        self.script = script
        self.host = f"127.0.{random.randint(4, 250)}.{random.randint(2, 249)}"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.host, 0))
        self.port = self.sock.getsockname()[1]
        self.other_port = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.other_port.bind((self.host, 0))
        self.other_host = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        host_parts = self.host.split(".")
        self.other_host.bind((".".join([*host_parts[:3], str(int(host_parts[3]) + 1)]), self.port))
        self.queries = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def spec(self) -> str:
        return f"{self.host}:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                return
            if not data:
                return
            self.queries += 1
            senders = {"self": self.sock, "other-port": self.other_port, "other-host": self.other_host}
            for sender, datagram in self.script(data):
                senders[sender].sendto(datagram, peer)

    def close(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as waker:
            waker.sendto(b"", (self.host, self.port))
        self.thread.join(timeout=5)
        for sock in (self.sock, self.other_port, self.other_host):
            sock.close()


def answer_to(data: bytes, address: bytes, qid: int | None = None, question: bytes | None = None) -> bytes:
    """An answer to the query ``data`` (dnswire's: one question, one OPT) with one A record."""
    end = len(data) - 11  # the OPT record ends the query
    header = struct.pack("!HHHHHH", int.from_bytes(data[:2], "big") if qid is None else qid, 0x8180, 1, 1, 0, 0)
    return header + (data[12:end] if question is None else question) + rr(QNAME, 1, address)


GENUINE, FORGED = bytes((127, 0, 7, 7)), bytes((6, 6, 6, 6))


StartHostile = Callable[[Callable[[bytes], list[tuple[str, bytes]]]], HostileServer]


@pytest.fixture
def hostile_server() -> Iterator[StartHostile]:
    servers: list[HostileServer] = []

    def start(script: Callable[[bytes], list[tuple[str, bytes]]]) -> HostileServer:
        servers.append(HostileServer(script))
        return servers[-1]

    yield start
    for started in servers:
        started.close()


def test_forged_datagrams_are_ignored_and_the_genuine_answer_taken(hostile_server: StartHostile) -> None:
    def script(data: bytes) -> list[tuple[str, bytes]]:
        qid = int.from_bytes(data[:2], "big")
        name_end = len(data) - 11 - 4  # the OPT record and the question's type and class end the query
        other_type = b"\x00\x1c" if data[name_end : name_end + 2] == b"\x00\x01" else b"\x00\x01"
        return [("other-port", answer_to(data, FORGED)),
                ("other-host", answer_to(data, FORGED)),
                ("self", answer_to(data, FORGED, qid=qid ^ 0x5A5A)),
                ("self", answer_to(data, FORGED, question=b"\x04evil\x02cn\x00\x00\x01\x00\x01")),
                ("self", answer_to(data, FORGED, question=data[12:name_end] + other_type + b"\x00\x01")),
                ("self", answer_to(data, GENUINE))]

    server = hostile_server(script)
    made = query("host.t.cn")
    data = asyncio.run(dnswire.exchange((server.host, server.port), made, 2.0))
    assert data is not None and dnswire.parse_response(data, made).rrsets == {("host.t.cn", A): (60, ("127.0.7.7",))}
    for fast_path in (True, False):
        resolver = Resolver(server.spec, timeout=1.0, lifetime=2.0, cache_size=0, fast_path=fast_path)
        result = asyncio.run(resolver.resolve_async("host.t.cn"))
        # The AAAA question gets the A record too (this server's only answer): NODATA for AAAA.
        assert (result.status, result.addresses, result.error) == ("ok", ("127.0.7.7",), None), fast_path


def test_only_forged_datagrams_mean_no_answer(hostile_server: StartHostile) -> None:
    def script(data: bytes) -> list[tuple[str, bytes]]:
        qid = int.from_bytes(data[:2], "big")
        return [("other-port", answer_to(data, FORGED)), ("other-host", answer_to(data, FORGED)),
                ("self", answer_to(data, FORGED, qid=qid ^ 1))]

    server = hostile_server(script)
    assert asyncio.run(dnswire.exchange((server.host, server.port), query("host.t.cn"), 0.3)) is None
    results = [asyncio.run(Resolver(server.spec, timeout=0.2, lifetime=0.5, cache_size=0,
                                    fast_path=fast_path).resolve_async("host.t.cn")) for fast_path in (True, False)]
    assert results[0].status == results[1].status == "timeout"
    assert same(results[0], results[1])


def test_malformed_matching_answers_go_to_dnspython(hostile_server: StartHostile) -> None:
    """A matching datagram the hand parser declines: the question is asked again by dnspython,
    which (ignoring malformed datagrams, as it does) times out: the same result with and without
    the fast path."""
    def script(data: bytes) -> list[tuple[str, bytes]]:
        good = answer_to(data, GENUINE)
        return [("self", good[:-16] + b"\xc0\xff" + good[-14:])]  # the A record's owner: a forward pointer

    server = hostile_server(script)
    on = asyncio.run(Resolver(server.spec, timeout=0.2, lifetime=0.5, cache_size=0).resolve_async("host.t.cn"))
    assert server.queries >= 3  # A and AAAA by the fast path, then dnspython's tries
    off = asyncio.run(Resolver(server.spec, timeout=0.2, lifetime=0.5, cache_size=0,
                               fast_path=False).resolve_async("host.t.cn"))
    assert on.status == "timeout" and same(on, off)


def test_a_server_not_echoing_the_question_on_errors_is_left_to_dnspython(hostile_server: StartHostile) -> None:
    def script(data: bytes) -> list[tuple[str, bytes]]:
        return [("self", data[:2] + b"\x81\x82" + bytes(8))]  # SERVFAIL, no question

    server = hostile_server(script)
    result = asyncio.run(Resolver(server.spec, timeout=1.0, lifetime=3.0, cache_size=0).resolve_async("x.t.cn"))
    assert result.status == "servfail" and result.elapsed < 1.0  # no wait for a timeout first


# --------------------------------------------------------------------------- whole resolutions


def test_fast_path_and_dnspython_give_identical_resolutions(server: SandboxDNS) -> None:
    spec = f"{server.host}:{server.port}"
    names = [*PLAIN, *{name for name, _ in DECLINED}, "silent.t.cn", "WWW.T.CN.", "例子.中国", "8.8.8.8", "exa mple.cn"]
    for max_chain in (8, 25):
        on = Resolver(spec, timeout=0.2, lifetime=0.6, max_chain=max_chain, cache_size=0)
        off = Resolver(spec, timeout=0.2, lifetime=0.6, max_chain=max_chain, cache_size=0, fast_path=False)
        for name in names:
            fast, slow = asyncio.run(on.resolve_async(name)), asyncio.run(off.resolve_async(name))
            assert same(fast, slow), (name, fast, slow)
            assert same(fast, off.resolve(name)), name


def test_fast_path_chases_give_identical_ttls(server: SandboxDNS) -> None:
    """What is cached, and for how long, is the same: compare the per-type outcomes, TTL included."""
    spec = f"{server.host}:{server.port}"
    on = Resolver(spec, timeout=0.5, lifetime=1.0, cache_size=0)
    off = Resolver(spec, timeout=0.5, lifetime=1.0, cache_size=0, fast_path=False)

    async def chase(resolver: Resolver, name: str, rdtype: dns.rdatatype.RdataType) -> object:
        servers: list[str | None] = []
        outcome = await resolver._drive_async(resolver._chase(name, rdtype), time.monotonic() + 1.0, servers)
        return outcome, servers

    for name in PLAIN:
        for rdtype in (A, AAAA):
            (fast, fast_servers), (slow, slow_servers) = asyncio.run(chase(on, name, rdtype)), \
                asyncio.run(chase(off, name, rdtype))
            assert fast == slow, name
            # the server that answered: the fast path always knows it; dnspython's NXDOMAIN does not say
            assert set(fast_servers) == {spec} and set(slow_servers) <= {spec, None}, name


def test_fast_path_answers_the_plain_names_itself(server: SandboxDNS) -> None:
    """The comparison above is not dnspython against itself: the plain names never reach it."""
    spec = f"{server.host}:{server.port}"
    declined: list[tuple[str, int]] = []

    class Recording(Resolver):
        async def _ask_fast(self, question: tuple[str, dns.rdatatype.RdataType], timeout: float,
                            index: int) -> Any:
            reply, answered = await super()._ask_fast(question, timeout, index)
            if reply is None:
                declined.append(question)
            return reply, answered

    resolver = Recording(spec, timeout=0.5, lifetime=1.0, cache_size=0, max_chain=25)
    for name in PLAIN:
        asyncio.run(resolver.resolve_async(name))
    assert declined == []
    asyncio.run(resolver.resolve_async("tc.t.cn"))
    assert sorted(declined) == [("tc.t.cn", A), ("tc.t.cn", AAAA)]


def test_ipv6_loopback_nameserver() -> None:
    with SandboxDNS(build_zone(), host="::1", port=0) as v6:
        spec = f"[::1]:{v6.port}"
        for name in ("dual.t.cn", "www.t.cn", "nope.t.cn"):
            fast = asyncio.run(Resolver(spec, cache_size=0).resolve_async(name))
            slow = asyncio.run(Resolver(spec, cache_size=0, fast_path=False).resolve_async(name))
            assert same(fast, slow) and fast.status in ("ok", "nxdomain")
        made = query("v4.t.cn")
        assert dnswire.parse_response(asyncio.run(dnswire.exchange(("::1", v6.port), made, 2.0)), made) is not None
