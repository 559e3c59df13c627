"""Scrapy settings of the icpwatch crawler (``scrapy.cfg``: ``default = crawler.settings``).

Everything a sweep must respect is here, from the start: a clear User-Agent with a contact URL,
no cookies, no telnet console, capped bodies, a total download timeout, one retry, at most 10
redirects (recorded hop by hop by our own middleware, never dropped), per-address concurrency
caps under AutoThrottle, certificates verified, and only the guarded DNS resolver.

icpwatch's own settings (all ``ICPWATCH_*``):

=============================  =====================================================================
ICPWATCH_DB                    SQLAlchemy URL of the store (observations are written there)
ICPWATCH_RUN_ID                the crawl run the observations belong to
ICPWATCH_RESOLVER              DNS server "HOST:PORT", or several comma-separated, asked in turn (None: the system's)
ICPWATCH_ALLOW_PRIVATE         permit loopback/private addresses (sandbox, internal sweeps)
ICPWATCH_CA_FILE               PEM file of trusted CAs (None: the platform's trust store)
ICPWATCH_HTTP_CLIENT           "aiohttp" (crawler.download, the default) or "twisted" (Scrapy's HTTP/1.1)
ICPWATCH_MAX_REDIRECTS         hops followed per visit (10)
ICPWATCH_CIDR_CAP              most addresses a CIDR target may expand to (65536)
ICPWATCH_SLOT_BY_ADDRESS       one download slot per serving address (True): the per-address cap
ICPWATCH_CONCURRENT_PER_DOMAIN at most this many requests in flight per independent domain (4)
ICPWATCH_OWNERSHIP             look up who owns each serving address (True)
ICPWATCH_OWNERSHIP_DNS         "HOST:PORT" answering Team Cymru origin queries (None: the real one)
ICPWATCH_RDAP_URL              RDAP base URL (None: the real RIRs)
ICPWATCH_OWNERSHIP_TIMEOUT     seconds per ownership lookup (5)
ICPWATCH_BATCH_SIZE            observations per store write (500)
ICPWATCH_BATCH_SECONDS         longest an observation waits to be written (2.0)
ICPWATCH_QUEUE_BATCH           target lines a worker takes from the shared queue at a time (64)
ICPWATCH_PROGRESS              "auto" (rich on a terminal, log lines otherwise), "rich", "log", "off"
ICPWATCH_PROGRESS_INTERVAL     seconds between plain progress lines (10)
ICPWATCH_CONTACT_URL           contact URL named in the User-Agent
ICPWATCH_MAX_HEADER_BYTES      response headers larger than this are a protocol_error (256 KiB)
ICPWATCH_KEEPALIVE_SECONDS     how long an idle connection is kept for another request to its host (2)
ICPWATCH_CHROMIUM              Chromium executable for the rendered check (None: chromium-headless-shell,
                               else chromium, on PATH)
ICPWATCH_RENDER_DEADLINE       seconds one rendered page may take; after it the page is unknown (20)
ICPWATCH_RENDER_SETTLE         longest wait after load for script changes and redirects (3)
ICPWATCH_RENDER_BLOCK_MEDIA    fetch no images, media, fonts (a page needing OCR is rendered again)
ICPWATCH_RENDER_RECYCLE_AFTER  pages per Chromium process before it is replaced (500)
ICPWATCH_RENDER_CONCURRENCY    pages rendered at once (6)
ICPWATCH_RENDER_PAGE_REUSE     renders per browser context and page before they are replaced (20)
ICPWATCH_RENDER_PROCESS_LIMIT  Chromium's --renderer-process-limit (1: a page keeps its process)
ICPWATCH_DISPLAY_BOTTOM_PX     "bottom": at most max(this, BOTTOM_FRACTION x page height) below (300)
ICPWATCH_DISPLAY_BOTTOM_FRACTION  see ICPWATCH_DISPLAY_BOTTOM_PX (0.15)
ICPWATCH_DISPLAY_CENTRE_FRACTION  "centred": box or line centre within this x page width (0.10)
ICPWATCH_DISPLAY_LINK_GAP_PX   "link": a filing-system link starting within this below the mark (80)
=============================  =====================================================================
"""

from __future__ import annotations

from icpwatch import __version__

BOT_NAME = "icpwatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

ICPWATCH_CONTACT_URL = "https://github.com/icpwatch/icpwatch#crawler"
USER_AGENT = (f"icpwatch/{__version__} (website-filing compliance crawler; "
              f"+{ICPWATCH_CONTACT_URL})")
ROBOTSTXT_OBEY = False  # one homepage per site, as a visitor sees it; the regulator's sweep
COOKIES_ENABLED = False
# Scrapy checks every callback for a generator "return value" by parsing its source; on a bound
# method the check is never cached, so it would re-parse the spider's source for every page.
WARN_ON_GENERATOR_RETURN_VALUE = False
TELNETCONSOLE_ENABLED = False
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
TWISTED_DNS_RESOLVER = "crawler.dnsresolver.GuardedResolver"  # (DNS_RESOLVER before Scrapy 2.14)
DNS_TIMEOUT = 5                      # whole resolution of one name (both families, retries)
# http(s) fetched by crawler.download: the guarded aiohttp handler, or with ICPWATCH_HTTP_CLIENT =
# "twisted" Scrapy's HTTP/1.1 handler (same guard, resolver and trust; more CPU per page)
DOWNLOAD_HANDLERS = {"http": "crawler.download.GuardedAiohttpDownloadHandler",
                     "https": "crawler.download.GuardedAiohttpDownloadHandler"}
ICPWATCH_HTTP_CLIENT = "aiohttp"
LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"

# ---- limits ---------------------------------------------------------------------------------------
DOWNLOAD_MAXSIZE = 5 * 1024 * 1024   # also caps decompressed bodies (HttpCompressionMiddleware)
DOWNLOAD_WARNSIZE = 1024 * 1024
DOWNLOAD_TIMEOUT = 15                # total per request: connect, headers and body
DOWNLOAD_FAIL_ON_DATALOSS = True
ICPWATCH_MAX_HEADER_BYTES = 256 * 1024   # a browser gives up on larger response headers
RETRY_ENABLED = True
RETRY_TIMES = 1
RETRY_HTTP_CODES = [500, 502, 503, 504, 429]
# connection errors before any response only: a timeout or a body cut short is a hostile or
# broken server, and costs one bounded request
RETRY_EXCEPTIONS = [
    "scrapy.exceptions.DownloadConnectionRefusedError",
    "twisted.internet.error.ConnectionRefusedError",
    "twisted.internet.error.ConnectError",
    "twisted.web._newclient.ResponseNeverReceived",
]
ICPWATCH_MAX_REDIRECTS = 10
REDIRECT_ENABLED = False             # replaced by RedirectChainMiddleware
METAREFRESH_ENABLED = False          # meta refresh is followed (and recorded) by the spider
DUPEFILTER_CLASS = "scrapy.dupefilters.BaseDupeFilter"  # every request is a deliberate visit or hop

# ---- concurrency ----------------------------------------------------------------------------------
CONCURRENT_REQUESTS = 256
CONCURRENT_REQUESTS_PER_DOMAIN = 8   # per download slot, and slots are per serving address
ICPWATCH_SLOT_BY_ADDRESS = True
ICPWATCH_KEEPALIVE_SECONDS = 2.0
REACTOR_THREADPOOL_MAXSIZE = 20
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.0
AUTOTHROTTLE_MAX_DELAY = 5.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 8.0
DOWNLOAD_DELAY = 0

# ---- TLS ------------------------------------------------------------------------------------------
DOWNLOADER_CLIENTCONTEXTFACTORY = "crawler.tls.VerifyingContextFactory"
ICPWATCH_CA_FILE = None

# ---- components -----------------------------------------------------------------------------------
# Every component below runs for every request and costs CPU on every page: those a homepage
# sweep has no use for are off.
DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.HopGuardMiddleware": 50,
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,  # no allowed_domains: every host is a target
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,  # never send credentials
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
    # a proxy from the environment would carry the request to an address the guard never saw
    "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware": None,
    "crawler.dnsresolver.GuardedLookupMiddleware": 560,
    "crawler.middlewares.RedirectChainMiddleware": 600,
}
SPIDER_MIDDLEWARES = {
    "crawler.middlewares.ResumeMiddleware": 10,
    # hops are counted by the visit itself (ICPWATCH_MAX_REDIRECTS); a hop is never dropped for
    # its URL's length (that would lose the visit's observation), and no Referer is invented
    "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}
# A callback yields exactly one request or observation; Scrapy starts this many tasks per
# callback to process its output in parallel (100 by default: 100 tasks for one item).
CONCURRENT_ITEMS = 1
ITEM_PIPELINES = {
    "crawler.pipelines.OwnershipPipeline": 100,
    "crawler.pipelines.StorePipeline": 800,
}
EXTENSIONS = {
    "scrapy.extensions.telnet.TelnetConsole": None,
    "scrapy.extensions.remote_control.RemoteControl": None,  # no listening socket of any kind
    "crawler.progress.ProgressExtension": 500,
}

ICPWATCH_DB = None
ICPWATCH_RUN_ID = None
ICPWATCH_RESOLVER = None
ICPWATCH_ALLOW_PRIVATE = False
ICPWATCH_CIDR_CAP = 65536
ICPWATCH_CONCURRENT_PER_DOMAIN = 4
ICPWATCH_OWNERSHIP = True
ICPWATCH_OWNERSHIP_DNS = None
ICPWATCH_RDAP_URL = None
ICPWATCH_OWNERSHIP_TIMEOUT = 5.0
ICPWATCH_BATCH_SIZE = 500
ICPWATCH_BATCH_SECONDS = 2.0
ICPWATCH_QUEUE_BATCH = 64  # small enough that every worker gets a share of a short list
ICPWATCH_PROGRESS = "auto"
ICPWATCH_PROGRESS_INTERVAL = 10.0

# ---- the rendered display check (crawler.render; DESIGN.md §2 "Bottom centre, made measurable") --
ICPWATCH_CHROMIUM = None
ICPWATCH_RENDER_DEADLINE = 20.0
ICPWATCH_RENDER_SETTLE = 3.0
ICPWATCH_RENDER_BLOCK_MEDIA = False
ICPWATCH_RENDER_RECYCLE_AFTER = 500
ICPWATCH_RENDER_CONCURRENCY = 6
# a context's in-memory state grows with its renders: at 50 the first browser rose 24 % (PSS) over
# its 100th-page memory, at 20 within 12 %, and fewer garbage-laden contexts cost less CPU, not more
ICPWATCH_RENDER_PAGE_REUSE = 20
ICPWATCH_RENDER_PROCESS_LIMIT = 1
ICPWATCH_DISPLAY_BOTTOM_PX = 300
ICPWATCH_DISPLAY_BOTTOM_FRACTION = 0.15
ICPWATCH_DISPLAY_CENTRE_FRACTION = 0.10
ICPWATCH_DISPLAY_LINK_GAP_PX = 80
