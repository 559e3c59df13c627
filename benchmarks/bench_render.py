"""Benchmark: the rendered display check over sandbox homepages.

Steps: generate a world (``--sites``, default 3,000), serve it in its own process (DNS on a free
port, web on free ports of a private 127.x network), then render ``--pages`` homepages (default
2,000; the readable content sites of the world, cycled) with :class:`crawler.render.Renderer`
through the sandbox's DNS and the address guard — every page measured at both viewports, judged,
and its bottom screenshot taken and hashed (written nowhere, so the disk is not measured).

Prints one JSON document: pages per second, verdict counts, and the memory of the Chromium
process tree (RSS summed over the browser's processes, and PSS, which counts shared pages once)
every 100 pages up to the ``--pages``-th — a few more pages than that are queued, so every
worker is still busy when the last sample is taken; "flat" is judged on the highest sample from
the 100th page on, as one may fall just after a browser recycle — and the load average of the machine at the
start and the end (other work on the same cores slows every figure). Targets: >= 8 pages/s;
memory at the last page within 20 % of the 100th. Run:
``python benchmarks/bench_render.py [--pages 2000] [--concurrency 6]``.
All traffic stays on 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def serve(sites: int, seed: int, network: str, state_dir: str, ready: "multiprocessing.Queue", stop) -> None:
    from sandbox.generate import generate_world
    from sandbox.serve import Sandbox

    world = generate_world(sites=sites, seed=seed, network=network)
    targets = [s.domains[0] for s in world.sites
               if s.domains and not s.hostile and s.redirect is None and s.dns == "ok"
               and s.template in ("company", "shop", "blog", "portal")
               and s.charset == "utf-8" and s.declare in ("header", "meta", "both")]
    with Sandbox(world, dns="127.0.0.1:0", http_port=0, https_port=0, rdap=None, state_dir=state_dir) as box:
        ready.put({"info": box.info, "targets": targets})
        stop.wait()


def _children(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            kids.setdefault(int(fields[1]), []).append(int(entry))
    out, stack = [], [pid]
    while stack:
        for child in kids.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def chromium_memory() -> dict[str, float]:
    """RSS and PSS (MiB) summed over this process's Chromium descendants."""
    rss = pss = 0
    count = 0
    for pid in _children(os.getpid()):
        try:
            if "chrom" not in Path(f"/proc/{pid}/comm").read_text():
                continue
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
            count += 1
        except OSError:
            continue
    return {"rss_mib": round(rss / 1024, 1), "pss_mib": round(pss / 1024, 1), "processes": count}


async def bench(info: dict, targets: list[str], pages: int, concurrency: int) -> dict:
    from crawler.guard import AddressGuard
    from crawler.render import Renderer, RenderOptions
    from crawler.resolve import Resolver

    extra = 2 * concurrency  # keeps every worker busy past the last counted page
    urls = [f"http://{targets[i % len(targets)]}:{info['http_port']}/" for i in range(pages + extra)]
    options = RenderOptions(concurrency=concurrency)
    verdicts: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    memory: dict[str, dict] = {}
    done = 0
    async with Renderer(resolver=Resolver(info["dns"]), guard=AddressGuard(allow_private=True),
                        ca_file=info["ca_file"], options=options) as renderer:
        queue = list(reversed(urls))
        started = time.monotonic()
        marks: dict[int, float] = {}

        async def worker() -> None:
            nonlocal done
            while queue:
                result = await renderer.render(queue.pop())
                done += 1
                if done > pages:
                    continue
                statuses[result["status"]] += 1
                verdicts[(result.get("display") or {}).get("verdict") or "unknown"] += 1
                if done % 100 == 0 or done == pages:  # the series shows the browser recycles
                    memory[str(done)] = chromium_memory()
                    marks[done] = time.monotonic() - started

        load_before = os.getloadavg()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = marks[pages]
        launches = renderer.pool.launches
    return {"pages": pages, "seconds": round(seconds, 1), "pages_per_second": round(pages / seconds, 2),
            "steady_pages_per_second": round((pages - 100) / (seconds - marks[100]), 2) if pages > 100 else None,
            "statuses": dict(statuses), "verdicts": dict(verdicts), "memory": memory,
            "browser_launches": launches, "concurrency": concurrency,
            "load_average": {"start": [round(x, 1) for x in load_before],
                             "end": [round(x, 1) for x in os.getloadavg()]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=3000)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--network", default="127.96.0.0/12")
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    with __import__("tempfile").TemporaryDirectory() as state:
        server = ctx.Process(target=serve, args=(args.sites, args.seed, args.network, state, ready, stop))
        server.start()
        try:
            served = ready.get(timeout=600)
            result = asyncio.run(bench(served["info"], served["targets"], args.pages, args.concurrency))
        finally:
            stop.set()
            server.join(30)
    first, last = result["memory"].get("100"), result["memory"].get(str(args.pages))
    if first and last:
        result["memory_growth"] = {k: round(last[k] / first[k] - 1, 3) for k in ("rss_mib", "pss_mib")}
        # A sample can fall just after a browser recycle (every ICPWATCH_RENDER_RECYCLE_AFTER
        # renders): the highest sample from the 100th page on is what "flat" is judged on.
        later = [m for n, m in result["memory"].items() if int(n) >= 100]
        result["memory_peak_growth"] = {k: round(max(m[k] for m in later) / first[k] - 1, 3)
                                        for k in ("rss_mib", "pss_mib")}
    result["targets"] = {"pages_per_second": 8, "memory_growth_max": 0.20}
    result["met"] = {"speed": result["pages_per_second"] >= 8,
                     "memory": bool(first and last and result["memory_peak_growth"]["rss_mib"] <= 0.20
                                    and result["memory_peak_growth"]["pss_mib"] <= 0.20)}
    result["cpus"] = os.cpu_count()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
