"""A whole world served: DNS answers lead to web hosts, RDAP answers for the blocks, curl sees
what the spec says, and `world serve` prints where DNS listens and refuses non-loopback addresses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

from sandbox.generate import generate_world
from sandbox.serve import Sandbox
from sandbox.spec import SpecError, save

NET = f"127.{100 + (os.getpid() + 37) % 100}.0.0/16"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    world = generate_world(seed=31, network=NET)
    with Sandbox(world, dns="127.0.0.1:0", http_port=0, https_port=0,
                 state_dir=tmp_path_factory.mktemp("serve-state")) as sb:
        yield world, sb.info


def _query(info, name: str, rtype: str = "A", timeout: float = 2.0):
    q = dns.message.make_query(name, rtype)
    return dns.query.udp(q, info["dns_host"], port=info["dns_port"], timeout=timeout)


def test_dns_leads_to_the_web_host(box) -> None:
    world, info = box
    site = next(s for s in world.sites if s.dns == "ok" and not s.hostile and s.redirect is None
                and s.template == "company" and s.domains)
    answer = _query(info, site.domains[0])
    addrs = [r.address for rrset in answer.answer for r in rrset]
    assert addrs == site.ips
    req = urllib.request.Request(f"http://{addrs[0]}:{info['http_port']}/", headers={"Host": site.domains[0]})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert site.params["name"] in resp.read().decode(site.charset)


def test_dns_behaviours(box) -> None:
    world, info = box
    cname = next(s for s in world.sites if s.dns == "cname")
    answer = _query(info, cname.domains[0])
    types = {dns.rdatatype.to_text(rrset.rdtype) for rrset in answer.answer}
    assert types == {"CNAME", "A"}
    nx = next(s for s in world.sites if s.dns == "nxdomain")
    assert _query(info, nx.domains[0]).rcode() == dns.rcode.NXDOMAIN
    sf = next(s for s in world.sites if s.dns == "servfail")
    assert _query(info, sf.domains[0]).rcode() == dns.rcode.SERVFAIL
    origin = ".".join(reversed(world.sites[0].ips[0].split("."))) + ".origin.asn.cymru.com"
    txt = _query(info, origin, "TXT")
    assert txt.answer and "|" in txt.answer[0][0].to_text()


def test_rdap_names_the_block(box) -> None:
    world, info = box
    ip = world.sites[0].ips[0]
    with urllib.request.urlopen(f"{info['rdap'].rstrip('/')}/apnic/ip/{ip}", timeout=5) as resp:
        doc = json.loads(resp.read())
    assert doc.get("country") in ("CN", "HK", "US")


def test_curl_resolve_and_cacert(box) -> None:
    world, info = box
    site = next(s for s in world.sites if s.https and s.tls == "ok" and s.redirect is None and not s.hostile
                and s.template == "company" and s.domains)
    host, port = site.domains[0], info["https_port"]
    out = subprocess.run(["curl", "-sS", "--max-time", "5", "--cacert", info["ca_file"], "--resolve",
                          f"{host}:{port}:{site.ips[0]}", f"https://{host}:{port}/"],
                         capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert site.params["name"] in out.stdout.decode(site.charset)


def test_sandbox_refuses_non_loopback(tmp_path: Path) -> None:
    world = generate_world(sites=10, seed=1, network=NET)
    with pytest.raises(SpecError, match="loopback"):
        Sandbox(world, dns="10.0.0.53:53", state_dir=tmp_path)


def test_cli_serve_prints_where_dns_listens(tmp_path: Path) -> None:
    world = generate_world(sites=30, seed=2, network=NET)
    spec = save(world, tmp_path / "w.yaml")
    proc = subprocess.Popen(
        [sys.executable, "-m", "icpwatch", "world", "serve", str(spec), "--dns", "127.0.0.1:0",
         "--http-port", "0", "--https-port", "0", "--state-dir", str(tmp_path / "st"), "--json",
         "--duration", "20"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("}"):
                break
        info = json.loads("".join(lines))
        assert info["dns_host"] == "127.0.0.1" and info["dns_port"] > 0 and info["sites"] == len(world.sites)
        site = next(s for s in world.sites if s.dns == "ok" and s.domains)
        assert _query(info, site.domains[0]).answer
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1, "sites": [{"id": "x", "domains": ["a.cn"], "ips": ["8.8.8.8"]}]}))
    res = subprocess.run([sys.executable, "-m", "icpwatch", "world", "serve", str(bad), "--http-port", "0"],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert res.returncode != 0 and "loopback" in res.stderr and "8.8.8.8" in res.stderr


def test_open_file_limit_is_raised_or_the_world_refused_clearly() -> None:
    import resource

    from sandbox.serve import ensure_open_files

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    ensure_open_files(min(soft, 256))  # within the limit: nothing to do
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft
    with pytest.raises(SpecError, match="open files"):
        ensure_open_files(2**31)  # beyond any kernel's maximum


WIDE_SCRIPT = r"""
import json, resource, sys, urllib.request
from sandbox.generate import Mix, generate_world
from sandbox.serve import Sandbox

resource.setrlimit(resource.RLIMIT_NOFILE, (4600, 4600))  # too few for one socket per address
world = generate_world(sites=1000, seed=3, network=sys.argv[1], mix=Mix(sites_per_address=2))
site = next(s for s in world.sites if s.dns == "ok" and not s.hostile and s.redirect is None
            and s.template == "company" and s.domains)
with Sandbox(world, dns="127.0.0.1:0", http_port=0, https_port=0, state_dir=sys.argv[2]) as box:
    info = box.info
    req = urllib.request.Request(f"http://{site.ips[0]}:{info['http_port']}/", headers={"Host": site.domains[0]})
    with urllib.request.urlopen(req, timeout=5) as resp:
        page = resp.read().decode(site.charset)
    outside = sys.argv[1].split("/")[0].rsplit(".", 2)[0] + ".255.254"  # in 127/8, not in the world
    assert outside not in world.addresses()
    try:
        urllib.request.urlopen(f"http://{outside}:{info['http_port']}/", timeout=5).read()
        stranger = "served"
    except OSError as exc:
        stranger = type(exc).__name__
    print(json.dumps({"info": info, "found": site.params["name"] in page, "stranger": stranger,
                      "addresses": len(world.addresses())}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="listening on the whole loopback device needs root")
def test_a_world_beyond_the_open_file_limit_is_served_from_the_loopback_interface(tmp_path: Path) -> None:
    net = f"127.{100 + (os.getpid() + 71) % 100}.0.0/16"
    done = subprocess.run([sys.executable, "-c", WIDE_SCRIPT, net, str(tmp_path / "state")], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout)
    assert got["addresses"] > (4600 - 4096) // 2  # more than per-address sockets would fit
    assert got["info"]["listening"] == "loopback interface"
    assert got["found"] and got["stranger"] != "served"
