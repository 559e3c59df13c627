"""Serve a world: DNS (``sandbox.dns``), web hosts (``sandbox.web``) and RDAP (``sandbox.rdap``).

``Sandbox(world, …).start()`` returns where everything listens::

    {"dns": "127.0.0.1:5353", "rdap": "http://127.0.0.1:40123", "http_port": 80,
     "https_port": 443, "ca_file": ".icpwatch-world/ca.pem", "addresses": 1667, "sites": 100000,
     "start_seconds": 4.2}

The DNS zone: every domain of a site gets A (or AAAA) records for the site's addresses, or a
CNAME to ``<site-id>.<provider>.cdn-sandbox.net`` (``dns: cname``) that carries them; ``truncate``,
``servfail``, ``timeout`` and ``refused`` become zone behaviours; ``nxdomain`` leaves the name
out. Origin-ASN TXT records (Team Cymru style) for every block come from ``sandbox.rdap``.
Everything binds to loopback only.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

from .spec import SpecError, World, block_index, is_loopback, split_hostport
from .web import WebHostsThread

DEFAULT_DNS = "127.0.0.1:5353"
DEFAULT_STATE_DIR = ".icpwatch-world"


def build_zone(world: World) -> Any:
    """The :class:`sandbox.dns.Zone` for ``world`` (imported lazily)."""
    from .dns import Zone

    zone = Zone(records={})
    records = zone.records
    index = block_index(world.blocks)
    for site in world.sites:
        if site.dns == "nxdomain":
            continue
        for name in site.domains:
            if site.dns in ("truncate", "servfail", "timeout", "refused"):
                zone.behaviours[name] = site.dns
            if site.dns == "cname":
                block = index.find(site.ips[0])
                provider = (block.provider if block else "cdn").lower()
                target = f"{site.id}.{provider}.cdn-sandbox.net"
                records.setdefault(name, []).append(("CNAME", target))
                if target not in records:
                    records[target] = [("AAAA" if ":" in ip else "A", ip) for ip in site.ips]
            else:
                records.setdefault(name, []).extend(("AAAA" if ":" in ip else "A", ip) for ip in site.ips)
    zone.add_rows(origin_rows(world))
    return zone


def address_blocks(world: World) -> list[Any]:
    from .rdap import AddressBlock

    out = []
    for b in world.blocks:
        provider = world.provider(b.provider)
        out.append(AddressBlock(cidr=b.cidr, asn=b.asn, name=b.name or b.provider, country=b.country,
                                description=provider.name if provider else b.description))
    return out


def origin_rows(world: World) -> list[tuple[str, str, str]]:
    from .rdap import origin_records

    return origin_records(address_blocks(world))


#: open files kept for connections, the DNS and RDAP servers and the rest of the process
CONNECTION_FILES = 4096


def ensure_open_files(needed: int) -> None:
    """Raise this process's open-file limit to ``needed`` (root may raise the hard limit too);
    a world too large for the limit is refused with what to do, not left to fail half-bound."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, max(hard, needed)))
    except (ValueError, OSError):
        raise SpecError(f"serving this world needs {needed} open files; the limit is {soft} (hard {hard}): "
                        f"raise it (ulimit -n {needed}), serve it as root (one socket for the whole loopback "
                        f"interface) or serve a smaller world") from None


class Sandbox:
    """DNS + web + RDAP for one world; a context manager; ``stop()`` ends all three."""

    def __init__(self, world: World, *, dns: str | None = None, http_port: int | None = None,
                 https_port: int | None = None, rdap: str | None = "127.0.0.1:0",
                 state_dir: str | Path = DEFAULT_STATE_DIR, web: bool = True,
                 cache_size: int = 20000) -> None:
        listen = world.listen or {}
        self.world = world
        self.dns_host, self.dns_port = split_hostport(dns or listen.get("dns") or DEFAULT_DNS, 53)
        self.http_port = int(http_port if http_port is not None else listen.get("http_port", 80))
        self.https_port = int(https_port if https_port is not None else listen.get("https_port", 443))
        self.rdap_addr = split_hostport(rdap, 0) if rdap else None
        for host, what in ((self.dns_host, "DNS"), (self.rdap_addr[0] if self.rdap_addr else "127.0.0.1", "RDAP")):
            if not is_loopback(host):
                raise SpecError(f"refusing to serve {what} on {host}: not a loopback address")
        self.state_dir = Path(state_dir)
        self.want_web = web
        self.cache_size = cache_size
        self.dns_server: Any = None
        self.rdap_server: Any = None
        self.web: WebHostsThread | None = None
        self.info: dict[str, Any] = {}

    def start(self) -> dict[str, Any]:
        started = time.monotonic()
        wide = False
        if self.want_web:
            # One listening socket per address and port, plus room for connections and the rest;
            # a world with more addresses than the open-file limit allows is served by one socket
            # per port on the whole loopback interface (root only: WebHosts._bind_wide).
            try:
                ensure_open_files(2 * len(self.world.addresses()) + CONNECTION_FILES)
            except SpecError:
                if os.geteuid() != 0:
                    raise
                ensure_open_files(CONNECTION_FILES)
                wide = True
        try:
            if self.want_web:
                self.web = WebHostsThread(self.world, http_port=self.http_port, https_port=self.https_port,
                                          state_dir=self.state_dir, cache_size=self.cache_size, wide=wide)
                web_info = self.web.start()
            else:
                web_info = {}
            from .dns import SandboxDNS

            self.dns_server = SandboxDNS(build_zone(self.world), host=self.dns_host, port=self.dns_port)
            host, port = self.dns_server.start()
            rdap_url = None
            if self.rdap_addr is not None:
                from .rdap import RDAPServer

                self.rdap_server = RDAPServer(address_blocks(self.world), host=self.rdap_addr[0],
                                              port=self.rdap_addr[1])
                rdap_url = self.rdap_server.start()
        except BaseException:
            self.stop()
            raise
        self.info = {
            "world": self.world.name,
            "sites": len(self.world.sites),
            "dns": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "dns_host": host,
            "dns_port": port,
            "rdap": rdap_url,
            "http_port": web_info.get("http_port"),
            "https_port": web_info.get("https_port"),
            "addresses": web_info.get("addresses", 0),
            "listening": web_info.get("listening"),
            "ca_file": web_info.get("ca_file"),
            "start_seconds": round(time.monotonic() - started, 3),
        }
        return self.info

    def stop(self) -> None:
        for server in (self.rdap_server, self.dns_server):
            if server is not None:
                try:
                    server.stop()
                except Exception:  # noqa: BLE001 - stop the rest regardless
                    pass
        self.rdap_server = self.dns_server = None
        if self.web is not None:
            self.web.stop()
            self.web = None

    def __enter__(self) -> "Sandbox":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
