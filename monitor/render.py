"""The rendered display check as a stage of a sweep (``icpwatch sweep --render POLICY``).

After the static crawl has been judged, the sites the policy picks are rendered in Chromium by
:class:`crawler.render.Renderer` — in the sweep's own process, on one asyncio loop, through the
crawler's resolver and address guard — and each result is stored (:class:`SiteRender`, one row
per site and sweep) and folded into its :class:`~monitor.observations.SiteView` (``render``), so
the display rules (:func:`monitor.rules.display_findings`) use the rendered verdict where there is
one and the static estimate everywhere else.

Why not scrapy-playwright's download handler: it lets Chromium fetch pages itself, which would
bypass the crawler's address guard and resolver (a page could reach any address, by any name),
and Chromium does not let an interceptor see the next hop of a fulfilled 3xx. The renderer routes
every request of the page through :class:`crawler.render.network.GuardedFetcher` instead; this
stage only decides *which* pages to render and keeps what came back.

Policies (cost control: the static pass decides what needs a browser):

* ``none`` — nothing is rendered;
* ``uncertain`` — filed sites whose static estimate is uncertain: a display finding was raised,
  a placement or visibility value is unknown from the source, the mark comes from an image or a
  script, or a linked image may hold the number;
* ``filed`` — every site in service with a valid filing;
* ``unfiled`` — every site in service that raised a finding of serving without a filing
  (UNFILED_SITE, BLACKLISTED_SERVED, CANCELLED_STILL_SERVED): the screenshots a notice of unfiled
  sites shows;
* ``all`` — every site in service the sweep judged;
* ``sample:N`` — N % of the filed sites, chosen by a hash of the site's key (the same sites every
  sweep, so successive sweeps compare).

A render that did not complete (timeout, refused, browser crash) is counted and listed, and the
site keeps its static estimate — never a finding from a failed render. So does a page whose
charset the browser garbled (``display.charset_garbled``): blaming the layout for a charset
defect would be wrong.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, utcnow
from .observations import Folded, SiteView
from .registryview import RegistryView
from .rules import DISPLAY_CODES, ICP_KINDS, Draft
from .store import MonitorStore

logger = logging.getLogger(__name__)

POLICIES = ("none", "uncertain", "filed", "unfiled", "all", "sample:N")
#: the findings whose site a notice of unfiled sites lists, with its screenshot (policy ``unfiled``)
SERVED_UNFILED_CODES = ("UNFILED_SITE", "BLACKLISTED_SERVED", "CANCELLED_STILL_SERVED")
#: where evidence goes when the store is not a file (PostgreSQL) and no --evidence-dir is given
DEFAULT_EVIDENCE_DIR = "icpwatch-evidence"
#: settings the render stage reads from the environment as well (a deployment's overrides)
_ENV_SETTINGS = ("ICPWATCH_CHROMIUM", "ICPWATCH_RENDER_DEADLINE", "ICPWATCH_RENDER_SETTLE",
                 "ICPWATCH_RENDER_BLOCK_MEDIA", "ICPWATCH_RENDER_RECYCLE_AFTER", "ICPWATCH_RENDER_CONCURRENCY",
                 "ICPWATCH_DISPLAY_BOTTOM_PX", "ICPWATCH_DISPLAY_BOTTOM_FRACTION",
                 "ICPWATCH_DISPLAY_CENTRE_FRACTION", "ICPWATCH_DISPLAY_LINK_GAP_PX")
#: what a stored render keeps (the rules and the evidence bundle read these)
_KEPT = ("target", "final_url", "status", "error", "redirect_chain", "marks", "display", "contact",
         "measurements", "evidence", "notes", "elapsed")


class RenderPolicyError(ValueError):
    """A ``--render`` value that is not one of :data:`POLICIES`."""


@dataclass(frozen=True)
class Policy:
    name: str                 # none | uncertain | filed | unfiled | all | sample
    percent: int = 100        # sample:N only

    def __str__(self) -> str:
        return f"sample:{self.percent}" if self.name == "sample" else self.name


def parse_policy(text: str) -> Policy:
    """``none``, ``uncertain``, ``filed``, ``unfiled``, ``all`` or ``sample:N`` (N a whole
    percentage 1–100)."""
    value = (text or "").strip().lower()
    if value in ("none", "uncertain", "filed", "unfiled", "all"):
        return Policy(value)
    if value.startswith("sample:"):
        try:
            percent = int(value.split(":", 1)[1])
        except ValueError:
            percent = 0
        if 1 <= percent <= 100:
            return Policy("sample", percent)
        raise RenderPolicyError(f"--render {text!r}: sample:N takes a whole percentage N from 1 to 100")
    raise RenderPolicyError(f"--render {text!r}: expected one of {', '.join(POLICIES)}")


class SiteRender(Base):
    """One site rendered by one sweep: the renderer's document (verdict, marks, measurements,
    screenshot path and hashes), or why the render did not complete."""

    __tablename__ = "site_renders"
    __table_args__ = (UniqueConstraint("sweep_id", "site_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id"), index=True)
    site_key: Mapped[str] = mapped_column(String(512))       # see :func:`site_key`
    target: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)                   # what was rendered
    status: Mapped[str] = mapped_column(String(32))          # ok | timeout | refused | error | …
    verdict: Mapped[str | None] = mapped_column(String(16))  # compliant | misplaced | … (ok only)
    document: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rendered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def site_key(site: SiteView) -> str:
    """One swept site: its target line and the host judged (a CIDR member's address)."""
    return f"{site.target}|{site.line}|{site.host}"


# ---------------------------------------------------------------------------------------------
# which sites
# ---------------------------------------------------------------------------------------------
def static_uncertain(site: SiteView) -> bool:
    """Whether the static estimate of the display is unsure: a value the source cannot tell
    (visibility, footer, centring), a mark only an image or a script shows, or a filing link
    around an image with no readable mark."""
    page = site.page or {}
    marks = [m for m in page.get("marks") or [] if m.get("kind") in ICP_KINDS]
    if any(m.get(k) is None for m in marks for k in ("displayed", "in_footer", "centred")):
        return True
    if any(m.get("source") in ("image_alt", "script") for m in marks):
        return True
    shown = [m for m in marks if m.get("displayed") is not False]
    return not shown and any(not (link.get("text") or "").strip() for link in page.get("filing_links") or [])


def _sampled(site: SiteView, percent: int) -> bool:
    digest = hashlib.sha256(site_key(site).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def select_sites(folded: Folded, registry: RegistryView, drafts: Iterable[Draft], policy: Policy) -> list[SiteView]:
    """The sites ``policy`` sends to the browser (websites in service only: an unknown crawl, a
    redirect or a parked page has no homepage display to judge)."""
    if policy.name == "none":
        return []
    sites = [s for s in folded.sites if s.category == "site"]
    if policy.name == "all":
        return sites
    if policy.name == "unfiled":
        return _named_by(sites, [d for d in drafts if d.code in SERVED_UNFILED_CODES])
    filed = [s for s in sites if registry.valid(s.host) is not None]
    if policy.name == "filed":
        return filed
    if policy.name == "sample":
        return [s for s in filed if _sampled(s, policy.percent)]
    flagged = {id(s) for s in _named_by(filed, [d for d in drafts if d.code in DISPLAY_CODES])}
    return [s for s in filed if static_uncertain(s) or id(s) in flagged]


def _named_by(sites: list[SiteView], drafts: list[Draft]) -> list[SiteView]:
    """The sites ``drafts`` are about: a finding names the site's domain, or for a site reached by
    IP alone its address."""
    named = {(d.target, d.domain or d.ip) for d in drafts}
    return [s for s in sites if (s.target, s.domain or s.ip) in named
            or (s.domain is None and (s.target, s.host) in named)]


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------
@dataclass
class RenderStage:
    """What the stage did: the document's ``render`` block, and each site's stored document."""

    policy: str
    available: bool = True
    selected: int = 0
    rendered: int = 0
    failed: int = 0
    seconds: float = 0.0
    evidence_dir: str | None = None
    unavailable_reason: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    kept_static: list[dict[str, Any]] = field(default_factory=list)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policy": self.policy, "available": self.available, "selected": self.selected,
                               "rendered": self.rendered, "failed": self.failed, "seconds": round(self.seconds, 1)}
        if self.evidence_dir:
            out["evidence_dir"] = self.evidence_dir
        if self.unavailable_reason:
            out["unavailable"] = self.unavailable_reason
        out["failures"] = self.failures
        out["kept_static"] = self.kept_static
        return out


def render_settings(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The crawler's defaults, the environment's ``ICPWATCH_CHROMIUM`` / ``ICPWATCH_RENDER_*`` /
    ``ICPWATCH_DISPLAY_*`` and the sweep's own settings, in that order of precedence (last wins)."""
    from crawler import settings as defaults

    out = {name: getattr(defaults, name) for name in dir(defaults) if name.isupper()}
    for name in _ENV_SETTINGS:
        value = os.environ.get(name)
        if value is not None:
            out[name] = value.strip().lower() in ("1", "true", "yes") if name.endswith("BLOCK_MEDIA") else value
    out.update(overrides or {})
    return out


def render_options(settings: dict[str, Any] | None = None) -> Any:
    """The renderer's :class:`~crawler.render.RenderOptions` from :func:`render_settings`; a
    value that is no number raises :class:`RenderPolicyError` naming the settings to check."""
    from crawler.render import RenderOptions

    try:
        return RenderOptions.from_settings(render_settings(settings))
    except (TypeError, ValueError) as exc:
        raise RenderPolicyError(f"render settings: {exc} (check ICPWATCH_RENDER_* and ICPWATCH_DISPLAY_* "
                                "in the environment)") from None


def evidence_root(db_url: str, given: str | None, sweep_id: int) -> Path:
    """``--evidence-dir``, else ``evidence/`` next to an SQLite store, else ``icpwatch-evidence``
    in the working directory; one sub-directory per sweep."""
    if given:
        base = Path(given)
    else:
        url = make_url(db_url)
        database = url.database if url.get_backend_name() == "sqlite" else None
        base = (Path(database).resolve().parent / "evidence") if database and database != ":memory:" \
            else Path(DEFAULT_EVIDENCE_DIR)
    return base / f"sweep-{sweep_id}"


def _url(site: SiteView) -> str:
    return site.final_url or str(site.observation.get("url") or f"http://{site.host}/")


def _kept(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: doc.get(k) for k in _KEPT}


async def _render_all(sites: list[SiteView], *, resolver: str | None, allow_private: bool, ca_file: str | None,
                      options: Any, evidence_dir: Path) -> dict[str, dict[str, Any]]:
    from crawler.guard import AddressGuard
    from crawler.render import Renderer
    from crawler.resolve import Resolver

    async with Renderer(resolver=Resolver(resolver), guard=AddressGuard(allow_private=allow_private),
                        ca_file=ca_file, options=options) as renderer:
        docs = await asyncio.gather(*(renderer.render(_url(s), evidence_dir=evidence_dir) for s in sites))
    return {site_key(s): _kept(d) for s, d in zip(sites, docs)}


def run_render_stage(engine: Engine, sweep_id: int, sites: list[SiteView], policy: Policy, *,
                     db_url: str, resolver: str | None, allow_private: bool, ca_file: str | None,
                     evidence_dir: str | None, settings: dict[str, Any] | None = None) -> RenderStage:
    """Render ``sites``, store each result, and return the stage's account. Chromium missing is
    no error: the stage says ``available: false`` and every site keeps its static estimate."""
    from crawler.render import BrowserUnavailable
    from crawler.render.browser import find_chromium

    stage = RenderStage(policy=str(policy), selected=len(sites))
    if policy.name == "none":  # nothing to render: say only whether a browser is there
        try:
            find_chromium(render_settings(settings).get("ICPWATCH_CHROMIUM") or None)
        except BrowserUnavailable as exc:
            stage.available, stage.unavailable_reason = False, str(exc)
        return stage
    options = render_options(settings)
    where = evidence_root(db_url, evidence_dir, sweep_id)
    started = time.monotonic()
    try:
        docs = asyncio.run(_render_all(sites, resolver=resolver, allow_private=allow_private, ca_file=ca_file,
                                       options=options, evidence_dir=where)) if sites else {}
    except BrowserUnavailable as exc:
        stage.available, stage.unavailable_reason = False, str(exc)
        return stage
    stage.seconds = time.monotonic() - started
    failed = [d for d in docs.values() if d.get("status") != "ok" or not d.get("display")]
    if docs and len(failed) == len(docs) and all(str(d.get("error") or "").startswith("BrowserUnavailable")
                                                 for d in failed):
        # the executable is there but would not start: no render happened at all
        stage.available, stage.unavailable_reason = False, str(failed[0].get("error"))
        return stage
    stage.evidence_dir = str(where) if where.exists() else None
    stage.documents = docs
    for site in sites:
        doc = docs[site_key(site)]
        if doc.get("status") != "ok" or not doc.get("display"):
            stage.failed += 1
            stage.failures.append({"target": site.target, "url": _url(site), "status": doc.get("status"),
                                   "error": doc.get("error")})
            continue
        stage.rendered += 1
        if doc["display"].get("charset_garbled"):
            stage.kept_static.append({"target": site.target, "url": _url(site),
                                      "why": "the browser's charset decoding garbled the mark"})
    store_renders(engine, sweep_id, sites, docs)
    return stage


def store_renders(engine: Engine, sweep_id: int, sites: list[SiteView], docs: dict[str, dict[str, Any]]) -> None:
    """One :class:`SiteRender` row per rendered site of the sweep."""
    store = MonitorStore(engine, migrate=False)
    with store.session() as s:
        s.add_all([SiteRender(sweep_id=sweep_id, site_key=site_key(site), target=site.target, url=_url(site),
                              status=str(docs[site_key(site)].get("status")),
                              verdict=(docs[site_key(site)].get("display") or {}).get("verdict"),
                              document=docs[site_key(site)])
                   for site in sites if site_key(site) in docs])


def stored_renders(engine: Engine, sweep_id: int) -> dict[str, dict[str, Any]]:
    """The documents a sweep stored, by site key."""
    store = MonitorStore(engine, migrate=False)
    with store.session() as s:
        return {r.site_key: r.document for r in s.scalars(select(SiteRender).where(SiteRender.sweep_id == sweep_id))}


def attach(folded: Folded, documents: dict[str, dict[str, Any]]) -> int:
    """Fold rendered documents into their sites (``SiteView.render``); returns how many."""
    n = 0
    for site in folded.sites:
        doc = documents.get(site_key(site))
        if doc is not None:
            site.render = doc
            n += 1
    return n
