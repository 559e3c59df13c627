"""Scheduled sweeps: the ``schedules`` table, exactly-once claims of due runs, and the monitor.

A schedule is a name, a cron expression in a time zone (Asia/Shanghai unless said otherwise) and
the options of the sweep to run. ``icpwatch monitor`` (:class:`Monitor`) runs them: an APScheduler
``BackgroundScheduler`` holds one job per schedule, read from the table at start and re-read every
``poll_seconds``; each due run is *claimed* first — a row in ``schedule_runs``, whose
``(schedule, due_at)`` is unique — and then runs ``icpwatch sweep <options> --schedule NAME --db
URL --json`` in a process of its own, so a crashing sweep never takes the monitor with it.

Why this never loses or doubles a run:

* **Due times are a function of the schedule alone** (cron fire times; ``@every N`` counts from a
  fixed epoch), so every monitor process, before or after a restart, computes the same ``due_at``
  and the unique claim lets exactly one of them run it.
* **Missed runs** (the monitor was down) are looked for at start: the latest due time within
  ``misfire_grace`` seconds that nobody claimed is run once — coalesced, however many were missed.
* **Never two runs of one schedule at once**: ``max_instances=1`` and a lock per schedule in one
  process, and across processes a claimed or running row of that schedule makes the next due time
  be skipped — counted on the schedule (``skipped_runs``, ``last_skipped_due``, once per due time
  whichever monitors saw it) so that ``icpwatch schedule list`` shows a sweep that outgrew its
  interval. A run whose monitor died (same host, process gone, or older than ``stale_after``)
  is marked failed so it cannot block its schedule for ever.
* **SIGTERM** (systemd's stop) stops the scheduler, sends SIGTERM to running sweeps, waits up to
  ``stop_timeout`` seconds for them, and records them as failed ("stopped by the monitor"); a run
  claimed but not yet started gives its claim back, so the next monitor's catch-up makes it.

``@every N`` (N seconds) is a trigger for tests and trials only, so that the scheduling can be seen
working in seconds rather than minutes; production schedules use cron expressions.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from icpwatch.dbkit import create_engine_for, safe_url
from monitor.models import Schedule, ScheduleRun, Sweep
from monitor.store import MonitorStore

log = logging.getLogger(__name__)

UTC = timezone.utc
DEFAULT_TZ = "Asia/Shanghai"
EVERY = "@every "
#: ``@every`` due times count from here, so every process computes the same ones.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
UNFINISHED = ("claimed", "running")

#: Sweep options a schedule may hold, and how each becomes ``icpwatch sweep`` arguments.
SWEEP_OPTIONS: dict[str, str] = {
    "targets": "--targets", "provider": "--provider", "province": "--province", "scope": "--scope",
    "resolver": "--resolver", "allow_private": "--allow-private", "ca_file": "--ca-file", "alert": "--alert",
    "render": "--render", "evidence_dir": "--evidence-dir",
}
DEFAULT_COMMAND: tuple[str, ...] = (sys.executable, "-m", "icpwatch", "sweep")


class ScheduleError(ValueError):
    """A schedule that cannot be added, found or run as asked; the message says why."""


# --- triggers and due times -----------------------------------------------------------------

def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {tz!r} (use an IANA name such as Asia/Shanghai)") from None


def make_trigger(cron: str, tz: str = DEFAULT_TZ) -> BaseTrigger:
    """The APScheduler trigger of a schedule: a 5-field cron expression, or ``@every N`` (tests)."""
    zone = _zone(tz)
    text = " ".join(cron.split())
    if text.startswith(EVERY):
        try:
            seconds = int(text[len(EVERY):])
        except ValueError:
            seconds = 0
        if seconds < 1:
            raise ScheduleError(f"invalid trigger {cron!r}: @every takes a whole number of seconds ≥ 1")
        return IntervalTrigger(seconds=seconds, start_date=EPOCH, timezone=zone)
    if len(text.split()) != 5:
        raise ScheduleError(f"invalid cron expression {cron!r}: expected 5 fields "
                            "(minute hour day-of-month month day-of-week), e.g. \"0 2 * * *\"")
    try:
        return CronTrigger.from_crontab(text, timezone=zone)
    except ValueError as exc:
        raise ScheduleError(f"invalid cron expression {cron!r}: {exc}") from None


def latest_due(trigger: BaseTrigger, now: datetime, window: float) -> datetime | None:
    """The last time ``trigger`` fired at or before ``now``, if within ``window`` seconds of it (UTC)."""
    now = now.astimezone(UTC)
    if isinstance(trigger, IntervalTrigger):
        step = trigger.interval.total_seconds()
        start = trigger.start_date.astimezone(UTC)
        due = start + timedelta(seconds=step * ((now - start).total_seconds() // step))
        return due if (now - due).total_seconds() <= window else None
    last = None
    moment = trigger.get_next_fire_time(None, now - timedelta(seconds=window))
    while moment is not None and moment <= now:
        last = moment
        moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
    return last.astimezone(UTC) if last else None


def next_due(cron: str, tz: str, now: datetime | None = None) -> datetime | None:
    now = now or datetime.now(UTC)
    when = make_trigger(cron, tz).get_next_fire_time(None, now)
    return when.astimezone(UTC) if when else None


def _utc(value: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite hands them back naive)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _normal_due(due_at: datetime) -> datetime:
    if due_at.tzinfo is None:
        raise ScheduleError("due_at must carry a time zone")
    return due_at.astimezone(UTC).replace(microsecond=0)


# --- the table ------------------------------------------------------------------------------

def _store(engine: Engine) -> MonitorStore:
    return MonitorStore(engine)


def add_schedule(engine: Engine, name: str, cron: str, options: dict[str, Any], tz: str = DEFAULT_TZ) -> None:
    """Add a schedule after checking its name, cron expression (5 fields) and time zone."""
    name = name.strip()
    if not name or len(name) > 128:
        raise ScheduleError("a schedule needs a name of 1 to 128 characters")
    make_trigger(cron, tz)
    unknown = set(options) - set(SWEEP_OPTIONS)
    if unknown:
        raise ScheduleError(f"unknown sweep option(s) for a schedule: {', '.join(sorted(unknown))}")
    store = _store(engine)
    try:
        with store.session() as session:
            if session.scalar(select(Schedule.id).where(Schedule.name == name)) is not None:
                raise ScheduleError(f"a schedule named {name!r} already exists (remove it first)")
            session.add(Schedule(name=name, cron=" ".join(cron.split()), timezone=tz, options=dict(options),
                                 enabled=True))
    except IntegrityError:  # a concurrent add of the same name
        raise ScheduleError(f"a schedule named {name!r} already exists (remove it first)") from None


def list_schedules(engine: Engine) -> list[dict[str, Any]]:
    """Every schedule with its options (as stored), next due time and last run."""
    store = _store(engine)
    out: list[dict[str, Any]] = []
    with store.session() as session:
        for s in session.scalars(select(Schedule).order_by(Schedule.name)):
            last = session.scalars(select(ScheduleRun).where(ScheduleRun.schedule == s.name)
                                   .order_by(ScheduleRun.due_at.desc()).limit(1)).first()
            out.append({
                "name": s.name, "cron": s.cron, "timezone": s.timezone, "enabled": s.enabled,
                "options": dict(s.options or {}), "created_at": _utc(s.created_at),
                "next_due": next_due(s.cron, s.timezone) if s.enabled else None,
                "skipped_runs": s.skipped_runs or 0, "last_skipped_due": _utc(s.last_skipped_due),
                "last_run": None if last is None else {
                    "id": last.id, "due_at": _utc(last.due_at), "status": last.status,
                    "started_at": _utc(last.started_at), "finished_at": _utc(last.finished_at),
                    "sweep_id": last.sweep_id, "error": last.error},
            })
    return out


def remove_schedule(engine: Engine, name: str) -> None:
    """Remove a schedule (its past runs stay, as history); an unknown name is an error."""
    with _store(engine).session() as session:
        if session.execute(delete(Schedule).where(Schedule.name == name)).rowcount == 0:
            raise ScheduleError(f"no schedule named {name!r}")


def claim_run(engine: Engine, schedule: str, due_at: datetime, claimed_by: str) -> int | None:
    """Claim the run of ``schedule`` due at ``due_at``: its new ``schedule_runs`` id, or ``None``
    when someone already claimed it — which is how a restart or a second monitor never doubles it."""
    try:
        with engine.begin() as conn:
            result = conn.execute(insert(ScheduleRun.__table__).values(
                schedule=schedule, due_at=_normal_due(due_at), status="claimed", claimed_by=claimed_by))
            return int(result.inserted_primary_key[0])
    except IntegrityError:
        return None


def sweep_arguments(options: dict[str, Any]) -> list[str]:
    """The ``icpwatch sweep`` arguments for a schedule's stored options."""
    args: list[str] = []
    for key, flag in SWEEP_OPTIONS.items():
        value = options.get(key)
        if value is None or value is False or value == [] or value == "":
            continue
        if value is True:
            args.append(flag)
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            args += [flag, str(item)]
    return args


# --- the monitor ----------------------------------------------------------------------------

def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Monitor:
    """``icpwatch monitor``: runs the due sweeps of every enabled schedule until stopped.

    ``command`` replaces ``python -m icpwatch sweep`` (tests run a small script instead); its items
    may use ``{schedule}``, ``{due_at}``, ``{run_id}`` and ``{db}``. The sweep options,
    ``--schedule NAME --db URL --json`` are appended to it.
    """

    def __init__(self, db_url: str, *, poll_seconds: float = 30, misfire_grace: float = 3600,
                 command: Sequence[str] | None = None, stale_after: float = 86_400, stop_timeout: float = 30,
                 claimed_by: str | None = None) -> None:
        self.db_url = db_url
        self.engine = create_engine_for(db_url)
        MonitorStore(self.engine)
        self.poll_seconds = poll_seconds
        self.misfire_grace = misfire_grace
        self.command = tuple(command or DEFAULT_COMMAND)
        self.stale_after = stale_after
        self.stop_timeout = stop_timeout
        self.claimed_by = claimed_by or f"{socket.gethostname()}:{os.getpid()}"
        self.scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(max_workers=16)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": max(1, int(misfire_grace))})
        # a due time APScheduler does not even start (max_instances) is a skip like the lock's
        self.scheduler.add_listener(self._not_started, EVENT_JOB_MAX_INSTANCES)
        self._jobs: dict[str, tuple[str, str, str]] = {}  # name -> (cron, tz, options) as scheduled
        self._locks: dict[str, threading.Lock] = {}
        self._children: dict[int, subprocess.Popen[bytes]] = {}  # run id -> process
        self._guard = threading.Lock()
        self._stopping = threading.Event()
        self._stopped = threading.Event()

    # -- lifecycle
    def run_forever(self) -> None:
        """Run until :meth:`stop` (or SIGTERM/SIGINT when called from the main thread)."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda signum, _frame: self.stop())
        log.info("monitor %s started on %s", self.claimed_by, safe_url(self.db_url))
        self.scheduler.start()
        try:
            self.sync(catch_up=True)
            while not self._stopping.wait(self.poll_seconds):
                self.sync()
        finally:
            self._shutdown()

    def stop(self) -> None:
        """Ask the monitor to stop; :meth:`run_forever` returns once running sweeps have ended."""
        self._stopping.set()

    def _shutdown(self) -> None:
        try:
            self.scheduler.shutdown(wait=False)
        except Exception:  # noqa: BLE001 - not started, or already down
            pass
        with self._guard:
            children = list(self._children.values())
        for child in children:
            if child.poll() is None:
                try:
                    os.killpg(child.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    child.terminate()
        for child in children:
            try:
                child.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        # let the job threads record what became of their runs
        for lock in list(self._locks.values()):
            if lock.acquire(timeout=self.stop_timeout):
                lock.release()
        self.engine.dispose()
        self._stopped.set()
        log.info("monitor %s stopped", self.claimed_by)

    # -- schedules into jobs
    def sync(self, *, catch_up: bool = False) -> None:
        """Bring the scheduler's jobs in line with the schedules table (and, at start, catch up)."""
        try:
            with MonitorStore(self.engine, migrate=False).session() as session:
                rows = list(session.scalars(select(Schedule).where(Schedule.enabled.is_(True))))
        except Exception:  # noqa: BLE001 - a database hiccup must not end the monitor
            log.exception("cannot read the schedules; keeping the jobs as they are")
            return
        wanted = {}
        for row in rows:
            wanted[row.name] = (row.cron, row.timezone, json.dumps(row.options or {}, sort_keys=True), row)
        for name in list(self._jobs):
            if name not in wanted:
                self._remove_job(name)
        for name, (cron, tz, options, row) in wanted.items():
            first = name not in self._jobs
            if not first and self._jobs[name] == (cron, tz, options):
                continue
            try:
                trigger = make_trigger(cron, tz)
            except ScheduleError as exc:
                log.error("schedule %s skipped: %s", name, exc)
                continue
            self.scheduler.add_job(self._run, trigger, args=[name], id=name, name=name, replace_existing=True)
            self._jobs[name] = (cron, tz, options)
            log.info("schedule %s: %s (%s), next due %s", name, cron, tz, next_due(cron, tz))
            if catch_up:
                self._catch_up(name, trigger, _utc(row.created_at))

    def _remove_job(self, name: str) -> None:
        self._jobs.pop(name, None)
        if self.scheduler.get_job(name):
            self.scheduler.remove_job(name)
        log.info("schedule %s removed or disabled", name)

    def _catch_up(self, name: str, trigger: BaseTrigger, created_at: datetime | None) -> None:
        due = latest_due(trigger, datetime.now(UTC), self.misfire_grace)
        if due is None or (created_at is not None and due < created_at.replace(microsecond=0)):
            return
        with self.engine.connect() as conn:
            taken = conn.scalar(select(ScheduleRun.id).where(ScheduleRun.schedule == name,
                                                             ScheduleRun.due_at == _normal_due(due)))
        if taken is None:
            log.info("schedule %s: run due %s was missed while no monitor ran; running it now", name, due)
            self.scheduler.add_job(self._run, "date", run_date=datetime.now(UTC), args=[name, due],
                                   id=f"{name}@catch-up", replace_existing=True)

    # -- one due run
    def _run(self, name: str, due: datetime | None = None) -> None:
        if self._stopping.is_set():
            return
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        if not lock.acquire(blocking=False):
            self._skip(name, due, "the previous run is still going")
            return
        try:
            self._run_locked(name, due)
        except Exception:  # noqa: BLE001 - one bad run must not stop the others
            log.exception("schedule %s: run failed", name)
        finally:
            lock.release()

    def _run_locked(self, name: str, due: datetime | None) -> None:
        with MonitorStore(self.engine, migrate=False).session() as session:
            row = session.scalar(select(Schedule).where(Schedule.name == name))
            if row is None or not row.enabled:
                return
            cron, tz, options = row.cron, row.timezone, dict(row.options or {})
        due = due or self._due_now(cron, tz)
        if due is None:
            return
        due = _normal_due(due)
        under_way = self._unfinished(name)
        if due in under_way:
            log.info("schedule %s: the run due %s was already claimed", name, due)
            return
        if under_way:
            self._skip(name, due, f"the run due {min(under_way).isoformat()} is still claimed or running")
            return
        if self._stopping.is_set():
            return
        run_id = claim_run(self.engine, name, due, self.claimed_by)
        if run_id is None:
            log.info("schedule %s: the run due %s was already claimed", name, due)
            return
        self._execute(run_id, name, due, options)

    def _due_now(self, cron: str, tz: str) -> datetime | None:
        """The latest due time of a schedule within the misfire grace (a cron-fired job is told none)."""
        return latest_due(make_trigger(cron, tz), datetime.now(UTC), self.misfire_grace)

    def _not_started(self, event: JobSubmissionEvent) -> None:
        if event.job_id in self._jobs and event.scheduled_run_times:  # not a catch-up job
            self._skip(event.job_id, max(event.scheduled_run_times), "the previous run is still going")

    def _skip(self, name: str, due: datetime | None, why: str) -> None:
        """Record that the run of ``name`` due at ``due`` (the latest due time, if None) is skipped."""
        if due is None:
            with MonitorStore(self.engine, migrate=False).session() as session:
                row = session.scalar(select(Schedule).where(Schedule.name == name))
                cron, tz = (row.cron, row.timezone) if row is not None else (None, None)
            due = self._due_now(cron, tz) if cron else None
            if due is None:
                return
        due = _normal_due(due)
        log.warning("schedule %s: due %s is skipped: %s", name, due, why)
        table = Schedule.__table__
        try:
            with self.engine.begin() as conn:
                # counted once per due time, however many monitors skip it
                conn.execute(update(table).where(
                    table.c.name == name, or_(table.c.last_skipped_due.is_(None), table.c.last_skipped_due < due))
                    .values(skipped_runs=table.c.skipped_runs + 1, last_skipped_due=due))
        except Exception:  # noqa: BLE001 - the record is for the operator; the schedule goes on
            log.exception("schedule %s: cannot record the skipped run", name)

    def _unfinished(self, name: str) -> list[datetime]:
        """The due times of runs of ``name`` under way, after failing runs whose monitor is gone."""
        host = socket.gethostname()
        now = datetime.now(UTC)
        busy: list[datetime] = []
        with MonitorStore(self.engine, migrate=False).session() as session:
            for run in session.scalars(select(ScheduleRun).where(ScheduleRun.schedule == name,
                                                                 ScheduleRun.status.in_(UNFINISHED))):
                owner_host, _, pid = (run.claimed_by or "").rpartition(":")
                since = _utc(run.started_at) or _utc(run.due_at) or now
                mine = run.claimed_by == self.claimed_by
                gone = (mine and run.id not in self._children) or (
                    owner_host == host and pid.isdigit() and not _pid_alive(int(pid)))
                if gone or (now - since).total_seconds() > self.stale_after:
                    run.status, run.finished_at = "failed", now
                    run.error = f"abandoned: its monitor {run.claimed_by} is gone or the run is stale"
                    log.warning("schedule %s: run %s %s", name, run.id, run.error)
                else:
                    busy.append(_normal_due(_utc(run.due_at) or now))
        return busy

    def _argv(self, run_id: int, name: str, due: datetime, options: dict[str, Any]) -> list[str]:
        fields = {"{schedule}": name, "{due_at}": due.isoformat(), "{run_id}": str(run_id), "{db}": self.db_url}

        def fill(part: str) -> str:
            for key, value in fields.items():
                part = part.replace(key, value)
            return part

        return ([fill(part) for part in self.command] + sweep_arguments(options)
                + ["--schedule", name, "--db", self.db_url, "--json"])

    def _execute(self, run_id: int, name: str, due: datetime, options: dict[str, Any]) -> None:
        argv = self._argv(run_id, name, due, options)
        env = dict(os.environ, ICPWATCH_SCHEDULE=name, ICPWATCH_SCHEDULE_RUN=str(run_id),
                   ICPWATCH_DUE_AT=due.isoformat())
        started = datetime.now(UTC)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                with self._guard:
                    if self._stopping.is_set():
                        raise RuntimeError("the monitor is stopping")
                    child = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                             start_new_session=True)
                    self._children[run_id] = child
            except RuntimeError:  # stopping before it started: give the claim back for the next monitor
                self._unclaim(run_id)
                log.info("schedule %s: run due %s not started, the monitor is stopping; claim released", name, due)
                return
            except OSError as exc:
                self._finish(run_id, "failed", error=f"could not start the sweep: {exc}")
                return
            self._mark(run_id, status="running", started_at=started)
            log.info("schedule %s: run %d due %s started (pid %d)", name, run_id, due, child.pid)
            code = child.wait()
            with self._guard:
                self._children.pop(run_id, None)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        sweep_id = self._sweep_id(stdout, name, started)
        if code == 0:
            self._finish(run_id, "finished", sweep_id=sweep_id)
            log.info("schedule %s: run %d finished (sweep %s)", name, run_id, sweep_id)
            return
        why = "stopped by the monitor" if self._stopping.is_set() else f"exit code {code}"
        tail = stderr.decode("utf-8", "replace").strip()[-2000:]
        self._finish(run_id, "failed", sweep_id=sweep_id, error=f"{why}: {tail}" if tail else why)
        log.warning("schedule %s: run %d failed (%s)", name, run_id, why)

    def _sweep_id(self, stdout: bytes, name: str, started: datetime) -> int | None:
        try:
            document = json.loads(stdout.decode("utf-8", "replace") or "null")
            value = document.get("sweep_id") if isinstance(document, dict) else None
            if isinstance(value, int):
                return value
        except ValueError:
            pass
        with self.engine.connect() as conn:  # the sweep records its schedule
            return conn.scalar(select(Sweep.id).where(Sweep.schedule == name, Sweep.started_at >= started)
                               .order_by(Sweep.id.desc()).limit(1))

    def _unclaim(self, run_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(ScheduleRun.__table__).where(ScheduleRun.__table__.c.id == run_id,
                                                            ScheduleRun.__table__.c.status == "claimed"))

    def _mark(self, run_id: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(ScheduleRun.__table__).where(ScheduleRun.__table__.c.id == run_id).values(**values))

    def _finish(self, run_id: int, status: str, *, sweep_id: int | None = None, error: str | None = None) -> None:
        self._mark(run_id, status=status, finished_at=datetime.now(UTC), sweep_id=sweep_id, error=error)
