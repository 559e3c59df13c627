"""Importing the registry: every error path, all-or-nothing, --skip-invalid, idempotence, masking."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from registry.importer import COLUMNS, ImportRejected
from icpwatch.dbkit import schema_differences
from registry.models import Base
from registry.store import Store, open_store
from registry.tabular import TableError
from tests.registry.helpers import EXAMPLES, load, load_examples, snapshot, table, write_csv

FILING_HEADER = ",".join([*COLUMNS["filings"][0], *COLUMNS["filings"][1]])
GOOD_FILING = "京ICP备2023000100号-1,北京测试科技有限公司,单位,北京,测试站,test-site.cn,203.0.113.50,HUAYUN,filed,,,,,,"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = open_store(store_url)
    yield store
    store.dispose()


@pytest.fixture
def loaded(store: Store) -> Store:
    load_examples(store)
    return store


def test_examples_load_on_both_stores(store: Store) -> None:
    results = load_examples(store)
    assert schema_differences(store.engine, Base.metadata) == []  # indexes deferred during the load are back
    assert {kind: r.inserted for kind, r in results.items()} == {
        "providers": 4, "ip-ranges": 4, "domains": 4, "blacklist": 3, "filings": 7}
    websites = table(store, "websites")
    assert len(websites) == 7
    assert set(table(store, "website_domains")["independent_domain"]) >= {"qinghe-media.cn", "qinghe-media.com.cn"}
    assert len(table(store, "subjects")) == 6  # two websites share one subject
    access = table(store, "access_records")
    assert sorted(access["provider_code"]) == ["HUAYUN", "HUAYUN", "HUAYUN", "HUAYUN", "HUAYUN-GD", "HUAYUN-ZJ",
                                               "XINGHE", "XINGHE"]


def test_reimporting_the_same_files_changes_nothing(loaded: Store) -> None:
    before = snapshot(loaded)
    again = load_examples(loaded)
    assert all(r.inserted == 0 and r.updated == 0 for r in again.values())
    assert again["filings"].unchanged == 7
    assert snapshot(loaded) == before


def test_a_changed_row_is_updated_and_its_children_replaced(loaded: Store, tmp_path: Path) -> None:
    frame = pd.read_csv(EXAMPLES / "filings.csv", dtype=str, keep_default_na=False)
    frame.loc[0, "website_name"] = "青禾文化（新）"
    frame.loc[1, "domains"] = "qinghe-books.cn;qinghe-books.com"
    path = tmp_path / "changed.csv"
    frame.to_csv(path, index=False)
    result = load(loaded, "filings", path)
    assert (result.inserted, result.updated, result.unchanged) == (0, 2, 5)
    domains = table(loaded, "website_domains")
    assert "qinghe-books.com" in set(domains["domain"])
    assert "青禾文化（新）" in set(table(loaded, "websites")["name"])


def test_new_and_known_rows_in_one_file(loaded: Store, tmp_path: Path) -> None:
    frame = pd.read_csv(EXAMPLES / "filings.csv", dtype=str, keep_default_na=False)
    extra = dict(zip(FILING_HEADER.split(","), GOOD_FILING.split(",")))
    path = tmp_path / "more.csv"
    pd.concat([frame, pd.DataFrame([extra])]).to_csv(path, index=False)
    result = load(loaded, "filings", path)
    assert (result.inserted, result.updated, result.unchanged) == (1, 0, 7)


def test_xlsx_import(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "providers.xlsx"
    pd.read_csv(EXAMPLES / "providers.csv", dtype=str, keep_default_na=False).to_excel(path, index=False)
    assert load(store, "providers", path).inserted == 4


def test_confidential_values_are_not_stored_in_plain_text(loaded: Store) -> None:
    with loaded.engine.connect() as connection:
        dump = "\n".join(
            str(row) for name in ("subjects", "websites", "blacklist")
            for row in connection.exec_driver_sql(f"SELECT * FROM {name}")
        )
    for secret in ("13812345678", "110101199003071234", "91110105MA01ABCD2X", "91440300MA5FAKE00Z"):
        assert secret not in dump


# --- whole-file errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("filings.txt", b"x", "unsupported file type '.txt'"),
        ("empty.csv", b"", "the file is empty"),
        ("gbk.csv", "code,name,province\nA,华云,北京\n".encode("gbk"), "not UTF-8"),
        ("missing.csv", "code,name\nA,B\n".encode(), "missing required column 'province'"),
        ("ragged.csv", b'code,name,province\nA,"unterminated,x\n', "not a well-formed CSV"),
        ("broken.xlsx", b"PK\x03\x04 not really a workbook", "cannot read the workbook"),
    ],
)
def test_whole_file_errors_name_the_problem(store: Store, tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TableError, match=message):
        load(store, "providers", path)


def test_missing_file(store: Store, tmp_path: Path) -> None:
    with pytest.raises(TableError, match="no such file"):
        load(store, "providers", tmp_path / "nope.csv")


def test_xlsx_missing_column_is_named(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "providers.xlsx"
    pd.DataFrame({"code": ["A"], "province": ["北京"]}).to_excel(path, index=False)
    with pytest.raises(TableError, match="missing required column 'name'"):
        load(store, "providers", path)
    assert zipfile.is_zipfile(path)


# --- row errors: each names row, column and reason ----------------------------------------------

ROW_CASES = [
    # (kind, header, row, column, reason fragment)
    ("providers", "code,name,province", ",名,北京", "code", "required value is empty"),
    ("providers", "code,name,province", "X,名,火星", "province", "not a province"),
    ("providers", "code,name,province,parent_code", "X,名,北京,NOPE", "parent_code", "unknown group company"),
    ("providers", "code,name,province,parent_code", "X,名,北京,X", "parent_code", "its own group company"),
    ("providers", "code,name,province", "HUAYUN,名,北京\nHUAYUN,名,北京", "code", "duplicate provider code"),
    ("ip-ranges", "cidr,unit", "300.1.2.0/24,U", "cidr", "not a CIDR block"),
    ("ip-ranges", "cidr,unit", "10.0.0.1/24,U", "cidr", "has host bits set"),
    ("ip-ranges", "cidr,unit", "0.0.0.0/4,U", "cidr", "larger than any real allocation"),
    ("ip-ranges", "cidr,unit,user", "192.0.2.0/24,U,NOPE", "user", "unknown provider code"),
    ("ip-ranges", "cidr,unit,reported_on", "192.0.2.0/24,U,2024-13-01", "reported_on", "not a date"),
    ("ip-ranges", "cidr,unit", "192.0.2.0/24,", "unit", "required value is empty"),
    ("domains", "domain,registrar", "com.cn,R", "domain", "public suffix"),
    ("domains", "domain,registrar", "192.0.2.1,R", "domain", "is an IP address"),
    ("domains", "domain,registrar", "bad_label!.cn,R", "domain", "not allowed in a host name"),
    ("domains", "domain,registrar", "a.cn,R\nA.CN.,R", "domain", "duplicate domain"),
    ("blacklist", "kind,value", "person,x", "kind", "must be subject or domain"),
    ("blacklist", "kind,value", "domain,not a domain", "value", ""),
]


@pytest.mark.parametrize(("kind", "header", "rows", "column", "reason"), ROW_CASES)
def test_row_errors_name_row_column_and_reason(
    loaded: Store, tmp_path: Path, kind: str, header: str, rows: str, column: str, reason: str
) -> None:
    path = write_csv(tmp_path / f"{kind}.csv", header, *rows.split("\n"))
    before = snapshot(loaded)
    with pytest.raises(ImportRejected) as caught:
        load(loaded, kind, path)
    errors = caught.value.errors
    assert any(e.column == column and reason.lower() in e.reason.lower() for e in errors), errors
    assert all(e.row >= 2 and e.file == str(path) for e in errors)
    assert str(path) in str(caught.value) and "nothing was imported" in str(caught.value)
    assert snapshot(loaded) == before


FILING_CASES = [
    ("website_number", "京ICP备2023000100号", "subject number"),
    ("website_number", "粤ICP备2023000100号-2A", "app filing"),
    ("website_number", "京ICP备00000000号-1", "placeholder"),
    ("website_number", "萌ICP备2023000100号-1", ""),
    ("website_number", "京公网安备11010802020000号", "public security"),
    ("subject_province", "广东", "a 北京 number"),
    ("subject_type", "外星人", "单位 or 个人"),
    ("website_name", "", "required value is empty"),
    ("domains", "192.0.2.7", "is an IP address"),
    ("domains", "gov.cn", "public suffix"),
    ("domains", "qinghe-media.cn", "already filed under 京ICP备2021000001号-1"),
    ("ips", "999.1.1.1", "not an IP address"),
    ("providers", "NOBODY", "unknown provider code"),
    ("status", "maybe", "filed or cancelled"),
    ("licence_number", "京ICP备2023000100号-1", "not an operating licence"),
    ("contact_phone", "138****5678", "masked"),
    ("contact_phone", "call me", "not a phone number"),
    ("contact_id", "12345", "resident ID"),
    ("subject_certificate", "!!", "certificate number"),
]


@pytest.mark.parametrize(("column", "value", "reason"), FILING_CASES)
def test_filing_row_errors(loaded: Store, tmp_path: Path, column: str, value: str, reason: str) -> None:
    row = dict(zip(FILING_HEADER.split(","), GOOD_FILING.split(",")))
    row[column] = value
    frame = pd.DataFrame([row])
    path = tmp_path / "filings.csv"
    frame.to_csv(path, index=False)
    before = snapshot(loaded)
    with pytest.raises(ImportRejected) as caught:
        load(loaded, "filings", path)
    errors = [e for e in caught.value.errors if e.column == column]
    assert errors and any(reason.lower() in e.reason.lower() for e in errors), caught.value.errors
    assert errors[0].row == 2
    assert snapshot(loaded) == before


def test_filing_without_domain_or_address(loaded: Store, tmp_path: Path) -> None:
    row = GOOD_FILING.replace("test-site.cn,203.0.113.50", ",")
    path = write_csv(tmp_path / "f.csv", FILING_HEADER, row)
    with pytest.raises(ImportRejected, match="at least one domain"):
        load(loaded, "filings", path)


def test_filed_by_ip_alone_is_accepted(loaded: Store, tmp_path: Path) -> None:
    row = GOOD_FILING.replace("test-site.cn,", ",")
    path = write_csv(tmp_path / "f.csv", FILING_HEADER, row)
    assert load(loaded, "filings", path).inserted == 1


def test_duplicates_within_a_file(loaded: Store, tmp_path: Path) -> None:
    second = GOOD_FILING.replace("号-1,", "号-2,").replace("测试站", "测试站二")
    third = GOOD_FILING.replace("号-1,", "号-3,").replace("test-site.cn", "other-site.cn").replace("北京测试科技有限公司", "别的名字")
    path = write_csv(tmp_path / "f.csv", FILING_HEADER, GOOD_FILING, GOOD_FILING, second, third)
    with pytest.raises(ImportRejected) as caught:
        load(loaded, "filings", path)
    reasons = {(e.row, e.column): e.reason for e in caught.value.errors}
    assert "duplicate website number: already in row 2" in reasons[(3, "website_number")]
    assert "also listed in row 2" in reasons[(4, "domains")]
    assert "described differently in row 2" in reasons[(5, "subject_name")]


def test_skip_invalid_loads_good_rows_and_reports_bad_ones_masked(loaded: Store, tmp_path: Path) -> None:
    bad = GOOD_FILING.replace("号-1,", "号-2,").replace("test-site.cn", "qinghe-media.cn") + ""
    bad = bad.rsplit(",", 3)[0] + ",张三,13900001234,110101199001011234"
    path = write_csv(tmp_path / "f.csv", FILING_HEADER, GOOD_FILING, bad)
    report = tmp_path / "rejected.csv"
    result = load(loaded, "filings", path, skip_invalid=True, report_path=report)
    assert (result.inserted, result.rejected) == (1, 1)
    assert result.report == str(report)
    text = report.read_text(encoding="utf-8-sig")
    assert "already filed under" in text and "139****1234" in text
    assert "13900001234" not in text and "110101199001011234" not in text
    assert "13900001234" not in " ".join(str(e) for e in result.errors)
    assert "京ICP备2023000100号-1" in set(table(loaded, "websites")["website_number"])


def test_rejection_message_masks_confidential_values(loaded: Store, tmp_path: Path) -> None:
    row = GOOD_FILING.rsplit(",", 3)[0] + ",张三,13900001234,11010119900101123"  # 17 characters: invalid
    path = write_csv(tmp_path / "f.csv", FILING_HEADER, row)
    with pytest.raises(ImportRejected) as caught:
        load(loaded, "filings", path)
    assert "11010119900101123" not in str(caught.value)
    assert "1101" in str(caught.value)  # masked, not dropped: the analyst can still find the row


def test_a_domain_may_move_between_filings_in_one_file(loaded: Store, tmp_path: Path) -> None:
    frame = pd.read_csv(EXAMPLES / "filings.csv", dtype=str, keep_default_na=False)
    frame.loc[0, "domains"] = "qinghe-media.cn"
    frame.loc[1, "domains"] = "qinghe-books.cn;qinghe-media.com.cn"
    path = tmp_path / "moved.csv"
    frame.to_csv(path, index=False)
    result = load(loaded, "filings", path)
    assert result.updated == 2
    domains = table(loaded, "website_domains")
    websites = table(loaded, "websites").set_index("id")["website_number"]
    owner = domains.set_index("domain")["website_id"].map(websites)
    assert owner["qinghe-media.com.cn"] == "京ICP备2021000001号-2"


def test_parallel_validation_gives_the_same_result(loaded: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large files are validated by worker processes in chunks; errors keep their rows."""
    from registry import filings_import

    monkeypatch.setattr(filings_import, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(filings_import, "CHUNK_ROWS", 2)
    frame = pd.read_csv(EXAMPLES / "filings.csv", dtype=str, keep_default_na=False)
    frame.loc[4, "contact_phone"] = "not a phone"
    frame.loc[6, "website_number"] = frame.loc[0, "website_number"]
    path = tmp_path / "parallel.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ImportRejected) as caught:
        load(loaded, "filings", path)
    found = {(e.row, e.column) for e in caught.value.errors}
    assert {(6, "contact_phone"), (8, "website_number")} <= found
    assert {row for row, _ in found} == {6, 8}
    assert load(loaded, "filings", EXAMPLES / "filings.csv").unchanged == 7
