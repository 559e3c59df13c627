"""Working days: chinesecalendar's years, operator-loaded official schedules (stored, seen by every
process), weekdays with ``estimated`` for a year nobody has loaded, and schedule files refused
with the row and column at fault."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.store import open_store
from registry.workdays import CalendarError, WorkCalendar, add_working_days, load_schedule, parse_schedule
from tests.registry.helpers import EXAMPLES

# A 2027 schedule written for these tests in the published file format. It is not the official
# 2027 schedule (not published when these tests were written); its days only need to differ from
# the plain week so the tests can tell a loaded year from an estimated one.
SCHEDULE_2027 = """date,kind,name
2027-01-01,holiday,元旦
2027-02-05,holiday,春节
2027-02-08,holiday,春节
2027-02-09,holiday,春节
2027-02-10,holiday,春节
2027-02-11,holiday,春节
2027-02-12,holiday,春节
2027-02-20,workday,春节
"""


def _schedule(tmp_path: Path, text: str = SCHEDULE_2027, name: str = "2027.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_library_years_count_holidays_and_adjusted_working_days() -> None:
    # National Day 2026: 1–7 October off, Saturday 10 October worked.
    d = add_working_days(date(2026, 9, 30), 1)
    assert d.due == date(2026, 10, 8) and d.estimated is False
    assert add_working_days(date(2026, 10, 8), 2).due == date(2026, 10, 10)  # the worked Saturday counts
    # Spring Festival 2026: 15–23 February off; Saturday 14 February worked.
    assert add_working_days(date(2026, 2, 13), 1).due == date(2026, 2, 14)
    assert add_working_days(date(2026, 2, 14), 1).due == date(2026, 2, 24)
    # annex 1's ten working days from Monday 28 September 2026 cross National Day
    assert add_working_days(date(2026, 9, 28), 10).due == date(2026, 10, 16)


def test_a_year_beyond_the_library_counts_weekdays_and_is_marked_estimated() -> None:
    d = add_working_days(date(2026, 12, 24), 10)  # runs into 2027: no data anywhere yet
    assert d.estimated is True and d.estimated_years == (2027,)
    assert d.due == date(2027, 1, 7)  # weekdays only: 25, 28–31 Dec, 1, 4–7 Jan (1 Jan counted: unknown)
    assert add_working_days(date(2026, 12, 1), 5).estimated is False  # within 2026: exact


def test_loading_a_year_makes_its_deadlines_exact_for_every_process(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url)
    try:
        before = add_working_days(date(2026, 12, 30), 3, WorkCalendar.from_store(store))
        assert before.estimated and before.due == date(2027, 1, 4)
        loaded = load_schedule(store, _schedule(tmp_path), loaded_by="运维")
        assert (loaded.year, loaded.holidays, loaded.workdays, loaded.replaced) == (2027, 7, 1, False)
    finally:
        store.dispose()
    other = open_store(store_url)  # another process sees the loaded year: it lives in the store
    try:
        calendar = WorkCalendar.from_store(other)
        after = add_working_days(date(2026, 12, 30), 3, calendar)
        assert after.estimated is False and after.due == date(2027, 1, 5)  # 31 Dec, 4 Jan, 5 Jan (1 Jan off)
        assert add_working_days(date(2027, 2, 4), 1, calendar).due == date(2027, 2, 15)
        assert add_working_days(date(2027, 2, 19), 1, calendar).due == date(2027, 2, 20)  # worked Saturday
        assert calendar.source(2027) == "official" and calendar.source(2026) == "chinesecalendar"
        # loading the year again replaces it (an official correction), it does not add to it
        fixed = load_schedule(other, _schedule(tmp_path, "date,kind,name\n2027-01-01,holiday,元旦\n"), loaded_by="运维")
        assert fixed.replaced and fixed.holidays == 1
        assert add_working_days(date(2027, 2, 4), 1, WorkCalendar.from_store(other)).due == date(2027, 2, 5)
    finally:
        other.dispose()


def test_the_shipped_example_is_2026_exactly_as_chinesecalendar_has_it(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    try:
        load_schedule(store, EXAMPLES / "work-calendar-2026.csv", loaded_by="运维")
        calendar = WorkCalendar.from_store(store)
        assert calendar.source(2026) == "official"
        day = date(2026, 1, 1)
        while day.year == 2026:
            assert calendar.is_workday(day) == chinese_calendar.is_workday(day), day
            day += timedelta(days=1)
    finally:
        store.dispose()


@pytest.mark.parametrize(("text", "message"), [
    ("day,kind\n2027-01-01,holiday\n", "missing column(s) date"),
    ("date,kind\n2027-13-01,holiday\n", "row 2, column 'date': not a date"),
    ("date,kind\n2027-01-01,vacation\n", "row 2, column 'kind': expected holiday"),
    ("date,kind\n2027-01-01,holiday\n2027-01-04,workday\n", "row 3, column 'kind': 2027-01-04 is a weekday"),
    ("date,kind\n2027-01-01,holiday\n2027-01-01,holiday\n", "row 3, column 'date': 2027-01-01 is already listed in row 2"),
    ("date,kind\n2027-01-01,holiday\n2028-01-03,holiday\n", "dates of several years (2027, 2028)"),
    ("date,kind\n", "no days listed"),
    ("date,kind\n2027-01-02,workday\n", "no holiday listed"),
])
def test_bad_schedule_files_are_refused_naming_the_cell_and_store_nothing(tmp_path: Path, text: str,
                                                                          message: str) -> None:
    path = _schedule(tmp_path, text)
    with pytest.raises(CalendarError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        parse_schedule(path)
    assert str(path) in str(caught.value)
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    try:
        with pytest.raises(CalendarError):
            load_schedule(store, path, loaded_by="运维")
        assert WorkCalendar.from_store(store).official == {}
    finally:
        store.dispose()


def test_chinese_kind_words_are_accepted(tmp_path: Path) -> None:
    year, days = parse_schedule(_schedule(tmp_path, "date,kind,name\n2027-01-01,休,元旦\n2027-02-20,班,春节\n"))
    assert year == 2027 and [(d.isoformat(), k) for d, k, _ in days] == [("2027-01-01", "holiday"), ("2027-02-20", "workday")]


@settings(max_examples=300, deadline=None)
@given(start=st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31)), days=st.integers(0, 40))
def test_the_due_date_is_the_nth_working_day_after_the_start(start: date, days: int) -> None:
    calendar = WorkCalendar()
    deadline = add_working_days(start, days, calendar)
    span = [start + timedelta(days=i) for i in range(1, (deadline.due - start).days + 1)]
    assert sum(calendar.is_workday(d) for d in span) == days
    assert days == 0 and deadline.due == start or calendar.is_workday(deadline.due)
    assert deadline.estimated == any(y > 2026 for y in range(start.year, deadline.due.year + 1))
