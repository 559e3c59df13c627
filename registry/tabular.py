"""Reading and writing the registry's tables as CSV (UTF-8, header row) or XLSX (first sheet).

Every cell is read as text: a certificate number or a leading-zero code must never become a float.
Row numbers are as a person sees them in a spreadsheet: the header is row 1, the first record row 2.
"""

from __future__ import annotations

from collections.abc import Sequence
import zipfile
from pathlib import Path

import pandas as pd

FORMATS = (".csv", ".xlsx")


class TableError(ValueError):
    """The file as a whole cannot be read: missing, wrong format, unreadable, missing columns."""


def table_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise TableError(f"{path}: unsupported file type {suffix or '(none)'!r}; use .csv or .xlsx")
    return suffix


def read_table(path: str | Path, required: Sequence[str], optional: Sequence[str]) -> pd.DataFrame:
    """The file's known columns as strings ('' for empty cells), indexed by spreadsheet row number.

    Extra columns are ignored; a missing required column is an error naming it.
    """
    path = Path(path)
    fmt = table_format(path)
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    try:
        if fmt == ".csv":
            frame = pd.read_csv(
                path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skipinitialspace=False
            )
        else:
            frame = pd.read_excel(path, sheet_name=0, dtype=str, keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise TableError(f"{path}: not UTF-8 text (byte {exc.start}); save the CSV as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise TableError(f"{path}: the file is empty (a header row is required)") from None
    except pd.errors.ParserError as exc:
        raise TableError(f"{path}: not a well-formed CSV file: {exc}") from None
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as exc:  # a damaged workbook
        raise TableError(f"{path}: cannot read the workbook: {exc}") from None
    frame.columns = [str(column).strip().lstrip("\ufeff") for column in frame.columns]
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise TableError(
            f"{path}: missing required column{'s' if len(missing) > 1 else ''} "
            + ", ".join(repr(column) for column in missing)
            + f" (found: {', '.join(frame.columns) or 'none'})"
        )
    known = [column for column in (*required, *optional) if column in frame.columns]
    frame = frame[known].copy()
    for column in (*required, *optional):
        if column not in frame.columns:
            frame[column] = ""
    frame = frame.fillna("").astype(str)
    for column in frame.columns:
        frame[column] = frame[column].str.strip()
    frame.index = pd.RangeIndex(2, len(frame) + 2, name="row")
    return frame


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame to .csv (UTF-8 with BOM, so spreadsheet programs read the Chinese) or .xlsx."""
    path = Path(path)
    fmt = table_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == ".csv":
        frame.to_csv(path, index=False, encoding="utf-8-sig")
    else:
        frame.to_excel(path, index=False, engine="openpyxl")
    return path
