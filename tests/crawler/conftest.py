"""Shared for the crawler's over-the-wire tests: one sandbox world served on loopback (DNS on a
free port, web on ports 80/443 of its own 127.x network) and crawls run in a subprocess (the
Twisted reactor cannot be restarted), each returning its observations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NET = f"127.{200 + os.getpid() % 50}.0.0/16"

CHILD = """
import json, sys
from crawler.runner import run_crawl
cfg = json.load(sys.stdin)
print(json.dumps({"run_id": run_crawl(cfg.pop("targets"), **cfg)}))
"""


@contextmanager
def serving(server: Any) -> Iterator[Any]:
    """``server`` (a socketserver server bound on loopback) answering in a thread until the block ends."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Crawl:
    run_id: str
    observations: list[dict[str, Any]]
    seconds: float
    stderr: str

    def by_key(self) -> dict[str, dict[str, Any]]:
        return {o["target_key"]: o for o in self.observations}

    def for_host(self, host: str) -> dict[str, Any]:
        found = [o for o in self.observations if o["host"] == host and o["kind"] != "cidr_member"]
        assert found, f"no observation for {host}"
        return found[0]


def crawl(targets: list[str], *, db_url: str, output: Path, info: dict[str, Any] | None = None,
          allow_private: bool = True, run_id: str | None = None, settings: dict[str, Any] | None = None,
          timeout: float = 120, workers: int = 1) -> Crawl:
    """Run one crawl in a subprocess; its observations are the JSON Lines it appended to ``output``."""
    before = output.read_text(encoding="utf-8").count("\n") if output.exists() else 0
    cfg: dict[str, Any] = {
        "targets": targets, "db_url": db_url, "allow_private": allow_private, "output": str(output),
        "run_id": run_id, "workers": workers,
        "settings": {"ICPWATCH_OWNERSHIP": False, "ICPWATCH_PROGRESS": "log", "DOWNLOAD_TIMEOUT": 4,
                     "LOG_LEVEL": "INFO", **(settings or {})},
    }
    if info is not None:
        cfg["resolver"] = info["dns"]
        cfg["ca_file"] = info["ca_file"]
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(cfg), capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout)
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-4000:]
    run_id = json.loads(proc.stdout.strip().splitlines()[-1])["run_id"]
    lines = output.read_text(encoding="utf-8").splitlines()[before:] if output.exists() else []
    return Crawl(run_id, [json.loads(line) for line in lines], seconds, proc.stderr)


@pytest.fixture(scope="session")
def served_world(tmp_path_factory: pytest.TempPathFactory):
    """(world, sandbox info) — the default catalogue world (every redirect, DNS, encoding and
    hostile case), served until the session ends."""
    from sandbox.generate import generate_world
    from sandbox.serve import Sandbox

    world = generate_world(seed=11, network=NET)
    with Sandbox(world, dns="127.0.0.1:0", http_port=80, https_port=443, rdap="127.0.0.1:0",
                 state_dir=tmp_path_factory.mktemp("crawl-world")) as box:
        yield world, box.info


def world_targets(world: Any) -> list[str]:
    """Every site's host, plus https:// URLs of the TLS-broken sites (http would hide them)."""
    targets = [s.host for s in world.sites]
    targets += [f"https://{s.host}/" for s in world.sites if s.https and s.tls != "ok" and s.domains]
    return targets


@pytest.fixture(scope="session")
def world_crawl(served_world, tmp_path_factory: pytest.TempPathFactory) -> Crawl:
    """The one big crawl of the served world (homepage and iprange spiders), shared by many tests."""
    world, info = served_world
    tmp = tmp_path_factory.mktemp("world-crawl")
    ip_only = next(s for s in world.sites if not s.domains and not s.hostile)
    import ipaddress

    address = ipaddress.ip_address(ip_only.ips[0])
    cidr = next(str(net) for prefix in (30, 29, 28, 27, 26)
                if address in list((net := ipaddress.ip_network(f"{address}/{prefix}", strict=False)).hosts()))
    targets = world_targets(world) + [cidr]
    result = crawl(targets, db_url=f"sqlite:///{tmp / 'store.sqlite3'}", output=tmp / "out.jsonl", info=info,
                   settings={"ICPWATCH_OWNERSHIP": True, "ICPWATCH_OWNERSHIP_DNS": info["dns"],
                             "ICPWATCH_RDAP_URL": info["rdap"]})
    result.db_url = f"sqlite:///{tmp / 'store.sqlite3'}"  # type: ignore[attr-defined]
    result.cidr = cidr  # type: ignore[attr-defined]
    result.output = tmp / "out.jsonl"  # type: ignore[attr-defined]
    result.targets = targets  # type: ignore[attr-defined]
    return result
