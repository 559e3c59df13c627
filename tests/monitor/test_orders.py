"""From verified findings to orders, through the real commands: sweeps of stored crawl runs
(``sweep --run``), analysts' decisions (``findings verify|dismiss``) and ``filing orders``.

A verified unfiled, cancelled-but-served or blacklisted site opens a stop-access order to its
provider with a deadline in working days; a verified number mismatch opens a correction request;
one order per finding however often it is verified. A later sweep that observed the target and no
longer raised the finding closes its order; a target it could not observe (unknown) or did not
cover closes nothing; a dismissed finding's order is closed with the analyst's reason."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from icpwatch.cli import main
from registry.workdays import add_working_days
from tests.monitor.conftest import mark, observation, page

MISMATCH = "京ICP备2021000001号-2"  # other.cn's number, shown on good.cn
RIGHT = "京ICP备2021000001号-1"


def run(*args: str, env: dict[str, str] | None = None) -> dict[str, Any] | list[Any]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def store_run(db: str, run_id: str, observations: list[dict[str, Any]]) -> None:
    from crawler.store import open_crawl_store

    store = open_crawl_store(db)
    store.create_run({}, run_id=run_id)
    for o in observations:
        o["run_id"] = run_id
    store.add_observations(observations)
    store.dispose()


def sweep(db: str, targets: Path, run_id: str) -> dict[str, Any]:
    doc = run("sweep", "--targets", str(targets), "--run", run_id, "--no-ownership", "--db", db, "--json")
    assert isinstance(doc, dict)
    return doc


def orders(db: str, *extra: str) -> list[dict[str, Any]]:
    out = run("filing", "orders", "--db", db, "--json", *extra)
    assert isinstance(out, list)
    return out


def china_day(moment: str) -> date:
    return datetime.fromisoformat(moment).astimezone(ZoneInfo("Asia/Shanghai")).date()


def fingerprints(db: str) -> list[str]:
    from sqlalchemy import select

    from icpwatch.dbkit import create_engine_for
    from monitor.models import Finding

    engine = create_engine_for(db)
    with engine.connect() as connection:
        out = list(connection.scalars(select(Finding.fingerprint)))
    engine.dispose()
    return out


def failed(target: str, line: int) -> dict[str, Any]:
    o = observation(target, status="dns_error", line=line)
    o["dns"] = {target: {"name": target, "status": "servfail", "cname_chain": [], "addresses": []}}
    return o


@pytest.fixture
def swept(registry_db: str, tmp_path: Path) -> tuple[str, Path, dict[str, Any]]:
    """A first sweep raising UNFILED_SITE (nofile.cn), CANCELLED_STILL_SERVED (gone.cn) and
    NUMBER_MISMATCH (good.cn), all verified."""
    store_run(registry_db, "r1", [
        observation("nofile.cn", line=1),
        observation("gone.cn", line=2),
        observation("good.cn", page_=page([mark(MISMATCH)]), line=3),
    ])
    targets = tmp_path / "targets.txt"
    targets.write_text("nofile.cn\ngone.cn\ngood.cn\n", encoding="utf-8")
    doc = sweep(registry_db, targets, "r1")
    codes = {(f["code"], f["domain"]) for f in doc["findings"]}
    assert {("UNFILED_SITE", "nofile.cn"), ("CANCELLED_STILL_SERVED", "gone.cn"), ("NUMBER_MISMATCH", "good.cn")} <= codes
    assert doc["orders_closed"] == []
    run("findings", "verify", "--sweep", str(doc["sweep_id"]), "--all", "--by", "张工", "--reason", "复核属实",
        "--db", registry_db, "--json")
    return registry_db, targets, doc


def test_verified_findings_open_one_order_each_with_a_working_day_deadline(swept) -> None:
    db, _, doc = swept
    opened = orders(db)
    by_target = {o["target"]: o for o in opened}
    assert set(by_target) == {"nofile.cn", "gone.cn", "good.cn"}  # UNFILED_RESOLVED and display findings open none
    assert {t: (o["kind"], o["finding_code"], o["provider_code"]) for t, o in by_target.items()} == {
        "nofile.cn": ("stop_access", "UNFILED_SITE", "P-CN"),
        "gone.cn": ("stop_access", "CANCELLED_STILL_SERVED", "P-CN"),
        "good.cn": ("correction", "NUMBER_MISMATCH", "P-CN")}
    refs = {f"finding:{fp}" for fp in fingerprints(db)}
    for o in opened:
        assert o["state"] == "open" and o["opened_by"] == "张工" and o["finding_ref"] in refs
        assert o["due"] == add_working_days(china_day(o["opened_at"]), 5).due.isoformat()
        assert o["estimated"] == add_working_days(china_day(o["opened_at"]), 5).estimated
        assert o["overdue"] is False
    # verifying again (by id, and the whole sweep) opens nothing more
    ids = [str(f["id"]) for f in doc["findings"]]
    run("findings", "verify", *ids, "--by", "李工", "--reason", "再次复核", "--db", db, "--json")
    again = orders(db)
    assert [(o["id"], o["opened_by"]) for o in again] == [(o["id"], o["opened_by"]) for o in opened]
    assert orders(db, "--provider", "P-CN2") == []


def test_the_next_sweep_closes_the_orders_whose_violation_is_gone(swept) -> None:
    db, targets, _ = swept
    # gone.cn now shows a parked page (not a site in service), good.cn its own number; nofile.cn
    # could not be resolved this time: unknown, so its order stays open.
    store_run(db, "r2", [
        failed("nofile.cn", 1),
        observation("gone.cn", page_=page(kind="parked"), line=2),
        observation("good.cn", page_=page([mark(RIGHT)]), line=3),
    ])
    doc = sweep(db, targets, "r2")
    assert sorted(c["target"] for c in doc["orders_closed"]) == ["gone.cn", "good.cn"]
    open_now = orders(db)
    assert [o["target"] for o in open_now] == ["nofile.cn"]
    closed = {o["target"]: o for o in orders(db, "--all") if o["state"] == "closed"}
    assert closed["gone.cn"]["closed_by"] == f"sweep {doc['sweep_id']}"
    assert "no longer raised CANCELLED_STILL_SERVED" in closed["gone.cn"]["closed_reason"]

    # a sweep that does not cover nofile.cn closes nothing either
    only = targets.with_name("only-good.txt")
    only.write_text("good.cn\n", encoding="utf-8")
    store_run(db, "r3", [observation("good.cn", page_=page([mark(RIGHT)]), line=1)])
    assert sweep(db, only, "r3")["orders_closed"] == []
    # seen again, still unfiled: stays open; then filed elsewhere → gone: closed
    store_run(db, "r4", [observation("nofile.cn", line=1)])
    nofile = targets.with_name("nofile.txt")
    nofile.write_text("nofile.cn\n", encoding="utf-8")
    assert sweep(db, nofile, "r4")["orders_closed"] == []
    assert [o["target"] for o in orders(db)] == ["nofile.cn"]
    store_run(db, "r5", [observation("nofile.cn", page_=page(kind="default_server"), line=1)])
    assert [c["target"] for c in sweep(db, nofile, "r5")["orders_closed"]] == ["nofile.cn"]
    assert orders(db) == []


def test_dismissing_a_verified_finding_closes_its_order(swept) -> None:
    db, _, doc = swept
    finding = next(f for f in doc["findings"] if f["code"] == "NUMBER_MISMATCH")
    run("findings", "dismiss", str(finding["id"]), "--by", "王工", "--reason", "号码为集团另一网站，误报",
        "--db", db, "--json")
    closed = [o for o in orders(db, "--all") if o["target"] == "good.cn"][0]
    assert closed["state"] == "closed" and closed["closed_by"] == "王工"
    assert "误报" in closed["closed_reason"]
    assert {o["target"] for o in orders(db)} == {"nofile.cn", "gone.cn"}


def test_the_stop_access_period_is_a_setting(registry_db: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    store_run(registry_db, "r1", [observation("nofile.cn", line=1)])
    targets = tmp_path / "t.txt"
    targets.write_text("nofile.cn\n", encoding="utf-8")
    doc = sweep(registry_db, targets, "r1")
    unfiled = next(f for f in doc["findings"] if f["code"] == "UNFILED_SITE")
    from icpwatch.dbkit import create_engine_for
    from monitor.verify import decide

    monkeypatch.setenv("ICPWATCH_STOP_ACCESS_DAYS", "2")
    engine = create_engine_for(registry_db)
    decide(engine, "verify", ids=[unfiled["id"]], by="张工", reason="复核属实")
    engine.dispose()
    (order,) = orders(registry_db)
    assert order["due"] == add_working_days(china_day(order["opened_at"]), 2).due.isoformat()
    monkeypatch.setenv("ICPWATCH_STOP_ACCESS_DAYS", "soon")
    result = CliRunner().invoke(main, ["findings", "verify", str(unfiled["id"]), "--by", "a", "--reason", "b",
                                       "--db", registry_db, "--json"])
    assert result.exit_code != 0 and "ICPWATCH_STOP_ACCESS_DAYS='soon'" in (result.output + str(result.exception))
