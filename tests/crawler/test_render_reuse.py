"""A leased page serves many renders: none of them sees what an earlier one left behind, and a
page that ended badly is never lent again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from crawler.guard import AddressGuard
from crawler.render import Renderer, RenderOptions
from crawler.resolve import Resolver

from .render_support import require_chromium

NUMBER = "京ICP备2021000001号-1"
FOOTER = f'<footer style="text-align:center"><a href="https://beian.miit.gov.cn/">{NUMBER}</a></footer>'
# Leaves a cookie, local and session storage, a timer that would navigate later, and a popup.
WRITER = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>writer</title></head><body>
<main style="height:1200px">正文</main>{FOOTER}<script>
document.cookie = "left=1; path=/"; localStorage.setItem("left", "1"); sessionStorage.setItem("left", "1");
window.open("/popup.html");
setTimeout(function () {{ location.href = "/elsewhere.html"; }}, 3500);  // after the settle window
</script></body></html>"""
# Reports, in its title, what it finds of the writer's state (same origin as the writer).
READER = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>reader</title></head><body>
<main style="height:1200px">正文</main>{FOOTER}<script>
document.title = "cookie=" + (document.cookie || "-") + " local=" + (localStorage.getItem("left") || "-")
  + " session=" + (sessionStorage.getItem("left") || "-");
</script></body></html>"""
HANGS = f"""<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{FOOTER}
<script>window.addEventListener("load", function () {{ while (true) {{}} }});</script></body></html>"""


def _pages(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, html in (("writer", WRITER), ("reader", READER), ("hangs", HANGS)):
        (tmp_path / name).mkdir()
        out[name] = tmp_path / name / "index.html"
        out[name].write_text(html, encoding="utf-8")
    return out


def test_a_reused_page_carries_nothing_from_the_render_before(tmp_path: Path) -> None:
    require_chromium()
    pages = _pages(tmp_path)

    async def run() -> tuple[list[dict], int, int]:
        options = RenderOptions(concurrency=1, page_reuse=10)
        async with Renderer(resolver=Resolver("127.0.0.1:9"), guard=AddressGuard(), options=options) as r:
            first = await r.render(pages["writer"])
            [lease] = r.pool.idle
            second = await r.render(pages["reader"])
            assert r.pool.idle == (lease,) and lease.renders == 2  # the same page served both
            await asyncio.sleep(4)  # the writer's timer would have fired by now, were it alive
            third = await r.render(pages["reader"])
            return [first, second, third], len(lease.context.pages), r.pool.launches

    (first, second, third), open_pages, launches = asyncio.run(run())
    assert first["status"] == "ok" and first["display"]["verdict"] == "compliant"
    for reader in (second, third):
        assert reader["status"] == "ok", reader.get("error")
        assert reader["title"] == "cookie=- local=- session=-"
        assert reader["redirect_chain"] == []  # no hop of the writer's timer landed in a later render
        assert reader["display"]["verdict"] == "compliant"
    assert open_pages == 1  # the writer's popup was closed with its render
    assert launches == 1


def test_a_page_that_timed_out_is_not_lent_again(tmp_path: Path) -> None:
    require_chromium()
    pages = _pages(tmp_path)

    async def run() -> tuple[dict, dict, bool]:
        options = RenderOptions(concurrency=1, deadline=3.0)
        async with Renderer(resolver=Resolver("127.0.0.1:9"), guard=AddressGuard(), options=options) as r:
            hung = await r.render(pages["hangs"])
            idle_after_hang = bool(r.pool.idle)
            after = await r.render(pages["reader"])
            return hung, after, idle_after_hang

    hung, after, idle_after_hang = asyncio.run(run())
    assert hung["status"] == "timeout" and hung["display"] is None
    assert idle_after_hang is False
    assert after["status"] == "ok" and after["display"]["verdict"] == "compliant"
