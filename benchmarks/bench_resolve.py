"""CPU time per ``Resolver.resolve_async`` with the hand-written wire path on and off.

Serves a sandbox-shaped zone with :class:`sandbox.dns.SandboxDNS` in a subprocess on loopback (so
this process's CPU time is the client's alone), then resolves ``--names`` distinct names (apex
names with A, some with AAAA too, www names behind two-link CDN CNAME chains, names that do not
exist) with ``cache_size=0``, ``--concurrency`` at a time on one asyncio loop, with
``fast_path=True`` and ``fast_path=False`` in alternating rounds.  Prints JSON: per mode the
median over ``--rounds`` of CPU microseconds (``time.process_time``) and wall milliseconds per
resolution, and the outcomes, which must be the same in both modes.  On a shared machine judge by
the CPU time; wall time depends on the other work.

    python benchmarks/bench_resolve.py [--names 3000] [--rounds 3] [--concurrency 32]

Only loopback is contacted.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.resolve import Resolution, Resolver  # noqa: E402

SERVER = """
import json, sys
from sandbox.dns import SandboxDNS, Zone
sites = int(sys.argv[1])
zone = Zone(records={})
for edge in range(16):
    zone.add(f"edge{edge}.cdn-example.net", "A", f"127.200.{edge}.1")
    zone.add(f"edge{edge}.cdn-example.net", "AAAA", f"fd00::{edge + 1}")
for i in range(sites):
    apex = f"site{i}.example.cn"
    zone.add(apex, "A", f"127.1.{i // 250 % 250}.{1 + i % 250}")
    if i % 2:
        zone.add(apex, "AAAA", f"fd00:1::{i + 1:x}")
    zone.add(f"www.{apex}", "CNAME", f"c{i}.cdn-example.net")
    zone.add(f"c{i}.cdn-example.net", "CNAME", f"edge{i % 16}.cdn-example.net")
with SandboxDNS(zone, host="127.0.0.1", port=0) as server:
    print(json.dumps({"port": server.port}), flush=True)
    sys.stdin.read()  # serve until the benchmark closes our stdin
"""


def names(count: int) -> list[str]:
    """``count`` distinct names: 45 % apex, 45 % www (CNAME chains), 10 % nonexistent."""
    out: list[str] = []
    for i in range(count):
        kind = i % 20
        site = i // 2
        if kind < 2:
            out.append(f"missing{i}.example.cn")
        elif kind % 2:
            out.append(f"www.site{site}.example.cn")
        else:
            out.append(f"site{site}.example.cn")
    return out


async def run(resolver: Resolver, batch: list[str], concurrency: int) -> list[Resolution]:
    limit = asyncio.Semaphore(concurrency)

    async def one(name: str) -> Resolution:
        async with limit:
            return await resolver.resolve_async(name)

    return await asyncio.gather(*(one(name) for name in batch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--names", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    batch = names(args.names)
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(args.names)], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None and server.stdin is not None
        port = json.loads(server.stdout.readline())["port"]
        spec = f"127.0.0.1:{port}"
        # Warm the server's answer cache and this process's imports: both modes then meet the same.
        asyncio.run(run(Resolver(spec, cache_size=0, fast_path=False), batch, args.concurrency))
        cpu: dict[str, list[float]] = {"on": [], "off": []}
        wall: dict[str, list[float]] = {"on": [], "off": []}
        outcomes: dict[str, list[tuple[str, tuple[str, ...], tuple[str, ...]]]] = {}
        for round_ in range(args.rounds):
            for mode in (("on", "off") if round_ % 2 == 0 else ("off", "on")):
                resolver = Resolver(spec, timeout=2.0, lifetime=5.0, cache_size=0, fast_path=mode == "on")
                started_cpu, started = time.process_time(), time.perf_counter()
                results = asyncio.run(run(resolver, batch, args.concurrency))
                cpu[mode].append((time.process_time() - started_cpu) / len(batch) * 1e6)
                wall[mode].append((time.perf_counter() - started) / len(batch) * 1e3)
                outcomes[mode] = [(r.status, r.cname_chain, r.addresses) for r in results]
        server.stdin.close()
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
    report = {
        "names": args.names, "rounds": args.rounds, "concurrency": args.concurrency,
        "statuses": dict(collections.Counter(status for status, _, _ in outcomes["on"])),
        "same_outcomes": outcomes["on"] == outcomes["off"],
        **{f"cpu_us_per_resolution_{mode}": round(statistics.median(cpu[mode]), 1) for mode in ("on", "off")},
        **{f"wall_ms_per_resolution_{mode}": round(statistics.median(wall[mode]), 3) for mode in ("on", "off")},
        "cpu_us_rounds": {mode: [round(v, 1) for v in values] for mode, values in cpu.items()},
    }
    report["cpu_ratio_on_off"] = round(report["cpu_us_per_resolution_on"] / report["cpu_us_per_resolution_off"], 3)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
