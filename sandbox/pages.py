"""Page templates for the sandbox web hosts.

A site's homepage is rendered from its spec (``Site.template`` and ``Site.params``):

- content templates (``company``, ``shop``, ``blog``, ``portal``, ``ip-site``): a header, a main
  column at least 1,100 px tall, and a footer; the filing mark sits where ``params.layout`` says
  (see ``spec.LAYOUTS``) and is written the way ``params.style`` says (``spec.STYLES``);
- ``parked`` and the default server pages (``default-nginx``, ``default-apache``, ``default-iis``):
  not a website in service;
- ``redirect``: the page of a meta-refresh or script redirect.

Params a content page reads: ``name`` (website name), ``subject`` (operator), ``marks`` (canonical
marks shown, e.g. ``["京ICP备2021000001号-1"]``; a licence such as ``京ICP证030173号`` may come
first), ``layout``, ``style``, ``psb`` (public-security number shown beside, or alone),
``contact`` (``{phone, email, address}`` or null = none on the page), ``topic`` (``spec.TOPICS``).

:func:`render_page` gives text; :func:`encode_page` gives the ``Content-Type`` and the bytes in
the site's real charset with the declaration its ``declare`` asks for (right, wrong or none).
"""

from __future__ import annotations

import hashlib
import html
import io
import re
from functools import lru_cache
from typing import Any

import jinja2

from .spec import Site

BEIAN = "https://beian.miit.gov.cn/"
BEIAN_LEGACY = "http://www.miitbeian.gov.cn/"
BEIAN_EVIL = "https://beian.miit.gov.cn.evil.example/"
PSB_URL = "https://beian.mps.gov.cn/#/query/webSearch"
#: a character outside GBK, so gb18030 pages differ from gbk ones on the wire
GB18030_ONLY = "𠮷"

_FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-"}
_FULLWIDTH["-"] = "－"
_MARK = re.compile(r"^(?P<prov>\w)(?P<kind>ICP[备证]|B2-|公网安备)(?P<digits>\d+)(?P<tail>.*)$")

TOPIC_TEXT = {
    "general": ["公司简介：我们专注于企业信息化服务，为客户提供专业的软件开发与技术咨询。",
                "服务范围：网站建设、系统集成、运维外包、数据分析。", "欢迎各界朋友来电洽谈合作。"],
    "news": ["新闻资讯：今日要闻、时政新闻、社会新闻滚动播报。", "本站记者现场报道，独家新闻首发。",
             "新闻中心实时更新国内国际热点新闻。"],
    "medicine": ["药品信息：处方药、非处方药在线咨询与网上药店购药。", "提供药品说明书查询、用药指导。",
                 "医疗器械销售，正品保障，送药上门。"],
    "audiovisual": ["在线视频：电影、电视剧、综艺节目免费在线观看。", "网络视听节目高清直播与点播。",
                    "原创短视频频道每日更新。"],
    "publishing": ["网络出版：电子书、在线阅读、原创文学连载。", "数字期刊与电子出版物在线发行。",
                   "作者投稿与版权合作。"],
    "education": ["在线教育：中小学课程辅导、职业技能培训。", "名师直播课堂，学历教育招生报名。",
                  "题库与在线考试服务。"],
}
_FILLER = ["产品中心", "解决方案", "客户案例", "新闻动态", "关于我们", "加入我们", "技术支持", "合作伙伴",
           "行业资讯", "常见问题", "服务承诺", "发展历程", "企业文化", "荣誉资质", "下载中心"]

_PAGE = jinja2.Environment(autoescape=False, trim_blocks=True, lstrip_blocks=True).from_string("""\
<!DOCTYPE html>
<html lang="zh-CN">
<head>
{{ meta }}<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{margin:0;font:16px/1.6 "Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;color:#222}
header{height:72px;background:#1d3f72;color:#fff;padding:0 24px;text-align:center}
header h1{margin:0;font-size:24px;line-height:72px;display:inline-block}
nav{background:#eef2f8;padding:8px 24px;text-align:center}
nav a{margin:0 10px;color:#1d3f72}
main{min-height:1100px;padding:24px 48px}
footer{background:#f5f5f5;color:#555;text-align:center;padding:16px 0;font-size:14px}
footer p{margin:4px 0}
.beian-left{width:360px;text-align:left;padding-left:12px}
.fixed{position:fixed;left:0;right:0;bottom:0;background:#f5f5f5;text-align:center;padding:6px 0}
</style>
</head>
<body>
<header><h1>{{ name }}</h1>{{ top }}</header>
<nav>{% for item in nav %}<a href="/{{ loop.index }}.html">{{ item }}</a>{% endfor %}</nav>
<main>
{% for p in paragraphs %}<p>{{ p }}</p>
{% endfor %}
{{ middle }}
{% for p in more %}<p>{{ p }}</p>
{% endfor %}
</main>
<footer>
<p>Copyright &copy; {{ year }} {{ subject }} 版权所有</p>
{{ contact }}
{{ bottom }}
</footer>
{{ fixed }}
{{ script }}
</body>
</html>
""")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def mark_plain(mark: str, style: str = "plain") -> str:
    """The mark as text, written in ``style`` (no markup; used for alt text and images)."""
    m = _MARK.match(mark)
    if not m:
        return mark
    prov, kind, digits, tail = m.group("prov", "kind", "digits", "tail")
    if style == "fullwidth":
        return prov + "".join(_FULLWIDTH.get(c, c) for c in kind + digits + tail)
    if style == "traditional":
        return (prov + kind + digits + tail).replace("备", "備").replace("号", "號")
    if style == "spaces":
        return f"{prov}{kind} {digits} {tail}"
    if style == "suffix-before" and tail.startswith("号-"):
        return f"{prov}{kind}{digits}-{tail[2:]}号"
    if style == "label":
        return f"备案号：{mark}"
    return mark


def mark_html(mark: str, style: str = "plain", *, link: str | None = None,
              link_digits: bool = False) -> str:
    """The mark as HTML in ``style``; ``link`` wraps the whole mark, or only its digits."""
    m = _MARK.match(mark)
    if not m:
        body = _esc(mark)
        return f'<a href="{link}" target="_blank">{body}</a>' if link else body
    prov, kind, digits, tail = m.group("prov", "kind", "digits", "tail")
    if link_digits:
        inner = f'{prov}{kind}<a href="{link}" target="_blank">{digits}</a>{_esc(tail)}'
        return inner
    if style == "nbsp":
        body = f"{prov}{kind}&nbsp;{digits}{tail.replace('-', '&nbsp;-&nbsp;')}"
    elif style == "zero-width":
        body = f"{prov}\u200b{kind}{digits[:4]}\u200b{digits[4:]}{tail}"
    elif style == "entities":
        body = "".join(f"&#{ord(c)};" if ord(c) > 127 else c for c in mark)
    elif style == "split":
        body = f"<span>{prov}{kind[:3]}</span><span>{kind[3:]}</span><b>{digits}</b><span>{_esc(tail)}</span>"
    elif style == "linebreak":
        body = f"{prov}{kind}\n{digits}{tail}"
    else:
        body = _esc(mark_plain(mark, style))
    if link:
        return f'<a href="{link}" target="_blank">{body}</a>'
    return body


def _script_writer(element_id: str, html_text: str) -> str:
    """A script that writes ``html_text`` into the element after load; the text is not in the source."""
    codes = ",".join(str(ord(c)) for c in html_text)
    return (f"<script>window.addEventListener('load',function(){{document.getElementById("
            f"'{element_id}').innerHTML=String.fromCharCode({codes});}});</script>")


def _contact_html(contact: dict[str, str] | None) -> str:
    if not contact:
        return ""
    parts = []
    if contact.get("phone"):
        parts.append(f"电话：{_esc(contact['phone'])}")
    if contact.get("email"):
        parts.append(f'邮箱：<a href="mailto:{_esc(contact["email"])}">{_esc(contact["email"])}</a>')
    if contact.get("address"):
        parts.append(f"地址：{_esc(contact['address'])}")
    return "<p>" + " &nbsp; ".join(parts) + "</p>"


def _footer_marks(site: Site) -> dict[str, str]:
    """The pieces of the page that carry the marks, by where they go."""
    p = site.params
    marks: list[str] = list(p.get("marks") or [])
    layout = p.get("layout", "bottom-centre")
    style = p.get("style", "plain")
    psb = p.get("psb")
    out = {"top": "", "middle": "", "bottom": "", "fixed": "", "script": ""}
    psb_html = (f'<p><a href="{PSB_URL}" target="_blank">{_esc(psb)}</a></p>' if psb else "")
    if layout == "none" or not marks:
        out["bottom"] = psb_html
        return out
    link = {"link-hash": "#", "link-evil": BEIAN_EVIL, "link-legacy": BEIAN_LEGACY,
            "nolink": None, "link-below": None}.get(layout, BEIAN)
    shown = [mark_html(m, style, link=link, link_digits=(layout == "link-digits")) for m in marks]
    numbers = "<p>" + " &nbsp; ".join(shown) + "</p>"
    if layout == "link-below":
        numbers += f'<p><a href="{BEIAN}" target="_blank">工业和信息化部政务服务平台</a></p>'
    if layout in ("image-alt", "image"):
        alt = _esc(" ".join(mark_plain(m, style) for m in marks)) if layout == "image-alt" else ""
        numbers = (f'<p><a href="{BEIAN}" target="_blank"><img src="/beian.png" alt="{alt}" '
                   f'width="{image_size(marks)[0]}" height="{image_size(marks)[1]}"></a></p>')
    if layout == "top":
        out["top"] = f'<div style="font-size:12px;line-height:20px">{numbers}</div>'
        out["bottom"] = psb_html
    elif layout == "middle":
        out["middle"] = numbers
        out["bottom"] = psb_html
    elif layout == "left":
        out["bottom"] = f'<div class="beian-left">{numbers}</div>' + psb_html
    elif layout == "fixed":
        out["fixed"] = f'<div class="fixed">{numbers}</div>'
        out["bottom"] = psb_html + '<div style="height:48px"></div>'
    elif layout == "hidden":
        out["bottom"] = f'<div style="display:none">{numbers}</div>' + psb_html
    elif layout == "noscript":
        out["bottom"] = f"<noscript>{numbers}</noscript>" + psb_html
    elif layout == "script":
        out["bottom"] = '<div id="beian"></div>' + psb_html
        out["script"] = _script_writer("beian", numbers)
    else:
        out["bottom"] = numbers + psb_html
    return out


def _rng_pick(seed: str, items: list[str], n: int) -> list[str]:
    h = hashlib.blake2b(seed.encode(), digest_size=16).digest()
    return [items[(h[i] + i) % len(items)] for i in range(n)]


def render_page(site: Site) -> str:
    """The homepage of ``site`` as text (the meta charset tag included when declared)."""
    t = site.template
    meta = _meta(site)
    if t in ("parked", "default-nginx", "default-apache", "default-iis"):
        return _STATIC[t].replace("{{meta}}", meta).replace("{{name}}", _esc(site.host))
    if t == "redirect" or (site.redirect and site.redirect.kind in ("meta", "meta-delay", "script")):
        return redirect_page(site, meta)
    p = site.params
    topic = p.get("topic", "general")
    paragraphs = TOPIC_TEXT.get(topic, TOPIC_TEXT["general"])
    if site.charset == "gb18030":
        paragraphs = paragraphs + [f"分店：{GB18030_ONLY}野家路 18 号"]
    parts = _footer_marks(site)
    name = p.get("name") or site.host
    return _PAGE.render(
        meta=meta, title=_esc(f"{name} - 首页"), name=_esc(name), subject=_esc(p.get("subject", name)),
        nav=_rng_pick(site.id, _FILLER, 6), paragraphs=paragraphs,
        more=[f"{x}：{_esc(name)}竭诚为您服务。" for x in _rng_pick(site.id + "m", _FILLER, 4)],
        year=p.get("year", 2024), contact=_contact_html(p.get("contact")),
        top=parts["top"], middle=parts["middle"],
        bottom=parts["bottom"], fixed=parts["fixed"],
        script=parts["script"],
    ).replace("</main>", ('<div style="height:900px"></div></main>' if parts["middle"] else "</main>"))


def redirect_page(site: Site, meta: str = "") -> str:
    r = site.redirect
    target = _esc(r.target or "/") if r else "/"
    if r and r.kind == "script":
        body = (f"<p>页面跳转中……</p><script>window.location.replace(\"{r.target}\");</script>")
        head = ""
    else:
        delay = r.delay if r else 0
        head = f'<meta http-equiv="refresh" content="{delay};url={target}">'
        body = f'<p>本站已迁移，{delay} 秒后自动跳转到 <a href="{target}">{target}</a></p>'
    return (f"<!DOCTYPE html>\n<html lang=\"zh-CN\"><head>{meta}{head}<title>跳转</title></head>"
            f"<body>{body}</body></html>\n")


def _meta(site: Site) -> str:
    decl = site.declare
    if decl in ("meta", "both", "header-wrong"):
        return f'<meta charset="{site.charset}">\n'
    if decl == "meta-wrong":
        return f'<meta charset="{wrong_charset(site.charset)}">\n'
    if decl == "alias":
        return f'<meta http-equiv="Content-Type" content="text/html; charset={alias_charset(site.charset)}">\n'
    return ""


def wrong_charset(charset: str) -> str:
    return "utf-8" if charset != "utf-8" else "gbk"


def alias_charset(charset: str) -> str:
    return {"gbk": "gb2312", "utf-8": "UTF8", "gb18030": "GB18030"}[charset]


def content_type(site: Site) -> str:
    decl = site.declare
    if decl in ("header", "both"):
        return f"text/html; charset={site.charset}"
    if decl == "header-wrong":
        return f"text/html; charset={wrong_charset(site.charset)}"
    return "text/html"


def encode_page(site: Site, text: str) -> tuple[str, bytes]:
    """(Content-Type, body bytes in the site's real charset)."""
    return content_type(site), text.encode(site.charset, "xmlcharrefreplace")


# ---------------------------------------------------------------------------------------------
# static pages: parked and default server pages
# ---------------------------------------------------------------------------------------------
_STATIC = {
    "parked": """<!DOCTYPE html><html><head>{{meta}}<title>{{name}} - 此域名正在出售</title></head>
<body style="text-align:center;font-family:sans-serif"><h1>{{name}}</h1>
<p>此域名正在出售 / This domain is for sale.</p><p>This domain may be for sale. Buy this domain.</p>
<p><a href="/buy">立即询价 Make an offer</a></p><p>Parked free, courtesy of DomainPark.</p></body></html>
""",
    "default-nginx": """<!DOCTYPE html>
<html><head>{{meta}}<title>Welcome to nginx!</title>
<style>html { color-scheme: light dark; } body { width: 35em; margin: 0 auto; font-family: Tahoma, Verdana, Arial, sans-serif; }</style>
</head><body><h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and working. Further configuration is required.</p>
<p>For online documentation and support please refer to <a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at <a href="http://nginx.com/">nginx.com</a>.</p>
<p><em>Thank you for using nginx.</em></p></body></html>
""",
    "default-apache": """<!DOCTYPE html><html><head>{{meta}}<title>Apache2 Debian Default Page: It works</title></head>
<body><div class="main_page"><div class="page_header"><span class="floating_element">Apache2 Debian Default Page</span></div>
<div class="section_header">It works!</div><p>This is the default welcome page used to test the correct operation of the
Apache2 server after installation on Debian systems.</p></div></body></html>
""",
    "default-iis": """<!DOCTYPE html><html><head>{{meta}}<title>IIS Windows Server</title></head>
<body><div id="container"><a href="http://go.microsoft.com/fwlink/?linkid=66138&amp;clcid=0x409"><img src="iisstart.png" alt="IIS" width="960" height="600" /></a></div></body></html>
""",
}


# ---------------------------------------------------------------------------------------------
# the number inside an image
# ---------------------------------------------------------------------------------------------
_FONT_CANDIDATES = ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
                    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


def image_size(marks: list[str]) -> tuple[int, int]:
    return (max(200, 16 * max((len(m) for m in marks), default=10) + 16), 28)


@lru_cache(maxsize=256)
def _image_bytes(text: str, width: int, height: int) -> tuple[str, bytes]:
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:  # no Pillow: an SVG the browser rasterises (text outlined as a path-less <text>)
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
               f'<rect width="100%" height="100%" fill="#f5f5f5"/><text x="8" y="20" font-size="15" '
               f'fill="#555">{_esc(text)}</text></svg>')
        return "image/svg+xml", svg.encode("utf-8")
    font = None
    for path in _FONT_CANDIDATES:
        try:
            font = ImageFont.truetype(path, 15)
            break
        except OSError:
            continue
    img = Image.new("RGB", (width, height), (245, 245, 245))
    draw = ImageDraw.Draw(img)
    draw.text((8, 5), text if font else text.encode("ascii", "replace").decode(), fill=(80, 80, 80),
              font=font or ImageFont.load_default())
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "image/png", buf.getvalue()


def mark_image(site: Site) -> tuple[str, bytes] | None:
    """(Content-Type, bytes) of /beian.png for sites whose number is an image, else None."""
    p = site.params
    if p.get("layout") not in ("image", "image-alt") or not p.get("marks"):
        return None
    marks = list(p["marks"])
    width, height = image_size(marks)
    return _image_bytes(" ".join(mark_plain(m, p.get("style", "plain")) for m in marks), width, height)


def describe(site: Site) -> dict[str, Any]:
    """What a visitor sees, in words (used by tests and the truth's evidence)."""
    return {"template": site.template, "layout": site.params.get("layout"),
            "style": site.params.get("style"), "marks": site.params.get("marks")}
