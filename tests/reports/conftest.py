"""A real sandbox sweep the report tests share (built once per test session).

The default sandbox world (seed 1, every kind of site) on a private 127.x /24, its registry
imported, served on loopback, swept by ``icpwatch sweep`` in a subprocess (the Twisted reactor
runs once per process), every finding verified the way an analyst records it (``decide``, which
also scores the ledger and opens the orders). Then one unfiled site gets a filing and the stored
crawl is judged again as a second sweep of the same scope, so "resolved since the last sweep"
has something in it (the second sweep's new findings stay suspected). All traffic stays on 127.0.0.0/8.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.served import icpwatch, served_world

ROOT = Path(__file__).resolve().parents[2]
NET = f"127.{100 + os.getpid() % 40}.{os.getpid() // 40 % 250}.0/24"


class Swept:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


def confidential_values(registry_dir: Path) -> set[str]:
    """Every certificate, phone and ID number of the world's registry: none may appear in a report."""
    out: set[str] = set()
    with (registry_dir / "filings.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out |= {row.get(k) or "" for k in ("subject_certificate", "contact_phone", "contact_id")}
    return {v for v in out if len(v) >= 7}


@pytest.fixture(scope="session")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swept]:
    from icpwatch.dbkit import create_engine_for
    from monitor.verify import decide
    from registry.importer import import_file
    from registry.protection import Protector
    from registry.store import open_store

    with served_world(tmp_path_factory.mktemp("report-world"), NET) as w:
        world, tmp, db, key, env, args = w.world, w.tmp, w.db, w.key, w.env, w.args
        # the unfiled sites rendered in Chromium: the notice and the bundles carry their screenshots
        first = icpwatch(env, "sweep", *args, "--render", "unfiled", "--evidence-dir", str(tmp / "evidence"),
                         timeout=900)
        engine = create_engine_for(db)
        decide(engine, "verify", sweep_id=first["sweep_id"], all_in_sweep=True, by="张工", reason="复核属实")
        # One unfiled site gets filed; the stored crawl judged again is the next sweep of the scope.
        unfiled = next(f for f in first["findings"] if f["code"] == "UNFILED_SITE" and f["domain"])
        resolved_domain = unfiled["domain"]
        filing = tmp / "late-filing.csv"
        with filing.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["website_number", "subject_name", "subject_type", "subject_province", "website_name",
                        "domains", "ips", "providers", "status"])
            writer.writerow(["粤ICP备2099000001号-1", "补办备案公司", "单位", "粤", "补办网", resolved_domain,
                        "", unfiled["provider"], "filed"])
        store = open_store(db)
        import_file(store, "filings", filing, protector=Protector(key))
        store.dispose()
        # its new findings stay suspected: the documents must leave them out
        second = icpwatch(env, "sweep", *args, "--run", first["crawl_run_id"])
        engine.dispose()
    yield Swept(world=world, db=db, env=env, tmp=tmp, first=first, second=second, key=key,
                resolved_domain=resolved_domain, secrets=confidential_values(tmp / "registry"))
