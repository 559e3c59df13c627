"""The monitor's commands without a network: ``sweep --run`` judging a stored crawl run, the
``--json`` shapes of ``sweep``, ``findings list|show|verify|dismiss`` and ``scope add|list|remove``,
target selection by provider, province and saved scope, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli import findings, scope, sweep
from tests.monitor.conftest import mark, observation, page


def invoke(command: Any, *args: str) -> Any:
    result = CliRunner().invoke(command, list(args), catch_exceptions=False)
    return result


def as_json(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def crawled(registry_db: str, tmp_path: Path) -> tuple[str, Path]:
    """A stored crawl run "r1" over three targets, and the targets file."""
    from crawler.store import open_crawl_store

    store = open_crawl_store(registry_db)
    store.create_run({}, run_id="r1")
    obs = [observation("good.cn", page_=page([mark("京ICP备2021000001号-1", link_kind=None)]), line=1),
           observation("nofile.cn", line=2),
           observation("gone.cn", status="dns_error", line=3)]
    obs[2]["dns"] = {"gone.cn": {"name": "gone.cn", "status": "nxdomain", "cname_chain": [], "addresses": []}}
    store.add_observations(obs)
    store.dispose()
    targets = tmp_path / "targets.txt"
    targets.write_text("good.cn\nnofile.cn\ngone.cn\n", encoding="utf-8")
    return registry_db, targets


def test_sweep_of_a_stored_run_prints_one_json_document(crawled: tuple[str, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    db, targets = crawled
    monkeypatch.setenv("ICPWATCH_CHROMIUM", str(tmp_path / "no-such-chromium"))  # rendering asked, no browser
    doc = as_json(invoke(sweep, "--targets", str(targets), "--run", "r1", "--no-ownership", "--render", "filed",
                         "--db", db, "--json"))
    assert doc["counts"] == {"dns_error": 1, "ok": 2, "dns": {"nxdomain": 1}}
    assert doc["unknown"] == [{"target": "gone.cn", "status": "dns_error", "error": "dns_error!"}]
    got = sorted((f["code"], f["domain"], f["provider"], f["party_kind"]) for f in doc["findings"])
    assert got == [("LINK_MISSING", "good.cn", "P-CN", "host"), ("UNFILED_RESOLVED", "nofile.cn", "REG", "registrar"),
                   ("UNFILED_SITE", "nofile.cn", "P-CN", "provider")]
    assert all(f["new"] and f["status"] == "suspected" and f["target"] in ("good.cn", "nofile.cn") for f in doc["findings"])
    assert doc["render"]["policy"] == "filed" and doc["render"]["available"] is False
    assert doc["render"]["rendered"] == 0 and any("no browser is available" in n for n in doc["notes"])
    again = as_json(invoke(sweep, "--targets", str(targets), "--run", "r1", "--no-ownership", "--db", db, "--json"))
    assert [f["id"] for f in again["findings"]] == [f["id"] for f in doc["findings"]]
    assert not any(f["new"] for f in again["findings"])
    table = invoke(sweep, "--targets", str(targets), "--run", "r1", "--no-ownership", "--render", "filed", "--db", db)
    assert table.exit_code == 0 and "findings by rule" in table.stdout
    assert "no browser is available" in " ".join(table.stdout.split())


def test_findings_list_show_verify_dismiss(crawled: tuple[str, Path]) -> None:
    db, targets = crawled
    doc = as_json(invoke(sweep, "--targets", str(targets), "--run", "r1", "--no-ownership", "--db", db, "--json"))
    ids = [str(f["id"]) for f in doc["findings"]]
    listed = as_json(invoke(findings, "list", "--sweep", str(doc["sweep_id"]), "--db", db, "--json"))
    assert listed["count"] == 3 and {f["id"] for f in listed["findings"]} == {f["id"] for f in doc["findings"]}
    shown = as_json(invoke(findings, "show", ids[0], "--db", db, "--json"))
    assert shown["evidence"]["rule"] and shown["sightings"][0]["sweep_id"] == doc["sweep_id"]
    verified = as_json(invoke(findings, "verify", ids[0], "--by", "wang", "--reason", "seen", "--db", db, "--json"))
    assert verified == {"status": "verified", "changed": [int(ids[0])], "unchanged": [], "missing": []}
    dismissed = as_json(invoke(findings, "dismiss", "--sweep", str(doc["sweep_id"]), "--all", "--by", "li",
                               "--reason", "test", "--db", db, "--json"))
    assert sorted(dismissed["changed"]) == sorted(int(i) for i in ids[1:])
    assert as_json(invoke(findings, "list", "--status", "verified", "--db", db, "--json"))["count"] == 1
    shown = as_json(invoke(findings, "show", ids[0], "--db", db, "--json"))
    assert (shown["status"], shown["decided_by"], shown["reason"]) == ("verified", "wang", "seen")
    # a decision stored without its ledger entry (the process stopped in between) is caught up once
    from icpwatch.dbkit import create_engine_for
    from monitor.models import Finding
    from monitor.store import MonitorStore

    late = next(f for f in doc["findings"] if f["id"] != int(ids[0]))
    with MonitorStore(create_engine_for(db)).session() as s:
        row = s.get(Finding, late["id"])
        row.status, row.decided_by, row.reason = "verified", "li", "late"
    caught_up = as_json(invoke(findings, "rescore", "--db", db, "--json"))
    scored = late["points"] > 0 and late["party_kind"] in ("provider", "registrar") and late["provider"]
    assert (late["id"] in caught_up["recorded"]) == bool(scored)
    again = as_json(invoke(findings, "rescore", "--db", db, "--json"))
    assert again["recorded"] == [] and again["withdrawn"] == []
    # errors are messages, not tracebacks
    assert invoke(findings, "verify", ids[0], "--reason", "x", "--db", db).exit_code == 2       # --by missing
    assert invoke(findings, "show", "999", "--db", db, "--json").exit_code == 2
    assert invoke(findings, "verify", "--all", "--by", "a", "--reason", "b", "--db", db).exit_code == 2
    assert invoke(findings, "verify", "999", "--by", "a", "--reason", "b", "--db", db, "--json").exit_code == 1


def test_scopes_and_target_selection(registry_db: str, tmp_path: Path) -> None:
    from icpwatch.dbkit import create_engine_for
    from monitor.targets import Selection, TargetSelectionError, resolve

    engine = create_engine_for(registry_db)
    got = resolve(engine, Selection(providers=["P-CN2"]))
    assert got.lines == ["127.9.1.0/24"]
    got = resolve(engine, Selection(providers=["P-CN"]))
    assert {"good.cn", "other.cn", "gone.cn", "127.9.0.10", "127.9.0.20", "127.9.0.0/24"} <= set(got.lines)
    assert "127.9.1.0/24" not in got.lines
    assert set(resolve(engine, Selection(provinces=["沪"])).lines) == {"127.9.1.0/24"}
    with pytest.raises(TargetSelectionError):
        resolve(engine, Selection(providers=["NOPE"]))
    lines = tmp_path / "t.txt"
    lines.write_text("a.cn\nb.cn\n# comment\na.cn\n", encoding="utf-8")
    added = as_json(invoke(scope, "add", "mine", "--targets", str(lines), "--provider", "P-CN2", "--db", registry_db, "--json"))
    assert added == {"name": "mine", "lines": 4, "providers": ["P-CN2"], "provinces": []}
    assert invoke(scope, "add", "mine", "--targets", str(lines), "--db", registry_db).exit_code == 2  # exists
    listed = as_json(invoke(scope, "list", "--db", registry_db, "--json"))
    assert [s["name"] for s in listed["scopes"]] == ["mine"]
    got = resolve(engine, Selection(scope="mine"))
    assert got.lines == ["a.cn", "b.cn", "127.9.1.0/24"] and got.scope_key == "scope:mine"
    assert as_json(invoke(scope, "remove", "mine", "--db", registry_db, "--json")) == {"name": "mine", "removed": True}
    assert invoke(scope, "remove", "mine", "--db", registry_db).exit_code == 1
    engine.dispose()


def test_sweep_refuses_bad_input_with_a_message(registry_db: str) -> None:
    r = invoke(sweep, "--db", registry_db, "--json")
    assert r.exit_code == 2 and "nothing to sweep" in r.output and r.stdout == ""
    r = invoke(sweep, "--scope", "nope", "--db", registry_db, "--json")
    assert r.exit_code == 2 and "no saved scope" in r.output
    r = invoke(sweep, "--provider", "NOPE", "--db", registry_db)
    assert r.exit_code == 2 and "no provider" in r.output


def test_every_monitor_command_has_help() -> None:
    for command, path in ((sweep, []), (findings, ["list"]), (findings, ["show"]), (findings, ["verify"]),
                          (findings, ["dismiss"]), (scope, ["add"]), (scope, ["list"]), (scope, ["remove"])):
        r = invoke(command, *path, "--help")
        assert r.exit_code == 0 and "Usage" in r.output


def test_sweep_alerts_new_findings_to_a_webhook(crawled: tuple[str, Path]) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from sqlalchemy import select

    from icpwatch.dbkit import create_engine_for
    from monitor.models import AlertDelivery

    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    db, targets = crawled
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        doc = as_json(invoke(sweep, "--targets", str(targets), "--run", "r1", "--no-ownership", "--alert", url,
                             "--db", db, "--json"))
        assert invoke(sweep, "--targets", str(targets), "--run", "r1", "--alert", "ftp://x", "--db", db).exit_code == 2
    finally:
        server.shutdown()
    assert len(received) == 1
    engine = create_engine_for(db)
    with engine.connect() as c:
        rows = c.execute(select(AlertDelivery.sweep_id, AlertDelivery.channel, AlertDelivery.status)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(doc["sweep_id"], "webhook", "delivered")]
