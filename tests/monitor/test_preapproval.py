"""The art. 20 classifier on realistic homepages: fields it must see, and pages it must leave alone."""

from __future__ import annotations

import statistics
import time

import pytest

from monitor.preapproval import FIELDS, approved_fields, classify, field_of, scores
from sandbox.pages import render_page
from sandbox.spec import TOPICS, Site


def page(title: str, nav: list[str], headings: list[str], body: list[str], footer: str = "") -> str:
    """A homepage in the shape real Chinese sites have: header, menu, sections, footer."""
    menu = "".join(f'<li><a href="/c{i}.html">{item}</a></li>' for i, item in enumerate(nav))
    sections = "".join(f"<section><h2>{h}</h2></section>" for h in headings)
    paragraphs = "".join(f"<p>{p}</p>" for p in body)
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>'
            f'<script>var _hmt = _hmt || []; /* 新闻 视频 直播 统计 */</script>'
            f'<style>.nav li{{float:left}}</style></head><body>'
            f'<header><div class="logo">{title.split("-")[0]}</div><ul class="nav">{menu}</ul></header>'
            f"<main>{sections}{paragraphs}</main>"
            f'<footer><p>{footer or "版权所有 © 2024 本站"} <a href="https://beian.miit.gov.cn/">京ICP备2021000001号-1</a></p>'
            f"<p>联系电话：010-12345678 地址：北京市朝阳区建国路88号</p></footer></body></html>")


NEWS_PORTAL = page(
    "华北新闻网 - 权威新闻 第一时间",
    ["首页", "要闻", "时政", "国际", "财经", "社会", "体育", "娱乐", "视频", "评论"],
    ["今日要闻", "滚动新闻", "本地新闻"],
    ["国务院常务会议部署稳就业政策措施 新华社北京3月5日电",
     "本网记者 李明 报道：市人大代表走进社区倾听群众意见",
     "突发：京港澳高速发生多车追尾 交警已到场处置（快讯）",
     "评论员文章：以高质量发展推动民生改善", "责任编辑：王芳", "新闻热线：010-88886666 欢迎爆料"],
    footer="互联网新闻信息服务许可证编号：11120170001")

LOCAL_NEWS = page(
    "江城日报数字版",
    ["首页", "本地", "民生", "专题", "图片"],
    ["江城要闻", "民生热点"],
    ["本报讯（记者 张伟 通讯员 刘洋）我市今年新建改建农村公路300公里。",
     "本报记者现场直击：老旧小区改造进展顺利。", "热点新闻排行榜每日更新。"])

HOSPITAL = page(
    "北京市第六人民医院 - 官方网站",
    ["医院概况", "科室导航", "专家介绍", "预约挂号", "就医指南", "健康科普"],
    ["门诊信息", "专家门诊排班"],
    ["我院是一所集医疗、教学、科研为一体的三级甲等综合医院，开放床位1200张。",
     "内科、外科、妇科、儿科、口腔科、眼科门诊时间：周一至周日 8:00-17:00。",
     "主任医师 王教授 擅长心血管疾病的诊疗。急诊24小时开放。", "住院患者探视时间：15:00-19:00。"])

PHARMACY = page(
    "康健网上药店 - 正品药品 送药上门",
    ["首页", "处方药", "非处方药", "医疗器械", "保健品", "用药咨询"],
    ["热销药品", "执业药师在线"],
    ["感冒发烧、肠胃用药、皮肤用药，药品说明书随时查询。", "凭处方购药，执业药师审核处方后发货。",
     "血压计、血糖仪等家用医疗器械正品保障。"],
    footer="互联网药品信息服务资格证书：（京）-经营性-2023-0012")

DEVICE_MAKER = page(
    "瑞康医疗器械有限公司",
    ["首页", "关于我们", "产品中心", "新闻动态", "联系我们"],
    ["医疗器械产品", "质量体系"],
    ["公司专业生产一次性使用医疗器械：注射器、输液器、医用敷料。",
     "所有器械均取得医疗器械注册证，医疗器械经营许可证编号：京药监械经营许20200001号。",
     "产品远销欧美，广泛用于各级医院手术室与病房。"])

ONLINE_SCHOOL = page(
    "学而网校 - 中小学在线教育平台",
    ["首页", "小学", "初中", "高中", "名师", "直播课", "题库"],
    ["热门课程", "名师直播课堂"],
    ["在线教育平台，覆盖中小学全学科课程辅导。", "免费试听课，报名即送学习资料。",
     "在线考试与模拟考试题库每日更新，已有200万学员。"])

VOCATIONAL = page(
    "职达教育 - 职业技能培训与学历提升",
    ["首页", "学历教育", "职业资格", "公务员考试", "考研", "招生简章"],
    ["2024年秋季招生", "网络课程"],
    ["成人高考、自学考试学历教育招生报名中。", "资深教师授课，提供在线课程与课后辅导。"])

VIDEO_SITE = page(
    "乐看视频 - 高清电影电视剧免费在线观看",
    ["首页", "电影", "电视剧", "综艺", "动漫", "纪录片", "短视频"],
    ["热播电视剧", "院线电影", "综艺节目"],
    ["《山海情》全集高清在线观看，更新至第23集。", "热门综艺每周五晚8点独家播出。",
     "海量片库，追剧无广告。"],
    footer="信息网络传播视听节目许可证：0110000")

LIVE_PLATFORM = page(
    "星光直播 - 主播在线互动",
    ["首页", "直播", "主播", "视频", "游戏直播", "音乐"],
    ["热门直播", "推荐主播"],
    ["高清直播与点播，千名主播在线。", "网络表演频道：歌手主播每晚开唱。", "短视频精选。"],
    footer="网络文化经营许可证：京网文〔2023〕1234-056号")

NOVEL_SITE = page(
    "墨香书城 - 原创网络小说在线阅读",
    ["首页", "玄幻", "都市", "言情", "完本", "排行榜", "作者专区"],
    ["热门连载", "最新章节"],
    ["《苍穹之上》第1024章 最新章节已更新，免费阅读。", "原创文学平台，签约作者超过十万。"])

JOURNAL = page(
    "现代农业科学 期刊",
    ["首页", "期刊简介", "编委会", "在线投稿", "过刊浏览", "电子期刊"],
    ["最新一期", "数字出版"],
    ["本刊为国内外公开发行的学术期刊，国际标准刊号ISSN 1234-5678。", "电子期刊与电子出版物在线发行。",
     "作者投稿须知。"])

GAME_SITE = page(
    "征途网游官网 - 经典网络游戏",
    ["首页", "新闻公告", "游戏下载", "充值中心", "礼包中心", "论坛"],
    ["新服开启", "游戏资料"],
    ["经典网络游戏《征途》全新资料片上线，每周二开服。", "新手礼包免费领取，手游版同步上线。"],
    footer="文网文〔2021〕0001-001号")

FORUM = page(
    "江南社区论坛 - 本地网友交流",
    ["首页", "版块", "精华帖", "发帖", "版主申请"],
    ["热门帖子", "今日主题帖"],
    ["楼主发帖询问周末去哪玩，已有300条回帖。", "本论坛禁止灌水，违者由版主删帖。"])

COMPANY_ONE_MENTION = page(
    "华信科技有限公司 - 企业信息化服务商",
    ["首页", "关于我们", "产品中心", "解决方案", "客户案例", "联系我们"],
    ["公司简介", "核心业务"],
    ["华信科技成立于2008年，专注于企业信息化服务，为客户提供软件开发与系统集成。",
     "欢迎新闻媒体与合作伙伴垂询。"])

COMPANY_NEWS_MENU = page(
    "东方精密机械股份有限公司",
    ["首页", "公司简介", "产品展示", "新闻中心", "新闻动态", "行业资讯", "人才招聘", "联系我们"],
    ["公司新闻", "行业动态", "媒体报道"],
    ["热烈祝贺我公司通过ISO9001质量体系认证", "我司参加2024年上海国际工业博览会",
     "企业文化：诚信、创新、共赢", "员工培训体系持续完善"])

ECOMMERCE = page(
    "优选商城 - 正品低价 品质生活",
    ["首页", "手机数码", "家用电器", "服装鞋包", "美妆个护", "图书", "医药保健", "生鲜"],
    ["限时秒杀", "品牌特卖"],
    ["满199减30，全场包邮。新品手机首发直降500元。", "视频直播带货每晚8点开播，关注店铺领优惠券。",
     "加入购物车，7天无理由退货。"])

SOFTWARE_VENDOR = page(
    "云帆软件 - 行业数字化解决方案",
    ["首页", "智慧政务", "智慧教育", "智慧医疗", "智慧园区", "关于我们"],
    ["行业解决方案", "成功案例"],
    ["为教育行业、医疗行业提供数字化平台建设服务。", "服务客户包括多家医院与学校的信息中心。",
     "企业宣传片与产品演示视频可在线观看。"])

RESTAURANT = page(
    "老北京涮肉 - 百年老字号",
    ["首页", "菜品展示", "门店分布", "加盟合作", "联系我们"],
    ["招牌菜品", "门店地址"],
    ["精选内蒙古羔羊肉，铜锅炭火，传承百年。", "欢迎预订包间，电话：010-66668888。"])

LAW_FIRM = page(
    "正义律师事务所",
    ["首页", "律所简介", "专业领域", "律师团队", "成功案例", "联系我们"],
    ["业务领域", "律师团队"],
    ["本所专注于公司法务、知识产权、劳动争议、医疗纠纷等领域。", "资深律师团队，提供法律咨询与诉讼代理。"])

HOTEL = page(
    "湖畔度假酒店 - 官方预订",
    ["首页", "客房", "餐饮", "会议", "健身中心", "在线预订"],
    ["精品客房", "会议宴会"],
    ["酒店拥有豪华客房200间，配备健身房与室内泳池。", "周末特惠套餐含双早。"])


@pytest.mark.parametrize(("html", "expected"), [
    pytest.param(NEWS_PORTAL, ["news"], id="news-portal"),
    pytest.param(LOCAL_NEWS, ["news"], id="local-newspaper"),
    pytest.param(HOSPITAL, ["health"], id="hospital"),
    pytest.param(PHARMACY, ["medicine"], id="online-pharmacy"),
    pytest.param(DEVICE_MAKER, ["medicine"], id="medical-device-maker"),
    pytest.param(ONLINE_SCHOOL, ["education"], id="online-school"),
    pytest.param(VOCATIONAL, ["education"], id="vocational-school"),
    pytest.param(VIDEO_SITE, ["audiovisual"], id="video-site"),
    pytest.param(NOVEL_SITE, ["publishing"], id="novel-site"),
    pytest.param(JOURNAL, ["publishing"], id="e-journal"),
    pytest.param(GAME_SITE, ["culture"], id="online-game"),
    pytest.param(FORUM, ["bulletin"], id="forum"),
    pytest.param(COMPANY_ONE_MENTION, [], id="company-mentions-news-once"),
    pytest.param(COMPANY_NEWS_MENU, [], id="company-with-news-menu"),
    pytest.param(ECOMMERCE, [], id="e-commerce"),
    pytest.param(SOFTWARE_VENDOR, [], id="software-vendor-for-schools-and-hospitals"),
    pytest.param(RESTAURANT, [], id="restaurant"),
    pytest.param(LAW_FIRM, [], id="law-firm"),
    pytest.param(HOTEL, [], id="hotel"),
])
def test_homepages(html: str, expected: list[str]) -> None:
    assert classify(html) == expected, scores(html)


def test_live_platform_is_audiovisual_and_online_culture() -> None:
    assert classify(LIVE_PLATFORM) == ["audiovisual", "culture"]


@pytest.mark.parametrize("topic", TOPICS)
def test_sandbox_pages_are_classified_as_their_topic(topic: str) -> None:
    """The sandbox's world (DESIGN.md §3) marks its pre-approval sites by topic; we must agree."""
    for n in range(4):
        site = Site(id=f"s{n}-{topic}", domains=[f"s{n}.example.cn"], ips=[],
                    params={"topic": topic, "name": "华夏信息官网"})
        assert classify(render_page(site)) == ([] if topic == "general" else [topic])


def test_plain_text_and_title_argument() -> None:
    text = "今日要闻 时政新闻 本网记者报道 责任编辑：李华"
    assert classify(text) == ["news"]
    assert classify("欢迎访问本公司网站。", title="某某科技") == []
    # the title weighs more than the body: two body phrases plus a title make a news site
    assert classify("本报讯 记者", title="城市晚报") == ["news"]
    assert classify("本报讯 记者") == []


def test_traditional_full_width_and_split_words() -> None:
    html = ("<html><head><title>香江新聞網</title></head><body><nav><a>要聞</a><a>時政</a></nav>"
            "<p>本網記者報導：新&#8203;闻 發佈會於今日舉行。</p><p>責任編輯：陳大文</p></body></html>")
    assert classify(html) == ["news"]
    assert classify("ＯＴＣ 药品 处方药 网上药店") == ["medicine"]
    assert "ＯＴＣ" in scores("ＯＴＣ 药品 处方药")["medicine"]["phrases"]
    # a space ends a word: menu items side by side are not one phrase
    assert classify("<ul><li>新闻</li><li>网站建设</li><li>要闻</li></ul>") == []


def test_scripts_styles_and_comments_are_not_content() -> None:
    hidden = ("<html><head><title>某某有限公司</title><script>var a='在线观看 电视剧 综艺 热播 追剧';</script>"
              "<style>/* 新闻网 要闻 时政 */</style></head><body><!-- 网上药店 处方药 药品 -->"
              "<p>公司简介</p></body></html>")
    assert classify(hidden) == []


def test_empty_and_degenerate_input() -> None:
    assert classify("") == []
    assert classify("<html></html>") == []
    assert classify("新闻") == []
    assert classify("<p>新闻</p>" * 500) == []  # one phrase however often is one signal


def test_fields_are_the_article_20_names() -> None:
    assert FIELDS == {"audiovisual": "视听节目", "bulletin": "电子公告服务", "culture": "网络文化",
                      "education": "教育", "health": "医疗保健", "medicine": "药品和医疗器械",
                      "news": "新闻", "publishing": "出版"}
    assert list(FIELDS) == sorted(FIELDS)


def test_approvals_on_file_map_to_fields() -> None:
    assert field_of("网络视听节目") == "audiovisual"
    assert field_of("互联网新闻信息服务") == "news"
    assert field_of("药品和医疗器械") == "medicine"
    assert field_of("网络出版") == "publishing"
    assert field_of("教育类") == "education"
    assert field_of("卖菜") is None
    assert approved_fields("新闻;网络视听节目") == {"news", "audiovisual"}
    assert approved_fields(["医疗保健", "药品"]) == {"health", "medicine"}
    assert approved_fields(None) == set()
    assert set(classify(VIDEO_SITE)) - approved_fields("网络视听节目") == set()
    assert set(classify(NEWS_PORTAL)) - approved_fields("网络视听节目") == {"news"}


def test_deterministic_and_fast_on_a_50_kb_page() -> None:
    parts, filler = [], COMPANY_NEWS_MENU.split("<main>")[1].split("</main>")[0]
    while sum(len(p.encode()) for p in parts) < 50_000:
        parts.append(filler)
    big = NEWS_PORTAL.replace("<main>", "<main>" + "".join(parts))
    assert len(big.encode()) >= 50_000
    assert classify(big) == ["news"]
    timings = []
    for _ in range(41):
        start = time.perf_counter()
        classify(big)
        timings.append(time.perf_counter() - start)
    # about 1 ms on a quiet machine; the bound catches a pathological (e.g. quadratic) pattern, not
    # the noise of a loaded CI machine
    assert statistics.median(timings) < 0.010, f"median {statistics.median(timings) * 1000:.2f} ms"
    assert all(classify(big) == ["news"] for _ in range(3))
