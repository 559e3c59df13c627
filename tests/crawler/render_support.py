"""Shared by the render tests: a served sandbox world and a renderer pointed at it."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from crawler.guard import AddressGuard
from crawler.render import Renderer, RenderOptions
from crawler.resolve import Resolver

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CONTENT_TEMPLATES = ("company", "shop", "blog", "portal")


def require_chromium() -> None:
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is required (scripts/install.sh installs it)")


def plain_site(world: Any, **wanted: Any) -> Any:
    """A content site reached by name with nothing else odd about it, matching ``wanted``
    (params first, then attributes); its charset is made readable (UTF-8, declared both ways),
    so a test about layouts is not a test about charsets."""
    for s in world.sites:
        if not (s.domains and not s.hostile and s.redirect is None and s.dns == "ok"
                and s.template in CONTENT_TEMPLATES):
            continue
        if all(s.params.get(k) == v if k in s.params else getattr(s, k, None) == v for k, v in wanted.items()):
            s.charset, s.declare = "utf-8", "both"
            return s
    raise LookupError(f"the world has no plain content site with {wanted}")


def render_all(info: dict[str, Any], targets: list[Any], *, allow_private: bool = True,
               evidence_dir: Path | None = None, **options: Any) -> list[dict[str, Any]]:
    """Render ``targets`` (URLs or Paths) with one browser, concurrently; results in order."""

    async def run() -> list[dict[str, Any]]:
        resolver = Resolver(info["dns"]) if info else Resolver("127.0.0.1:9")
        async with Renderer(resolver=resolver, guard=AddressGuard(allow_private=allow_private),
                            ca_file=(info or {}).get("ca_file"), options=RenderOptions(**options)) as r:
            return list(await asyncio.gather(*(r.render(t, evidence_dir=evidence_dir) for t in targets)))

    return asyncio.run(run())
