"""Rendering one page and measuring its filing marks: :class:`Renderer`.

A render, step by step (in a leased page, cleaned between renders, see :mod:`crawler.render.browser`):

1. **Navigate** through the guarded routing (:mod:`crawler.render.network`). HTTP redirects of
   the page are recorded hop by hop and followed by navigating to the Location; a local ``.html``
   file is served under ``http://local.icpwatch.invalid/`` (its directory only), so the page's
   own requests still go through the guard.
2. **Settle**: after ``load``, wait until no short timer (≤ ``settle_seconds``, counted by an
   init script) and no request is pending, for at most ``settle_seconds`` — so marks written by
   script after load appear, and a ``location`` change or meta refresh within that window is
   followed and recorded (``kind`` "script" or "meta") like a crawler hop.
3. **Measure** at 1366×768 (judged; :mod:`crawler.render.measure`); OCR of images only when no
   visible ICP mark was found (:mod:`crawler.render.ocr`), and **judge**
   (:mod:`crawler.render.display`).
4. Capture the **evidence** at that width (:mod:`crawler.render.evidence`), then measure and judge
   again at 375×667 (reported) — in this order, so the page is laid out at each width once.

The whole render has a deadline; a page that hangs is cut there and comes back with status
``timeout`` — unknown, never a verdict.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from registry.numbers import UNREAD_PROVINCE

from ..encoding import decode_body
from ..extract import extract
from ..guard import AddressGuard
from ..resolve import Resolver
from .browser import BrowserPool, PageLease
from .display import ICP_KINDS, DisplayThresholds, judge_display
from .evidence import Evidence, capture, write_evidence
from .measure import MEASURE_JS, Collected, find_page_marks, mark_entry
from .network import FetchRefused, FetchResult, GuardedFetcher

__all__ = ["DESKTOP", "MOBILE", "LOCAL_ORIGIN", "RenderOptions", "Renderer"]

log = logging.getLogger(__name__)

DESKTOP = {"width": 1366, "height": 768}
MOBILE = {"width": 375, "height": 667}
LOCAL_HOST = "local.icpwatch.invalid"
LOCAL_ORIGIN = f"http://{LOCAL_HOST}/"
#: resource types never fetched when media are blocked (OCR re-renders with images)
MEDIA_TYPES = frozenset({"image", "media", "font"})

# Counts pending short timers, so "settled" can mean "no script is about to change the page", and
# waits in the page for the document to be quiet (no such timer, loaded, no meta refresh) for
# ``quiet`` ms: one call instead of a poll from here every few tens of milliseconds. It returns
# early at ``cap`` ms, or when a meta refresh appears or goes (``knownMeta``), so the caller can
# look at its own side (requests in flight, navigations) and record what kind a hop will be.
_SETTLE_SCRIPT = """(() => {
  const limit = %d, pending = new Set(), st = window.setTimeout, ct = window.clearTimeout;
  let since = null;
  Object.defineProperty(window, "__icpwatchQuiet", { value: (quiet, cap, knownMeta) => new Promise((resolve) => {
    const t0 = performance.now();
    const check = () => {
      const meta = !!document.querySelector("meta[http-equiv=refresh i]"), now = performance.now();
      if (pending.size > 0 || document.readyState !== "complete" || meta) since = null;
      else if (since === null) since = now;
      const quietFor = since === null ? 0 : now - since;
      if (quietFor >= quiet || now - t0 >= cap || meta !== knownMeta) {
        resolve([pending.size, meta, document.readyState, quietFor]);
      } else st.call(window, check, 20);
    };
    check();
  }) });
  window.setTimeout = function (fn, delay, ...args) {
    if (typeof fn !== "function" || !(Number(delay) <= limit)) return st.call(window, fn, delay, ...args);
    const id = st.call(window, function () { pending.delete(id); return fn.apply(this, arguments); }, delay, ...args);
    pending.add(id);
    return id;
  };
  window.clearTimeout = function (id) { pending.delete(id); return ct.call(window, id); };
  Object.defineProperty(window, "__icpwatchPending", { get: () => pending.size });
})();"""


@dataclass(frozen=True)
class RenderOptions:
    """How pages are rendered; from settings by :meth:`from_settings` (``ICPWATCH_RENDER_*``)."""

    executable_path: str | None = None
    deadline: float = 20.0            # whole render of one page, seconds
    settle_seconds: float = 3.0       # longest wait after load for script changes and redirects
    quiet_ms: int = 150               # settled after this long with nothing pending
    request_timeout: float = 10.0
    block_media: bool = False         # images, media, fonts not fetched (OCR re-renders)
    recycle_after: int = 500          # pages per browser process
    page_reuse: int = 20              # renders per leased context and page before it is replaced
    renderer_processes: int | None = 1  # Chromium's --renderer-process-limit (None: its default)
    concurrency: int = 6
    max_redirects: int = 10
    max_bytes: int = 5 * 1024 * 1024
    ocr: bool = True
    screenshot: bool = True
    mobile: bool = True
    thresholds: DisplayThresholds = field(default_factory=DisplayThresholds)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> RenderOptions:
        get = settings.get
        values = dict(
            executable_path=get("ICPWATCH_CHROMIUM") or None,
            deadline=float(get("ICPWATCH_RENDER_DEADLINE", cls.deadline)),
            settle_seconds=float(get("ICPWATCH_RENDER_SETTLE", cls.settle_seconds)),
            block_media=bool(get("ICPWATCH_RENDER_BLOCK_MEDIA", cls.block_media)),
            recycle_after=int(get("ICPWATCH_RENDER_RECYCLE_AFTER", cls.recycle_after)),
            page_reuse=int(get("ICPWATCH_RENDER_PAGE_REUSE", cls.page_reuse)),
            renderer_processes=int(get("ICPWATCH_RENDER_PROCESS_LIMIT", cls.renderer_processes or 0)) or None,
            concurrency=int(get("ICPWATCH_RENDER_CONCURRENCY", cls.concurrency)),
            max_redirects=int(get("ICPWATCH_MAX_REDIRECTS", cls.max_redirects)),
            max_bytes=int(get("DOWNLOAD_MAXSIZE", cls.max_bytes)),
            request_timeout=float(get("DOWNLOAD_TIMEOUT", cls.request_timeout)),
            thresholds=DisplayThresholds.from_settings(settings),
        )
        values.update(overrides)
        return cls(**values)


class _Visit:
    """State of one page render shared with its route handlers."""

    def __init__(self, page: Any, block_media: bool, local_dir: Path | None) -> None:
        self.page = page
        self.block_media = block_media
        self.local_dir = local_dir
        self.expected_nav: str | None = None   # the URL we are navigating to ourselves
        self.pending_goto: str | None = None   # Location of a main-frame 3xx, to navigate to
        self.chain: list[dict[str, Any]] = []
        self.failure: FetchRefused | None = None
        self.main: FetchResult | None = None
        self.inflight = 0
        self.net_quiet_since = 0.0            # monotonic time the last request in flight ended
        self.navigations = 0
        self.meta_refresh = False             # the current document declares a meta refresh
        self.refused: list[dict[str, str]] = []
        self.blocked = 0
        self.fetched = 0
        self.websockets: list[str] = []
        self.origins: set[str] = set()        # of the documents loaded: whose storage to clear after


class Renderer:
    """Renders pages through the crawler's resolver and address guard; use ``async with``."""

    def __init__(self, *, resolver: Resolver, guard: AddressGuard, ca_file: str | None = None,
                 options: RenderOptions | None = None, user_agent: str | None = None) -> None:
        from crawler import settings as defaults

        self.options = options or RenderOptions()
        self.guard = guard
        self.fetcher = GuardedFetcher(resolver, guard, ca_file=ca_file,
                                      user_agent=user_agent or defaults.USER_AGENT,
                                      timeout=self.options.request_timeout, max_bytes=self.options.max_bytes,
                                      max_redirects=self.options.max_redirects)
        self.pool = BrowserPool(self.options.executable_path, recycle_after=self.options.recycle_after,
                                page_reuse=self.options.page_reuse,
                                renderer_processes=self.options.renderer_processes,
                                spread=self.options.concurrency)
        self._slots = asyncio.Semaphore(self.options.concurrency)
        self.rendered = 0
        self._closing = False

    async def __aenter__(self) -> Renderer:
        await self.pool.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        self._closing = True
        await self.pool.close()
        await self.fetcher.close()

    # ------------------------------------------------------------------------------------ entry
    async def render(self, target: str | Path, *, evidence_dir: Path | None = None,
                     block_media: bool | None = None) -> dict[str, Any]:
        """Render ``target`` (an http(s) URL, or a local .html file as a Path) and return the
        result document (the shape ``icpwatch inspect --json`` prints)."""
        block = self.options.block_media if block_media is None else block_media
        async with self._slots:
            result = await self._render_deadline(target, evidence_dir, block)
            if result.pop("_needs_images", False):  # OCR needs the images the first pass blocked
                result = await self._render_deadline(target, evidence_dir, False)
                result.pop("_needs_images", None)
                result["notes"].append("rendered again with images for OCR")
        self.rendered += 1
        return result

    async def _render_deadline(self, target: str | Path, evidence_dir: Path | None, block: bool) -> dict[str, Any]:
        started = time.monotonic()
        holder: dict[str, Any] = {}
        try:
            async with asyncio.timeout(self.options.deadline):
                doc = await self._render(target, evidence_dir, block, holder, started)
            reusable = True
        except TimeoutError:
            visit: _Visit | None = holder.get("visit")
            doc = self._unknown(target, "timeout", f"the page did not finish within {self.options.deadline:g} s",
                                visit)
            reusable = False  # a page still busy: never lent again
        except FetchRefused as exc:
            doc = self._unknown(target, exc.status, exc.reason, holder.get("visit"))
            reusable = True
        except Exception as exc:  # noqa: BLE001 - a crashed page or browser is unknown, not fatal
            log.warning("render of %s failed: %s", target, exc)
            doc = self._unknown(target, "error", f"{type(exc).__name__}: {exc}".splitlines()[0],
                                holder.get("visit"))
            reusable = False
        finally:
            lease: PageLease | None = holder.get("lease")
            if lease is not None:
                lease.owner = None  # requests the old document still makes are refused
                visit = holder.get("visit")
                await self.pool.give_back(lease, reusable=reusable and not self._closing,
                                          origins=visit.origins if visit else ())
        doc["elapsed"] = round(time.monotonic() - started, 3)
        return doc

    def _unknown(self, target: str | Path, status: str, error: str, visit: _Visit | None) -> dict[str, Any]:
        return {"target": str(target), "final_url": None, "rendered": True, "status": status, "error": error,
                "redirect_chain": visit.chain if visit else [], "marks": [], "display": None,
                "contact": None, "measurements": {}, "evidence": {},
                "requests": self._requests(visit) if visit else {},
                "notes": ["unknown: the rendered check did not complete; no display verdict"]}

    @staticmethod
    def _requests(visit: _Visit) -> dict[str, Any]:
        return {"fetched": visit.fetched, "blocked_media": visit.blocked, "refused": visit.refused[:50],
                "websockets_refused": visit.websockets[:20]}

    # ------------------------------------------------------------------------------- rendering
    async def _render(self, target: str | Path, evidence_dir: Path | None, block: bool,
                      holder: dict[str, Any], started: float) -> dict[str, Any]:
        o = self.options
        local_dir = None
        if isinstance(target, Path):
            local_dir = target.resolve().parent
            url = LOCAL_ORIGIN + target.name
        else:
            url = target
            self.fetcher.check_url(url)
        lease = await self.pool.lease(
            self._prepare, viewport=DESKTOP, service_workers="block", accept_downloads=False,
            java_script_enabled=True, user_agent=self.fetcher.user_agent, locale="zh-CN", bypass_csp=False)
        holder["lease"] = lease
        page = lease.page
        if page.viewport_size != DESKTOP:
            await page.set_viewport_size(DESKTOP)
        visit = holder["visit"] = lease.owner = _Visit(page, block, local_dir)
        await self._navigate(visit, url)
        await self._settle(visit, started)

        final_url = page.url
        measured = await self._measure(visit, final_url)
        if measured.get("_needs_images"):
            return {"_needs_images": True, "notes": []}
        doc = {"target": str(target), "final_url": final_url if local_dir is None else str(target),
               "rendered": True, "status": "ok", "error": None, "redirect_chain": visit.chain, **measured}
        if visit.main is not None and visit.main.status >= 400:
            doc["status"], doc["error"] = "http_error", f"HTTP {visit.main.status}"
        judged, collected = doc.pop("_judged"), doc.pop("_collected")
        captured = await capture(page, await lease.session(), judged) if o.screenshot else None
        if o.mobile:
            doc["measurements"]["mobile"] = await self._measure_mobile(page, collected, final_url)
        if captured is not None:
            doc["evidence"] = write_evidence(captured, Evidence(
                target=str(target), final_url=doc["final_url"], html=visit.main.body if visit.main else b"",
                judged=judged, measurements=doc["measurements"]), evidence_dir)
        doc["requests"] = self._requests(visit)
        return doc

    async def _prepare(self, lease: PageLease) -> None:
        """Set up a new leased context once: the settle counter and the routing of every request
        and websocket to the render the lease currently serves (none between renders: refused)."""
        await lease.context.add_init_script(_SETTLE_SCRIPT % int(self.options.settle_seconds * 1000))

        async def on_route(route: Any) -> None:
            visit = lease.owner
            if visit is None:
                await _quietly(route.abort("blockedbyclient"))
                return
            await self._route(visit, route)

        async def on_websocket(ws: Any) -> None:
            if lease.owner is not None:
                lease.owner.websockets.append(ws.url)
            await ws.close(code=1008, reason="refused by icpwatch")

        await lease.context.route("**/*", on_route)
        await lease.context.route_web_socket("**/*", on_websocket)

    async def _navigate(self, visit: _Visit, url: str) -> None:
        """``page.goto`` that follows main-frame HTTP redirects (see crawler.render.network)."""
        seen = {url}
        while True:
            visit.expected_nav, visit.pending_goto, visit.failure = url, None, None
            try:
                await visit.page.goto(url, wait_until="load")
            except Exception:  # noqa: BLE001 - aborted by our routing: the reason is on the visit
                if visit.pending_goto is None:
                    if visit.failure is not None:
                        raise visit.failure from None
                    raise
            if visit.failure is not None and visit.main is None:
                raise visit.failure
            if visit.pending_goto is None:
                return
            url = visit.pending_goto
            if url in seen:
                raise FetchRefused(url, "redirect_loop", "a redirect came back to a URL already in the chain")
            if len(visit.chain) > self.options.max_redirects:
                raise FetchRefused(url, "too_many_redirects", f"more than {self.options.max_redirects} redirects")
            seen.add(url)

    async def _settle(self, visit: _Visit, started: float) -> None:
        """Wait for script changes and page-driven navigations (see the module docstring)."""
        page, o = visit.page, self.options
        until = time.monotonic() + o.settle_seconds
        quiet = o.quiet_ms / 1000
        seen_navs = visit.navigations
        while time.monotonic() < until:
            if visit.pending_goto is not None:  # a page-driven navigation answered 3xx
                await self._navigate(visit, visit.pending_goto)
                until = time.monotonic() + o.settle_seconds
            if visit.navigations != seen_navs:  # the page navigated itself: wait for the new load
                seen_navs = visit.navigations
                try:
                    await page.wait_for_load_state("load")
                except Exception:  # noqa: BLE001 - a navigation we aborted
                    pass
                if len(visit.chain) > o.max_redirects:
                    raise FetchRefused(page.url, "too_many_redirects", f"more than {o.max_redirects} redirects")
                until = time.monotonic() + o.settle_seconds
                continue
            if visit.inflight:  # the page waits for a response: nothing to ask it yet
                await asyncio.sleep(0.02)
                continue
            cap = max(1, int(min(0.5, until - time.monotonic()) * 1000))
            try:
                state = await page.evaluate(
                    "([q, cap, meta]) => window.__icpwatchQuiet ? window.__icpwatchQuiet(q, cap, meta)"
                    " : [0, !!document.querySelector('meta[http-equiv=refresh i]'), document.readyState, q]",
                    [o.quiet_ms, cap, visit.meta_refresh])
            except Exception:  # noqa: BLE001 - the document went away mid-call: a navigation
                await asyncio.sleep(0.05)
                continue
            _, visit.meta_refresh, _, quiet_for = state
            net_quiet = time.monotonic() - visit.net_quiet_since
            if quiet_for >= o.quiet_ms and not visit.inflight and net_quiet >= quiet:
                return
            if quiet_for >= o.quiet_ms and not visit.inflight:  # the page is quiet, a response just came
                await asyncio.sleep(quiet - net_quiet)

    async def _route(self, visit: _Visit, route: Any) -> None:
        request = route.request
        url = request.url
        try:
            main = request.is_navigation_request() and request.frame == visit.page.main_frame
        except Exception:  # noqa: BLE001 - a detached frame
            main = False
        if request.is_navigation_request():
            parts = urlsplit(url)
            if parts.scheme in ("http", "https"):
                visit.origins.add(f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}")
        if main:
            if url != visit.expected_nav:  # the page navigated itself: a script or meta refresh hop
                visit.chain.append({"url": visit.page.url, "status": visit.main.status if visit.main else None,
                                    "location": url, "kind": "meta" if visit.meta_refresh or _declares_refresh(visit.main)
                                    else "script",
                                    "ip": visit.main.ip if visit.main else None})
                visit.navigations += 1
            visit.expected_nav = None
        elif visit.block_media and request.resource_type in MEDIA_TYPES:
            visit.blocked += 1
            await route.abort("blockedbyclient")
            return
        if visit.local_dir is not None and urlsplit(url).hostname == LOCAL_HOST:
            await self._local(visit, route, url, main)
            return
        visit.inflight += 1
        try:
            result = await self.fetcher.fetch(url, method=request.method, headers=request.headers,
                                              body=request.post_data_buffer, follow=not main)
        except FetchRefused as exc:
            visit.refused.append({"url": url, "status": exc.status, "reason": exc.reason})
            if main:
                visit.failure = exc
            await _quietly(route.abort("blockedbyclient" if exc.status == "refused" else "failed"))
            return
        finally:
            visit.inflight -= 1
            visit.net_quiet_since = time.monotonic()
        visit.fetched += 1
        if main:
            if result.location is not None:
                visit.chain.append({"url": url, "status": result.status, "location": result.location,
                                    "kind": "http", "ip": result.ip})
                visit.pending_goto = result.location
                await _quietly(route.abort("aborted"))
                return
            visit.main = result
        await _quietly(route.fulfill(status=result.status, headers=result.browser_headers(), body=result.body))

    async def _local(self, visit: _Visit, route: Any, url: str, main: bool) -> None:
        """Serve a file of the local target's directory (nothing outside it)."""
        assert visit.local_dir is not None
        path = (visit.local_dir / unquote(urlsplit(url).path).lstrip("/")).resolve()
        if not path.is_relative_to(visit.local_dir) or not path.is_file():
            await _quietly(route.fulfill(status=404, body=b""))
            return
        body = path.read_bytes()
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if main:
            visit.main = FetchResult(url=url, status=200, headers={"Content-Type": ctype}, body=body)
        visit.fetched += 1
        await _quietly(route.fulfill(status=200, headers={"Content-Type": ctype}, body=body))

    # ------------------------------------------------------------------------------- measuring
    async def _measure(self, visit: _Visit, final_url: str) -> dict[str, Any]:
        page, o = visit.page, self.options
        static = self._static(visit, final_url)
        numbers = ({m.number for m in static.marks if m.source != "script"} | set(static.public_security)
                   if static else None)
        data = await page.evaluate(MEASURE_JS, {"op": "collect"})
        collected = Collected(data, numbers)
        page_box, marks = await _measure_marks(page, collected)
        notes: list[str] = []
        if o.ocr and not any(m["visible"] and m["kind"] in ICP_KINDS for m in marks):
            candidates = collected.images_to_read()
            if candidates and visit.block_media:
                return {"_needs_images": True}
            ocr_marks, ocr_notes = await self._ocr(page, collected, candidates)
            notes += ocr_notes
            if ocr_marks:
                page_box, marks = await _measure_marks(page, collected)
        display = judge_display(marks, page_box, final_url, o.thresholds)
        judged = next((m for m in marks if m["number"] == display["number"] and m.get("judgement")), None)
        measurements: dict[str, Any] = {
            "thresholds": o.thresholds.to_dict(),
            "desktop": {"viewport": DESKTOP, "page": page_box, "marks": [_measured(m) for m in marks]},
        }
        from ..contact import find_contacts

        text = data["text"].replace("\x00", "\n")
        for m in marks:  # a mark's digits are no phone number
            text = text.replace(m["text"], " ")
        contact = find_contacts(text, [h for h in data["hrefs"] if h])
        charset = _charset_note(data.get("charset"), visit.main)
        if charset:
            notes.append(charset)
        public = [m["number"] for m in marks if m["kind"] == "public_security"]
        if public and display["verdict"] == "no_mark":
            notes.append("a public-security number is shown, which is not an ICP filing mark")
        out_marks = [{k: m.get(k) for k in ("text", "number", "kind", "province", "placeholder", "valid",
                                             "reason", "source", "visible", "hidden_reason", "confidence")
                      if k != "confidence" or m.get("source") == "ocr"} for m in marks]
        if charset and static is not None and any(m.is_icp for m in static.marks) \
                and not any(m["kind"] in ICP_KINDS for m in marks):
            # The bytes carry a mark the browser's decoding garbled: what a visitor sees is real,
            # but "no number" would blame the layout for a charset defect. Say so.
            display["charset_garbled"] = True
            display["why"] += "; the served bytes carry a mark the browser's charset decoding garbled"
        return {"marks": out_marks, "display": display, "contact": contact, "measurements": measurements,
                "static": _static_brief(static), "title": data.get("title"), "notes": notes,
                "_judged": judged, "_collected": collected}

    async def _measure_mobile(self, page: Any, collected: Collected, final_url: str) -> dict[str, Any]:
        """The marks measured and judged at 375×667 (reported, not judged). It runs last, after the
        desktop evidence: the viewport is left narrow (the next render sets its own before it
        navigates, on a blank page), so the desktop layout is computed once, not twice."""
        await page.set_viewport_size(MOBILE)
        page_box, marks = await _measure_marks(page, collected)
        return {"viewport": MOBILE, "page": page_box,
                "display": _brief(judge_display(marks, page_box, final_url, self.options.thresholds)),
                "marks": [_measured(m) for m in marks]}

    def _static(self, visit: _Visit, final_url: str) -> Any:
        if visit.main is None or not visit.main.body:
            return None
        ctype = next((v for k, v in visit.main.headers.items() if k.lower() == "content-type"), None)
        decoded = decode_body(visit.main.body, ctype)
        return extract(decoded.text, final_url, content_type=ctype)

    async def _ocr(self, page: Any, collected: Collected, images: list[dict[str, Any]]) -> tuple[list[dict], list[str]]:
        from .ocr import OCRUnavailable, ocr_available, read_marks

        if not images:
            return [], []
        why = ocr_available()
        if why is not None:
            return [], [f"images not read: {why}"]
        found: list[dict[str, Any]] = []
        notes: list[str] = []
        for img in images:
            handle = await page.evaluate_handle("(i) => window.__icpwatch.imgs[i]", img["index"])
            element = handle.as_element()
            if element is None:
                continue
            try:
                png = await element.screenshot(type="png", timeout=3000)
                reading = await asyncio.to_thread(read_marks, png)
            except OCRUnavailable as exc:
                return found, [f"images not read: {exc}"]
            except Exception as exc:  # noqa: BLE001 - an image that cannot be captured
                notes.append(f"image {img.get('src')}: not captured ({type(exc).__name__})")
                continue
            notes.append(f"OCR of {img.get('src')}: {reading.text!r} (confidence {reading.confidence})")
            entries = [mark_entry(fm, "ocr") for fm in reading.marks]
            entries += [{**mark_entry(fm, "ocr"), "text": read_as + fm.text[1:], "province": None, "valid": False,
                         "number": UNREAD_PROVINCE + fm.normalized[1:],
                         "reason": f"the province character is unreadable in the image (read as {read_as})"}
                        for read_as, fm in reading.unread_province]
            for entry in entries:
                entry.update(confidence=reading.confidence, image_sha256=hashlib.sha256(png).hexdigest())
                collected.marks.append(entry)
                collected.items.append({"image": img["index"]})
                found.append(entry)
        return found, notes


async def _measure_marks(page: Any, collected: Collected) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Phase "measure" of ``collected``'s marks at the current viewport: the page's box and the
    marks with their measured boxes."""
    measured = await page.evaluate(MEASURE_JS, {"op": "measure", "items": collected.items})
    return measured["page"], find_page_marks(collected, measured["marks"])


_REFRESH_RE = re.compile(rb"<meta[^>]+http-equiv\s*=\s*[\"']?refresh", re.I)


def _declares_refresh(main: FetchResult | None) -> bool:
    """Whether the served document declares a meta refresh (what made the page navigate, when
    no script did: a 0-second refresh fires before any settle check could see it)."""
    return bool(main is not None and _REFRESH_RE.search(main.body[:65536]))


def _charset_note(browser_charset: str | None, main: FetchResult | None) -> str | None:
    """A note when the browser decoded the page with another charset than the served bytes are in
    (an undeclared or wrongly declared page: visitors see garbled text)."""
    if not browser_charset or main is None or not main.body:
        return None
    import codecs

    ctype = next((v for k, v in main.headers.items() if k.lower() == "content-type"), None)
    decoded = decode_body(main.body, ctype)
    try:
        same = codecs.lookup(browser_charset).name == codecs.lookup(decoded.encoding).name
    except LookupError:
        same = False
    if same or {browser_charset.lower(), decoded.encoding.lower()} <= {"gbk", "gb18030", "gb2312"}:
        return None
    return (f"the browser decoded the page as {browser_charset}; its bytes are {decoded.encoding} "
            f"(declared {decoded.declared or 'nowhere'}): visitors see garbled text")


def _measured(m: dict[str, Any]) -> dict[str, Any]:
    keep = ("number", "source", "visible", "hidden_reason", "box", "line_box", "fixed", "element", "judgement")
    out = {k: m.get(k) for k in keep}
    out["rects"] = m.get("rects")
    out["links"] = m.get("links")
    return out


def _brief(display: dict[str, Any]) -> dict[str, Any]:
    return {k: display.get(k) for k in ("number", "visible", "bottom", "centred", "link", "verdict")}


def _static_brief(static: Any) -> dict[str, Any] | None:
    if static is None:
        return None
    return {"kind": static.kind, "marks": [{"number": m.number, "source": m.source, "in_footer": m.in_footer,
                                            "centred": m.centred, "hidden": m.hidden, "link_kind": m.link_kind}
                                           for m in static.marks],
            "notes": static.notes}


async def _quietly(awaitable: Any) -> None:
    """Answer a route; the page may have gone away meanwhile (navigated, closed)."""
    try:
        await awaitable
    except Exception:  # noqa: BLE001
        pass
