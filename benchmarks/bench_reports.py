"""Benchmark: the notice of unfiled sites for 10,000 verified findings, in HTML, XLSX and PDF.

A notice reads only stored findings, so the benchmark builds a store the way a big sweep leaves it — the world's
registry imported, one finished sweep, and ``--findings`` verified UNFILED_SITE / UNFILED_REDIRECT
findings shaped as the sweep stores them (the evidence of a real observation: DNS answers,
redirect chain, address owner and IP filing record), spread over the world's providers. Then it
times building the notice and writing each format (targets: HTML and XLSX under 30 s, PDF under
2 minutes), and the CPU each format took, its worker processes' included (a PDF is laid out in
parts on every usable core).

Prints one JSON document. Run: ``python benchmarks/bench_reports.py [--findings 10000]``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _evidence(i: int, ip: str, cidr: str, unit: str, provider: str, domain: str) -> dict:
    return {"rule": "a working website with no valid filing", "filings": [],
            "address": {"ip": ip, "in_china": True, "ip_filing_record": cidr, "ip_filing_unit": unit,
                        "provider": provider, "attributed_by": "ip_filing_record",
                        "owner": {"ip": ip, "status": "ok", "asn": 64500 + i % 20, "cidr": cidr, "country": "CN",
                                  "registry": "apnic", "as_name": f"AS-{provider}", "source": "ipwhois"}},
            "observation": {"observation": f"{domain}|{domain}", "run_id": "bench", "url": f"http://{domain}/",
                            "final_url": f"https://www.{domain}/", "status": "ok", "http_status": 200, "ip": ip,
                            "fetched_at": "2026-03-02T01:02:03+00:00",
                            "dns": {domain: {"status": "ok", "cname_chain": [], "addresses": [ip]}},
                            "redirect_chain": [{"url": f"http://{domain}/", "status": 301,
                                                "location": f"https://www.{domain}/", "kind": "http", "ip": ip}],
                            "page_kind": "site", "title": "首页", "marks": [], "filing_links": [],
                            "contact": {"phone": ["010-62345678"], "email": [], "address": []}}}


def build_store(directory: Path, n: int) -> tuple[str, int]:
    from icpwatch.dbkit import create_engine_for
    from monitor.models import Finding, Sighting, Sweep
    from monitor.store import MonitorStore
    from registry.importer import import_file
    from registry.protection import Protector, load_key
    from registry.store import open_store
    from sandbox.generate import generate_world, write_registry

    world = generate_world(network="127.200.0.0/20")
    write_registry(world, directory / "registry")
    db = f"sqlite:///{directory / 'store.sqlite3'}"
    store = open_store(db)
    for kind in ("providers", "ip-ranges", "domains", "blacklist", "filings"):
        import_file(store, kind, directory / "registry" / f"{kind}.csv", protector=Protector(load_key()))
    store.dispose()
    engine = create_engine_for(db)
    with engine.connect() as c:
        blocks = [tuple(r) for r in c.exec_driver_sql("SELECT cidr, unit, user_code FROM ip_filing_records "
                                                       "WHERE user_code IS NOT NULL")]
    monitor = MonitorStore(engine)
    now = datetime.now(timezone.utc)
    with monitor.session() as s:
        sweep = Sweep(status="finished", scope={"bench": n}, scope_key="bench", started_at=now, finished_at=now)
        s.add(sweep)
        s.flush()
        sweep_id = sweep.id
        made = []
        for i in range(n):
            cidr, unit, provider = blocks[i % len(blocks)]
            ip = cidr.split("/")[0].rsplit(".", 1)[0] + f".{10 + i % 200}"
            domain = f"site{i:05d}.cn"
            code = "UNFILED_SITE" if i % 5 else "UNFILED_REDIRECT"
            f = Finding(fingerprint=hashlib.sha256(f"{code}{domain}".encode()).hexdigest(), code=code,
                        article="12(2), 41" if code == "UNFILED_SITE" else "16(5)", target=domain, domain=domain,
                        ip=ip, party_kind="provider", party=provider, points=5, status="verified",
                        first_seen_at=now, last_seen_at=now, first_sweep_id=sweep_id, last_sweep_id=sweep_id,
                        evidence=_evidence(i, ip, cidr, unit, provider, domain), decided_by="benchmark",
                        decided_at=now, reason="benchmark")
            made.append(f)
        s.add_all(made)
        s.flush()
        s.add_all([Sighting(finding_id=f.id, sweep_id=sweep_id, seen_at=now, evidence={}) for f in made])
    engine.dispose()
    return db, sweep_id


def cpu_seconds() -> float:
    """User and system time of this process and of its children that have ended."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--formats", default="html,xlsx,pdf", help="comma-separated, of html, xlsx, pdf")
    args = parser.parse_args()
    os.environ.setdefault("ICPWATCH_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    from icpwatch.dbkit import create_engine_for
    from reports.gather import Scope
    from reports.notice import build_notice
    from reports.pdf import usable_cores
    from reports.render import write

    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        directory = Path(tmp)
        started = time.monotonic()
        db, sweep_id = build_store(directory, args.findings)
        setup = time.monotonic() - started
        engine = create_engine_for(db)
        started = time.monotonic()
        document = build_notice(engine, Scope(sweep_id))
        build = time.monotonic() - started
        print(f"store {setup:.1f} s, notice built {build:.1f} s", file=sys.stderr, flush=True)
        seconds = {}
        cpu = {}
        sizes = {}
        formats = args.formats.split(",")
        for fmt in formats:
            started, used = time.monotonic(), cpu_seconds()
            path = write(document, fmt, directory / f"notice.{fmt}")[0]
            seconds[fmt] = round(time.monotonic() - started, 1)
            cpu[fmt] = round(cpu_seconds() - used, 1)
            print(f"{fmt}: {seconds[fmt]} s, {cpu[fmt]} s of CPU", file=sys.stderr, flush=True)
            sizes[fmt] = round(path.stat().st_size / 1e6, 1)
        engine.dispose()
        if "pdf" in formats:
            import subprocess

            pages = subprocess.run(["pdfinfo", str(directory / "notice.pdf")], capture_output=True, text=True).stdout
            seconds["pdf_pages"] = int(next(line.split()[-1] for line in pages.splitlines() if line.startswith("Pages")))
    rows = len(document.context["rows"])
    total = {fmt: round(build + seconds[fmt], 1) for fmt in formats}
    targets = {"html": 30, "xlsx": 30, "pdf": 120}
    print(json.dumps({
        "findings": rows, "cores": usable_cores(), "setup_s": round(setup, 1), "build_s": round(build, 1),
        "seconds": total, "pdf_pages": seconds.get("pdf_pages"), "cpu_s": cpu, "megabytes": sizes,
        "targets_s": {fmt: targets[fmt] for fmt in formats},
        "met": {fmt: total[fmt] < targets[fmt] for fmt in formats},
    }, indent=2))

if __name__ == "__main__":
    main()
