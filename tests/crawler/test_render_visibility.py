"""Every way a page hides or shows a number, measured in the browser on real pages."""

from __future__ import annotations


import pytest

from .render_support import render_all, require_chromium

NUMBER = "京ICP备2021000001号-1"
PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><style>
body{{margin:0;background:#fff}} main{{height:1400px}} footer{{text-align:center;padding:10px;background:#f5f5f5}}
</style></head><body><main>正文</main><footer>{footer}</footer></body></html>"""
LINKED = f'<a href="https://beian.miit.gov.cn/">{NUMBER}</a>'

CASES = {
    "opacity": (f'<p style="opacity:0">{LINKED}</p>', "not_displayed", "opacity"),
    "visibility": (f'<p style="visibility:hidden">{LINKED}</p>', "not_displayed", "visibility:hidden"),
    "same-colour": (f'<p style="color:#f5f5f5">{NUMBER} <a style="color:#f5f5f5" '
                    f'href="https://beian.miit.gov.cn/">工信部</a></p>', "not_displayed", "text colour"),
    "off-screen": (f'<p style="position:absolute;left:-9999px">{LINKED}</p>', "not_displayed", "off-screen"),
    "clipped": (f'<div style="height:0;overflow:hidden"><p>{LINKED}</p></div>', "not_displayed", "clipped"),
    "zero-font": (f'<p style="font-size:0">{LINKED}</p>', "not_displayed", None),
    "digits-hidden": ('<p>京ICP备<span style="display:none">2021000001</span>号-1</p>', "not_displayed", None),
    "public-security-only": ('<p>京公网安备11010802020000号</p>', "no_mark", None),
    "telecom-only": ('<p>增值电信业务经营许可证：粤B2-20090059</p>', "no_mark", None),
    "visible": (f"<p>{LINKED}</p>", "compliant", None),
    "link-far-below": (f'<p>{NUMBER}</p><div style="height:200px"></div>'
                       '<p><a href="https://beian.miit.gov.cn/">工信部</a></p>', "link_missing", None),
    "link-above": ('<p><a href="https://beian.miit.gov.cn/">工信部</a></p>'
                   f'<p>{NUMBER}</p>', "link_missing", None),
    "written-late": ('<p id="b"></p><script>setTimeout(function(){document.getElementById("b").innerHTML='
                     f'\'{LINKED}\'}}, 800)</script>', "compliant", None),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    require_chromium()
    directory = tmp_path_factory.mktemp("visibility")
    paths = []
    for name, (footer, _, _) in CASES.items():
        (directory / name).mkdir()
        path = directory / name / "index.html"
        path.write_text(PAGE.format(footer=footer), encoding="utf-8")
        paths.append(path)
    return dict(zip(CASES, render_all({}, paths, allow_private=False)))


@pytest.mark.parametrize("case", CASES)
def test_visibility_case(results, case: str) -> None:
    result = results[case]
    _, verdict, reason = CASES[case]
    assert result["status"] == "ok", result.get("error")
    assert result["display"]["verdict"] == verdict, (result["display"], result["marks"])
    if reason:
        hidden = next(m for m in result["marks"] if m["kind"] == "website_filing")
        assert reason in (hidden["hidden_reason"] or "")


def test_a_number_written_after_load_is_marked_as_script(results) -> None:
    mark = next(m for m in results["written-late"]["marks"] if m["kind"] == "website_filing")
    assert mark["source"] == "script" and mark["visible"] is True
