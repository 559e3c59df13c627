"""Debian's Chromium, driven by Playwright, locked down so only our routing can feed it.

Launched with ``executable_path`` (never a downloaded browser; Debian's headless shell when it is
installed, see :func:`find_chromium`) and:

* a proxy that points nowhere (``127.0.0.1:9``, the discard port, with loopback *not* bypassed):
  a request that escaped interception — a fulfilled redirect's next hop, a prefetch, anything —
  dies there instead of reaching a network;
* ``--host-resolver-rules`` mapping every name to nothing, so Chromium resolves no name itself;
* WebRTC limited to proxied UDP (which there is none of), no background networking, component
  updates, sync, DNS prefetch or QUIC;
* per context: service workers blocked, websockets refused (``route_web_socket``), downloads
  refused.

Pages are leased (:meth:`BrowserPool.lease`): a context holding one page serves up to
``page_reuse`` renders, one at a time, and is then closed — a fresh context and page per render
cost a renderer process each, most of a render's time. Between two renders the page is blanked
(the old document, its timers and requests end) and the context's cookies and the storage of
every origin the render touched are cleared, so no render sees what an earlier one left. A lease
that ended badly (timeout, crash) is closed, never reused. The browser itself is replaced after
``recycle_after`` renders (the old one closes once its last lease is back), so a sweep of any
length runs in flat memory.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BrowserUnavailable", "BrowserPool", "CHROMIUM_NAMES", "LAUNCH_ARGS", "PageLease", "find_chromium"]

log = logging.getLogger(__name__)

DEAD_PROXY = "http://127.0.0.1:9"
#: longest a leased page may take to be cleaned for the next render (else it is closed)
CLEAN_SECONDS = 3.0
LAUNCH_ARGS = (
    "--no-sandbox",                       # root in containers; the page is fed only by our routing
    "--proxy-bypass-list=<-loopback>",    # loopback too goes to the dead proxy
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    # Playwright passes a --disable-features of its own and Chromium reads only one of the two,
    # so this one repeats those of Playwright's that matter here (PaintHolding, HttpsUpgrades,
    # ThirdPartyStoragePartitioning). Without site isolation a leased page keeps one renderer
    # process across the sites it renders instead of starting one per site: the browser holds no
    # user's data for another site to steal, and each render's storage is cleared after it.
    "--disable-features=DnsOverHttps,NetworkPrediction,Prerender2,OptimizationHints,"
    "MediaRouter,DialMediaRouteProvider,AcceptCHFrame,site-per-process,IsolateOrigins,Translate,"
    "BackForwardCache,PaintHolding,HttpsUpgrades,ThirdPartyStoragePartitioning",
    "--disable-site-isolation-trials",
    "--dns-prefetch-disable",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--disable-gpu",
    "--disable-dev-shm-usage",
)


class BrowserUnavailable(RuntimeError):
    """No Chromium to render with (Debian's ``chromium`` package is not installed)."""


#: Debian's Chromium executables, best first. The headless shell (package
#: chromium-headless-shell) is the same engine without a browser window: the full browser, even
#: headless, lays out and paints its toolbar, tab strip and loading animation for every
#: navigation, which costs about as much CPU as rendering the page itself.
CHROMIUM_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser")


def find_chromium(path: str | None = None) -> str:
    """The Chromium executable: ``path`` when given, else the first of :data:`CHROMIUM_NAMES`
    on PATH."""
    found = path or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if not found or not shutil.which(found):
        raise BrowserUnavailable(
            f"no Chromium at {path!r}" if path else
            "Chromium is not installed (Debian: apt-get install chromium-headless-shell; "
            "scripts/install.sh does it)")
    return found


@dataclass
class _Generation:
    browser: Any
    pages: int = 0
    leases: int = 0     # leases made in this browser
    open: int = 0
    retired: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(eq=False)
class PageLease:
    """A context with its one page, lent for one render at a time (see the module docstring).

    ``owner`` is whatever the borrower keeps with it between renders (the renderer: the state
    its route handlers dispatch to)."""

    context: Any
    page: Any
    gen: _Generation
    key: str
    renders: int = 0
    limit: int = 0      # renders this lease serves before its context is closed
    owner: Any = None
    cdp: Any = None

    async def session(self) -> Any:
        """The page's own DevTools session (storage clearing, screenshots), opened once."""
        if self.cdp is None:
            self.cdp = await self.context.new_cdp_session(self.page)
        return self.cdp


class BrowserPool:
    """Hands out contexts and page leases from a Chromium replaced every ``recycle_after`` renders."""

    def __init__(self, executable_path: str | None = None, *, recycle_after: int = 500,
                 page_reuse: int = 20, renderer_processes: int | None = None, spread: int = 1) -> None:
        self.executable_path = find_chromium(executable_path)
        self.recycle_after = recycle_after
        self.page_reuse = max(1, page_reuse)
        self.spread = max(1, spread)
        self.renderer_processes = renderer_processes
        self._playwright: Any = None
        self._current: _Generation | None = None
        self._lock = asyncio.Lock()
        self._retired: list[_Generation] = []
        self._idle: list[PageLease] = []
        self.launches = 0

    @property
    def idle(self) -> tuple[PageLease, ...]:
        """The leases waiting, cleaned, for the next render."""
        return tuple(self._idle)

    async def start(self) -> None:
        from playwright.async_api import async_playwright

        if self._playwright is None:
            self._playwright = await async_playwright().start()

    async def _launch(self) -> _Generation:
        try:
            args = list(LAUNCH_ARGS)
            if self.renderer_processes:
                # Past the limit Chromium gives a navigation a process of the same context that
                # exists already, instead of starting one for every site a leased page visits
                # (contexts never share a process: each render keeps its own).
                args.append(f"--renderer-process-limit={self.renderer_processes}")
            browser = await self._playwright.chromium.launch(
                executable_path=self.executable_path, args=args, headless=True,
                proxy={"server": DEAD_PROXY, "bypass": ""}, chromium_sandbox=False)
        except Exception as exc:  # playwright's Error: the executable would not start
            raise BrowserUnavailable(f"Chromium at {self.executable_path} did not start: {exc}") from None
        self.launches += 1
        return _Generation(browser)

    async def _generation(self) -> _Generation:
        """The browser to render the next page in, counted; under ``self._lock``."""
        gen = self._current
        if gen is None or gen.pages >= self.recycle_after or not gen.browser.is_connected():
            if gen is not None:
                gen.retired = True
                self._retired.append(gen)
                for lease in [x for x in self._idle if x.gen is gen]:
                    self._idle.remove(lease)
                    gen.open -= 1
                if gen.open == 0:
                    await self._close(gen)
            gen = self._current = await self._launch()
        gen.pages += 1
        gen.open += 1
        return gen

    async def context(self, **options: Any) -> tuple[Any, _Generation]:
        """A new browser context (``options`` as Playwright's ``new_context``) and its generation;
        give both back with :meth:`release`."""
        await self.start()
        async with self._lock:
            gen = await self._generation()
        context = await gen.browser.new_context(**options)
        return context, gen

    async def lease(self, setup: Callable[[PageLease], Awaitable[None]], **options: Any) -> PageLease:
        """A page for one render: an idle one of the current browser made with the same
        ``options`` (Playwright's ``new_context``), else a new context and page, prepared once by
        ``setup`` (routes, init scripts). Give it back with :meth:`give_back`."""
        await self.start()
        key = repr(sorted(options.items()))
        async with self._lock:
            gen = await self._generation()
            for lease in self._idle:
                if lease.gen is gen and lease.key == key:
                    self._idle.remove(lease)
                    gen.open -= 1  # the idle lease was counted open already
                    lease.renders += 1
                    return lease
        context = await gen.browser.new_context(**options)
        try:
            # A renderer's memory grows with the pages it served. The first ``spread`` leases of a
            # browser (one per render at once) serve 1/spread, 2/spread, … of page_reuse, so their
            # contexts are replaced one at a time from then on, not all together: the browser's
            # memory stays level instead of rising and falling by the whole cycle.
            first = gen.leases < self.spread
            limit = self.page_reuse * (gen.leases + 1) // self.spread if first else self.page_reuse
            gen.leases += 1
            lease = PageLease(context, await context.new_page(), gen, key, renders=1, limit=max(1, limit))
            await setup(lease)
        except BaseException:
            await self.release(context, gen)
            raise
        return lease

    async def give_back(self, lease: PageLease, *, reusable: bool, origins: Iterable[str] = ()) -> None:
        """End ``lease``'s render. A reusable page is blanked and its context's cookies and the
        storage of ``origins`` (scheme://host[:port] the render reached) cleared, then kept for
        the next render; otherwise, or after ``page_reuse`` renders, its context is closed."""
        gen = lease.gen
        if reusable and lease.renders < lease.limit and not gen.retired and gen.browser.is_connected():
            try:
                await self._clean(lease, origins)
            except Exception as exc:  # noqa: BLE001 - a page that cannot be cleaned is not reused
                log.debug("page not reused: %s", exc)
            else:
                async with self._lock:
                    if not gen.retired:
                        self._idle.append(lease)
                        return
        await self.release(lease.context, gen)

    @staticmethod
    async def _clean(lease: PageLease, origins: Iterable[str]) -> None:
        async with asyncio.timeout(CLEAN_SECONDS):
            await BrowserPool._clean_now(lease, origins)

    @staticmethod
    async def _clean_now(lease: PageLease, origins: Iterable[str]) -> None:
        page = lease.page
        for other in lease.context.pages:  # windows the page opened
            if other is not page:
                await other.close()
        # sessionStorage lives with the tab, not the origin's storage: clear it in the document
        # that used it, before the document goes.
        await page.evaluate("() => { try { sessionStorage.clear(); } catch (e) {} }")
        await page.goto("about:blank")  # after it no document of the render can write anything
        cdp = await lease.session()
        await asyncio.gather(lease.context.clear_cookies(), *(
            cdp.send("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})
            for origin in set(origins)))

    async def release(self, context: Any, gen: _Generation) -> None:
        try:
            await context.close()
        except Exception:  # noqa: BLE001 - a crashed browser's context is gone anyway
            pass
        gen.open -= 1
        if gen.retired and gen.open == 0:
            await self._close(gen)

    async def _close(self, gen: _Generation) -> None:
        if gen.closed.is_set():
            return
        gen.closed.set()
        try:
            await gen.browser.close()
        except Exception:  # noqa: BLE001
            pass
        if gen in self._retired:
            self._retired.remove(gen)

    async def close(self) -> None:
        self._idle.clear()
        for gen in [*self._retired, self._current]:
            if gen is not None:
                await self._close(gen)
        self._current = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None
