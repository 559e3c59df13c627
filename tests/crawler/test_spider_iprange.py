"""The IP-range spider over the wire: every address of a block probed on 80 and 443, with no
Host header and with the address as Host, finding the IP-only site and default virtual hosts."""

from __future__ import annotations

import pytest

from crawler.spiders.iprange import PROBES, probe_visits
from crawler.targets import parse_targets

pytestmark = pytest.mark.slow


def test_probe_plan_is_four_probes_per_address() -> None:
    visits = list(probe_visits(parse_targets(["127.5.0.0/30", "example.cn"])))
    assert len(visits) == 2 * len(PROBES)
    assert {(v.probe["scheme"], v.probe["host_header"]) for v in visits} == {
        ("http", "none"), ("http", "address"), ("https", "none"), ("https", "address")}
    none = next(v for v in visits if v.probe["host_header"] == "none")
    assert none.host_header == "" and none.url == "http://127.5.0.1/" and none.fallbacks == []
    assert len({v.key for v in visits}) == len(visits)


def test_block_probes_find_ip_only_site_and_default_vhosts(served_world, world_crawl) -> None:
    world, _ = served_world
    probes = [o for o in world_crawl.observations if o["kind"] == "cidr_member"]
    assert probes and all(o["target"] == world_crawl.cidr for o in probes)
    ip_only = {s.ips[0]: s for s in world.sites if not s.domains}
    served = set(world.addresses())
    by_ip: dict[str, list[dict]] = {}
    for o in probes:
        by_ip.setdefault(o["host"], []).append(o)
    assert all(len(v) == 4 for v in by_ip.values())
    found_ip_site = False
    for ip, obs in by_ip.items():
        if ip in served:
            for o in obs:
                if o["probe"]["scheme"] == "http":
                    assert o["status"] == "ok" and o["ip"] == ip, o
            if ip in ip_only:
                site = ip_only[ip]
                http = [o for o in obs if o["probe"]["scheme"] == "http"]
                assert all(site.params["name"] in (o["page"]["title"] or "") or o["page"]["marks"] for o in http)
                found_ip_site = True
            https = [o for o in obs if o["probe"]["scheme"] == "https"]
            assert all(o["status"] in ("ok", "tls_error") for o in https), https
        else:  # nothing listens: an observation, not a failure of the sweep
            assert all(o["status"] == "connection_error" for o in obs), obs
    assert found_ip_site
    default = next((o for o in probes if o["host"] in served and o["host"] not in ip_only
                    and o["probe"]["scheme"] == "http"), None)
    if default is not None:
        assert default["page"]["kind"] == "default_server"
