"""The Chinese names the documents use for rules, articles, parties and provinces.

Templates hold the sentences; this module holds only the names that follow from the rule table
(``monitor.rules.RULES``) and the regulation's numbering, so a code or an article is written the
same way in every document and every format.
"""

from __future__ import annotations

import re

from registry.numbers import PROVINCES

#: rule code → what the documents call it
RULE_NAMES: dict[str, str] = {
    "UNFILED_SITE": "接入未备案网站",
    "CANCELLED_STILL_SERVED": "备案已注销仍在接入",
    "BLACKLISTED_SERVED": "接入黑名单主体或域名",
    "UNFILED_REDIRECT": "域名跳转至未备案网站",
    "UNFILED_RESOLVED": "未备案域名解析至境内地址",
    "NUMBER_MISMATCH": "展示的备案号与网站备案信息不符",
    "ACCESS_NOT_RECORDED": "接入信息未在备案中登记",
    "NUMBER_NOT_DISPLAYED": "未展示备案号",
    "NUMBER_MISPLACED": "备案号未在首页底部中间位置展示",
    "LINK_MISSING": "备案号下方未链接备案管理系统",
    "CONTACT_MISSING": "首页未公布联系方式",
    "LICENCE_MISMATCH": "经营许可证展示不符",
    "PREAPPROVAL_SUSPECTED": "疑似涉及前置审批内容",
    "IP_UNREPORTED": "IP地址未报备",
}

#: the findings a notice of unfiled sites lists: a site that must stop being served (provider) or
#: a domain that must stop resolving or redirecting to one (domain filing unit)
UNFILED_CODES = ("UNFILED_SITE", "CANCELLED_STILL_SERVED", "BLACKLISTED_SERVED", "UNFILED_REDIRECT",
                 "UNFILED_RESOLVED")
#: 备案信息不准确 (art. 42): the findings the accuracy rate counts
INACCURATE_CODES = ("NUMBER_MISMATCH", "ACCESS_NOT_RECORDED")
#: the display duty of art. 14(3) as the filing-display compliance rate counts it
DISPLAY_CODES = ("NUMBER_NOT_DISPLAYED", "NUMBER_MISPLACED", "LINK_MISSING")

#: what the responsible party must do about a finding of each unfiled code
ACTIONS: dict[str, str] = {
    "UNFILED_SITE": "停止接入",
    "CANCELLED_STILL_SERVED": "停止接入",
    "BLACKLISTED_SERVED": "停止接入",
    "UNFILED_REDIRECT": "停止该域名的跳转与解析",
    "UNFILED_RESOLVED": "停止解析",
    "NUMBER_MISMATCH": "核实并更正备案信息",
    "ACCESS_NOT_RECORDED": "补报或更正接入信息",
}

PARTY_KINDS: dict[str, str] = {
    "provider": "接入提供者",
    "registrar": "域名备案单位",
    "host": "网站主办者",
    "analyst": "待核定",
}

#: art. 43: the sanction each threshold brings the first time a cycle's total reaches it
SANCTIONS: dict[int, str] = {
    40: "发出整改通知书并约谈负责人，考虑暂停新增接入资源（第四十三条第（一）项）",
    60: "行政处罚、向社会公告、强制培训、业务整改（第四十三条第（二）项）",
    80: "责令整改，暂停报备接口，续签协议须经通信管理部门批准（第四十三条第（三）项）",
}

_DIGITS = "零一二三四五六七八九"
_MUNICIPALITIES = ("北京", "天津", "上海", "重庆")
_REGIONS = {"内蒙古": "内蒙古自治区", "广西": "广西壮族自治区", "西藏": "西藏自治区", "宁夏": "宁夏回族自治区",
            "新疆": "新疆维吾尔自治区"}
_ABBREVIATIONS = {name: abbr for abbr, name in PROVINCES.items() if abbr not in ("蜀", "陇")}


def chinese_number(n: int) -> str:
    """1 → 一, 12 → 十二, 41 → 四十一, 100 → 一百 (article and item numbers; 1–999)."""
    if not 0 < n < 1000:
        return str(n)
    hundreds, rest = divmod(n, 100)
    tens, ones = divmod(rest, 10)
    out = f"{_DIGITS[hundreds]}百" if hundreds else ""
    if tens:
        out += ("" if tens == 1 and not hundreds else _DIGITS[tens]) + "十"
    elif hundreds and ones:
        out += "零"
    if ones:
        out += _DIGITS[ones]
    return out


_ARTICLE = re.compile(r"^\s*(\d+)(?:\((\d+)\))?\s*$")


def article_text(article: str) -> str:
    """``"12(2), 41"`` → ``第十二条第（二）项、第四十一条`` (the rule table's notation)."""
    parts = []
    for piece in (article or "").split(","):
        match = _ARTICLE.match(piece)
        if match is None:
            if piece.strip():
                parts.append(piece.strip())
            continue
        text = f"第{chinese_number(int(match[1]))}条"
        if match[2] and int(match[2]) > 20:  # "44(41)": art. 44 applying art. 41 (the ledger's notation)
            text += f"（参照第{chinese_number(int(match[2]))}条）"
        elif match[2]:
            text += f"第（{chinese_number(int(match[2]))}）项"
        parts.append(text)
    return "、".join(parts)


def province_name(value: str | None) -> str:
    """The registry's short name (广东) as a province is written in full (广东省, 北京市)."""
    if not value:
        return "未知省份"
    if value in _MUNICIPALITIES:
        return f"{value}市"
    if value in _REGIONS:
        return _REGIONS[value]
    return f"{value}省" if value in _ABBREVIATIONS else value


def authority(province: str | None) -> str:
    """The communications administration of a province (通信管理局), the issuer of its notices."""
    return f"{province_name(province)}通信管理局" if province else "通信管理局"


def province_abbreviation(province: str | None) -> str:
    return _ABBREVIATIONS.get(province or "", "")
