"""The homepage spider over the wire, against the served sandbox world: every DNS outcome, every
redirect kind, every encoding case, every hostile server (bounded), TLS verification, the JSON
Lines feed and the item schema.  One shared crawl (conftest ``world_crawl``) feeds most tests."""

from __future__ import annotations

import json

import pytest

from crawler.items import FIELDS, STATUSES
from tests.crawler.conftest import crawl

pytestmark = pytest.mark.slow


def _sites(world, **match):
    return [s for s in world.sites if all(getattr(s, k) == v for k, v in match.items())]


def _redirect(world, kind):
    return [s for s in world.sites if s.redirect is not None and s.redirect.kind == kind]


def test_every_target_gets_one_observation_per_host(served_world, world_crawl) -> None:
    world, _ = served_world
    keys = [o["target_key"] for o in world_crawl.observations]
    assert len(keys) == len(set(keys))
    hosts = {o["target"] for o in world_crawl.observations}
    assert {s.host for s in world.sites} <= hosts
    for o in world_crawl.observations:
        assert set(FIELDS) <= set(o), sorted(set(FIELDS) - set(o))
        assert o["status"] in STATUSES
        assert o["run_id"] == world_crawl.run_id
        assert o["fetched_at"].endswith("+00:00") and o["elapsed"] >= 0
        if o["status"] != "ok":
            assert o["error"], o


def test_apex_and_www_are_both_checked(served_world, world_crawl) -> None:
    world, _ = served_world
    site = next(s for s in _sites(world, template="company", dns="ok", hostile=None, redirect=None)
                if s.domains and not s.domains[0].startswith("www."))
    hosts = {o["host"] for o in world_crawl.observations if o["target"] == site.host}
    assert hosts == {site.host, "www." + site.host}


def test_ok_page_is_observed_with_dns_ip_headers_encoding_page_owners(served_world, world_crawl) -> None:
    world, _ = served_world
    site = next(s for s in _sites(world, template="company", dns="ok", hostile=None, redirect=None)
                if s.domains)
    o = world_crawl.for_host(site.host)
    assert o["status"] == "ok" and o["http_status"] == 200 and o["error"] is None
    assert o["url"] == f"http://{site.host}/" and o["final_url"] == f"http://{site.host}/"
    assert o["ip"] == site.ips[0]
    assert o["dns"][site.host]["status"] == "ok" and site.ips[0] in o["dns"][site.host]["addresses"]
    assert o["headers"]["server"] and "text/html" in o["headers"]["content-type"]
    assert o["encoding"]["encoding"] and o["page"]["kind"] == "site"
    assert site.params["name"] in (o["page"]["title"] or "") or o["page"]["marks"]
    # ownership ran (once per address, off the reactor thread); ipwhois calls every sandbox
    # address special-purpose (loopback), so the owner is honestly unknown
    owner = o["owners"][site.ips[0]]
    assert owner["ip"] == site.ips[0] and owner["status"] == "unknown" and "special" in owner["error"]
    lookups = [line for line in world_crawl.stderr.splitlines() if "'icpwatch/ownership_lookups'" in line]
    ips = {o["ip"] for o in world_crawl.observations if o["ip"]}
    ips |= {h["ip"] for o in world_crawl.observations for h in o["redirect_chain"] if h["ip"]}
    counts = [int(x.split(":")[1].strip(" ,")) for x in lookups]  # one per crawler (spider)
    assert counts and max(counts) <= len(ips) and sum(counts) >= len(ips) - 4


@pytest.mark.parametrize("kind", ["servfail", "timeout", "refused", "nxdomain"])
def test_dns_failures_are_dns_errors_with_their_kind(served_world, world_crawl, kind) -> None:
    world, _ = served_world
    site = _sites(world, dns=kind)[0]
    o = world_crawl.for_host(site.host)
    assert o["status"] == "dns_error", o
    assert o["dns"][site.host]["status"] == kind
    assert o["redirect_chain"] == [] and o["page"] is None


@pytest.mark.parametrize("kind", ["cname", "truncate"])
def test_dns_cname_and_truncation_resolve(served_world, world_crawl, kind) -> None:
    world, _ = served_world
    site = _sites(world, dns=kind, hostile=None)[0]
    o = world_crawl.for_host(site.host)
    assert o["status"] == "ok", o
    if kind == "cname":
        assert o["dns"][site.host]["cname_chain"]


@pytest.mark.parametrize("kind,status", [("301", 301), ("302", 302), ("307", 307), ("308", 308)])
def test_http_redirects_are_recorded_hop_by_hop(served_world, world_crawl, kind, status) -> None:
    world, _ = served_world
    site = _redirect(world, kind)[0]
    o = world_crawl.for_host(site.host)
    assert o["status"] == "ok", o
    hop = o["redirect_chain"][0]
    assert hop["kind"] == "http" and hop["status"] == status and hop["location"] == site.redirect.target
    assert hop["url"] == f"http://{site.host}/" and hop["ip"] == site.ips[0]
    assert o["final_url"] == site.redirect.target


@pytest.mark.parametrize("kind,hop_kind", [("meta", "meta"), ("meta-delay", "meta"), ("script", "script")])
def test_page_redirects_are_followed_and_recorded(served_world, world_crawl, kind, hop_kind) -> None:
    world, _ = served_world
    site = _redirect(world, kind)[0]
    o = world_crawl.for_host(site.host)
    assert o["status"] == "ok", o
    hop = o["redirect_chain"][0]
    assert hop["kind"] == hop_kind and hop["url"] == f"http://{site.host}/"
    assert o["final_url"] == site.redirect.target
    if kind == "meta-delay":
        assert hop["delay"] == site.redirect.delay


def test_redirect_chain_keeps_every_hop(served_world, world_crawl) -> None:
    world, _ = served_world
    site = _redirect(world, "chain")[0]
    o = world_crawl.for_host(site.host)
    assert o["status"] == "ok"
    assert [h["status"] for h in o["redirect_chain"]] == [301, 302]
    assert len({h["url"] for h in o["redirect_chain"]}) == 2


def test_https_upgrade_is_followed(served_world, world_crawl) -> None:
    world, _ = served_world
    site = next(s for s in _redirect(world, "https") if s.dns == "ok" and not s.hostile)
    o = world_crawl.for_host(site.host)
    assert o["status"] == "ok" and o["final_url"] == f"https://{site.host}/"
    assert o["redirect_chain"][0]["location"] == f"https://{site.host}/"


def test_loops_and_self_redirects_are_observed_not_dropped(served_world, world_crawl) -> None:
    world, _ = served_world
    loop = _redirect(world, "loop")[0]
    o = world_crawl.for_host(loop.host)
    assert o["status"] == "redirect_loop" and len(o["redirect_chain"]) == 2
    self_site = _redirect(world, "self")[0]
    o = world_crawl.for_host(self_site.host)
    assert o["status"] == "redirect_loop" and "itself" in o["error"]
    assert o["redirect_chain"][0]["location"] == f"http://{self_site.host}/"


@pytest.mark.parametrize("kind", ["private", "file"])
def test_redirects_to_private_addresses_and_files_are_refused(served_world, world_crawl, kind) -> None:
    world, _ = served_world
    for site in _redirect(world, kind):
        o = world_crawl.for_host(site.host)
        assert o["status"] == "refused", o
        assert o["redirect_chain"] and o["page"] is None


@pytest.mark.parametrize("hostile,statuses", [
    ("never-ends", {"timeout", "too_large"}), ("slowloris", {"timeout"}), ("bomb", {"too_large"}),
    ("huge", {"too_large"}), ("big-headers", {"protocol_error"}), ("bad-chunked", {"protocol_error"}),
    ("reset", {"connection_error"}),
])
def test_hostile_servers_cost_one_bounded_request(served_world, world_crawl, hostile, statuses) -> None:
    world, _ = served_world
    site = _sites(world, hostile=hostile)[0]
    o = world_crawl.for_host(site.host)
    assert o["status"] in statuses, o
    assert o["elapsed"] < 4 + 2, o  # DOWNLOAD_TIMEOUT is 4 s in the test crawl
    assert not o["warnings"] or hostile in ("bomb", "huge")  # no https fallback attempt was made


@pytest.mark.parametrize("tls", ["expired", "wrong-host"])
def test_bad_certificates_are_tls_errors(served_world, world_crawl, tls) -> None:
    world, _ = served_world
    site = _sites(world, tls=tls)[0]
    o = next(o for o in world_crawl.observations if o["target"] == f"https://{site.host}/")
    assert o["status"] == "tls_error", o
    good = next(o for o in world_crawl.observations if o["final_url"] and o["final_url"].startswith("https://")
                and o["status"] == "ok")
    assert good["http_status"] == 200  # the sandbox CA is trusted: verification, not rejection


def test_every_encoding_case_is_decoded(served_world, world_crawl) -> None:
    world, _ = served_world
    seen = set()
    for site in world.sites:
        if site.hostile or site.redirect or site.dns != "ok" or site.template != "company" and site.params.get("style") != "plain":
            continue
        key = (site.charset, site.declare)
        if key in seen or site.template in ("parked", "default-nginx", "default-apache", "default-iis"):
            continue
        o = world_crawl.for_host(site.host)
        if o["status"] != "ok":
            continue
        seen.add(key)
        assert o["encoding"]["encoding"] in ("utf-8", "gb18030", "gbk"), o["encoding"]
        assert site.params["name"] in json.dumps(o["page"], ensure_ascii=False), (key, o["encoding"])
        if site.declare in ("header-wrong", "meta-wrong"):
            assert o["encoding"]["lied"] is True
    assert len(seen) >= 15, seen


def test_jsonl_feed_matches_the_store(world_crawl) -> None:
    from crawler.store import open_crawl_store

    store = open_crawl_store(world_crawl.db_url)
    try:
        stored = list(store.observations(world_crawl.run_id))
        assert store.get_run(world_crawl.run_id)["state"] == "finished"
    finally:
        store.dispose()
    assert len(stored) == len(world_crawl.observations)
    assert {o["target_key"] for o in stored} == {o["target_key"] for o in world_crawl.observations}


def test_cli_without_allow_private_refuses_loopback_targets(served_world, tmp_path) -> None:
    """``icpwatch crawl`` (crawler.cli) in a subprocess: loopback targets become observations
    with status refused, and --json prints one summary document."""
    import subprocess
    import sys

    from tests.crawler.conftest import ROOT

    world, info = served_world
    site = next(s for s in _sites(world, template="company", dns="ok", hostile=None, redirect=None) if s.domains)
    ip_site = next(s for s in world.sites if not s.domains)
    targets = tmp_path / "targets.txt"
    targets.write_text(f"{site.host}\n{ip_site.ips[0]}\nhttp://127.0.0.1/\nhttp://0x7f.1/\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    db = f"sqlite:///{tmp_path / 's.sqlite3'}"
    proc = subprocess.run([sys.executable, "-c", "from crawler.cli import crawl; crawl()", "--targets", str(targets),
                           "--resolver", info["dns"], "--output", str(out), "--db", db, "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["state"] == "finished" and set(summary["by_status"]) == {"refused"}
    observations = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(observations) == summary["observations"] >= 4
    named = next(o for o in observations if o["host"] == site.host)
    assert "loopback" in named["error"] and named["dns"][site.host]["status"] == "ok"
    bad = tmp_path / "bad.txt"
    bad.write_text("example.cn\nftp://x.cn/\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", "from crawler.cli import crawl; crawl()", "--targets", str(bad),
                           "--db", db], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "line 2" in proc.stderr and "Traceback" not in proc.stderr
