"""Benchmark: a full sweep end to end over a generated world (default 20,000 sites).

Steps: generate the world (its CN blocks carved from a /20, so CIDR probing stays a few thousand
addresses), write and import its registry files, serve it in its own process (``icpwatch world
serve``: DNS on a free port, web on 80/443 of a private 127.x network, RDAP), then run
``icpwatch sweep --targets <world targets> … --json`` in its own process (the crawl, the
judgement, the findings) and sample that process's memory.

Prints one JSON document: sites and targets, seconds (setup, sweep), sites per second, peak RSS
of the sweep process (MB), observation and finding counts, and recall/precision against the
world's ground truth. Run: ``python benchmarks/bench_sweep.py [--sites 20000] [--network 127.96.0.0/20]``.
All traffic stays on 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (MB), from /proc."""
    total = 0
    pids = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(k) for k in kids]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--network", default=f"127.{96 + os.getpid() % 32}.0.0/20")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()

    from registry.importer import import_file
    from registry.protection import Protector, load_key
    from registry.store import open_store
    from sandbox.generate import generate_world, targets, write_registry, write_truth
    from sandbox.spec import save

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-sweep-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("ICPWATCH_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    os.environ["ICPWATCH_KEY"] = env["ICPWATCH_KEY"]
    t0 = time.monotonic()
    world = generate_world(sites=args.sites, seed=args.seed, network=args.network)
    spec = work / "world.json"
    save(world, spec)
    write_truth(world, work / "world.truth.json")
    (work / "targets.txt").write_text("\n".join(targets(world)) + "\n", encoding="utf-8")
    write_registry(world, work / "registry")
    db = f"sqlite:///{work / 'store.sqlite3'}"
    store = open_store(db)
    protector = Protector(load_key())
    for kind in ("providers", "filings", "ip-ranges", "domains", "blacklist"):
        import_file(store, kind, work / "registry" / f"{kind}.csv", protector=protector)
    store.dispose()
    ready = work / "ready.json"
    server = subprocess.Popen([sys.executable, "-m", "icpwatch", "world", "serve", str(spec), "--dns", "127.0.0.1:0",
                               "--http-port", "80", "--https-port", "443", "--state-dir", str(work / "state"),
                               "--ready-file", str(ready)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=open(work / "serve.log", "w"))
    try:
        while not ready.exists():
            if server.poll() is not None:
                raise SystemExit(f"world serve exited: {(work / 'serve.log').read_text()[-2000:]}")
            time.sleep(0.2)
        time.sleep(0.2)
        info = json.loads(ready.read_text())
        setup = time.monotonic() - t0
        cmd = [sys.executable, "-c", "from monitor.cli import sweep; sweep()", "--targets", str(work / "targets.txt"),
               "--resolver", info["dns"], "--rdap", info["rdap"], "--allow-private", "--ca-file", info["ca_file"],
               "--db", db, "--json"]
        t1 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=open(work / "sweep.log", "w"),
                                text=True)
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _rss_mb(proc.pid))
                done.wait(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, _ = proc.communicate()
        done.set()
        sampler.join()
        seconds = time.monotonic() - t1
        if proc.returncode != 0:
            raise SystemExit(f"sweep failed: {(work / 'sweep.log').read_text()[-3000:]}")
        doc = json.loads(out)
    finally:
        server.terminate()
        server.wait(10)
    truth = json.loads((work / "world.truth.json").read_text())
    key = lambda code, dom, ip, party: (code, dom or ip, party)  # noqa: E731
    expected = {key(f["code"], f["domain"], f["ip"], f["party"]) for f in truth["findings"]}
    got = {key(f["code"], f["domain"], f["ip"], f["provider"]) for f in doc["findings"]}
    hit = len(expected & got)
    result = {
        "benchmark": "sweep", "sites": len(world.sites), "targets": doc["summary"]["targets"],
        "network": args.network, "setup_seconds": round(setup, 1), "sweep_seconds": round(seconds, 1),
        "sites_per_second": round(len(world.sites) / seconds, 1), "peak_rss_mb": round(peak[0], 1),
        "observations": doc["summary"]["observations"], "counts": doc["counts"],
        "findings": len(doc["findings"]), "unknown": len(doc["unknown"]),
        "recall": round(hit / len(expected), 4) if expected else 1.0,
        "precision": round(hit / len(got), 4) if got else 1.0,
        "missing": sorted(map(list, expected - got))[:20], "extra": sorted(map(list, got - expected))[:20],
        "workdir": str(work),
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
