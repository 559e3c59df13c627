"""Benchmark: the static crawl (resolve, fetch, extract, store) against a bare aiohttp client,
same sandbox world, same run, same homepages.

Steps: generate a world (``--sites``, default 20,000; hostile and DNS-failure sites left out of
the target list so both clients fetch the same answering homepages), serve it in its own process
(``icpwatch world serve``: DNS on a free port, web on 80/443 of a private 127.x network), then

1. a bare aiohttp client (its own process; c-ares through aiodns against the sandbox DNS when the
   ``bench`` extra is installed, else dnspython; ``--concurrency`` connections) fetches
   ``http://HOST/`` of every site, following redirects;
2. ``crawler.runner.run_crawl`` (its own process) crawls the same URLs into an SQLite store,
   ownership lookups off.

Prints one JSON document: homepages per second of both, the ratio, the crawl's peak RSS (the largest
process's, and all of its processes' together), status counts, and for each run the share of the
machine's CPU that was idle and that its host stole (a heavily stolen run's figures are low).
Targets: crawl rate >= 150/s and >= 40 % of aiohttp's; peak memory < 1 GB at 100,000.
Run: ``python benchmarks/bench_crawler.py [--sites 20000] [--network 127.64.0.0/12]``.
All traffic stays on 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from proctree import host_cpu, host_cpu_shares  # noqa: E402  (benchmarks/, beside this script)

AIOHTTP_CLIENT = r"""
import asyncio, json, sys, time
import aiohttp, dns.asyncresolver
from aiohttp.abc import AbstractResolver
cfg = json.load(sys.stdin)

class Resolver(AbstractResolver):
    def __init__(self, host, port):
        self.r = dns.asyncresolver.Resolver(configure=False)
        self.r.nameservers = [host]; self.r.port = port; self.r.lifetime = 5
    async def resolve(self, host, port=0, family=0):
        ans = await self.r.resolve(host, "A")
        return [{"hostname": host, "host": a.address, "port": port, "family": 2, "proto": 0, "flags": 0} for a in ans]
    async def close(self): pass

async def main():
    urls = cfg["urls"]; ok = 0; failed = 0
    host, port = cfg["dns"].rsplit(":", 1)
    # one homepage per host: a kept-alive connection is never reused, and 20,000 of them left idle
    # for aiohttp's 15 s would exhaust the sandbox's open files (the crawl stalls, not the client)
    try:  # the fastest resolver aiohttp offers: c-ares through aiodns (the "bench" extra)
        import aiodns  # noqa: F401
        resolver, kind = aiohttp.AsyncResolver(nameservers=[cfg["dns"]], timeout=5, tries=1), "c-ares (aiodns)"
    except ImportError:
        resolver, kind = Resolver(host, int(port)), "dnspython"
    conn = aiohttp.TCPConnector(limit=cfg["concurrency"], force_close=True, resolver=resolver, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=10)
    queue = list(reversed(urls))
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        async def worker():
            nonlocal ok, failed
            while queue:
                url = queue.pop()
                try:
                    async with session.get(url, ssl=False) as resp:
                        await resp.read()
                        ok += 1
                except Exception:
                    failed += 1
        t = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(cfg["concurrency"])))
        el = time.monotonic() - t
    print(json.dumps({"ok": ok, "failed": failed, "seconds": el, "resolver": kind}))
asyncio.run(main())
"""

CRAWL = r"""
import cProfile, json, os, resource, sys, threading, time
from crawler.runner import run_crawl
cfg = json.load(sys.stdin)
profile = cfg.pop("profile", None)
peak_tree = 0
sys.path.insert(0, "benchmarks")
from proctree import descendants
def tree_rss():  # this process and every worker it started, summed: what the crawl holds at once
    total = 0
    for pid in [os.getpid(), *descendants(os.getpid())]:
        try:
            total += int(open(f"/proc/{pid}/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total
done = threading.Event()
def sample():
    global peak_tree
    while not done.wait(0.5):
        peak_tree = max(peak_tree, tree_rss())
threading.Thread(target=sample, daemon=True).start()
t = time.monotonic()
if profile:
    profiler = cProfile.Profile(time.process_time)  # CPU time: the figure that matters on a busy machine
    rid = profiler.runcall(run_crawl, cfg.pop("targets"), **cfg)
    profiler.dump_stats(profile)
else:
    rid = run_crawl(cfg.pop("targets"), **cfg)
done.set()
usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
print(json.dumps({"run_id": rid, "seconds": time.monotonic() - t, "cpu_seconds": sum(u.ru_utime + u.ru_stime for u in usage),
                  "peak_rss": max(u.ru_maxrss for u in usage) * 1024, "peak_tree_rss": peak_tree}))
"""


def _run(code: str, payload: dict, timeout: float) -> tuple[dict, str]:
    """Run a child; (its JSON result, stderr tail)."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, text=True)
    out, err = proc.communicate(json.dumps(payload), timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(err[-3000:])
    return json.loads(out.strip().splitlines()[-1]), err[-3000:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sites", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--network", default="127.64.0.0/12")
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--skip-aiohttp", action="store_true")
    ap.add_argument("--profile", metavar="FILE", help="write the crawl's cProfile statistics to FILE")
    ap.add_argument("--workers", type=int, default=1, help="crawler processes sharing the run (Redis queue)")
    args = ap.parse_args()

    from sandbox.generate import Mix, generate_world
    from sandbox.spec import save

    tmp = Path(tempfile.mkdtemp(prefix="bench-crawler-"))
    mix = Mix(hostile=0.0, dns_failures=0.0)
    world = generate_world(sites=args.sites, seed=args.seed, mix=mix, network=args.network)
    spec = save(world, tmp / "world.json")
    urls = [f"http://{s.host}/" for s in world.sites
            if not s.hostile and s.dns not in ("servfail", "timeout", "refused", "nxdomain")
            and not (s.redirect and s.redirect.kind in ("loop", "self", "private", "file"))]
    ready = tmp / "ready.json"
    server = subprocess.Popen([sys.executable, "-m", "icpwatch", "world", "serve", str(spec), "--dns", "127.0.0.1:0",
                               "--http-port", "80", "--https-port", "443", "--state-dir", str(tmp / "state"),
                               "--ready-file", str(ready)], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not (ready.exists() and ready.stat().st_size):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"world serve failed: {server.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        info = json.loads(ready.read_text())
        result: dict = {"sites": len(world.sites), "homepages": len(urls), "concurrency": args.concurrency}
        if not args.skip_aiohttp:
            # warm-up pass renders every page once on the server side, so both runs see a warm server
            bare, _ = _run(AIOHTTP_CLIENT, {"urls": urls, "dns": info["dns"], "concurrency": args.concurrency}, 1800)
            before = host_cpu()
            bare, _ = _run(AIOHTTP_CLIENT, {"urls": urls, "dns": info["dns"], "concurrency": args.concurrency}, 1800)
            result["aiohttp"] = {"ok": bare["ok"], "failed": bare["failed"], "resolver": bare["resolver"],
                                 "seconds": round(bare["seconds"], 2),
                                 "per_second": round(len(urls) / bare["seconds"], 1),
                                 "host_cpu": host_cpu_shares(before, host_cpu())}
        db = tmp / "crawl.sqlite3"
        before = host_cpu()
        crawl, err = _run(CRAWL, {
            "targets": urls, "db_url": f"sqlite:///{db}", "resolver": info["dns"], "allow_private": True,
            "ca_file": info["ca_file"], "profile": args.profile, "workers": args.workers, "settings": {"ICPWATCH_OWNERSHIP": False, "ICPWATCH_PROGRESS": "log",
                                                     "LOG_LEVEL": "WARNING", "DOWNLOAD_TIMEOUT": 10, **json.loads(os.environ.get("BENCH_SETTINGS", "{}"))}}, 3600)
        crawl_host = host_cpu_shares(before, host_cpu())
        from crawler.store import open_crawl_store

        store = open_crawl_store(f"sqlite:///{db}")
        counts = store.status_counts(crawl["run_id"])
        stored = store.count(crawl["run_id"])
        store.dispose()
        result["crawler"] = {"stored": stored, "by_status": counts, "seconds": round(crawl["seconds"], 2),
                             "per_second": round(len(urls) / crawl["seconds"], 1),
                             "cpu_ms_per_page": round(1000 * crawl["cpu_seconds"] / len(urls), 2),
                             "peak_rss_mb": round(crawl["peak_rss"] / 2**20, 1),  # its own, or its largest worker's
                             # sampled every 0.5 s: the crawl's process and all its workers together
                             "peak_total_rss_mb": round(crawl["peak_tree_rss"] / 2**20, 1),
                             # a heavily stolen run's figures are the host's, not the crawler's
                             "host_cpu": crawl_host}
        if "aiohttp" in result:
            result["ratio"] = round(result["crawler"]["per_second"] / result["aiohttp"]["per_second"], 3)
        result["targets_met"] = {"rate_150": result["crawler"]["per_second"] >= 150,
                                 "ratio_40pct": result.get("ratio", 0) >= 0.4}
        print(json.dumps(result, indent=1))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
