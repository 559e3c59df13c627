"""Chinese working days, for the deadlines of the filing workflows and the orders findings open.

The rules count many periods in working days (工作日): 5 for IP and domain record changes (arts.
15(6), 16(3)), 20 for reporting a new IP allocation (art. 15(2)), 10 for a password reset (annex 1).
A working day in China is a weekday that is not a public holiday, or a weekend day the State
Council's yearly schedule turns into a working day (调休).

Where a year's days come from, in this order:

1. an **official schedule loaded by an operator** (``icpwatch filing calendar load FILE``), kept in
   the store so every process counts the same days. The State Council publishes the next year's
   schedule each autumn; loading it is how a year beyond the library's data becomes exact, and
   loading a year again replaces it (a correction).
2. the **chinesecalendar** library, which carries the official schedules up to its release (2026 for
   the version pinned here);
3. otherwise **weekdays** are counted, and every deadline whose span touches such a year is marked
   ``estimated`` — a missing year never makes a workflow fail.

The schedule file is UTF-8 CSV with a header row ``date,kind,name``: one line per day that differs
from the plain week — ``kind`` is ``holiday`` (休, a day off, on a weekday or weekend of a holiday
period) or ``workday`` (班, a weekend day worked); ``name`` is the festival, optional. All dates of
one file belong to one year. ``examples/work-calendar-2026.csv`` is the 2026 schedule in this form.
"""

from __future__ import annotations

import csv
import functools
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import chinese_calendar
from sqlalchemy import Date, DateTime, Integer, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from registry.models import Base, utcnow

if TYPE_CHECKING:
    from registry.store import Store

__all__ = [
    "CalendarDay",
    "CalendarError",
    "CalendarYear",
    "Deadline",
    "LoadedSchedule",
    "WorkCalendar",
    "add_working_days",
    "load_schedule",
]

KINDS = {"holiday": "holiday", "休": "holiday", "workday": "workday", "班": "workday"}
SOURCES = ("official", "chinesecalendar", "weekdays")


class CalendarError(ValueError):
    """A schedule file that cannot be loaded; the message names the file, row and column."""


class CalendarYear(Base):
    """A year whose official schedule an operator loaded: from which file (by hash), by whom, when."""

    __tablename__ = "work_calendar_years"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer, unique=True)
    file_name: Mapped[str] = mapped_column(String(512))
    file_sha256: Mapped[str] = mapped_column(String(64))
    holidays: Mapped[int] = mapped_column(Integer)
    workdays: Mapped[int] = mapped_column(Integer)
    loaded_by: Mapped[str] = mapped_column(String(128))
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CalendarDay(Base):
    """One day of a loaded schedule that differs from the plain week."""

    __tablename__ = "work_calendar_days"
    __table_args__ = (UniqueConstraint("day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(8))  # holiday | workday
    name: Mapped[str | None] = mapped_column(String(64))


@dataclass(frozen=True)
class Deadline:
    """When something is due, and whether that date rests on an assumed (weekdays-only) year."""

    due: date
    estimated: bool
    start: date | None = None
    working_days: int | None = None
    estimated_years: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"due": self.due.isoformat(), "estimated": self.estimated,
                "start": self.start.isoformat() if self.start else None, "working_days": self.working_days,
                "estimated_years": list(self.estimated_years)}


@functools.lru_cache(maxsize=None)
def _library_has(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@dataclass
class WorkCalendar:
    """Which days are working days: loaded official schedules, else chinesecalendar, else weekdays."""

    official: Mapping[int, Mapping[date, str]] = field(default_factory=dict)  # year -> {day: kind}

    @classmethod
    def from_store(cls, store: Store) -> WorkCalendar:
        """The calendar with every official schedule loaded into ``store``."""
        official: dict[int, dict[date, str]] = {}
        with store.sessions() as session:
            for year in session.scalars(select(CalendarYear.year)):
                official.setdefault(year, {})
            for row in session.execute(select(CalendarDay.year, CalendarDay.day, CalendarDay.kind)):
                official.setdefault(row.year, {})[row.day] = row.kind
        return cls(official)

    def source(self, year: int) -> str:
        """``official`` | ``chinesecalendar`` | ``weekdays`` (the last means: estimated)."""
        if year in self.official:
            return "official"
        return "chinesecalendar" if _library_has(year) else "weekdays"

    def is_workday(self, day: date) -> bool:
        source = self.source(day.year)
        if source == "official":
            kind = self.official[day.year].get(day)
            if kind is not None:
                return kind == "workday"
            return day.weekday() < 5
        if source == "chinesecalendar":
            return chinese_calendar.is_workday(day)
        return day.weekday() < 5

    def estimated_years(self, first: date, last: date) -> tuple[int, ...]:
        return tuple(y for y in range(first.year, last.year + 1) if self.source(y) == "weekdays")


def add_working_days(start: date, days: int, calendar: WorkCalendar | None = None) -> Deadline:
    """The ``days``-th working day after ``start`` (``start`` itself is not counted, as a period
    "within N working days of receipt" begins the day after receipt)."""
    if days < 0:
        raise ValueError(f"a period of working days cannot be negative: {days}")
    calendar = calendar or WorkCalendar()
    day, left = start, days
    while left:
        day += timedelta(days=1)
        if calendar.is_workday(day):
            left -= 1
    years = calendar.estimated_years(start, day)
    return Deadline(due=day, estimated=bool(years), start=start, working_days=days, estimated_years=years)


@dataclass(frozen=True)
class LoadedSchedule:
    year: int
    file: str
    holidays: int
    workdays: int
    replaced: bool

    def to_dict(self) -> dict[str, Any]:
        return {"year": self.year, "file": self.file, "holidays": self.holidays, "workdays": self.workdays,
                "replaced": self.replaced}


def parse_schedule(path: Path) -> tuple[int, list[tuple[date, str, str | None]]]:
    """(year, [(day, kind, name)]) of a schedule file, or :class:`CalendarError` naming the cell."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarError(f"{path}: cannot read the schedule: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in ("date", "kind") if c not in header]
    if missing:
        raise CalendarError(f"{path}: missing column(s) {', '.join(missing)}; expected the header date,kind,name")
    days: list[tuple[date, str, str | None]] = []
    seen: dict[date, int] = {}
    for row_number, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue
        try:
            day = date.fromisoformat(row["date"])
        except ValueError:
            raise CalendarError(f"{path}: row {row_number}, column 'date': not a date (YYYY-MM-DD): {row['date']!r}") from None
        kind = KINDS.get(row["kind"].lower())
        if kind is None:
            raise CalendarError(f"{path}: row {row_number}, column 'kind': expected holiday (休) or workday (班), "
                                f"not {row['kind']!r}")
        if kind == "workday" and day.weekday() < 5:
            raise CalendarError(f"{path}: row {row_number}, column 'kind': {day} is a weekday, a working day "
                                "already; only weekend days are listed as workday")
        if day in seen:
            raise CalendarError(f"{path}: row {row_number}, column 'date': {day} is already listed in row {seen[day]}")
        seen[day] = row_number
        days.append((day, kind, row.get("name") or None))
    if not days:
        raise CalendarError(f"{path}: no days listed; a year's schedule lists at least its holidays")
    years = sorted({d.year for d, _, _ in days})
    if len(years) > 1:
        raise CalendarError(f"{path}: dates of several years ({', '.join(map(str, years))}); load one year per file")
    if not any(kind == "holiday" for _, kind, _ in days):
        raise CalendarError(f"{path}: no holiday listed; every year's schedule has public holidays")
    return years[0], days


def load_schedule(store: Store, path: Path, *, loaded_by: str) -> LoadedSchedule:
    """Store ``path``'s official schedule for its year, replacing an earlier load of that year."""
    if not loaded_by.strip():
        raise CalendarError("say who loads the schedule (--by NAME)")
    year, days = parse_schedule(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with store.session() as session:
        previous = session.scalar(select(CalendarYear).where(CalendarYear.year == year))
        session.execute(delete(CalendarDay).where(CalendarDay.year == year))
        if previous is not None:
            session.delete(previous)
            session.flush()
        session.add(CalendarYear(year=year, file_name=str(path), file_sha256=digest,
                                 holidays=sum(k == "holiday" for _, k, _ in days),
                                 workdays=sum(k == "workday" for _, k, _ in days), loaded_by=loaded_by.strip()))
        session.add_all(CalendarDay(year=year, day=d, kind=k, name=n) for d, k, n in days)
    return LoadedSchedule(year, str(path), sum(k == "holiday" for _, k, _ in days),
                          sum(k == "workday" for _, k, _ in days), previous is not None)


def loaded_years(store: Store) -> list[dict[str, Any]]:
    """The official schedules in the store, for ``calendar show``."""
    with store.sessions() as session:
        return [{"year": y.year, "file": y.file_name, "sha256": y.file_sha256, "holidays": y.holidays,
                 "workdays": y.workdays, "loaded_by": y.loaded_by, "loaded_at": y.loaded_at}
                for y in session.scalars(select(CalendarYear).order_by(CalendarYear.year))]


def year_days(calendar: WorkCalendar, year: int) -> Iterable[date]:
    """The days of ``year`` that differ from the plain week, as ``calendar`` counts them."""
    day = date(year, 1, 1)
    while day.year == year:
        if calendar.is_workday(day) != (day.weekday() < 5):
            yield day
        day += timedelta(days=1)
