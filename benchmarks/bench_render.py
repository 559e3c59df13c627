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
start and the end and the share of the machine's CPU stolen by its host meanwhile (other work on
the same cores slows every figure), and the CPU seconds per page of this process
(the routing and fetching), the Playwright driver and each kind of Chromium process — the figure
other work on the machine does not change — and apart, that of the sandbox serving the pages.
Targets: >= 8 pages/s;
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
import resource
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proctree import descendants, host_cpu, host_cpu_shares  # noqa: E402  (benchmarks/, beside this script)


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


_TICK = os.sysconf("SC_CLK_TCK")


def _kind(pid: int) -> str | None:
    """What a descendant process is: the Playwright driver, or Chromium's browser process and its
    children by their ``--type`` (the utility processes by their service, e.g. the network)."""
    try:
        # Chromium's children rewrite their title: their arguments are then one string with spaces.
        args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
    except OSError:
        return None
    if args and "node" in Path(args[0]).name:
        return "driver"
    if not any("chrom" in a for a in args[:1]):
        return None
    kind = next((a.split("=", 1)[1] for a in args if a.startswith("--type=")), "browser")
    if kind == "utility":
        sub = next((a.split("=", 1)[1] for a in args if a.startswith("--utility-sub-type=")), "")
        kind = "network" if "Network" in sub else "utility"
    return kind


class CpuSampler:
    """CPU seconds of this process's descendants, by kind (see :func:`_kind`), read from /proc
    every ``interval``: a process that ended is counted with its last reading (Chromium's short
    lived processes lose at most one interval)."""

    def __init__(self, interval: float = 0.5, named: dict[int, str] | None = None) -> None:
        self.interval = interval
        self.named = named or {}  # other processes to count, by pid (the sandbox's server)
        self.seen: dict[tuple[int, int], tuple[str, float]] = {}  # (pid, start time) -> kind, cpu
        self.base: dict[tuple[int, int], tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for pid in descendants(os.getpid()):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            key = (pid, int(fields[19]))
            known = self.seen.get(key)
            kind = known[0] if known else self.named.get(pid) or _kind(pid)
            if kind is not None:
                self.seen[key] = (kind, (int(fields[11]) + int(fields[12])) / _TICK)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> None:
        self._sample()
        self.base = dict(self.seen)  # what the processes already running had spent before
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self._sample()
        out: dict[str, float] = {}
        for key, (kind, cpu) in self.seen.items():
            out[kind] = out.get(kind, 0.0) + cpu - self.base.get(key, (kind, 0.0))[1]
        return out


def chromium_memory() -> dict[str, float]:
    """RSS and PSS (MiB) summed over this process's Chromium descendants."""
    rss = pss = 0
    count = 0
    for pid in descendants(os.getpid()):
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


async def bench(info: dict, targets: list[str], pages: int, concurrency: int, server_pid: int) -> dict:
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

        load_before, host_before = os.getloadavg(), host_cpu()
        sampler = CpuSampler(named={server_pid: "sandbox"})
        own = resource.getrusage(resource.RUSAGE_SELF)
        sampler.start()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu, host_after = sampler.stop(), host_cpu()
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu["python"] = after.ru_utime + after.ru_stime - own.ru_utime - own.ru_stime
        served_cpu = cpu.pop("sandbox", 0.0)
        seconds = marks[pages]
        launches = renderer.pool.launches
    rendered = pages + extra
    cpu_per_page = {k: round(v / rendered, 4) for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])}
    return {"pages": pages, "seconds": round(seconds, 1), "pages_per_second": round(pages / seconds, 2),
            "steady_pages_per_second": round((pages - 100) / (seconds - marks[100]), 2) if pages > 100 else None,
            "statuses": dict(statuses), "verdicts": dict(verdicts), "memory": memory,
            "browser_launches": launches, "concurrency": concurrency,
            "cpu_seconds_per_page": {"total": round(sum(cpu.values()) / rendered, 4), **cpu_per_page},
            # what serving the pages cost the sandbox (the same cores; not part of a render)
            "sandbox_cpu_seconds_per_page": round(served_cpu / rendered, 4),
            "load_average": {"start": [round(x, 1) for x in load_before],
                             "end": [round(x, 1) for x in os.getloadavg()]},
            "host_cpu": host_cpu_shares(host_before, host_after)}


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
            result = asyncio.run(bench(served["info"], served["targets"], args.pages, args.concurrency, server.pid))
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
