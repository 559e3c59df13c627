"""Registry speed: import N filings into SQLite, load the in-memory index, time lookups.

    python benchmarks/bench_registry.py [--filings 1000000] [--workdir benchmarks/out/registry]

Targets (issue: the foundation): import 1,000,000 filing rows into SQLite in under 60 s; the index
loads them in under 20 s and under 1 GB; domain and IP lookups at 200,000 a second or more each.
The index is loaded in a fresh process so its peak memory is measured alone.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PREFIXES = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川黔滇藏陕甘青宁新"
SUFFIXES = ("cn", "com.cn", "com", "net", "bj.cn", "org.cn", "net.cn")


def province_names() -> dict[str, str]:
    from registry.numbers import PROVINCES

    return dict(PROVINCES)


def generate(workdir: Path, filings: int, seed: int = 7) -> tuple[Path, Path, Path]:
    """providers.csv, ip-ranges.csv and filings.csv for a registry of ``filings`` websites."""
    rng = random.Random(seed)
    names = province_names()
    providers = pd.DataFrame(
        {"code": [f"P{i:03d}" for i in range(200)], "name": [f"接入商{i}" for i in range(200)],
         "province": [names[PREFIXES[i % len(PREFIXES)]] for i in range(200)]}
    )
    blocks = [f"{10 + i // 256}.{i % 256}.0.0/16" for i in range(2000)]
    blocks += [f"{10 + i // 256}.{i % 256}.{j}.0/24" for i in range(0, 2000, 7) for j in range(0, 256, 32)]
    ranges = pd.DataFrame({"cidr": blocks, "unit": [f"P{i % 200:03d}" for i in range(len(blocks))],
                           "user": [f"P{(i * 7) % 200:03d}" for i in range(len(blocks))]})
    rows = []
    subject = 0
    site = 0
    while len(rows) < filings:
        subject += 1
        prefix = PREFIXES[subject % len(PREFIXES)]
        number = f"{prefix}ICP备{2010000000 + subject * 3}号"
        certificate = f"91{subject:016d}"
        for sequence in range(1, rng.choice((1, 1, 1, 2, 3)) + 1):
            site += 1
            domains = ";".join(f"s{site}x{k}.{SUFFIXES[(site + k) % len(SUFFIXES)]}" for k in range(rng.choice((1, 1, 2))))
            block = rng.randrange(2000)
            rows.append(
                (f"{number}-{sequence}", f"主体{subject}有限公司", "单位", names[prefix], f"网站{site}", domains,
                 f"{10 + block // 256}.{block % 256}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                 f"P{rng.randrange(200):03d}", "filed" if site % 20 else "cancelled", certificate,
                 f"联系人{site % 1000}", f"13{site % 1000000000:09d}", f"110101{1950 + site % 50}0101{site % 10000:04d}")
            )
            if len(rows) == filings:
                break
    columns = ["website_number", "subject_name", "subject_type", "subject_province", "website_name", "domains",
               "ips", "providers", "status", "subject_certificate", "contact_name", "contact_phone", "contact_id"]
    workdir.mkdir(parents=True, exist_ok=True)
    paths = workdir / "providers.csv", workdir / "ip-ranges.csv", workdir / "filings.csv"
    providers.to_csv(paths[0], index=False)
    ranges.to_csv(paths[1], index=False)
    pd.DataFrame(rows, columns=columns).to_csv(paths[2], index=False)
    return paths


def peak_rss_mb() -> float:
    """This process's peak resident memory. (``ru_maxrss`` would not do: Linux carries it across
    exec from the parent that forked us, so a child of a large process reports the parent's.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the import validates in worker processes):
    on a shared machine wall time measures the neighbours as much as the import."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def index_probe(db_url: str, samples: int) -> dict[str, float]:
    """Runs in its own process: load the index, then time single lookups."""
    from registry.index import RegistryIndex
    from registry.store import open_store

    store = open_store(db_url)
    started = time.perf_counter()
    index = RegistryIndex.load(store)
    load_seconds = time.perf_counter() - started
    rss_after_load = peak_rss_mb()
    rng = random.Random(3)
    with store.engine.connect() as connection:
        known = [r[0] for r in connection.exec_driver_sql("SELECT domain FROM website_domains ORDER BY random() LIMIT 100000")]
    domains = [rng.choice(known) if i % 2 else f"www.unfiled{i}.cn" for i in range(samples)]
    ips = [f"{10 + rng.randrange(8)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(samples)]
    started = time.perf_counter()
    filed = sum(index.match_domain(d).status != "none" for d in domains)
    domain_rate = samples / (time.perf_counter() - started)
    started = time.perf_counter()
    covered = sum(index.match_ip(ip).cidr is not None for ip in ips)
    ip_rate = samples / (time.perf_counter() - started)
    started = time.perf_counter()
    index.match_domains(domains)
    bulk_domain_rate = samples / (time.perf_counter() - started)
    started = time.perf_counter()
    index.match_ips(ips)
    bulk_ip_rate = samples / (time.perf_counter() - started)
    return {
        "index_websites": index.websites,
        "index_domains": index.domains,
        "index_load_seconds": round(load_seconds, 2),
        "index_peak_rss_mb": round(rss_after_load, 1),
        "domain_lookups_per_second": round(domain_rate),
        "ip_lookups_per_second": round(ip_rate),
        "bulk_domain_lookups_per_second": round(bulk_domain_rate),
        "bulk_ip_lookups_per_second": round(bulk_ip_rate),
        "domain_hits": filed,
        "ip_hits": covered,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--filings", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out" / "registry")
    parser.add_argument("--samples", type=int, default=400_000)
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(index_probe(args.probe, args.samples)))
        return

    os.environ.setdefault("ICPWATCH_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    from registry.importer import import_file
    from registry.protection import Protector, load_key
    from registry.store import open_store

    started = time.perf_counter()
    providers, ranges, filings = generate(args.workdir, args.filings)
    generate_seconds = time.perf_counter() - started
    database = args.workdir / "registry.sqlite3"
    for leftover in args.workdir.glob("registry.sqlite3*"):
        leftover.unlink()
    db_url = f"sqlite:///{database}"
    store = open_store(db_url)
    protector = Protector(load_key())
    import_file(store, "providers", providers, protector=protector)
    import_file(store, "ip-ranges", ranges, protector=protector)
    started, cpu = time.perf_counter(), cpu_seconds()
    result = import_file(store, "filings", filings, protector=protector)
    import_seconds, import_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    started, cpu = time.perf_counter(), cpu_seconds()
    again = import_file(store, "filings", filings, protector=protector)
    reimport_seconds, reimport_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    store.dispose()
    probe = subprocess.run(
        [sys.executable, __file__, "--probe", db_url, "--samples", str(args.samples)],
        capture_output=True, text=True, check=True, env=os.environ,
    )
    figures = {
        "filings": args.filings,
        "generate_seconds": round(generate_seconds, 1),
        "import_seconds": round(import_seconds, 1),
        "import_cpu_seconds": round(import_cpu, 1),
        "import_rows_per_second": round(args.filings / import_seconds),
        "inserted": result.inserted,
        "reimport_seconds": round(reimport_seconds, 1),
        "reimport_cpu_seconds": round(reimport_cpu, 1),
        "reimport_unchanged": again.unchanged,
        **json.loads(probe.stdout),
    }
    print(json.dumps(figures, indent=2))
    (args.workdir / "result.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
