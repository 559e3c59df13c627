"""World spec: load/save round trips, validation, and the loopback-only rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.generate import generate_world
from sandbox.spec import SpecError, is_loopback, load, save, world_from_dict, world_to_dict


def _tiny() -> dict:
    return {
        "version": 1,
        "name": "tiny",
        "providers": [{"code": "P", "name": "提供者", "province": "京"}],
        "blocks": [{"cidr": "127.90.0.0/24", "provider": "P", "unit": "P"}],
        "sites": [{"id": "a", "domains": ["www.example.cn"], "ips": ["127.90.0.10"],
                   "params": {"marks": ["京ICP备2021000001号-1"]}}],
    }


def test_loopback_predicate() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.200.0.0/16") and is_loopback("::1")
    assert not is_loopback("10.0.0.1") and not is_loopback("0.0.0.0") and not is_loopback("126.0.0.0/7")
    assert not is_loopback("fd00::1") and not is_loopback("example.cn")


@pytest.mark.parametrize("mutate", [
    lambda d: d["blocks"].append({"cidr": "10.0.0.0/8", "provider": "P"}),
    lambda d: d["sites"][0].update(ips=["192.168.1.10"]),
    lambda d: d["sites"][0].update(redirect={"kind": "302", "target": "http://172.16.0.1/"}),
    lambda d: d.update(listen={"dns": "0.0.0.0:53"}),
    lambda d: d["sites"][0]["params"].update(note="see 8.8.8.8 for details"),
    lambda d: d["sites"][0].update(ips=["2001:db8::1"]),
])
def test_non_loopback_address_is_refused(mutate, tmp_path: Path) -> None:
    doc = _tiny()
    mutate(doc)
    with pytest.raises(SpecError, match="loopback"):
        world_from_dict(doc)
    path = tmp_path / "w.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SpecError, match="loopback"):
        load(path)


def test_round_trip_yaml_and_json(tmp_path: Path) -> None:
    world = generate_world(sites=120, seed=3, network="127.90.0.0/16")
    for name in ("w.yaml", "w.json"):
        path = save(world, tmp_path / name)
        again = load(path)
        assert world_to_dict(again) == world_to_dict(world)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["sites"][0].update(template="nope"), "template"),
    (lambda d: d["sites"][0].update(colour="red"), "unknown key"),
    (lambda d: d["sites"][0].update(hostile="kaboom"), "hostile"),
    (lambda d: d["sites"][0].update(ips=["127.91.0.1"]), "in no block"),
    (lambda d: d["sites"][0].update(domains=["Bad_Name.cn"]), "punycode"),
    (lambda d: d["blocks"][0].update(provider="NOBODY"), "not in providers"),
    (lambda d: d.update(extra=1), "unknown top-level"),
])
def test_invalid_specs_name_the_problem(mutate, message) -> None:
    doc = _tiny()
    mutate(doc)
    with pytest.raises(SpecError, match=message):
        world_from_dict(doc)


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load(bad)
    with pytest.raises(SpecError, match="cannot read"):
        load(tmp_path / "missing.json")
