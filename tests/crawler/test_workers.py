"""Several crawler processes on one run (crawler.workers, the homepage-queued spider): the same
observations as one process, each visit once, line numbers kept, the feed complete, more machines
joining through ``icpwatch crawl --join``.  Real Redis (127.0.0.1:6379), real sandbox."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import redis

from crawler.spiders.queued import queue_key
from crawler.store import open_crawl_store
from crawler.workers import WorkerError, enqueue
from tests.crawler.conftest import ROOT, crawl

pytestmark = pytest.mark.slow

REDIS_URL = "redis://127.0.0.1:6379/0"
OWNERSHIP = ("ICPWATCH_OWNERSHIP", "ICPWATCH_OWNERSHIP_DNS", "ICPWATCH_RDAP_URL")


@pytest.fixture(scope="module")
def worker_crawl(served_world, world_crawl, tmp_path_factory):
    """The world crawl's targets again, by two worker processes."""
    _, info = served_world
    tmp = tmp_path_factory.mktemp("worker-crawl")
    db_url = f"sqlite:///{tmp / 'store.sqlite3'}"
    result = crawl(world_crawl.targets, db_url=db_url, output=tmp / "out.jsonl", info=info, workers=2,
                   settings={"ICPWATCH_OWNERSHIP": True, "ICPWATCH_OWNERSHIP_DNS": info["dns"],
                             "ICPWATCH_RDAP_URL": info["rdap"]}, timeout=300)
    result.db_url = db_url  # type: ignore[attr-defined]
    return result


def test_workers_observe_what_one_process_observes(world_crawl, worker_crawl) -> None:
    single, shared = world_crawl.by_key(), worker_crawl.by_key()
    keys = [o["target_key"] for o in worker_crawl.observations]
    assert len(keys) == len(set(keys)), "a visit was stored twice"
    assert set(shared) == set(single)
    for key, observation in single.items():
        other = shared[key]
        assert other["status"] == observation["status"], key
        assert other["target_line"] == observation["target_line"], key
        assert other["final_url"] == observation["final_url"], key
        assert other["run_id"] == worker_crawl.run_id


def test_workers_run_is_finished_and_its_queue_gone(worker_crawl) -> None:
    store = open_crawl_store(worker_crawl.db_url)
    try:
        stored = list(store.observations(worker_crawl.run_id))
        assert store.get_run(worker_crawl.run_id)["state"] == "finished"
    finally:
        store.dispose()
    # the feed holds exactly what the store holds, each line a whole document
    assert sorted(o["target_key"] for o in stored) == sorted(o["target_key"] for o in worker_crawl.observations)
    assert redis.Redis.from_url(REDIS_URL).llen(queue_key(worker_crawl.run_id)) == 0


def test_a_machine_joins_a_queued_run(served_world, tmp_path) -> None:
    """``icpwatch crawl --join RUN`` works through a queue another machine filled."""
    world, info = served_world
    sites = [s for s in world.sites if s.domains and not s.hostile][:6]
    lines = ["# two machines, one list", *[s.host for s in sites]]
    run_id = f"join-{tmp_path.name}"
    assert enqueue(REDIS_URL, run_id, lines) == len(sites)  # the comment is not queued
    db_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    proc = subprocess.run([sys.executable, "-m", "icpwatch", "crawl", "--join", run_id, "--db", db_url,
                           "--resolver", info["dns"], "--ca-file", info["ca_file"], "--allow-private", "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={"ICPWATCH_REDIS_URL": REDIS_URL, **_env()})
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["run_id"] == run_id
    store = open_crawl_store(db_url)
    try:
        observed = list(store.observations(run_id))
    finally:
        store.dispose()
    assert {o["target"] for o in observed} == {s.host for s in sites}
    by_target = {o["target"]: o["target_line"] for o in observed}
    for number, line in enumerate(lines, start=1):
        if not line.startswith("#"):
            assert by_target[line] == number  # the line number of the user's list, not of a batch
    assert redis.Redis.from_url(REDIS_URL).llen(queue_key(run_id)) == 0


def test_unreachable_redis_is_a_clear_error_with_no_password(tmp_path) -> None:
    with pytest.raises(WorkerError) as raised:
        enqueue("redis://user:s3cret@127.0.0.1:1/0", "r", ["example.cn"])
    assert "127.0.0.1:1" in str(raised.value) and "s3cret" not in str(raised.value)


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_a_killed_worker_loses_nothing_stored_and_the_run_resumes(served_world, tmp_path) -> None:
    """SIGKILL one of two workers mid-crawl: the run ends interrupted and names the worker, what
    was stored stays, and resuming the run stores every other visit exactly once."""
    import os
    import signal
    import time

    world, info = served_world
    targets = tmp_path / "targets.txt"
    # the hostile sites keep the workers busy for seconds (bounded timeouts), long enough to kill one
    hosts = [s.host for s in world.sites if s.hostile] + [s.host for s in world.sites if not s.hostile]
    targets.write_text("\n".join(hosts) + "\n", encoding="utf-8")
    db_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    args = [sys.executable, "-m", "icpwatch", "crawl", "--targets", str(targets), "--db", db_url, "--json",
            "--resolver", info["dns"], "--ca-file", info["ca_file"], "--allow-private", "--workers", "2",
            "--redis", REDIS_URL]
    env = _env()
    coordinator = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        children = _children(coordinator.pid)
        workers = [pid for pid in children if "multiprocessing.spawn" in _cmdline(pid) and _running(pid)]
        # a worker with a connection open to the sites is mid-visit: it cannot have reported its
        # crawl finished (one that drained the queue and closed may still be exiting)
        visiting = [pid for pid in workers if _connected(pid, ports=(80, 443))]
        if len(workers) == 2 and visiting and _stored(db_url) > 0:
            victim = visiting[0]
        time.sleep(0.1)
    assert victim is not None, "the workers never started storing"
    os.kill(victim, signal.SIGKILL)
    out, err = coordinator.communicate(timeout=300)
    assert coordinator.returncode == 0, err[-3000:]
    first = json.loads(out)
    assert first["state"] == "interrupted"
    assert f"pid {victim}) ended: exit code -9" in err
    kept = _stored(db_url)
    assert 0 < kept == first["observations"]

    resumed = subprocess.run([*args, "--run", first["run_id"]], capture_output=True, text=True, cwd=ROOT, env=env,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    second = json.loads(resumed.stdout)
    assert second["run_id"] == first["run_id"] and second["state"] == "finished"
    store = open_crawl_store(db_url)
    try:
        keys = [o["target_key"] for o in store.observations(first["run_id"])]
    finally:
        store.dispose()
    assert len(keys) == len(set(keys)), "a visit was stored twice"
    assert {k.split("|", 1)[0] for k in keys} == set(hosts)


def _children(pid: int) -> list[int]:
    from pathlib import Path

    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _connected(pid: int, *, ports: tuple[int, ...]) -> bool:
    """Whether process ``pid`` holds an established TCP connection to one of ``ports``."""
    import os
    from pathlib import Path

    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:  # it has exited
        return False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if state == "01" and remote_port in ports and inode in inodes:
                return True
    return False


def _stored(db_url: str) -> int:
    import sqlite3

    path = db_url.removeprefix("sqlite:///")
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            return int(conn.execute("select count(*) from observations").fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0
