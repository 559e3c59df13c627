"""Who owns the sandbox's addresses: Team Cymru-style origin-ASN DNS records and an RDAP server.

The crawler finds the owner of every serving address with ``ipwhois``, which asks two services:
the origin-ASN TXT records that Team Cymru publishes in DNS (``4.3.2.1.origin.asn.cymru.com``
-> ``"ASN | CIDR | CC | REGISTRY | DATE"``, and ``AS<n>.asn.cymru.com`` for the AS name), then
the regional registry's RDAP service for the network object.  :func:`origin_records` gives the
rows to add to the sandbox :class:`~sandbox.dns.Zone` for the first, :class:`RDAPServer` serves
the second on loopback at ``/<registry>/ip/<address>`` (RFC 9082 paths, RFC 9083 objects).
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

from aiohttp import web

from sandbox.dns import require_loopback

__all__ = ["AddressBlock", "RDAPServer", "origin_records", "REGISTRIES"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

REGISTRIES = ("arin", "ripencc", "apnic", "lacnic", "afrinic")
"""Registry names as Cymru writes them (and as ipwhois keys its RDAP endpoints)."""

ORIGIN_ZONES = {4: "origin.asn.cymru.com", 6: "origin6.asn.cymru.com"}
ASN_ZONE = "asn.cymru.com"
ALLOCATED = "2010-01-01"
"""Allocation date given to every sandbox block (Cymru's DATE field, RDAP's registration event)."""

RDAP_CONTENT_TYPE = "application/rdap+json"


@dataclass(frozen=True)
class AddressBlock:
    """One allocated netblock: its CIDR (no host bits), origin AS, network name, country code
    (ISO 3166 alpha-2), regional registry (one of :data:`REGISTRIES`), free-text description
    and RDAP handle (derived from the range when empty)."""

    cidr: str
    asn: int
    name: str
    country: str
    registry: str = "apnic"
    description: str = ""
    handle: str = ""

    def __post_init__(self) -> None:
        network = ipaddress.ip_network(self.cidr)  # ValueError when host bits are set
        object.__setattr__(self, "cidr", str(network))
        if self.registry not in REGISTRIES:
            raise ValueError(f"unknown registry {self.registry!r}; expected one of {REGISTRIES}")
        if len(self.country) != 2 or not self.country.isalpha():
            raise ValueError(f"country must be an ISO 3166 alpha-2 code, not {self.country!r}")
        object.__setattr__(self, "country", self.country.upper())
        if not self.handle:
            handle = f"{network.network_address} - {network.broadcast_address}"
            object.__setattr__(self, "handle", handle)

    @property
    def network(self) -> IPNetwork:
        return ipaddress.ip_network(self.cidr)

    @property
    def origin_txt(self) -> str:
        """The origin TXT string, as Cymru writes it."""
        return f"{self.asn} | {self.cidr} | {self.country} | {self.registry} | {ALLOCATED}"

    @property
    def as_name_txt(self) -> str:
        """The AS-name TXT string (``AS<n>.asn.cymru.com``), as Cymru writes it."""
        label = f"{self.name} - {self.description}" if self.description else self.name
        return f"{self.asn} | {self.country} | {self.registry} | {ALLOCATED} | {label}, {self.country}"


def origin_records(blocks: Iterable[AddressBlock]) -> list[tuple[str, str, str]]:
    """(name, "TXT", value) rows that answer origin-ASN queries for every address in ``blocks``.

    Each block becomes wildcards at label boundaries (octets for IPv4, nibbles for IPv6): a /16
    is ``*.2.1.origin.asn.cymru.com``, a /20 sixteen /24 wildcards, a /26 its 64 addresses.
    A name answers with every block that covers it, as Cymru does (ipwhois keeps the most
    specific CIDR).  Where a finer block sits inside a coarser one, the coarser one's
    wildcard is repeated at the finer one's ancestors, because a wildcard does not reach past a
    name that exists.  IPv6 cells also get a record at the cell's own name, since ipwhois drops
    trailing zero groups from the query.  One AS-name record per AS.
    """
    blocks = list(blocks)
    covering = _CoverIndex(blocks)
    cells: set[IPNetwork] = set()
    for block in blocks:
        cells.update(_cells(block.network))
    for cell in list(cells):
        step = _label_bits(cell)
        for prefix in range(0, cell.prefixlen, step):
            ancestor = cell.supernet(new_prefix=prefix)
            if covering.blocks_over(ancestor):
                cells.add(ancestor)
    rows: list[tuple[str, str, str]] = []
    for cell in sorted(cells, key=lambda c: (c.version, c.network_address, c.prefixlen)):
        node = _cell_name(cell)
        owners = [node] if cell.prefixlen == cell.max_prefixlen else [f"*.{node}"]
        if cell.version == 6 and cell.prefixlen < cell.max_prefixlen:
            owners.append(node)
        for block in covering.blocks_over(cell):
            rows.extend((owner, "TXT", block.origin_txt) for owner in owners)
    seen_asns: set[int] = set()
    for block in blocks:
        if block.asn not in seen_asns:
            seen_asns.add(block.asn)
            rows.append((f"as{block.asn}.{ASN_ZONE}", "TXT", block.as_name_txt))
    return rows


def _label_bits(network: IPNetwork) -> int:
    """Address bits one reverse-DNS label stands for: an octet (IPv4) or a nibble (IPv6)."""
    return 8 if network.version == 4 else 4


def _cells(network: IPNetwork) -> list[IPNetwork]:
    """``network`` split into networks whose prefix falls on a label boundary."""
    step = _label_bits(network)
    if network.prefixlen % step == 0:
        return [network]
    return list(network.subnets(new_prefix=(network.prefixlen // step + 1) * step))


def _cell_name(cell: IPNetwork) -> str:
    """Owner name of a label-aligned network in Cymru's origin zone (``3.2.1.origin...``)."""
    if cell.version == 4:
        labels = str(cell.network_address).split(".")[: cell.prefixlen // 8]
    else:
        labels = list(cell.network_address.exploded.replace(":", ""))[: cell.prefixlen // 4]
    return ".".join([*reversed(labels), ORIGIN_ZONES[cell.version]])


class _CoverIndex:
    """Blocks by network, to find the ones covering a network (most specific first)."""

    def __init__(self, blocks: Iterable[AddressBlock]) -> None:
        self._by_length: dict[tuple[int, int], dict[IPNetwork, list[AddressBlock]]] = defaultdict(dict)
        for block in blocks:
            network = block.network
            self._by_length[(network.version, network.prefixlen)].setdefault(network, []).append(block)
        self._lengths = sorted(self._by_length, key=lambda k: -k[1])

    def blocks_over(self, network: IPNetwork) -> list[AddressBlock]:
        found: list[AddressBlock] = []
        for version, length in self._lengths:
            if version == network.version and length <= network.prefixlen:
                found.extend(self._by_length[(version, length)].get(network.supernet(new_prefix=length), ()))
        return found


class RDAPServer:
    """RDAP service for ``blocks`` on loopback, run by aiohttp in a background thread.

    ``GET /<registry>/ip/<address or CIDR>`` returns the most specific block of that registry
    holding it as an RFC 9083 ip network object, or a 404 error object;
    ``GET /<registry>/entity/<handle>`` returns the block holder's entity.
    """

    def __init__(self, blocks: Iterable[AddressBlock], host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = require_loopback(host)
        self.port = port
        self._by_registry: dict[str, _CoverIndex] = {}
        grouped: dict[str, list[AddressBlock]] = defaultdict(list)
        for block in blocks:
            grouped[block.registry].append(block)
        self._by_registry = {registry: _CoverIndex(group) for registry, group in grouped.items()}
        self._entities = {_entity_handle(b): b for group in grouped.values() for b in group}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> str:
        """Bind, serve in a background thread, and return the base URL once it accepts."""
        if self._thread is not None:
            raise RuntimeError("RDAPServer already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(sock, ready, failure),
                                        name=f"sandbox-rdap-{self.port}", daemon=True)
        self._thread.start()
        ready.wait(timeout=10)
        if failure or not ready.is_set():
            self.stop()
            raise RuntimeError(f"RDAP server failed to start: {failure[0] if failure else 'timeout'}")
        return self.base_url

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        if self._thread is None or self._loop is None:
            return
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> RDAPServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, sock: socket.socket, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(self._app(), access_log=None)
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, sock).start())
        except BaseException as exc:  # reported to start()
            failure.append(exc)
            sock.close()
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{registry}/ip/{target:.+}", self._ip)
        app.router.add_get("/{registry}/entity/{handle:.+}", self._entity)
        return app

    async def _ip(self, request: web.Request) -> web.Response:
        registry = request.match_info["registry"]
        target = request.match_info["target"]
        try:
            network = ipaddress.ip_network(target)
        except ValueError:
            return _error(400, "Bad Request", f"{target} is not an IP address or CIDR")
        index = self._by_registry.get(registry)
        found = index.blocks_over(network) if index else []
        if not found:
            return _error(404, "Not Found", f"{target} is not in a network registered with {registry}")
        return _json(_network_object(found[0], f"{self.base_url}/{registry}"))

    async def _entity(self, request: web.Request) -> web.Response:
        registry = request.match_info["registry"]
        block = self._entities.get(request.match_info["handle"])
        if block is None or block.registry != registry:
            return _error(404, "Not Found", "no such entity")
        return _json({"rdapConformance": ["rdap_level_0"], **_entity_object(block, f"{self.base_url}/{registry}")})


def _entity_handle(block: AddressBlock) -> str:
    return f"ORG-AS{block.asn}-{block.registry.upper()}"


def _entity_object(block: AddressBlock, base: str) -> dict[str, Any]:
    """The block holder as an RFC 9083 entity with a vCard (so ipwhois needs no second fetch)."""
    handle = _entity_handle(block)
    return {
        "objectClassName": "entity",
        "handle": handle,
        "roles": ["registrant"],
        "vcardArray": ["vcard", [
            ["version", {}, "text", "4.0"],
            ["fn", {}, "text", block.description or block.name],
            ["kind", {}, "text", "org"],
        ]],
        "links": [_self_link(f"{base}/entity/{handle}")],
    }


def _network_object(block: AddressBlock, base: str) -> dict[str, Any]:
    """``block`` as an RFC 9083 ip network object (with the cidr0 extension)."""
    network = block.network
    url = f"{base}/ip/{block.cidr}"
    prefix_key = "v4prefix" if network.version == 4 else "v6prefix"
    obj: dict[str, Any] = {
        "rdapConformance": ["rdap_level_0", "cidr0"],
        "objectClassName": "ip network",
        "handle": block.handle,
        "startAddress": str(network.network_address),
        "endAddress": str(network.broadcast_address),
        "ipVersion": f"v{network.version}",
        "name": block.name,
        "type": "ALLOCATED PORTABLE",
        "country": block.country,
        "status": ["active"],
        "cidr0_cidrs": [{prefix_key: str(network.network_address), "length": network.prefixlen}],
        "entities": [_entity_object(block, base)],
        "events": [{"eventAction": "registration", "eventDate": f"{ALLOCATED}T00:00:00Z"}],
        "links": [_self_link(url)],
    }
    if block.description:
        obj["remarks"] = [{"title": "description", "description": [block.description]}]
    return obj


def _self_link(url: str) -> dict[str, str]:
    return {"value": url, "rel": "self", "href": url, "type": RDAP_CONTENT_TYPE}


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, content_type=RDAP_CONTENT_TYPE)


def _error(status: int, title: str, description: str) -> web.Response:
    """An RFC 9083 §6 error response."""
    return _json({"rdapConformance": ["rdap_level_0"], "errorCode": status, "title": title,
                  "description": [description]}, status=status)
