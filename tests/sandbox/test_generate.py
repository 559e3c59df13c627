"""World generator: determinism, coverage of every case, ground truth consistent with the
registry files, and the `world generate` / `world registry` commands."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sandbox.cli import world as world_cli
from sandbox.generate import (REGISTRY_COLUMNS, RULES, generate_world, ground_truth, registry_rows,
                              write_registry)
from sandbox.spec import (CHARSETS, DECLARES, DNS_BEHAVIOURS, HOSTILE_KINDS, LAYOUTS,
                          PARKED_TEMPLATES, REDIRECT_KINDS, STYLES, load, world_to_dict)

NET = "127.91.0.0/16"


@pytest.fixture(scope="module")
def default_world():
    return generate_world(seed=11, network=NET)


def test_same_seed_same_world_and_truth() -> None:
    a, b = generate_world(sites=400, seed=5, network=NET), generate_world(sites=400, seed=5, network=NET)
    assert world_to_dict(a) == world_to_dict(b)
    assert ground_truth(a) == ground_truth(b)
    c = generate_world(sites=400, seed=6, network=NET)
    assert world_to_dict(c) != world_to_dict(a)


@pytest.mark.parametrize("n", [10, 1000])
def test_sizes(n: int) -> None:
    w = generate_world(sites=n, seed=1, network=NET)
    assert n <= len(w.sites) <= n + 3
    assert len({d for s in w.sites for d in s.domains}) == sum(len(s.domains) for s in w.sites)


def test_default_world_covers_every_case(default_world) -> None:
    sites = default_world.sites
    assert 200 <= len(sites) <= 400
    content = [s for s in sites if s.template not in PARKED_TEMPLATES and s.redirect is None]
    assert {s.params.get("layout") for s in content} >= set(LAYOUTS)
    assert {s.params.get("style") for s in content} >= set(STYLES)
    assert {(s.charset, s.declare) for s in content} >= {(c, d) for c in CHARSETS for d in DECLARES}
    assert {s.redirect.kind for s in sites if s.redirect} == set(REDIRECT_KINDS)
    assert {s.hostile for s in sites if s.hostile} == set(HOSTILE_KINDS)
    assert {s.dns for s in sites} == set(DNS_BEHAVIOURS)
    assert {s.template for s in sites} >= set(PARKED_TEMPLATES)
    assert any(not s.domains for s in sites), "an IP-only site"
    assert any(s.params.get("psb") for s in content)
    assert any(not s.params.get("contact") for s in content)
    assert {s.tls for s in sites} == {"ok", "expired", "wrong-host"}
    numbers = {f.website_number[0] for f in default_world.filings}
    assert {"黔", "滇", "蜀", "陇"} <= numbers
    marks = [m for s in content for m in s.params.get("marks", [])]
    assert any("ICP证" in m for m in marks) and any(m.endswith("-2A") for m in marks)
    assert "贵ICP备12345678号" in marks


def test_truth_consistent_with_registry_files(default_world, tmp_path: Path) -> None:
    w = default_world
    truth = ground_truth(w)
    summary = write_registry(w, tmp_path)
    tables = {}
    for kind, columns in REGISTRY_COLUMNS.items():
        with open(tmp_path / f"{kind}.csv", encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == columns
        assert len(rows) - 1 == summary["files"][kind]["rows"]
        tables[kind] = [dict(zip(columns, r)) for r in rows[1:]]
    codes = {r["code"] for r in tables["providers"]}
    filed = {d for r in tables["filings"] if r["status"] == "filed" for d in r["domains"].split(";") if d}
    any_filing = {d for r in tables["filings"] for d in r["domains"].split(";") if d}
    reported = [r["cidr"] for r in tables["ip-ranges"]]
    by_id = {s.id: s for s in w.sites}
    counts: dict[str, int] = {}
    for f in truth["findings"]:
        assert f["party"] in codes, f
        article, points = RULES[f["code"]]
        assert (f["article"], f["points"]) == (article, points)
        counts[f["party"]] = counts.get(f["party"], 0) + f["points"]
        if f["site"] is None:
            assert f["code"] == "IP_UNREPORTED"
            assert not any(__import__("ipaddress").ip_address(f["ip"]) in __import__("ipaddress").ip_network(c)
                           for c in reported)
            continue
        site = by_id[f["site"]]
        reg = site.domains[0].removeprefix("www.") if site.domains else None
        assert not site.hostile and site.dns not in ("servfail", "timeout", "refused", "nxdomain")
        if f["code"] == "UNFILED_SITE" and reg:
            assert reg not in any_filing
        if f["code"] == "CANCELLED_STILL_SERVED":
            assert reg in any_filing and reg not in filed
        if f["code"] in ("NUMBER_MISMATCH", "LINK_MISSING", "NUMBER_MISPLACED", "ACCESS_NOT_RECORDED") and reg:
            assert reg in filed
        if f["code"] == "UNFILED_RESOLVED":
            assert reg not in filed
        if f["code"] == "BLACKLISTED_SERVED":
            assert tables["blacklist"]
    for code, points in truth["points"].items():
        assert counts.get(code, 0) == points
    for site_id in truth["unknown"]:
        assert site_id not in truth["by_site"]
    assert set(truth["counts"]) == set(RULES), "the default world raises every finding code"


def test_cli_generate_and_registry(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "w.json"
    res = runner.invoke(world_cli, ["generate", "--sites", "150", "--seed", "4", "--out", str(out),
                                    "--network", NET, "--mix", "unfiled=0.2", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["sites"] >= 150 and Path(summary["truth"]).exists() and Path(summary["targets"]).exists()
    truth = json.loads(Path(summary["truth"]).read_text())
    assert truth["sites"] == summary["sites"] and truth["points"]
    assert len(load(out).sites) == summary["sites"]
    res = runner.invoke(world_cli, ["registry", str(out), str(tmp_path / "reg"), "--json"])
    assert res.exit_code == 0, res.output
    files = json.loads(res.stdout)["files"]
    assert set(files) == {"providers", "filings", "ip-ranges", "domains", "blacklist"}
    res = runner.invoke(world_cli, ["generate", "--network", "10.0.0.0/8", "--out", str(tmp_path / "x.yaml")])
    assert res.exit_code != 0 and "loopback" in res.output
    res = runner.invoke(world_cli, ["generate", "--mix", "bogus=1", "--out", str(tmp_path / "x.yaml")])
    assert res.exit_code != 0 and "bogus" in res.output
    for sub in ("generate", "serve", "registry"):
        assert runner.invoke(world_cli, [sub, "--help"]).exit_code == 0


def test_registry_rows_reference_known_parties(default_world) -> None:
    rows = registry_rows(default_world)
    codes = {r[0] for r in rows["providers"]}
    for r in rows["ip-ranges"]:
        assert r[1] in codes and r[2] in codes
    for r in rows["domains"]:
        assert r[1] in codes
    for r in rows["filings"]:
        assert all(p in codes for p in r[7].split(";") if p)
