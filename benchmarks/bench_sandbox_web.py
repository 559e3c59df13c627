"""Benchmark: one `icpwatch world serve` process serving a 100,000-site world.

Measures, on this machine:
- start time: from launching the serve process to its ready file (spec load + DNS zone +
  binding every address on HTTP and HTTPS + RDAP);
- homepage requests per second with wrk (Debian package ``wrk``): several wrk processes, each on
  one address of the world, cycling through every virtual host on it with the right Host header
  (so pages come from the render cache once warm, as they do for a crawler revisiting a host);
- cold homepage requests per second: a first request for each of N distinct sites (render + send),
  from a small asyncio client over keep-alive connections;
- DNS queries per second with dnsperf (Debian package ``dnsperf``), when it is installed.

Run: ``python benchmarks/bench_sandbox_web.py [--sites 100000] [--duration 10]``.
All traffic stays on 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox.generate import generate_world  # noqa: E402
from sandbox.spec import load, save  # noqa: E402

LUA = """
local hosts = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/", {["Host"] = hosts[(i %% #hosts) + 1]})
end
"""


def _wait_ready(path: Path, proc: subprocess.Popen, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return json.loads(path.read_text())
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited early: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.05)
    raise TimeoutError("serve did not become ready")


def _wrk(address: str, port: int, hosts: list[str], duration: int, conns: int, tmp: Path) -> subprocess.Popen:
    script = tmp / f"hosts-{address}.lua"
    script.write_text(LUA % ",".join(f'"{h}"' for h in hosts))
    return subprocess.Popen(["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "-s", str(script),
                             f"http://{address}:{port}/"], stdout=subprocess.PIPE, text=True)


async def _cold(address_sites: list[tuple[str, str]], port: int, concurrency: int = 32) -> tuple[int, float]:
    """First request for each (ip, host): render on the server side."""
    queue = list(address_sites)
    done = 0

    async def worker() -> None:
        nonlocal done
        while queue:
            ip, host = queue.pop()
            reader, writer = await asyncio.open_connection(ip, port)
            writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            await reader.read()
            writer.close()
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, time.monotonic() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--wrk-processes", type=int, default=4)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--cold", type=int, default=5000, help="distinct sites for the cold-render run")
    ap.add_argument("--http-port", type=int, default=28080)
    ap.add_argument("--https-port", type=int, default=28443)
    ap.add_argument("--dns-port", type=int, default=25353)
    ap.add_argument("--spec", type=Path, default=None, help="reuse this spec instead of generating")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    results: dict[str, object] = {"sites": args.sites}
    spec_path = args.spec or tmp / "world.json"
    if args.spec is None:
        t = time.monotonic()
        world = generate_world(sites=args.sites, seed=args.seed, network="127.64.0.0/12")
        results["generate_seconds"] = round(time.monotonic() - t, 2)
        save(world, spec_path)
    world = load(spec_path)
    ready = tmp / "ready.json"
    t = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "icpwatch", "world", "serve", str(spec_path),
                             "--dns", f"127.0.0.1:{args.dns_port}", "--http-port", str(args.http_port),
                             "--https-port", str(args.https_port), "--state-dir", str(tmp / "state"),
                             "--ready-file", str(ready)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        info = _wait_ready(ready, proc)
        results["start_seconds"] = round(time.monotonic() - t, 2)
        results["addresses"] = info["addresses"]
        by_ip: dict[str, list[str]] = {}
        for s in world.sites:
            if s.domains and not s.hostile and s.redirect is None:
                by_ip.setdefault(s.ips[0], []).append(s.domains[0])
        busiest = sorted(by_ip, key=lambda ip: -len(by_ip[ip]))[: args.wrk_processes]
        procs = [_wrk(ip, args.http_port, by_ip[ip], args.duration, args.connections, tmp) for ip in busiest]
        total_rps = 0.0
        total_hosts = 0
        for ip, p in zip(busiest, procs):
            out, _ = p.communicate()
            m = re.search(r"Requests/sec:\s+([\d.]+)", out)
            errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
            total_rps += float(m.group(1)) if m else 0.0
            total_hosts += len(by_ip[ip])
            if errors:
                results.setdefault("wrk_errors", []).append(errors.group(0))
        results["warm_requests_per_second"] = round(total_rps)
        results["warm_distinct_hosts"] = total_hosts
        rng = random.Random(1)
        pool = [(s.ips[0], s.domains[0]) for s in world.sites
                if s.domains and not s.hostile and s.redirect is None and s.ips[0] not in busiest]
        sample = rng.sample(pool, min(args.cold, len(pool)))
        n, secs = asyncio.run(_cold(sample, args.http_port))
        results["cold_requests_per_second"] = round(n / secs)
        results["cold_note"] = "new connection per request (Connection: close), first visit of each site"
        if shutil.which("dnsperf"):
            qfile = tmp / "queries.txt"
            names = [s.domains[0] for s in world.sites if s.domains and s.dns in ("ok", "cname")]
            qfile.write_text("".join(f"{rng.choice(names)} A\n" for _ in range(20000)))
            out = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(args.dns_port), "-d", str(qfile),
                                  "-l", str(args.duration), "-c", "4", "-Q", "100000"],
                                 capture_output=True, text=True).stdout
            m = re.search(r"Queries per second:\s+([\d.]+)", out)
            results["dns_queries_per_second"] = round(float(m.group(1))) if m else None
        rss = Path(f"/proc/{proc.pid}/status").read_text()
        m = re.search(r"VmRSS:\s+(\d+) kB", rss)
        results["serve_rss_mib"] = round(int(m.group(1)) / 1024) if m else None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
