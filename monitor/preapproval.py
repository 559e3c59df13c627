"""Which pre-approval fields of art. 20 a homepage's content falls in (``PREAPPROVAL_SUSPECTED``).

Art. 20 (一) of the regulation: electronic bulletin services need the communications authority's
permit, and news, publishing, education, medicine and health care, drugs and medical devices,
audiovisual programmes and online culture need the competent department's pre-approval before
the site is filed. A sweep cannot read a site's licences, but it can read its homepage: this
module says which of those fields the homepage looks like it serves, so the sweep can compare
them with the approvals on file and raise a finding *for review* (0 points, DESIGN.md §2).

How it decides — a keyword *and* structure classifier, deterministic and cheap:

* The page is cut into zones with a few regular expressions (no DOM: a 50 KB page must take
  under 2 ms): the title, meta keywords/description, h1–h3 headings, navigation (``<nav>``,
  ``<header>`` and short link texts — menu items are short, headlines are long) and the whole
  text of the page body (image ``alt`` text included) as the body. Only runs of characters that occur in some phrase are scanned, and a
  space or a tag ends a word.
* A lexicon maps each phrase to a field and a weight: 3 for phrases only a site in that field
  uses (挂号, 处方药, 在线观看, 责任编辑), 2 for typical ones, 1 for ambiguous ones, and the
  licence names themselves (互联网新闻信息服务许可证 …) weigh the most. Phrases that an ordinary
  company site uses (新闻动态, 公司新闻, 行业资讯, 版权所有, 教育行业) weigh 0; they are in the
  lexicon only so that the longest match wins and their 新闻 is not counted on its own.
* A phrase counts once, at the weight of the most prominent zone it appears in (title ×3,
  heading and navigation ×2, meta ×1.5, body ×1); saying it again adds nothing.
* A field is reported only when its score reaches :data:`THRESHOLD` **and** at least
  :data:`MIN_SIGNALS` different phrases support it. That is what keeps a company page that says
  新闻 once — or has a 新闻中心 menu item — from being flagged.

Phrases are also matched in traditional characters and with full-width letters; HTML entities
are decoded, and zero-width characters inside a word are ignored.
"""

from __future__ import annotations

import html as _html
import re
from collections.abc import Iterable

#: field id -> the field's name as art. 20 writes it.
FIELDS: dict[str, str] = {
    "audiovisual": "视听节目",
    "bulletin": "电子公告服务",
    "culture": "网络文化",
    "education": "教育",
    "health": "医疗保健",
    "medicine": "药品和医疗器械",
    "news": "新闻",
    "publishing": "出版",
}

#: Score a field must reach, and how many different phrases must support it.
THRESHOLD = 8.0
MIN_SIGNALS = 3

#: Multiplier of a phrase by the most prominent zone it was seen in.
ZONE_WEIGHTS: dict[str, float] = {"title": 3.0, "heading": 2.0, "nav": 2.0, "meta": 1.5, "body": 1.0}

#: A licence name: enough weight to pass the threshold with one more phrase, and counts as two signals.
LICENCE = 6

# field -> {phrase: weight}. Weight 0 marks a phrase of ordinary company sites (see the module doc).
_LEXICON: dict[str, dict[str, int]] = {
    "news": {
        "新闻": 1, "新闻网": 3, "新闻资讯": 2, "新闻频道": 3, "新闻热线": 3, "要闻": 3, "今日要闻": 3,
        "头条": 2, "时政": 3, "时政新闻": 3, "社会新闻": 3, "国内新闻": 3, "国际新闻": 3, "财经新闻": 3,
        "体育新闻": 3, "娱乐新闻": 3, "本地新闻": 3, "地方新闻": 3, "热点新闻": 2, "独家新闻": 3,
        "记者": 2, "本报记者": 3, "本网记者": 3, "通讯员": 2, "报道": 2, "现场报道": 3, "快讯": 2,
        "滚动": 1, "滚动播报": 2, "滚动新闻": 3, "社论": 3, "评论员": 3, "爆料": 2, "新华社": 2, "中新社": 2,
        "本网讯": 3, "本报讯": 3, "责任编辑": 3, "主编": 2, "突发": 2, "直击": 2, "独家": 1, "热点": 1,
        "国内国际": 1, "日报": 2, "晚报": 2, "都市报": 2, "资讯": 1, "首发": 1,
        "互联网新闻信息服务": LICENCE, "互联网新闻信息服务许可证": LICENCE,
        # ordinary company sites
        "新闻动态": 0, "新闻中心": 0, "公司新闻": 0, "企业新闻": 0, "公司动态": 0, "企业动态": 0,
        "行业新闻": 0, "行业资讯": 0, "行业动态": 0, "媒体报道": 0, "新闻发布": 0, "新闻稿": 0,
        "新闻媒体": 0, "通知公告": 0,
    },
    "publishing": {
        "出版": 2, "网络出版": 3, "数字出版": 3, "出版物": 2, "电子出版物": 3, "电子书": 3, "在线阅读": 3,
        "免费阅读": 3, "原创文学": 3, "网络文学": 3, "网络小说": 3, "连载": 3, "小说": 2, "最新章节": 3,
        "章节": 2, "书城": 3, "书库": 2, "书架": 2, "完本": 3, "玄幻": 3, "言情": 2, "期刊": 2,
        "电子期刊": 3, "数字期刊": 3, "杂志": 2, "投稿": 1, "作者": 1, "书号": 3, "发行": 1,
        "网络出版服务许可证": LICENCE,
        "版权所有": 0, "著作权": 0,
    },
    "education": {
        "教育": 1, "在线教育": 3, "网校": 3, "网络课程": 3, "在线课程": 3, "课程": 2, "培训": 1,
        "职业技能": 1, "技能培训": 2, "辅导": 2, "课外辅导": 3, "招生": 2, "学历": 2, "学历教育": 3,
        "学员": 2, "名师": 2, "题库": 2, "考试": 1, "在线考试": 3, "模拟考试": 2, "报名": 1, "中小学": 2,
        "考研": 2, "高考": 2, "公务员考试": 2, "课堂": 2, "直播课": 3, "直播课堂": 3, "公开课": 2,
        "试听课": 3, "学习": 1, "老师": 1, "教师": 1, "教学": 2, "学校": 1, "学院": 1,
        "教育行业": 0, "智慧教育": 0, "智慧校园": 0, "员工培训": 0, "培训体系": 0,
    },
    "health": {
        "医院": 3, "门诊": 3, "专家门诊": 3, "挂号": 3, "预约挂号": 3, "科室": 3, "主任医师": 3,
        "副主任医师": 3, "医师": 2, "医生": 2, "名医": 2, "急诊": 3, "住院": 2, "体检": 2, "就医": 2,
        "就诊": 2, "诊疗": 2, "问诊": 3, "在线问诊": 3, "患者": 2, "疾病": 1, "治疗": 1, "病症": 2,
        "症状": 1, "健康": 1, "健康咨询": 2, "保健": 1, "养生": 2, "医疗": 1, "医保": 2, "护理": 1,
        "康复": 1, "内科": 2, "外科": 2, "妇科": 2, "儿科": 2, "口腔科": 2, "眼科": 2, "皮肤科": 2,
        "中医": 2, "医疗机构执业许可证": LICENCE,
        "医疗行业": 0, "智慧医疗": 0, "医疗健康行业": 0, "医药保健": 0, "身体健康": 0,
    },
    "medicine": {
        "药品": 3, "处方药": 3, "非处方药": 3, "OTC": 2, "药店": 3, "网上药店": 3, "大药房": 3,
        "药房": 2, "购药": 3, "买药": 3, "用药": 2, "用药指导": 3, "药品说明书": 3, "说明书": 1,
        "医疗器械": 3, "器械": 1, "送药": 3, "送药上门": 3, "药师": 2, "执业药师": 3, "中药": 2,
        "西药": 2, "中成药": 2, "药物": 2, "处方": 2, "保健品": 1, "血压计": 1, "血糖仪": 1,
        "互联网药品信息服务": LICENCE, "互联网药品信息服务资格证书": LICENCE, "药品经营许可证": LICENCE,
        "医疗器械经营许可证": LICENCE, "医疗器械网络销售备案": LICENCE,
    },
    "audiovisual": {
        "视频": 2, "在线视频": 3, "短视频": 2, "在线观看": 3, "免费观看": 3, "高清": 1, "点播": 2,
        "直播": 1, "电影": 2, "电视剧": 3, "网络剧": 3, "网络电影": 3, "综艺": 3, "综艺节目": 3,
        "纪录片": 2, "动漫": 2, "影视": 2, "剧集": 2, "追剧": 3, "热播": 3, "片库": 3, "播放": 1,
        "网络视听": 3, "视听节目": 3, "网络视听节目": 3, "频道": 1, "院线": 2, "更新至": 2,
        "信息网络传播视听节目许可证": LICENCE, "网络视听许可证": LICENCE,
        "宣传视频": 0, "企业宣传片": 0,
    },
    "culture": {
        "网络文化": 3, "网络游戏": 3, "网游": 3, "手游": 3, "页游": 3, "游戏": 2, "游戏下载": 3,
        "开服": 3, "新服": 2, "礼包": 2, "充值": 1, "电竞": 2, "在线音乐": 3, "音乐": 1, "歌曲": 2,
        "歌单": 3, "歌手": 2, "演出": 2, "网络表演": 3, "主播": 2, "直播": 1, "漫画": 2, "在线漫画": 3,
        "动漫": 2, "艺术品": 2, "网络文化经营许可证": LICENCE, "文网文": LICENCE,
        "游戏行业": 0, "文化行业": 0, "企业文化": 0,
    },
    "bulletin": {
        "论坛": 3, "社区": 1, "发帖": 3, "回帖": 3, "跟帖": 3, "帖子": 3, "版块": 3, "版主": 3,
        "楼主": 3, "精华帖": 3, "主题帖": 3, "贴吧": 3, "BBS": 3, "灌水": 3, "留言板": 1, "网友": 1,
        "评论区": 2, "发表": 1, "电子公告": 3, "电子公告服务": LICENCE,
        "在线留言": 0, "给我们留言": 0,
    },
}

# A few traditional forms real pages use, mapped to the simplified ones in the lexicon.
_TRADITIONAL = ("聞網視頻劇醫藥療診線書讀遊戲樂課學師試號報導記頭條論壇貼區經營證許發電場藝術節檢體護機構國際館類",
                "闻网视频剧医药疗诊线书读游戏乐课学师试号报导记头条论坛贴区经营证许发电场艺术节检体护机构国际馆类")
#: Characters that never separate words (a space or a tag does: 新闻 网站建设 is no 新闻网).
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"

_DROP = re.compile(r"<(?:(script|style|noscript|template|svg)\b[^>]*>.*?</\1\s*>|!--.*?-->)", re.S | re.I)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.S | re.I)
_META = re.compile(r"<meta\b[^>]*?\bname\s*=\s*[\"']?(?:keywords|description)[\"']?[^>]*>", re.I)
_CONTENT = re.compile(r"\bcontent\s*=\s*(?:\"([^\"]*)\"|'([^']*)')", re.I)
_HEADING = re.compile(r"<h[1-3]\b[^>]*>(.*?)</h[1-3]\s*>", re.S | re.I)
_NAV = re.compile(r"<nav\b[^>]*>(.*?)</nav\s*>|<header\b[^>]*>(.*?)</header\s*>", re.S | re.I)
#: A link whose text is at most this many characters is a menu item, not a headline.
MENU_ITEM_CHARS = 6
_MENU_ITEM = re.compile(r"<a\b[^>]*>\s*([^<\s]{1,%d})\s*</a\s*>" % MENU_ITEM_CHARS, re.I)
_HEAD = re.compile(r"<head\b.*?</head\s*>", re.S | re.I)
_MARKUP = re.compile(r"<[a-zA-Z!/]")


def _variants(phrase: str) -> set[str]:
    """The forms a phrase is written in: as is, in traditional characters, with full-width letters.

    Adding the forms to the lexicon is much cheaper than folding every page's text.
    """
    to_traditional = {ord(s): t for t, s in zip(*_TRADITIONAL, strict=True)}
    full_width = {c: chr(c + 0xFEE0) for c in range(0x21, 0x7F)}
    return {phrase, phrase.translate(to_traditional), phrase.translate(full_width),
            phrase.translate(full_width).translate(to_traditional)}


def _normalise(text: str) -> str:
    """Words split by zero-width characters are joined again."""
    for ch in _ZERO_WIDTH:
        if ch in text:
            text = text.replace(ch, "")
    return text


def _build() -> tuple[re.Pattern[str], re.Pattern[str], dict[str, list[tuple[str, int]]]]:
    entries: dict[str, list[tuple[str, int]]] = {}
    for field, phrases in _LEXICON.items():
        for phrase, weight in phrases.items():
            for form in _variants(phrase):
                entries.setdefault(form, []).append((field, weight))
    trie: dict[str, dict] = {}
    for phrase in entries:
        node = trie
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = {}

    def regex(node: dict[str, dict]) -> str:
        branches = [re.escape(ch) + regex(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body  # greedy: the longest phrase wins

    # Runs of characters that can be part of a phrase (in any of its forms), across zero-width
    # characters: only these are worth the phrase scan, a fraction of a page's text.
    chars = {c for phrase in entries for c in phrase}
    cls = re.escape("".join(sorted(chars)))
    runs = re.compile(f"[{cls}](?:[{_ZERO_WIDTH}]*[{cls}])+")
    return re.compile(regex(trie)), runs, entries


_PATTERN, _RUNS, _ENTRIES = _build()


def _candidates(text: str) -> str:
    """The distinct runs of phrase characters in ``text`` (markup or not: a tag ends a run),
    joined by a separator no phrase spans. Pages repeat themselves; each run is scanned once."""
    if "&#" in text:  # characters written as references; named entities are punctuation and spaces
        text = _html.unescape(text)
    return _normalise("|".join(dict.fromkeys(_RUNS.findall(text))))


def _zones(text: str, title: str | None) -> list[tuple[str, str]]:
    """(zone, candidate text) pairs; a plain-text page is all body (and the title given)."""
    zones: list[tuple[str, str]] = []
    if title:
        zones.append(("title", _candidates(title)))
    if not _MARKUP.search(text):
        zones.append(("body", _candidates(text)))
        return zones
    doc = _DROP.sub(" ", text)
    if not title:
        zones.append(("title", _candidates("|".join(_TITLE.findall(doc)))))
    meta = [c.group(1) or c.group(2) or "" for c in map(_CONTENT.search, _META.findall(doc)) if c]
    zones.append(("meta", _candidates(_html.unescape("|".join(meta)))))
    zones.append(("heading", _candidates("|".join(_HEADING.findall(doc)))))
    zones.append(("nav", _candidates("|".join("|".join(pair) for pair in _NAV.findall(doc)))))
    zones.append(("nav", _candidates("|".join(_MENU_ITEM.findall(doc)))))
    zones.append(("body", _candidates(_HEAD.sub(" ", doc))))
    return zones


def scores(text: str, title: str | None = None) -> dict[str, dict[str, object]]:
    """Every field's evidence: ``{field: {"score", "signals", "phrases": {phrase: weight}}}``.

    What :func:`classify` decides from, for the finding's evidence and for tuning.
    """
    best: dict[str, dict[str, float]] = {}
    for zone, chunk in _zones(text or "", title):
        if not chunk:
            continue
        factor = ZONE_WEIGHTS[zone]
        for phrase in set(_PATTERN.findall(chunk)):
            for field, weight in _ENTRIES[phrase]:
                if weight > 0:
                    seen = best.setdefault(field, {})
                    seen[phrase] = max(seen.get(phrase, 0.0), weight * factor)
    out: dict[str, dict[str, object]] = {}
    for field, phrases in best.items():
        signals = sum(2 if dict(_ENTRIES[p])[field] >= LICENCE else 1 for p in phrases)
        out[field] = {"score": round(sum(phrases.values()), 2), "signals": signals,
                      "phrases": dict(sorted(phrases.items(), key=lambda kv: (-kv[1], kv[0])))}
    return out


def classify(text: str, title: str | None = None) -> list[str]:
    """The art. 20 fields (ids of :data:`FIELDS`, sorted) the homepage ``text`` looks like it serves.

    ``text`` is the page's HTML (its structure is used) or its visible text; ``title``, when
    given, is the page title (else the HTML's ``<title>``). ``[]`` when none.
    """
    return sorted(field for field, s in scores(text, title).items()
                  if float(s["score"]) >= THRESHOLD and int(s["signals"]) >= MIN_SIGNALS)  # type: ignore[arg-type]


# --- approvals on file ------------------------------------------------------------------------

# How approvals are written in filing records (the ``preapprovals`` column), by field.
_APPROVAL_NAMES: dict[str, tuple[str, ...]] = {
    "news": ("新闻", "互联网新闻信息服务", "新闻信息服务"),
    "publishing": ("出版", "网络出版", "互联网出版", "网络出版服务"),
    "education": ("教育",),
    "health": ("医疗保健", "医疗", "互联网医疗保健信息服务"),
    "medicine": ("药品和医疗器械", "药品", "医疗器械", "互联网药品信息服务"),
    "audiovisual": ("视听节目", "网络视听节目", "网络视听", "信息网络传播视听节目", "广播电影电视节目"),
    "culture": ("网络文化", "文化", "网络文化经营"),
    "bulletin": ("电子公告服务", "电子公告", "BBS"),
}
_BY_NAME = {form: field for field, names in _APPROVAL_NAMES.items() for name in names for form in _variants(name)}
_BY_NAME.update({field: field for field in FIELDS})


def field_of(name: str) -> str | None:
    """The field id of one approval as a filing record names it (``网络视听节目`` → ``audiovisual``)."""
    key = _normalise(name).removesuffix("类").removesuffix("審批").removesuffix("审批")
    key = key.lower() if key.isascii() else key
    return _BY_NAME.get(key)


def approved_fields(preapprovals: str | Iterable[str] | None) -> set[str]:
    """The fields a filing's ``preapprovals`` (``;``-separated text or a list) cover.

    A sweep raises ``PREAPPROVAL_SUSPECTED`` for ``set(classify(page)) - approved_fields(filing)``.
    """
    if not preapprovals:
        return set()
    items = re.split(r"[;；,，、]", preapprovals) if isinstance(preapprovals, str) else list(preapprovals)
    return {f for f in (field_of(item) for item in items if item and item.strip()) if f}
