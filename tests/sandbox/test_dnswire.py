"""The hand-written DNS wire code against dnspython: queries are read as dnspython reads them, names
and records encoded as dnspython encodes them, and every answer the sandbox server builds parses
strictly with dnspython and carries exactly the response dnspython builds from the same zone."""
from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset
import pytest

from sandbox import dnswire
from sandbox.dns import DEFAULT_SOA, SandboxDNS, Zone

TTL = 300
SOA_APEX = "zone3.cn"
APEX_SOA = "ns1.zone3.cn. admin.zone3.cn. 7 3600 600 86400 300"
TYPES = ("A", "AAAA", "CNAME", "TXT", "NS", "SOA", "MX", "ANY")
Rows = dict[str, list[tuple[str, str]]]


def build_rows(seed: int = 7) -> Rows:
    """Every record type the sandbox serves, on 160 names under seven zones, one of them with its
    own SOA, and 40 CNAME chains of one to three links into them (every tenth dangling)."""
    rng = random.Random(seed)
    rows: Rows = {SOA_APEX: [("SOA", APEX_SOA)]}
    plain = [f"n{i}.zone{i % 7}.cn" for i in range(160)]
    for i, name in enumerate(plain):
        records = rows.setdefault(name, [])
        records += [("A", f"127.{i % 200}.{k}.{rng.randint(1, 254)}") for k in range(rng.randint(0, 3))]
        records += [("AAAA", f"fd00::{i:x}:{k + 1}") for k in range(rng.randint(0, 2))]
        records += [("TXT", rng.choice([f"v=spf1 ip4:127.0.{i}.1 -all", "4134 | 1.80.0.0/13 | CN | apnic",
                                        "x" * rng.randint(250, 600), '"two" "strings"', ""]))
                    for _ in range(rng.randint(0, 2))]
        records += [("MX", f"{10 * (k + 1)} Mail{k}.{name}.") for k in range(rng.randint(0, 2))]
        if rng.random() < 0.2:
            records.append(("NS", f"ns{i % 3}.zone{i % 7}.cn"))
    for i in range(40):
        hops = [f"alias{i}-{k}.cdn{i % 4}.net" for k in range(1 + i % 3)]
        final = plain[i * 3] if i % 10 else f"gone{i}.example.org"
        for here, there in zip(hops, [*hops[1:], final]):
            rows[here] = [("CNAME", there.upper() if i % 5 == 0 else there)]
    return {name: records for name, records in rows.items() if records}


def reference_rdata(rtype: str, value: str) -> dns.rdata.Rdata:
    """dnspython's rdata for a zone value; a bare TXT value is one literal string."""
    if rtype == "TXT" and not value.startswith('"'):
        raw = value.encode()
        return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT,
                                       [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""])
    return dns.rdata.from_text(dns.rdataclass.IN, rtype, value, origin=dns.name.root, relativize=False)


def reference_answer(rows: Rows, query: dns.message.Message) -> dns.message.Message:
    """The response dnspython builds for ``query`` from ``rows`` (a zone without wildcards)."""
    response = dns.message.make_response(query, recursion_available=True, our_payload=dnswire.EDNS_PAYLOAD)
    response.flags |= dns.flags.AA
    question = query.question[0]
    owner, rdtype = question.name, question.rdtype
    key = owner.to_text(omit_final_dot=True).lower()
    while (cname := [v for t, v in rows.get(key, []) if t == "CNAME"]) and rdtype not in (
            dns.rdatatype.CNAME, dns.rdatatype.ANY):
        response.answer.append(dns.rrset.from_rdata(owner, TTL, reference_rdata("CNAME", cname[0])))
        owner = dns.name.from_text(cname[0])
        key = owner.to_text(omit_final_dot=True).lower()
    records = rows.get(key, [])
    wanted = [t for t in dict.fromkeys(t for t, _ in records)
              if rdtype in (dns.rdatatype.from_text(t), dns.rdatatype.ANY)]
    for rtype in wanted:
        rdatas = [reference_rdata(rtype, v) for t, v in records if t == rtype]
        response.answer.append(dns.rrset.from_rdata_list(owner, TTL, rdatas))
    if not wanted:
        apex = SOA_APEX if key == SOA_APEX or key.endswith("." + SOA_APEX) else key.rsplit(".", 1)[-1]
        soa = dns.rrset.from_text(apex + ".", TTL, "IN", "SOA",
                                  APEX_SOA if apex == SOA_APEX else DEFAULT_SOA.format(ttl=TTL))
        if key == apex and rdtype in (dns.rdatatype.SOA, dns.rdatatype.ANY):
            response.answer.append(soa)  # the default SOA of a top-level label is its own data
        else:
            response.authority.append(soa)
        if not any(n == key or n.endswith("." + key) for n in rows):
            response.set_rcode(dns.rcode.NXDOMAIN)
    return response


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[SandboxDNS, Rows]]:
    rows = build_rows()
    zone = Zone(records={})
    for name, records in rows.items():
        zone.add_rows((name, rtype, value) for rtype, value in records)
    with SandboxDNS(zone, host=f"127.0.0.{random.randint(53, 250)}", port=0) as server:
        yield server, rows


def questions(rows: Rows, seed: int) -> Iterator[dns.message.Message]:
    """Every name (and some that do not exist) with every type, in mixed case, with and without
    EDNS, with assorted header flags."""
    rng = random.Random(seed)
    names = [*rows, "nothing.zone1.cn", "zone1.cn", "cn", "deeper.n5.zone5.cn", "x.zone3.cn", "n3.zone3.cn"]
    for name in names:
        for rtype in TYPES:
            spelled = "".join(c.upper() if rng.random() < 0.3 else c for c in name)
            edns = rng.choice((-1, 0))
            query = dns.message.make_query(spelled, rtype, use_edns=edns, payload=rng.choice((512, 1232, 4096)))
            query.flags = rng.choice((dns.flags.RD, 0, dns.flags.RD | dns.flags.CD))
            yield query


def read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        assert chunk, "connection closed"
        data += chunk
    return data


def tcp_wire(conn: socket.socket, query: dns.message.Message) -> bytes:
    """The answer's bytes as the server sent them over TCP (never truncated)."""
    dns.query.send_tcp(conn, query)
    return read_exactly(conn, int.from_bytes(read_exactly(conn, 2), "big"))


def test_every_answer_parses_strictly_and_equals_dnspythons(served: tuple[SandboxDNS, Rows]) -> None:
    server, rows = served
    checked = 0
    with socket.create_connection((server.host, server.port), timeout=5) as conn:
        for query in questions(rows, seed=3):
            wire = tcp_wire(conn, query)
            parsed = dns.message.from_wire(wire)  # strict: counts, lengths, pointers, no trailing bytes
            reference = reference_answer(rows, query)
            where = query.question[0].to_text()
            assert parsed == reference, where
            assert [r.to_text() for r in parsed.answer] == [r.to_text() for r in reference.answer], where
            assert [r.to_text() for r in parsed.authority] == [r.to_text() for r in reference.authority], where
            assert parsed.question[0].name.to_text() == query.question[0].name.to_text()  # case echoed
            assert (parsed.edns, parsed.payload, list(parsed.options)) == (reference.edns, reference.payload, [])
            assert dns.message.from_wire(parsed.to_wire()) == parsed
            checked += 1
    assert checked > 1_500


def test_udp_answers_are_whole_or_truncated_to_the_clients_size(served: tuple[SandboxDNS, Rows]) -> None:
    server, rows = served
    truncated = 0
    with socket.create_connection((server.host, server.port), timeout=5) as conn:
        for query in questions(rows, seed=4):
            if query.question[0].rdtype not in (dns.rdatatype.TXT, dns.rdatatype.ANY, dns.rdatatype.A):
                continue
            parsed = dns.query.udp(query, server.host, port=server.port, timeout=2)
            full = tcp_wire(conn, query)
            reference = reference_answer(rows, query)
            limit = min(query.payload, dnswire.EDNS_PAYLOAD) if query.edns == 0 else 512
            if parsed.flags & dns.flags.TC:
                truncated += 1
                assert len(full) > limit and len(parsed.to_wire()) <= limit
                assert parsed.answer == parsed.authority == [] and parsed.rcode() == reference.rcode()
                assert (parsed.edns, parsed.question) == (query.edns, query.question)
            else:
                assert len(full) <= limit and parsed == dns.message.from_wire(full) == reference
    assert truncated > 10


def test_a_question_in_an_unusual_message_gets_the_plain_answer(served: tuple[SandboxDNS, Rows]) -> None:
    server, rows = served
    name = next(n for n, r in rows.items() if any(t == "A" for t, _ in r))
    query = dns.message.make_query(name, "A", use_edns=0, options=[dns.edns.GenericOption(12, b"\0" * 8)])
    query.additional.append(dns.rrset.from_text(name + ".", 60, "IN", "A", "127.0.0.1"))  # left to dnspython
    answer = dns.query.udp(query, server.host, port=server.port, timeout=2)
    reference = reference_answer(rows, dns.message.make_query(name, "A", use_edns=0))
    assert answer.id == query.id and answer.answer == reference.answer and answer.rcode() == dns.rcode.NOERROR


# --- the helpers one by one ----------------------------------------------------------------------

def test_read_query_reads_what_dnspython_reads() -> None:
    rng = random.Random(5)
    for i in range(300):
        labels = ["a", "Bb", "xn--fiqs8s", "c-d", "_srv", "x" * 63]
        name = ".".join(rng.choice(labels) for _ in range(rng.randint(1, 4)))
        rtype = rng.choice(TYPES)
        options = [dns.edns.GenericOption(10, b"\1" * 8)] if i % 3 == 0 else []
        query = dns.message.make_query(name, rtype, use_edns=i % 2 - 1, payload=rng.randint(0, 9000),
                                       options=options if i % 2 else None)
        wire = query.to_wire()
        read = dnswire.read_query(wire)
        assert read is not None
        assert read.name == query.question[0].name.to_wire().lower()
        assert dnswire.name_text(read.name) == query.question[0].name.to_text(omit_final_dot=True).lower()
        assert (read.rdtype, read.rdclass, read.end) == (query.question[0].rdtype, dns.rdataclass.IN,
                                                         12 + len(query.question[0].name.to_wire()) + 4)
        assert (read.edns, read.payload) == (query.edns, max(512, query.payload) if query.edns == 0 else 512)


def test_read_query_leaves_unusual_messages_to_dnspython() -> None:
    plain = dns.message.make_query("a.cn", "A")
    two_questions = dns.message.make_query("a.cn", "A")
    two_questions.question.append(dns.message.make_query("b.cn", "A").question[0])
    notify = dns.message.make_query("a.cn", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    answered = dns.message.make_response(plain)
    compressed = plain.to_wire()[:12] + b"\xc0\x0c" + plain.to_wire()[-4:]
    for wire in (two_questions.to_wire(), notify.to_wire(), answered.to_wire(), plain.to_wire() + b"x",
                 plain.to_wire()[:-1], compressed, b"\x12\x34garbage"):
        assert dnswire.read_query(wire) is None


@pytest.mark.parametrize("text", ["a.example.cn", "a.example.cn.", "MiXeD.Example.CN", "_dmarc.a.cn",
                                  "*.wild.cn", ".", "例子.中国", "weird\\.label.cn", "x" * 63 + ".cn"])
def test_name_wire_is_dnspythons(text: str) -> None:
    assert dnswire.name_wire(text) == dns.name.from_text(text, origin=dns.name.root).to_wire()


def test_name_text_escapes_as_dnspython_does() -> None:
    wire = dns.name.from_text("weird\\.label.cn").to_wire()
    assert dnswire.name_text(wire) == "weird\\.label.cn"
    assert dnswire.name_text(b"\0") == ""


@pytest.mark.parametrize(("rtype", "value"), [
    ("A", "127.0.0.1"), ("A", " 203.0.113.7 "), ("AAAA", "::1"), ("AAAA", "::ffff:127.0.0.9"),
    ("AAAA", "240e:1:2::7"), ("CNAME", "edge1.cdn-example.net"), ("CNAME", "Edge1.CDN-example.net."),
    ("NS", "ns1.a.cn"), ("MX", "10 mail.a.cn"), ("MX", "0 ."), ("MX", "65535 mx.例子.中国"),
    ("TXT", '"quoted" "twice"'), ("SOA", APEX_SOA), ("SOA", DEFAULT_SOA.format(ttl=60)),
])
def test_rdata_wire_is_dnspythons(rtype: str, value: str) -> None:
    rdtype = dns.rdatatype.from_text(rtype)
    expected = dns.rdata.from_text(dns.rdataclass.IN, rdtype, value.strip(), origin=dns.name.root,
                                   relativize=False).to_wire()
    assert dnswire.rdata_wire(rdtype, value) == expected


@pytest.mark.parametrize("value", ["v=spf1 -all", "", "x" * 255, "y" * 256, "z" * 700, "中文 | 说明"])
def test_bare_txt_is_one_literal_string_in_255_byte_pieces(value: str) -> None:
    expected = reference_rdata("TXT", value).to_wire()
    assert dnswire.rdata_wire(dns.rdatatype.TXT, value) == expected
    parsed = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.TXT, expected, 0, len(expected))
    assert b"".join(parsed.strings) == value.encode()


@pytest.mark.parametrize(("rtype", "value"), [("A", "127.1"), ("A", "300.0.0.1"), ("AAAA", "1::2::3"),
                                              ("MX", "70000 mx.a.cn"), ("MX", "ten mx.a.cn")])
def test_bad_values_raise(rtype: str, value: str) -> None:
    with pytest.raises((ValueError, OSError, dns.exception.DNSException)):
        dnswire.rdata_wire(dns.rdatatype.from_text(rtype), value)
