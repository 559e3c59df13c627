"""What every import kind shares: per-cell validation with errors that name file, row and column,
and the comparison of validated rows with the store that makes a re-import change nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Index, Table, bindparam, select, update

from registry.fields import FieldError
from registry.models import Provider
from registry.protection import mask_text, mask_value

CONFIDENTIAL = ("subject_certificate", "contact_phone", "contact_id")


@dataclass(frozen=True)
class RowError:
    file: str
    row: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        shown = f" (value {self.value!r})" if self.value else ""
        return f"{self.file}: row {self.row}, column {self.column!r}: {self.reason}{shown}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "row": self.row, "column": self.column, "value": self.value, "reason": self.reason}


class Checker:
    """Applies validators column by column and collects every error with its row."""

    def __init__(self, frame: pd.DataFrame, path: Path) -> None:
        self.frame = frame
        self.file = str(path)
        self.errors: list[RowError] = []

    def add(self, row: int, column: str, value: str, reason: str) -> None:
        shown = mask_value(column, value) if column in CONFIDENTIAL else mask_text(value)
        self.errors.append(RowError(self.file, int(row), column, shown, reason))

    def column(self, column: str, validate: Callable[[str], Any], *, required: bool = False) -> pd.Series:
        """The validated values (None where empty or invalid).

        Each distinct value is validated once (a province or a status column has a handful in a
        million rows), and the results are mapped back onto the rows in one pass.
        """
        values = self.frame[column]
        results: dict[str, Any] = {}
        reasons: dict[str, str] = {}
        for value in pd.unique(values.to_numpy()).tolist():
            if not value:
                continue
            try:
                results[value] = validate(value)
            except FieldError as exc:
                reasons[value] = str(exc)
        problems = (values == "") if required else pd.Series(False, index=values.index)
        if reasons:
            problems |= values.isin(reasons.keys())
        for row, value in values[problems.to_numpy()].items():
            self.add(row, column, value, reasons.get(value, "required value is empty"))
        return pd.Series(list(map(results.get, values.tolist())), index=self.frame.index, dtype=object)

    def listed(self, column: str, validate: Callable[[str], Any]) -> pd.Series:
        """A ';'-separated column: a list of validated values per row."""

        def each(value: str) -> list[Any]:
            items, reasons = [], []
            for part in value.replace("；", ";").split(";"):
                part = part.strip()
                if not part:
                    continue
                try:
                    items.append(validate(part))
                except FieldError as exc:
                    reasons.append(str(exc))
            if reasons:
                raise FieldError("; ".join(reasons))
            return items

        values = self.column(column, each).tolist()
        return pd.Series([items or [] for items in values], index=self.frame.index, dtype=object)

    def unique(self, column: str, keys: pd.Series, what: str) -> None:
        """Each key may appear once in the file; later repeats are errors naming the first row."""
        for row, _, first in repeats(keys):
            self.add(row, column, self.frame.at[row, column], f"duplicate {what}: already in row {first}")

    @property
    def bad_rows(self) -> set[int]:
        return {error.row for error in self.errors}


def repeats(keys: pd.Series) -> list[tuple[int, Any, int]]:
    """(row, key, first row with that key) for each row whose key an earlier row already has, in row
    order; missing keys never repeat. (pandas' hashing answers the common question — is there any
    repeat? — without a Python loop over a million keys.)"""
    present = keys.dropna()
    if not present.duplicated(keep="first").any():
        return []
    first: dict[Any, int] = {}
    found = []
    for row, key in zip(present.index.tolist(), present.tolist()):
        earlier = first.setdefault(key, row)
        if earlier != row:
            found.append((int(row), key, int(earlier)))
    return found


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def as_text(series: pd.Series) -> pd.Series:
    """Values as comparable text: None/NaN → '', dates → ISO, 3.0 → '3'."""
    if pd.api.types.is_float_dtype(series):  # integer ids turn float in a merge with unmatched rows
        series = series.astype("Int64")
    return series.astype(object).where(series.notna(), "").astype(str)


def read_existing(connection: Connection, table: Table, columns: Iterable[str]) -> pd.DataFrame:
    statement = select(*(table.c[name] for name in columns))
    result = connection.execute(statement)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


@dataclass
class MergePlan:
    insert: pd.DataFrame
    update: pd.DataFrame
    unchanged: int


def plan_merge(connection: Connection, table: Table, rows: pd.DataFrame, key: str, compare: list[str]) -> MergePlan:
    """Which rows are new, which differ from the store (by the ``compare`` columns), which are equal."""
    existing = read_existing(connection, table, ["id", key, *compare])
    if existing.empty:  # a first load: nothing to compare with
        return MergePlan(insert=rows, update=rows.iloc[:0].assign(id=pd.Series(dtype=int)), unchanged=0)
    merged = rows.merge(existing, on=key, how="left", suffixes=("", "__old"))
    known = merged["id"].notna()
    changed = pd.Series(False, index=merged.index)
    for column in compare:
        changed |= as_text(merged[column]) != as_text(merged[f"{column}__old"])
    updates = merged[known & changed]
    return MergePlan(
        insert=rows[~known.to_numpy()],
        update=updates[[*rows.columns, "id"]].assign(id=updates["id"].astype(int)),
        unchanged=int((known & ~changed).sum()),
    )


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with None (not NaN) for missing values."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _column_values(connection: Connection, table: Table, name: str, series: pd.Series) -> list[Any]:
    """One column as driver values: None for missing, bind-processed where the column type has a processor."""
    if pd.api.types.is_datetime64_any_dtype(series):  # pandas Timestamps are not driver types
        missing = series.isna().to_numpy()
        values = [None if gone else value for gone, value in zip(missing, series.dt.to_pydatetime())]
    else:
        values = series.tolist()
        if series.hasnans:  # NaN (which is not equal to itself) from a merge or a str column → None
            values = [None if value is None or value != value else value for value in values]
    dialect = connection.dialect
    process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return values
    try:
        # Processed columns (dates, times) repeat few values — one import time on every row — so
        # each distinct value is converted once.
        converted = {value: process(value) for value in set(values) if value is not None}
    except TypeError:  # unhashable values: one by one
        return [None if value is None else process(value) for value in values]
    return [None if value is None else converted[value] for value in values]


def insert_rows(connection: Connection, table: Table, names: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """INSERT ``rows`` (plain tuples of driver values, in ``names`` order) with one driver-level executemany.

    At a million rows SQLAlchemy's per-row parameter handling costs more than the database's own
    work, so the statement goes to the driver directly.
    """
    if not rows:
        return
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in names)}) "
        f"VALUES ({', '.join([marker] * len(names))})"
    )
    connection.exec_driver_sql(statement, rows)


def bulk_insert(connection: Connection, table: Table, frame: pd.DataFrame) -> None:
    """INSERT every row of ``frame`` (see ``insert_rows``); column types still convert values through
    their own bind processors (dates on SQLite, for one)."""
    if frame.empty:
        return
    names = list(frame.columns)
    columns = [_column_values(connection, table, name, frame[name]) for name in names]
    insert_rows(connection, table, names, list(zip(*columns)))


@contextmanager
def deferred_indexes(connection: Connection, tables: Iterable[Table]) -> Iterator[None]:
    """Load empty SQLite tables without their secondary indexes, then build the indexes once.

    Inserting a million rows keyed on random values (hashes, domains) into live B-tree indexes costs
    a page miss per row and index; building each index afterwards from sorted data is several times
    faster. Only tables that are empty are touched, only on SQLite, and all inside the caller's
    transaction: if the load fails, the indexes come back with the rollback.
    """
    dropped: list[Index] = []
    if connection.dialect.name == "sqlite":
        for table in tables:
            if connection.execute(select(table.c.id).limit(1)).first() is None:
                for index in table.indexes:
                    index.drop(connection)
                    dropped.append(index)
    yield
    for index in dropped:
        index.create(connection)


def apply_plan(connection: Connection, table: Table, plan: MergePlan) -> None:
    if len(plan.insert):
        bulk_insert(connection, table, plan.insert)
    if len(plan.update):
        values = {name: bindparam(f"v_{name}") for name in plan.update.columns if name != "id"}
        statement = update(table).where(table.c.id == bindparam("v_id")).values(values)
        connection.execute(statement, [{f"v_{k}": v for k, v in row.items()} for row in records(plan.update)])


def key_ids(connection: Connection, table: Table, key: str) -> dict[Any, int]:
    """``key → id`` for every row of ``table``, read as plain driver rows (a million of them: result
    objects would cost more than the query)."""
    quote = connection.dialect.identifier_preparer.quote
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"SELECT {quote(key)}, id FROM {quote(table.name)}")
        return dict(cursor.fetchall())
    finally:
        cursor.close()


def provider_codes(connection: Connection) -> set[str]:
    return set(connection.execute(select(Provider.code)).scalars())


