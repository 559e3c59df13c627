"""The rendered display check (DESIGN.md §2 "Bottom centre, made measurable").

:class:`Renderer` renders a page in Debian's Chromium through the crawler's own resolver and
address guard, measures every filing mark, judges bottom/centred/link and keeps the evidence;
:func:`render_one` does it for one target from synchronous code.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from .browser import BrowserUnavailable
from .display import VERDICTS, DisplayThresholds
from .renderer import RenderOptions, Renderer

__all__ = ["BrowserUnavailable", "DisplayThresholds", "RenderOptions", "Renderer", "VERDICTS", "render_one"]


def render_one(target: str | Path, *, resolver: str | None = None, allow_private: bool = False,
               ca_file: str | None = None, evidence_dir: Path | None = None,
               options: RenderOptions | None = None) -> dict[str, Any]:
    """Render one URL or local .html file and return its result document."""
    from ..guard import AddressGuard
    from ..resolve import Resolver

    async def run() -> dict[str, Any]:
        async with Renderer(resolver=Resolver(resolver), guard=AddressGuard(allow_private=allow_private),
                            ca_file=ca_file, options=options) as renderer:
            return await renderer.render(target, evidence_dir=evidence_dir)

    return asyncio.run(run())
