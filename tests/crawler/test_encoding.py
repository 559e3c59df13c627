"""decode_body on real page bytes: UTF-8, GBK and GB18030 pages declared in the header, the meta,
both, neither, wrongly, by an alias, or with a BOM — rendered by the sandbox, and fetched over the
wire from a sandbox web host on loopback."""

from __future__ import annotations

import http.client
import os
from dataclasses import replace

import pytest

from crawler.encoding import decode_body
from crawler.extract import extract
from sandbox import pages
from sandbox.generate import generate_world
from sandbox.spec import DECLARES, Site
from sandbox.web import WebHostsThread

CHARSETS = ("utf-8", "gbk", "gb18030")
NET = f"127.{60 + os.getpid() % 40}.0.0/16"
#: what decode_body must report for each way the sandbox declares a charset
EXPECT_SOURCE = {"header": "header", "meta": "meta", "both": "header", "none": "detected",
                 "header-wrong": "meta", "meta-wrong": "detected", "alias": "meta"}
READ_AS = {"utf-8": "utf-8", "gbk": "gb18030", "gb18030": "gb18030"}


@pytest.fixture(scope="module")
def world():
    return generate_world(seed=5, network=NET)


def _site(world, charset: str, declare: str) -> Site:
    for s in world.sites:
        if (s.charset, s.declare) == (charset, declare) and s.template in (
                "company", "shop", "blog", "portal") and s.redirect is None and not s.hostile \
                and s.params.get("layout") == "bottom-centre" and s.params.get("marks"):
            return s
    # the catalogue has every (charset, declare) pair; give the pair a footer we can check
    s = next(s for s in world.sites if (s.charset, s.declare) == (charset, declare))
    return replace(s, params={**s.params, "layout": "bottom-centre"}, redirect=None,
                   template="company")


def _declared(charset: str, declare: str) -> str | None:
    said = {"header": charset, "meta": charset, "both": charset, "none": None,
            "header-wrong": pages.wrong_charset(charset),
            "meta-wrong": pages.wrong_charset(charset),
            "alias": pages.alias_charset(charset)}[declare]
    return None if said is None else {**READ_AS, "gb2312": "gb18030", "utf8": "utf-8"}[said.lower()]


@pytest.mark.parametrize("declare", DECLARES)
@pytest.mark.parametrize("charset", CHARSETS)
def test_every_charset_and_declaration(world, charset: str, declare: str) -> None:
    site = _site(world, charset, declare)
    text = pages.render_page(site)
    ctype, body = pages.encode_page(site, text)
    decoded = decode_body(body, ctype)
    assert decoded.encoding == READ_AS[charset]
    assert decoded.text == body.decode(charset)            # read exactly right, lie or not
    assert decoded.declared == _declared(charset, declare)
    assert decoded.source == EXPECT_SOURCE[declare], decoded
    assert decoded.lied == declare.endswith("-wrong")
    if charset == "gb18030":
        assert pages.GB18030_ONLY in decoded.text          # a character GBK does not have
    marks = extract(decoded.text, f"http://{site.host}/").marks
    assert [m.number for m in marks if m.is_icp] == site.params["marks"]


@pytest.mark.parametrize("charset", ("utf-8", "utf-16-le", "utf-16-be", "gbk"))
def test_bom_wins_over_declarations(charset: str) -> None:
    text = "<html><head><meta charset=\"gbk\"></head><body><p>京ICP备2021000001号-1 内容</p></body></html>"
    bom = {"utf-8": b"\xef\xbb\xbf", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff",
           "gbk": b""}[charset]
    decoded = decode_body(bom + text.encode(charset), "text/html; charset=utf-8")
    assert decoded.text == text
    if charset == "gbk":  # no BOM: the header lies, the meta is right
        assert (decoded.source, decoded.lied, decoded.encoding) == ("meta", True, "gb18030")
    else:
        assert decoded.source == "bom" and decoded.encoding == charset
        assert decoded.lied is (charset != "utf-8")  # the header said utf-8


def test_aliases_read_as_gb18030() -> None:
    text = "<p>中文页面，京ICP备2021000001号-1，𠮷野家</p>"
    for label in ("gb2312", "GBK", "x-gbk", "cp936", "GB18030"):
        decoded = decode_body(text.encode("gb18030"), f"text/html; charset={label}")
        assert decoded.encoding == "gb18030" and decoded.text == text, label


def test_a_clean_decode_under_a_wrong_declaration_is_still_caught() -> None:
    # UTF-8 Chinese text often decodes "cleanly" as GB18030, into nonsense.
    text = "<html><body><p>欢迎访问本站，京ICP备2021000001号-1</p></body></html>"
    decoded = decode_body(text.encode("utf-8"), "text/html; charset=gbk")
    assert (decoded.text, decoded.encoding, decoded.lied) == (text, "utf-8", True)
    # a server-default Latin-1 header in front of a GBK page with a right meta
    page = '<html><head><meta charset="gbk"></head><body><p>北京市海淀区中关村大街1号 联系我们</p></body></html>'
    decoded = decode_body(page.encode("gbk"), "text/html; charset=ISO-8859-1")
    assert (decoded.text, decoded.source, decoded.lied) == (page, "meta", True)
    # a real Western page keeps its honest Latin-1 declaration
    western = "<p>Café crème brûlée à la carte</p>"
    decoded = decode_body(western.encode("cp1252"), "text/html; charset=iso-8859-1")
    assert (decoded.text, decoded.lied) == (western, False)


def test_no_declaration_ascii_empty_and_garbage() -> None:
    assert decode_body(b"<p>hello</p>").source == "default"
    assert decode_body(b"").text == ""
    d = decode_body("<p>网站</p>".encode("gbk"))
    assert (d.text, d.encoding, d.declared, d.source) == ("<p>网站</p>", "gb18030", None, "detected")
    # bytes neither UTF-8 nor GB18030 decode: detection's pick, flagged as a lie
    d = decode_body(b"<p>\xff\xfe\xff\x80\x80</p>" * 3, "text/html; charset=utf-8")
    assert d.lied and d.encoding not in ("utf-8", "gb18030") and d.text.startswith("<p>")


def test_meta_beyond_the_first_bytes_is_not_read() -> None:
    body = b"<html><head>" + b"<!-- pad -->" * 500 + b'<meta charset="gbk"></head>' \
        + "<body>中文内容</body></html>".encode("gbk")
    d = decode_body(body)
    assert d.declared is None and d.encoding == "gb18030"


def _get(ip: str, port: int, host: str) -> tuple[str | None, bytes]:
    conn = http.client.HTTPConnection(ip, port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": host})
        resp = conn.getresponse()
        return resp.getheader("Content-Type"), resp.read()
    finally:
        conn.close()


def test_over_the_wire_every_charset_case(world, tmp_path) -> None:
    """Bytes from a real sandbox web host on 127.x, decoded and extracted."""
    with WebHostsThread(world, http_port=0, https_port=None, state_dir=tmp_path) as web:
        port = web.info["http_port"]
        for charset in CHARSETS:
            for declare in DECLARES:
                site = next(s for s in world.sites if (s.charset, s.declare) == (charset, declare))
                ctype, body = _get(site.ips[0], port, site.host)
                assert ctype.startswith("text/html")
                decoded = decode_body(body, ctype)
                assert decoded.text == body.decode(charset), (charset, declare)
                assert decoded.lied == declare.endswith("-wrong")
                page = extract(decoded.text, f"http://{site.host}/", content_type=ctype)
                assert site.params["name"] in (page.title or ""), (charset, declare)
                if site.params.get("layout") not in ("none", "image", "script", "noscript") \
                        and site.params.get("marks"):
                    shown = [m.number for m in page.marks if m.is_icp and m.source != "script"]
                    assert shown == site.params["marks"], (charset, declare, page.marks)
