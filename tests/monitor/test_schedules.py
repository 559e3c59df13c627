"""Schedules: the CLI, exactly-once claims, and the monitor running real subprocesses on time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from icpwatch.dbkit import create_engine_for
from monitor.models import ScheduleRun
from monitor.schedule_cli import main as cli
from monitor.schedules import (EPOCH, Monitor, ScheduleError, add_schedule, claim_run, latest_due, list_schedules,
                               make_trigger, remove_schedule, sweep_arguments)
from monitor.store import MonitorStore

UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[2]

# The stand-in for `icpwatch sweep`: records its invocation (arguments, due time, start and end).
RECORDER = """
import json, os, sys, time
log, pause = sys.argv[1], float(sys.argv[2])
start = time.time()
time.sleep(pause)
with open(log, "a") as f:
    f.write(json.dumps({"argv": sys.argv[3:], "due": os.environ["ICPWATCH_DUE_AT"], "run": os.environ["ICPWATCH_SCHEDULE_RUN"],
                        "start": start, "end": time.time()}) + "\\n")
print(json.dumps({"sweep_id": None, "counts": {}}))
"""


def recorder(log: Path, pause: float = 0.0) -> list[str]:
    return [sys.executable, "-c", RECORDER, str(log), str(pause)]


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def runs(url: str, name: str) -> list[ScheduleRun]:
    engine = create_engine_for(url)
    try:
        with MonitorStore(engine).session() as s:
            return list(s.scalars(select(ScheduleRun).where(ScheduleRun.schedule == name).order_by(ScheduleRun.due_at)))
    finally:
        engine.dispose()


def start(monitor: Monitor) -> threading.Thread:
    thread = threading.Thread(target=monitor.run_forever, daemon=True)
    thread.start()
    return thread


def stop(monitor: Monitor, thread: threading.Thread) -> None:
    monitor.stop()
    thread.join(20)
    assert not thread.is_alive()


def assert_runs_match_calls(rows: list[ScheduleRun], made: list[dict]) -> None:
    """One call per run at most, every finished run made its call; the only other outcome is a run
    cut short by the monitor's stop (which may have been stopped just after its call was written)."""
    called = [c["run"] for c in made]
    assert len(called) == len(set(called)), "a run made two calls"
    ids = {str(r.id): r for r in rows}
    assert set(called) <= set(ids)
    for run_id, r in ids.items():
        if r.status == "finished":
            assert run_id in called
        else:
            assert r.status == "failed" and (r.error or "").startswith("stopped by the monitor"), (r.status, r.error)


def wait_until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# --- the CLI ---------------------------------------------------------------------------------

def test_cli_add_list_remove(sqlite_url: str, tmp_path: Path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text("example.cn\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["schedule", "add", "nightly", "--cron", "0 2 * * *", "--targets", str(targets),
                                 "--provider", "P001", "--provider", "P002", "--allow-private",
                                 "--alert", "dingtalk=https://oapi.dingtalk.com/robot/send?access_token=SECRET",
                                 "--alert", "wecom=env:ICPWATCH_WECOM", "--db", sqlite_url, "--json"])
    assert result.exit_code == 0, result.output
    added = json.loads(result.stdout)
    assert added["name"] == "nightly" and added["timezone"] == "Asia/Shanghai"
    assert added["options"]["targets"] == str(targets.resolve())
    assert added["options"]["alert"] == ["dingtalk=https://oapi.dingtalk.com/robot/send?access_token=***",
                                         "wecom=env:ICPWATCH_WECOM"]
    due = datetime.fromisoformat(added["next_due"])
    assert due.astimezone(timezone(timedelta(hours=8))).hour == 2  # 02:00 Beijing time
    result = runner.invoke(cli, ["schedule", "list", "--db", sqlite_url, "--json"])
    assert result.exit_code == 0, result.output
    (listed,) = json.loads(result.stdout)["schedules"]
    assert listed["options"]["provider"] == ["P001", "P002"] and listed["options"]["allow_private"] is True
    assert "SECRET" not in result.stdout and listed["last_run"] is None
    result = runner.invoke(cli, ["schedule", "add", "nightly", "--cron", "0 3 * * *", "--scope", "x", "--db", sqlite_url])
    assert result.exit_code != 0 and "already exists" in result.output
    result = runner.invoke(cli, ["schedule", "list", "--db", sqlite_url])
    assert result.exit_code == 0 and "nightly" in result.output
    assert runner.invoke(cli, ["schedule", "remove", "nightly", "--db", sqlite_url]).exit_code == 0
    result = runner.invoke(cli, ["schedule", "remove", "nightly", "--db", sqlite_url])
    assert result.exit_code != 0 and "no schedule named 'nightly'" in result.output
    assert json.loads(runner.invoke(cli, ["schedule", "list", "--db", sqlite_url, "--json"]).stdout) == {"schedules": []}


@pytest.mark.parametrize(("cron", "message"), [
    ("0 2 * *", "expected 5 fields"),
    ("61 2 * * *", "invalid cron expression '61 2 * * *'"),
    ("0 2 * * * *", "expected 5 fields"),
    ("every day", "expected 5 fields"),
])
def test_invalid_cron_is_rejected_with_a_clear_message(sqlite_url: str, cron: str, message: str) -> None:
    result = CliRunner().invoke(cli, ["schedule", "add", "bad", "--cron", cron, "--scope", "s", "--db", sqlite_url])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    engine = create_engine_for(sqlite_url)
    assert list_schedules(engine) == []
    engine.dispose()


def test_cli_refuses_incomplete_schedules(sqlite_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["schedule", "add", "x", "--scope", "s", "--db", sqlite_url])
    assert result.exit_code == 2 and "exactly one of --cron" in result.output
    result = runner.invoke(cli, ["schedule", "add", "x", "--cron", "0 2 * * *", "--db", sqlite_url])
    assert result.exit_code == 2 and "needs something to sweep" in result.output
    result = runner.invoke(cli, ["schedule", "add", "x", "--cron", "0 2 * * *", "--scope", "s", "--tz", "Mars/Base",
                                 "--db", sqlite_url])
    assert result.exit_code == 2 and "unknown time zone" in result.output
    result = runner.invoke(cli, ["schedule", "add", "x", "--cron", "0 2 * * *", "--scope", "s", "--alert", "slack=x",
                                 "--db", sqlite_url])
    assert result.exit_code == 2 and "--alert" in result.output


def test_help_everywhere() -> None:
    runner = CliRunner()
    for args in (["schedule"], ["schedule", "add"], ["schedule", "list"], ["schedule", "remove"], ["monitor"]):
        result = runner.invoke(cli, [*args, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output
    assert "--command" not in runner.invoke(cli, ["monitor", "--help"]).output  # a test-only option


# --- due times and claims --------------------------------------------------------------------

def test_due_times_are_a_function_of_the_schedule() -> None:
    shanghai = make_trigger("0 2 * * *", "Asia/Shanghai")
    now = datetime(2024, 5, 1, 18, 30, tzinfo=UTC)  # 02:30 on 2 May in Beijing
    assert latest_due(shanghai, now, 3600) == datetime(2024, 5, 1, 18, 0, tzinfo=UTC)
    assert latest_due(shanghai, now + timedelta(hours=2), 3600) is None  # outside the grace window
    every = make_trigger("@every 7")
    due = latest_due(every, now + timedelta(seconds=3.5), 60)
    assert due is not None and (due - EPOCH).total_seconds() % 7 == 0 and due <= now + timedelta(seconds=3.5)
    assert sweep_arguments({"targets": "/t.txt", "provider": ["A", "B"], "allow_private": True, "scope": None}) == \
        ["--targets", "/t.txt", "--provider", "A", "--provider", "B", "--allow-private"]
    with pytest.raises(ScheduleError, match="@every"):
        make_trigger("@every 0")


def test_claim_run_exactly_once_under_concurrent_claimers(store_url: str) -> None:
    engine = create_engine_for(store_url)
    MonitorStore(engine)
    due = datetime(2024, 5, 1, 18, 0, tzinfo=UTC)
    results: list[int | None] = []
    barrier = threading.Barrier(8)

    def claimer(n: int) -> None:
        barrier.wait()
        for k in range(3):  # the same due time, also written in another zone
            when = due if k != 1 else due.astimezone(timezone(timedelta(hours=8)))
            results.append(claim_run(engine, "nightly", when, f"host:{n}"))

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [r for r in results if r is not None]
    assert len(results) == 24 and len(winners) == 1
    assert claim_run(engine, "nightly", due + timedelta(days=1), "host:1") is not None
    assert claim_run(engine, "other", due, "host:1") is not None
    engine.dispose()


def test_add_schedule_api_rejects_duplicates_and_unknown_options(sqlite_url: str) -> None:
    engine = create_engine_for(sqlite_url)
    add_schedule(engine, "a", "*/5 * * * *", {"scope": "s"})
    with pytest.raises(ScheduleError, match="already exists"):
        add_schedule(engine, "a", "*/5 * * * *", {"scope": "s"})
    with pytest.raises(ScheduleError, match="unknown sweep option"):
        add_schedule(engine, "b", "*/5 * * * *", {"depth": 3})
    remove_schedule(engine, "a")
    with pytest.raises(ScheduleError):
        remove_schedule(engine, "a")
    engine.dispose()


# --- the monitor -----------------------------------------------------------------------------

def test_monitor_runs_a_due_schedule_in_its_own_process(store_url: str, tmp_path: Path) -> None:
    engine = create_engine_for(store_url)
    add_schedule(engine, "fast", "@every 1", {"targets": "/srv/targets.txt", "provider": ["P001"], "allow_private": True})
    engine.dispose()
    log = tmp_path / "calls.jsonl"
    monitor = Monitor(store_url, poll_seconds=0.2, command=recorder(log))
    thread = start(monitor)
    wait_until(lambda: len(calls(log)) >= 3, 15)
    stop(monitor, thread)
    made = calls(log)
    assert made[0]["argv"] == ["--targets", "/srv/targets.txt", "--provider", "P001", "--allow-private",
                               "--schedule", "fast", "--db", store_url, "--json"]
    rows = runs(store_url, "fast")
    assert len({r.due_at for r in rows}) == len(rows)
    assert_runs_match_calls(rows, made)  # one process per claimed run
    assert all(r.claimed_by == monitor.claimed_by for r in rows)


def test_never_two_runs_of_one_schedule_at_once(sqlite_url: str, tmp_path: Path) -> None:
    engine = create_engine_for(sqlite_url)
    add_schedule(engine, "slow", "@every 1", {"scope": "s"})
    engine.dispose()
    log = tmp_path / "calls.jsonl"
    monitor = Monitor(sqlite_url, poll_seconds=0.2, command=recorder(log, pause=1.6))
    thread = start(monitor)
    wait_until(lambda: len(calls(log)) >= 2, 15)
    stop(monitor, thread)
    made = sorted(calls(log), key=lambda c: c["start"])
    for earlier, later in zip(made, made[1:]):
        assert later["start"] >= earlier["end"] - 0.01, "two runs overlapped"
    rows = runs(sqlite_url, "slow")
    assert all(r.status in ("finished", "failed") for r in rows)
    # the due times that came while a run was going are skipped, counted, and shown
    engine = create_engine_for(sqlite_url)
    try:
        (listed,) = list_schedules(engine)
    finally:
        engine.dispose()
    assert listed["skipped_runs"] >= 1
    skipped = listed["last_skipped_due"]
    assert skipped not in {r.due_at.replace(tzinfo=UTC) for r in rows}  # a skipped due time never ran
    shown = CliRunner().invoke(cli, ["schedule", "list", "--db", sqlite_url])
    assert f"skipped {listed['skipped_runs']}" in shown.output


def test_restart_neither_loses_nor_doubles_a_due_run(sqlite_url: str, tmp_path: Path) -> None:
    engine = create_engine_for(sqlite_url)
    add_schedule(engine, "tick", "@every 2", {"scope": "s"})
    engine.dispose()
    log = tmp_path / "calls.jsonl"
    first = Monitor(sqlite_url, poll_seconds=0.2, command=recorder(log))
    thread = start(first)
    wait_until(lambda: len(calls(log)) >= 1, 15)
    stop(first, thread)
    # an immediate restart: the run just made is not made again
    again = Monitor(sqlite_url, poll_seconds=0.2, command=recorder(log))
    thread = start(again)
    time.sleep(0.3)
    stop(again, thread)
    # down across at least one due time, then back: the missed run is made once, on start
    time.sleep(2.2)
    if (datetime.now(UTC) - EPOCH).total_seconds() % 2 > 1.7:  # not on the edge of the next due time
        time.sleep(0.4)
    missed = latest_due(make_trigger("@every 2"), datetime.now(UTC), 60)
    assert missed is not None
    back = Monitor(sqlite_url, poll_seconds=0.2, misfire_grace=60, command=recorder(log))
    thread = start(back)
    wait_until(lambda: any(c["due"] == missed.isoformat() for c in calls(log)), 10)
    time.sleep(0.5)
    stop(back, thread)
    made = calls(log)
    dues = [c["due"] for c in made]
    assert len(dues) == len(set(dues)), f"a due run was made twice: {dues}"
    assert missed.isoformat() in dues
    assert_runs_match_calls(runs(sqlite_url, "tick"), made)


def test_two_monitors_on_one_database_run_each_due_time_once(store_url: str, tmp_path: Path) -> None:
    engine = create_engine_for(store_url)
    add_schedule(engine, "shared", "@every 1", {"scope": "s"})
    engine.dispose()
    log = tmp_path / "calls.jsonl"
    monitors = [Monitor(store_url, poll_seconds=0.2, command=recorder(log), claimed_by=f"m{n}:x") for n in range(2)]
    threads = [start(m) for m in monitors]
    time.sleep(3.3)
    for m, t in zip(monitors, threads):
        stop(m, t)
    dues = [c["due"] for c in calls(log)]
    assert len(dues) >= 2 and len(dues) == len(set(dues))
    rows = runs(store_url, "shared")
    assert_runs_match_calls(rows, calls(log))
    # the monitor that found a due time claimed by the other did not count it as skipped
    engine = create_engine_for(store_url)
    try:
        (listed,) = list_schedules(engine)
    finally:
        engine.dispose()
    ran = {r.due_at.astimezone(timezone.utc) if r.due_at.tzinfo else r.due_at.replace(tzinfo=UTC) for r in rows}
    assert listed["last_skipped_due"] not in ran


def test_sigterm_stops_the_monitor_cleanly(sqlite_url: str, tmp_path: Path) -> None:
    engine = create_engine_for(sqlite_url)
    add_schedule(engine, "long", "@every 1", {"scope": "s"})
    engine.dispose()
    log = tmp_path / "calls.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.schedule_cli", "monitor", "--db", sqlite_url, "--poll", "0.2",
         "--stop-timeout", "5", "--command", json.dumps(recorder(log, pause=30))],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: any(r.status == "running" for r in runs(sqlite_url, "long")), 15)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out == "" and "stopped" in err
    (row,) = [r for r in runs(sqlite_url, "long") if r.status != "claimed"]
    assert row.status == "failed" and (row.error or "").startswith("stopped by the monitor")
    assert calls(log) == []  # the sweep was stopped, not finished
    # and no sweep process is left behind
    assert not [p for p in os.popen("ps -eo args").read().splitlines() if str(log) in p]
