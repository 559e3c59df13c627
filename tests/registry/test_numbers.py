"""Tests for registry.numbers: the filing-number grammar of DESIGN.md §2 "Filing marks"."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.numbers import (
    PROVINCES,
    FilingMark,
    InvalidFilingNumber,
    MarkKind,
    find_marks,
    normalize_text,
    parse_number,
)

W, S, A, L, T, P = (MarkKind.WEBSITE_FILING, MarkKind.SUBJECT_FILING, MarkKind.APP_FILING,
                    MarkKind.LICENCE, MarkKind.TELECOM_LICENCE, MarkKind.PUBLIC_SECURITY)

# (as written on a real page, canonical form, kind, province, subject number, site sequence)
VALID = [
    # the plain forms of DESIGN.md §2
    ("京ICP备2021000001号-3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ICP备2021000001号", "京ICP备2021000001号", S, "京", "2021000001", None),
    ("粤ICP备2023000001号-2A", "粤ICP备2023000001号-2A", A, "粤", "2023000001", 2),
    ("粤ICP备2023000001号-1X", "粤ICP备2023000001号-1X", A, "粤", "2023000001", 1),
    ("京ICP证030173号", "京ICP证030173号", L, "京", "030173", None),
    ("粤B2-20090059", "粤B2-20090059", T, "粤", None, None),
    ("京公网安备11010802020000号", "京公网安备11010802020000号", P, "京", None, None),
    # spaces, line breaks, tabs, non-breaking and ideographic spaces between the parts
    ("京 ICP 备 2021000001 号 - 3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ICP备\n2021000001号-3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京\tICP\t备\t2021000001\t号\t-\t3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ICP备\u00a02021000001号\u00a0-\u00a03", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ICP备&nbsp;2021000001号-3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ICP备\u30002021000001号", "京ICP备2021000001号", S, "京", "2021000001", None),
    ("  京ICP备2021000001号-3  ", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ICP备 2021 000001号", "京ICP备2021000001号", S, "京", "2021000001", None),
    # zero-width characters and soft hyphens
    ("京\u200bICP备2021000001号-3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ICP\u200c备2021\u200d000001号\u2060-3\ufeff", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ICP备2021000001\u00ad号-3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    # full-width letters and digits, lower case icp
    ("京ＩＣＰ备２０２１０００００１号－３", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ｉｃｐ备２０２１０００００１号", "京ICP备2021000001号", S, "京", "2021000001", None),
    ("京icp备2021000001号-3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("浙Icp备19012345号-1", "浙ICP备19012345号-1", W, "浙", "19012345", 1),
    # traditional characters
    ("京ICP備2021000001號-3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("粵ICP備13004579號-1", "粤ICP备13004579号-1", W, "粤", "13004579", 1),
    ("滬ICP備10017894號", "沪ICP备10017894号", S, "沪", "10017894", None),
    ("京ICP証030173號", "京ICP证030173号", L, "京", "030173", None),
    ("京ICP證030173號", "京ICP证030173号", L, "京", "030173", None),
    ("京公網安備11010802020000號", "京公网安备11010802020000号", P, "京", None, None),
    # HTML entities
    ("&#20140;ICP&#22791;2021000001&#21495;-3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("&#x4eac;ICP&#x5907;2021000001&#x53f7;", "京ICP备2021000001号", S, "京", "2021000001", None),
    ("京ICP备2021000001号&#8209;3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ICP备2021000001号&ndash;3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    # the site suffix before 号, and 号 left out
    ("京ICP备12345679-2号", "京ICP备12345679号-2", W, "京", "12345679", 2),
    ("京ICP备2021000001 - 2 号", "京ICP备2021000001号-2", W, "京", "2021000001", 2),
    ("京ICP备2021000001-3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ICP备2021000001", "京ICP备2021000001号", S, "京", "2021000001", None),
    ("粤ICP备2023000001-2A号", "粤ICP备2023000001号-2A", A, "粤", "2023000001", 2),
    # hyphen variants
    ("京ICP备2021000001号－3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ICP备2021000001号—3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ICP备2021000001号–3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ICP备2021000001号‐3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ICP备2021000001号−3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("京ICP备2021000001号-03", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    # labels
    ("备案号：京ICP备2021000001号-3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("ICP备案号:京ICP备2021000001号-3", "京ICP备2021000001号-3", W, "京", "2021000001", 3),
    ("ICP备案号： 苏ICP备12006512号-4", "苏ICP备12006512号-4", W, "苏", "12006512", 4),
    ("网站备案号：浙ICP备19012345号", "浙ICP备19012345号", S, "浙", "19012345", None),
    ("备案号 鲁ICP备2022009876号-1", "鲁ICP备2022009876号-1", W, "鲁", "2022009876", 1),
    ("ICP证：京ICP证030173号", "京ICP证030173号", L, "京", "030173", None),
    ("京ICP证：030173号", "京ICP证030173号", L, "京", "030173", None),
    ("京ICP备：2021000001号", "京ICP备2021000001号", S, "京", "2021000001", None),
    ("经营许可证编号：粤B2-20090059", "粤B2-20090059", T, "粤", None, None),
    ("沪ICP证：沪B2-20080012", "沪B2-20080012", T, "沪", None, None),
    # old 8-digit and year-style 10-digit subjects, every sort of prefix
    ("京ICP备05012345号", "京ICP备05012345号", S, "京", "05012345", None),
    ("京ICP备10036305号-7", "京ICP备10036305号-7", W, "京", "10036305", 7),
    ("黔ICP备2021004321号-1", "黔ICP备2021004321号-1", W, "黔", "2021004321", 1),
    ("滇ICP备2020008765号-2", "滇ICP备2020008765号-2", W, "滇", "2020008765", 2),
    ("蜀ICP备2021031234号-1", "蜀ICP备2021031234号-1", W, "蜀", "2021031234", 1),
    ("陇ICP备2022000123号-1", "陇ICP备2022000123号-1", W, "陇", "2022000123", 1),
    ("新ICP备2023000456号", "新ICP备2023000456号", S, "新", "2023000456", None),
    ("蒙ICP备07001234号-12", "蒙ICP备07001234号-12", W, "蒙", "07001234", 12),
    ("川ICP备2021031234号-105", "川ICP备2021031234号-105", W, "川", "2021031234", 105),
    ("闽ICP备2021xxxxxx号", "闽ICP备2021XXXXXX号", S, "闽", "2021XXXXXX", None),
    # licences
    ("京ICP证 030173号", "京ICP证030173号", L, "京", "030173", None),
    ("京ICP证000007号", "京ICP证000007号", L, "京", "000007", None),
    ("粤ICP证120236", "粤ICP证120236号", L, "粤", "120236", None),
    # telecom licences, provincial and national (no prefix)
    ("京B2-20090059", "京B2-20090059", T, "京", None, None),
    ("粤B2－20090059", "粤B2-20090059", T, "粤", None, None),
    ("粤Ｂ２－２００９００５９", "粤B2-20090059", T, "粤", None, None),
    ("B1.B2-20190001", "B1.B2-20190001", T, None, None, None),
    ("B1、B2-20190001", "B1.B2-20190001", T, None, None, None),
    ("B2-20080224", "B2-20080224", T, None, None, None),
    ("浙B1.B2-20080224", "浙B1.B2-20080224", T, "浙", None, None),
    ("沪A2.B1.B2-20080012", "沪A2.B1.B2-20080012", T, "沪", None, None),
    # public security
    ("京公网安备 11010802020000号", "京公网安备11010802020000号", P, "京", None, None),
    ("沪公网安备31010402000253号", "沪公网安备31010402000253号", P, "沪", None, None),
    ("粤公网安备 44030502008569号", "粤公网安备44030502008569号", P, "粤", None, None),
    ("京公网安备：11010802020000", "京公网安备11010802020000号", P, "京", None, None),
]

# (as written, canonical form, kind, placeholder?, words the reason must contain)
NOT_VALID = [
    ("京ICP备00000000号", "京ICP备00000000号", S, True, "all zeros"),
    ("京ICP备0000000000号-1", "京ICP备0000000000号-1", W, True, "all zeros"),
    ("京ICP备12345678号", "京ICP备12345678号", S, True, "consecutive"),
    ("京ICP备123456789号-1", "京ICP备123456789号-1", W, True, "consecutive"),
    ("粤ICP备1234567890号-1", "粤ICP备1234567890号-1", W, True, "consecutive"),
    ("京ICP备88888888号", "京ICP备88888888号", S, True, "repeated"),
    ("沪ICP备1111111111号-1", "沪ICP备1111111111号-1", W, True, "repeated"),
    ("京ICP备XXXXXXXX号", "京ICP备XXXXXXXX号", S, True, "template"),
    ("京ICP备xxxxxxxx号-1", "京ICP备XXXXXXXX号-1", W, True, "template"),
    ("京ICP备********号", "京ICP备********号", S, True, "template"),
    ("XXXXXXXX号", "ICP备XXXXXXXX号", S, True, "template"),
    ("xxxxxxxx号", "ICP备XXXXXXXX号", S, True, "template"),
    ("备案号：xxxx", "ICP备XXXX号", S, True, "template"),
    ("ICP备案号：XXXXXXXX号", "ICP备XXXXXXXX号", S, True, "template"),
    ("ICP证：XXXXXX号", "ICP证XXXXXX号", L, True, "template"),
    ("京ICP证000000号", "京ICP证000000号", L, True, "all zeros"),
    ("京ICP证123456号", "京ICP证123456号", L, True, "consecutive"),
    ("粤B2-00000000", "粤B2-00000000", T, True, "all zeros"),
    ("京公网安备00000000000000号", "京公网安备00000000000000号", P, True, "all zeros"),
    ("京ICP备2021001号", "京ICP备2021001号", S, False, "7 digits"),
    ("京ICP备202100001号-1", "京ICP备202100001号-1", W, False, "9 digits"),
    ("京ICP备1921000001号", "京ICP备1921000001号", S, False, "year"),
    ("京ICP备2021000001号-0", "京ICP备2021000001号-0", W, False, "sequence 0"),
    ("京ICP证03017号", "京ICP证03017号", L, False, "5 digits"),
    ("京ICP证030173号-2A", "京ICP证030173号-2A", L, False, "app suffix"),
    ("粤B2-2009005", "粤B2-2009005", T, False, "7 digits"),
    ("B2-12349876", "B2-12349876", T, False, "year"),
    ("京公网安备1101080202000号", "京公网安备1101080202000号", P, False, "13 digits"),
    ("京公网安备44030502008569号", "京公网安备44030502008569号", P, False, "area code"),
]

# (not a mark at all, words the InvalidFilingNumber message must contain)
REJECTED = [
    ("", "empty"),
    ("   \u200b ", "empty"),
    ("萌ICP备20210001号", "萌"),
    ("使ICP备2021000001号", "licence-plate"),
    ("领ICP备2021000001号", "licence-plate"),
    ("贵ICP备2021000001号-1", "黔"),
    ("云ICP备2021000001号", "滇"),
    ("阿里云ICP备案", "阿里云"),
    ("港ICP备2021000001号", "not a province prefix"),
    ("ICP备2021000001号", "no province prefix"),
    ("公网安备11010802020000号", "no province prefix"),
    ("备案号：2021000001号-3", "bare number"),
    ("京ICP2021000001号", "expected 备 or 证"),
    ("京ICP备案", "no number"),
    ("京ICP备号", "no number"),
    ("京ICP备2021000001号-3 版权所有", "unexpected text"),
    ("北京ICP备2021000001号", "unexpected text '北'"),
    ("京ICP备2021000001号-12345", "unexpected text"),
    ("2021000001", "bare number"),
    ("hello world", "not a filing mark"),
    ("京A12345", "not a telecom licence"),
    ("使B2-20090059", "licence-plate"),
    ("贵B2-20090059", "黔"),
    ("B3-20090059", "not a filing mark"),
]


# --- parse_number ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, normalized, kind, province, subject_number, sequence", VALID)
def test_parse_valid_spellings(text, normalized, kind, province, subject_number, sequence):
    mark = parse_number(text)
    assert mark.normalized == normalized
    assert mark.kind is kind
    assert mark.province == province
    assert mark.province_name == (PROVINCES[province] if province else None)
    assert mark.subject_number == subject_number
    assert mark.site_sequence == sequence
    assert mark.text == text
    assert mark.span is None
    if "X" not in normalized:
        assert mark.valid, mark.reason
        assert mark.reason is None
        assert not mark.placeholder
    # the canonical form is a fixed point
    assert parse_number(mark.normalized).normalized == normalized


@pytest.mark.parametrize("text, normalized, kind, placeholder, reason", NOT_VALID)
def test_parse_marks_that_are_not_valid(text, normalized, kind, placeholder, reason):
    mark = parse_number(text)
    assert mark.normalized == normalized
    assert mark.kind is kind
    assert mark.placeholder is placeholder
    assert not mark.valid
    assert reason in mark.reason


@pytest.mark.parametrize("text, message", REJECTED)
def test_parse_rejects_lookalikes_precisely(text, message):
    with pytest.raises(InvalidFilingNumber) as excinfo:
        parse_number(text)
    assert message in str(excinfo.value)


def test_invalid_filing_number_is_a_value_error():
    with pytest.raises(ValueError):
        parse_number("萌ICP备20210001号")
    with pytest.raises(InvalidFilingNumber, match="expected a string"):
        parse_number(None)  # type: ignore[arg-type]


def test_table_sizes():
    # the brief asks for at least 60 real-world spellings
    assert len(VALID) + len(NOT_VALID) + len(REJECTED) >= 60
    assert len(VALID) >= 60


def test_template_with_year_is_placeholder():
    mark = parse_number("闽ICP备2021xxxxxx号")
    assert mark.placeholder and not mark.valid


@pytest.mark.parametrize("prefix", sorted(PROVINCES))
def test_every_province_prefix(prefix):
    mark = parse_number(f"{prefix}ICP备2021004321号-1")
    assert mark.valid and mark.province == prefix


def test_provinces_table():
    assert len(PROVINCES) == 33
    assert set("京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川黔滇藏陕甘青宁新蜀陇") == set(PROVINCES)
    assert PROVINCES["黔"] == "贵州" and PROVINCES["滇"] == "云南"
    assert PROVINCES["蜀"] == PROVINCES["川"] == "四川"
    assert PROVINCES["陇"] == PROVINCES["甘"] == "甘肃"
    assert "贵" not in PROVINCES and "云" not in PROVINCES
    with pytest.raises(TypeError):
        PROVINCES["贵"] = "贵州"  # type: ignore[index]


# --- the mark ----------------------------------------------------------------------------------

def test_properties_of_a_website_filing():
    mark = parse_number("京ICP备2021000001号-3")
    assert mark.is_icp
    assert mark.website_number == "京ICP备2021000001号-3"
    assert mark.subject == "京ICP备2021000001号"
    assert mark.app_suffix is None


def test_properties_of_other_kinds():
    subject = parse_number("京ICP备2021000001号")
    assert subject.is_icp and subject.website_number is None
    assert subject.subject == "京ICP备2021000001号"

    app = parse_number("粤ICP备2023000001号-2A")
    assert app.is_icp and app.website_number is None and app.app_suffix == "A"
    assert app.subject == "粤ICP备2023000001号"

    licence = parse_number("京ICP证030173号")
    assert licence.is_icp and licence.subject is None and licence.website_number is None

    for text in ("京公网安备11010802020000号", "粤B2-20090059"):
        other = parse_number(text)
        assert not other.is_icp
        assert other.subject is None and other.website_number is None


def test_to_dict_is_json_ready():
    mark = find_marks("页脚 京ICP备2021000001号-3")[0]
    data = json.loads(json.dumps(mark.to_dict(), ensure_ascii=False))
    assert data["kind"] == "website_filing"
    assert data["span"] == [3, 21]
    assert data["normalized"] == "京ICP备2021000001号-3"
    assert data["subject"] == "京ICP备2021000001号"
    assert data["is_icp"] is True
    assert data["valid"] is True and data["reason"] is None
    assert {f for f in FilingMark.__dataclass_fields__} <= set(data)


def test_mark_is_frozen_and_kind_is_a_string():
    mark = parse_number("京ICP备2021000001号-3")
    with pytest.raises(AttributeError):
        mark.valid = False  # type: ignore[misc]
    assert MarkKind.WEBSITE_FILING == "website_filing"
    assert MarkKind("public_security") is MarkKind.PUBLIC_SECURITY


# --- normalize_text ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("京ＩＣＰ备２０２１", "京ICP备2021"),
    ("京ICP備2021號", "京ICP备2021号"),
    ("京ICP証 京ICP證", "京ICP证 京ICP证"),
    ("京\u200bI\u200cC\u200dP\u2060备\ufeff", "京ICP备"),
    ("a\u00a0b&nbsp;c", "a b c"),
    ("&#20140;ICP&#22791;&amp;", "京ICP备&"),
    ("京icp备 Icp ICP", "京ICP备 ICP ICP"),
    ("topic page, epicpen", "topic page, epicpen"),  # icp inside a word stays
    ("粵ICP備", "粤ICP备"),
    ("", ""),
])
def test_normalize_text(text, expected):
    assert normalize_text(text) == expected


def test_normalize_text_is_idempotent_on_examples():
    for row in VALID:
        once = normalize_text(row[0])
        assert normalize_text(once) == once


# --- find_marks --------------------------------------------------------------------------------

FOOTER = (
    "关于我们 | 联系我们 | 隐私政策\n"
    "Copyright © 2013-2024 示例科技有限公司 版权所有\n"
    "本站云服务由阿里云ICP备案中心提供支持\n"
    "ICP备案号：京ICP备2021000001号-3  京公网安备 11010802020000号\n"
    "增值电信业务经营许可证：粤B2-20090059  京ICP证030173号\n"
    "地址：北京市海淀区 电话：010-12345678\n"
)


def test_footer_finds_every_mark_in_order():
    marks = find_marks(FOOTER)
    assert [m.normalized for m in marks] == [
        "京ICP备2021000001号-3",
        "京公网安备11010802020000号",
        "粤B2-20090059",
        "京ICP证030173号",
    ]
    assert [m.kind for m in marks] == [W, P, T, L]
    assert all(m.valid for m in marks)
    assert [m.is_icp for m in marks] == [True, False, False, True]
    for m in marks:
        assert FOOTER[m.span[0]:m.span[1]] == m.text


def test_aliyun_is_never_a_mark():
    for text in ("阿里云ICP备案", "欢迎使用阿里云ICP备案服务", "阿里云ICP备案系统 阿里云 ICP 备案",
                 "云ICP备2021000001号", "贵ICP备2021000001号-1", "萌ICP备20210001号"):
        assert find_marks(text) == [], text
    marks = find_marks("由阿里云ICP备案：浙ICP备19012345号-1")
    assert [m.normalized for m in marks] == ["浙ICP备19012345号-1"]


def test_public_security_alone_is_no_icp_mark():
    marks = find_marks("© 2024 某某网 京公网安备 11010802020000号")
    assert len(marks) == 1
    assert marks[0].kind is P and not marks[0].is_icp
    assert not any(m.is_icp for m in marks)


def test_phrases_without_numbers_are_not_marks():
    text = ("本站已完成ICP备案，备案号请见页脚。北京ICP备案管理系统。新ICP备案政策解读。"
            "公安备案号：xxxx 公网安备案号：XXXX 型号 B2 座，电话010-12345678，A1-B2 区")
    assert find_marks(text) == []


def test_placeholders_in_a_template_footer():
    text = "Copyright © 2024 公司名称  备案号：xxxx  京ICP备12345678号  粤ICP备XXXXXXXX号-1"
    marks = find_marks(text)
    assert [m.normalized for m in marks] == ["ICP备XXXX号", "京ICP备12345678号", "粤ICP备XXXXXXXX号-1"]
    assert all(m.placeholder and not m.valid for m in marks)
    for m in marks:
        assert text[m.span[0]:m.span[1]] == m.text


def test_adjacent_marks_without_separators():
    text = "京ICP备2021000001号-3京公网安备11010802020000号粤B2-20090059"
    marks = find_marks(text)
    assert [m.text for m in marks] == [
        "京ICP备2021000001号-3", "京公网安备11010802020000号", "粤B2-20090059"]
    assert [m.span for m in marks] == [(0, 18), (18, 38), (38, 50)]


def test_national_telecom_licence_needs_a_token_boundary():
    marks = find_marks("增值电信业务经营许可证：B1.B2-20190001；型号XB2-20190001；B2-20190001")
    assert [(m.normalized, m.span) for m in marks] == [
        ("B1.B2-20190001", (12, 26)), ("B2-20190001", (42, 53))]


def test_app_number_is_found_and_flagged_by_kind():
    marks = find_marks("小程序备案：粤ICP备2023000001号-2A 网站：粤ICP备2023000001号-1")
    assert [m.kind for m in marks] == [A, W]
    assert marks[0].website_number is None and marks[1].website_number == "粤ICP备2023000001号-1"
    assert marks[0].subject == marks[1].subject == "粤ICP备2023000001号"


def test_suffix_before_hao_is_found():
    text = "备案：京ICP备12345679-2号 联系我们"
    (mark,) = find_marks(text)
    assert mark.normalized == "京ICP备12345679号-2"
    assert mark.text == "京ICP备12345679-2号"


def test_a_year_after_the_number_is_not_a_site_sequence():
    text = "京ICP备2021000001号 - 2024 版权所有 | 沪ICP备10017894号-1999"
    marks = find_marks(text)
    assert [m.text for m in marks] == ["京ICP备2021000001号", "沪ICP备10017894号"]
    assert [m.site_sequence for m in marks] == [None, None]
    assert find_marks("京ICP备2021000001号-2100")[0].site_sequence == 2100


def test_public_security_template_is_not_an_icp_placeholder():
    with pytest.raises(InvalidFilingNumber):
        parse_number("公安备案号：xxxx")
    assert find_marks("公安备案号：xxxx 公网安备案号：XXXXXXXX") == []


def test_trailing_words_after_the_number_are_not_absorbed():
    text = "京ICP备2021000001号-3All rights reserved 京ICP备2021000001号 -Xbox"
    marks = find_marks(text)
    assert [m.text for m in marks] == ["京ICP备2021000001号", "京ICP备2021000001号"]


SPAN_CASES = [
    # (page text, the exact substring that is the mark)
    ("页脚 京 ICP 备 2021000001 号 - 3 结束", "京 ICP 备 2021000001 号 - 3"),
    ("页脚\n京ICP备\n  2021000001号-3\n", "京ICP备\n  2021000001号-3"),
    ("页脚 京ＩＣＰ备２０２１０００００１号－３ 结束", "京ＩＣＰ备２０２１０００００１号－３"),
    ("\u200b页脚\u200b 京\u200bICP\u200b备2021000001号\u200b-\u200b3\u200b 结束",
     "京\u200bICP\u200b备2021000001号\u200b-\u200b3"),
    ("&copy; 2024 &#20140;ICP&#22791;2021000001&#21495;-3 &amp; more",
     "&#20140;ICP&#22791;2021000001&#21495;-3"),
    ("&nbsp;&nbsp;京ICP备&nbsp;2021000001号&nbsp;-&nbsp;3&nbsp;",
     "京ICP备&nbsp;2021000001号&nbsp;-&nbsp;3"),
    ("A&amp;B 京ICP備2021000001號&#45;3&#8203;", "京ICP備2021000001號&#45;3"),
    ("前 京ICP备2021000001号-&#x33; 后", "京ICP备2021000001号-&#x33;"),
    ("&lt;footer&gt;京ICP备2021000001号-3&lt;/footer&gt;", "京ICP备2021000001号-3"),
]


@pytest.mark.parametrize("page, expected", SPAN_CASES)
def test_spans_point_into_the_original_text(page, expected):
    (mark,) = find_marks(page)
    start, end = mark.span
    assert page[start:end] == expected == mark.text
    assert start == page.index(expected)
    assert mark.normalized == "京ICP备2021000001号-3"
    assert mark.valid


def test_spans_are_sorted_and_disjoint():
    page = (FOOTER + "&nbsp;" + "沪\u200bICP备10017894号 ") * 5
    marks = find_marks(page)
    assert len(marks) == 25
    for a, b in zip(marks, marks[1:]):
        assert a.span[1] <= b.span[0]
    for m in marks:
        assert page[m.span[0]:m.span[1]] == m.text
        assert parse_number(m.text).normalized == m.normalized


def test_find_marks_on_empty_and_plain_text():
    assert find_marks("") == []
    assert find_marks("&") == []
    assert find_marks("\u200b\u200b") == []
    assert find_marks("no marks here at all, only A1 and B2 and 2021000001") == []


# --- properties --------------------------------------------------------------------------------

_DASHES = ["-", "－", "—", "–", "‐", "&#45;", "&ndash;"]
_GAPS = ["", " ", "\n", "\t", "\u00a0", "&nbsp;", "\u200b", " \n  "]


def _fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


@st.composite
def rendered_numbers(draw):
    """A real website number and one of the many ways a page may write it."""
    prov = draw(st.sampled_from(sorted(PROVINCES)))
    if draw(st.booleans()):
        subject = f"20{draw(st.integers(10, 25))}{draw(st.integers(1, 999999)):06d}"
    else:
        subject = f"{draw(st.integers(5, 19)):02d}{draw(st.integers(1, 999999)):06d}"
    seq = draw(st.integers(1, 999))
    canonical = f"{prov}ICP备{subject}号-{seq}"

    gap = lambda: draw(st.sampled_from(_GAPS))  # noqa: E731
    icp = draw(st.sampled_from(["ICP", "icp", "Icp", "ＩＣＰ", "ｉｃｐ"]))
    bei = draw(st.sampled_from(["备", "備", "&#22791;"]))
    hao = draw(st.sampled_from(["号", "號", "&#21495;"]))
    digits = _fullwidth(subject) if draw(st.booleans()) else subject
    seq_text = _fullwidth(str(seq)) if draw(st.booleans()) else str(seq)
    dash = draw(st.sampled_from(_DASHES))
    if draw(st.booleans()):
        prov_text = f"&#{ord(prov)};"
    else:
        prov_text = prov
    head = f"{prov_text}{gap()}{icp}{gap()}{bei}{gap()}{digits}{gap()}"
    if draw(st.booleans()):  # the site suffix before 号
        text = f"{head}{dash}{gap()}{seq_text}{gap()}{hao}"
    else:
        text = f"{head}{hao}{gap()}{dash}{gap()}{seq_text}"
    return canonical, text


@settings(max_examples=300, deadline=None)
@given(rendered_numbers())
def test_property_every_spelling_parses_to_the_canonical_form(case):
    canonical, text = case
    mark = parse_number(text)
    assert mark.normalized == canonical
    assert mark.kind is MarkKind.WEBSITE_FILING
    if not mark.placeholder:
        assert mark.valid, mark.reason


@settings(max_examples=300, deadline=None)
@given(rendered_numbers(), st.text(alphabet="版权所有公司。，|© 2024abc\n", max_size=20),
       st.text(alphabet="联系我们电话 |：\n", max_size=20))
def test_property_find_marks_finds_it_with_an_exact_span(case, before, after):
    canonical, text = case
    page = before + " " + text + " " + after
    marks = find_marks(page)
    assert [m.normalized for m in marks] == [canonical]
    start, end = marks[0].span
    assert start == len(before) + 1
    assert page[start:end] == text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_property_find_marks_never_crashes_and_spans_hold(page):
    for mark in find_marks(page):
        assert page[mark.span[0]:mark.span[1]] == mark.text


_FRAGMENTS = [
    "京ICP备2021000001号-3", "京 ICP 备 2021000001 号", "粤ICP備2023000001號-2A", "京ICP证030173号",
    "粤B2-20090059", "B1.B2-20190001", "京公网安备11010802020000号", "备案号：xxxx",
    "阿里云ICP备案", "贵ICP备2021000001号", "萌ICP备20210001号", "&nbsp;", "&amp;", "&#20140;",
    "\u200b", " ", "\n", "-", "号", "2024", "版权所有", "ICP", "京", "B2", "：", "x",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=25))
def test_property_every_found_mark_reparses_to_itself(fragments):
    page = "".join(fragments)
    marks = find_marks(page)
    for a, b in zip(marks, marks[1:]):
        assert a.span[1] <= b.span[0]
    for mark in marks:
        assert page[mark.span[0]:mark.span[1]] == mark.text
        again = parse_number(mark.text)
        assert (again.normalized, again.kind, again.valid) == (mark.normalized, mark.kind, mark.valid)
        assert mark.province not in ("贵", "云", "萌")


# --- speed -------------------------------------------------------------------------------------

def test_find_marks_on_a_megabyte_is_fast():
    body = (
        "欢迎访问我们的网站，我们提供专业的云计算、设备采购与技术服务。北京、上海、广州、深圳、"
        "新疆、宁夏、吉林均设有分公司。本站已完成ICP备案，阿里云ICP备案服务提供支持。"
        "Product B2 series, model A1 — see our catalogue &amp; price list. 电话：010-12345678。\n"
    )
    footer = "京ICP备2021000001号-3 京公网安备11010802020000号 粤B2-20090059\n"
    chunk = body * 20 + footer
    page = chunk * (1_000_000 // len(chunk) + 1)
    assert len(page) >= 1_000_000
    find_marks(page)  # warm-up: compile caches
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        marks = find_marks(page)
        best = min(best, time.perf_counter() - t0)
    repeats = page.count(footer)
    assert len(marks) == 3 * repeats
    assert best < 0.1, f"find_marks took {best * 1000:.0f} ms on {len(page)} characters"


@pytest.mark.parametrize("text,expected", [
    ("备案号：贵ICP备12345678号-1 版权所有", ["贵ICP备12345678号-1"]),
    ("萌ＩＣＰ備２０２１００１号", ["萌ICP备2021001号"]),
    ("京ICP备XXXXXXXX号", ["京ICP备XXXXXXXX号"]),
    ("阿里云ICP备案服务", []),
    ("京ICP备2021000001号-1", []),
    ("贵ICP备1234号 and 贵ICP备1234号", ["贵ICP备1234号"]),
])
def test_find_lookalikes(text: str, expected: list[str]) -> None:
    from registry.numbers import find_lookalikes

    assert find_lookalikes(text) == expected
