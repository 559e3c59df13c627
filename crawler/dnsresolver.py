"""The crawler's Twisted name resolver: resolve with :mod:`crawler.resolve`, admit only guarded addresses.

Scrapy's HTTP/1.1 download handler connects through Twisted's ``HostnameEndpoint``, which asks
the reactor's ``nameResolver`` (an ``IHostnameResolver``) for addresses and connects to exactly
those.  :class:`GuardedResolver` is installed as that resolver, so the address a page is fetched
from is the address this module resolved (with dnspython, against ``--resolver``) and checked
(with :class:`~crawler.guard.AddressGuard`) — nothing resolves the name a second time.  It also
serves ``reactor.resolver`` (Twisted wraps it), which ``connectTCP`` with a host name uses.

Settings (Scrapy project)::

    TWISTED_DNS_RESOLVER = "crawler.dnsresolver.GuardedResolver"   # DNS_RESOLVER: deprecated alias
    ICPWATCH_RESOLVER = "127.0.0.1:5353"    # HOST[:PORT] / [v6]:PORT, several comma-separated; None = the system's
    ICPWATCH_ALLOW_PRIVATE = False          # --allow-private
    DNS_TIMEOUT = 5                         # seconds for the whole resolution of one name
    ICPWATCH_DNS_MAX_CHAIN = 8              # longest CNAME chain accepted
    DOWNLOADER_MIDDLEWARES = {"crawler.dnsresolver.GuardedLookupMiddleware": 560}

Both download handlers use it: Twisted's HTTP/1.1 handler through the reactor, and
:class:`crawler.download.GuardedAiohttpDownloadHandler` through its connector's resolver.
Scrapy's own aiohttp/httpx handlers resolve names their own way and are never configured.

Failures.  ``HostnameEndpoint`` turns "no addresses" into its own ``DNSLookupError("no results
for hostname lookup")`` and Scrapy wraps that in ``CannotResolveHostError``; an exception raised
by a name resolver cannot reach the request.  So every outcome is recorded on the resolver
(:attr:`GuardedResolver.resolutions`, :attr:`~GuardedResolver.refusals`,
:meth:`~GuardedResolver.lookup_error`), and :class:`GuardedLookupMiddleware` replaces the generic
error with the recorded :class:`GuardedLookupError` — "dns_error: nxdomain" or "refused: private
address" — before the retry middleware (550) sees it, so a refusal or a definite DNS answer is
not retried (the resolver already retried within its lifetime).

Where spiders find it.  Scrapy builds the resolver once per process with the *CrawlerProcess*
(not a Crawler) and installs it on the reactor, so the record is per process:
:meth:`GuardedResolver.installed` returns it (``reactor.nameResolver``), and ``from_crawler`` also
sets ``icpwatch_resolver`` on the object it is given.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from scrapy.exceptions import CannotResolveHostError
from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IAddress, IHostnameResolver, IHostResolution, IResolutionReceiver
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from zope.interface import implementer

from crawler.guard import AddressGuard, AddressRefused, InvalidURLHost, is_ip_address, parse_host
from crawler.resolve import Resolution, Resolver

__all__ = ["GuardedLookupError", "GuardedLookupMiddleware", "GuardedResolver"]

log = logging.getLogger(__name__)

DEFAULT_KEEP = 100_000
"""Names whose outcome the resolver remembers for spiders and pipelines (oldest dropped first)."""

_K = TypeVar("_K")
_V = TypeVar("_V")


class _Bounded(OrderedDict[_K, _V], Generic[_K, _V]):
    """A dict that forgets its oldest entries beyond ``limit`` (a sweep can visit millions of names)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: _K, value: _V) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class GuardedLookupError(DNSLookupError, CannotResolveHostError):
    """A connection refused before it was made: the name did not resolve, or the guard refused
    every address.  ``str()`` is the observation to record ("dns_error: nxdomain (name)",
    "refused: private address (10.0.0.1)").

    Subclasses both Twisted's ``DNSLookupError`` and Scrapy's ``CannotResolveHostError`` so that
    errbacks written for either see it.
    """

    def __init__(self, host: str, *, resolution: Resolution | None = None,
                 refusal: AddressRefused | None = None) -> None:
        if resolution is None and refusal is None:
            raise TypeError("GuardedLookupError needs a resolution or a refusal")
        self.host = host
        self.resolution = resolution
        self.refusal = refusal
        super().__init__(str(self))

    @property
    def reason(self) -> str:
        """``refused: <guard reason>`` or ``dns_error: <resolution status>``."""
        if self.refusal is not None:
            return f"refused: {self.refusal.reason}"
        assert self.resolution is not None
        return f"dns_error: {self.resolution.status}"

    def __str__(self) -> str:
        if self.refusal is not None:
            return str(self.refusal)
        return f"{self.reason} ({self.host})"

    def __reduce__(self) -> tuple[Any, ...]:  # picklable despite the keyword-only arguments
        return _rebuild_error, (self.host, self.resolution, self.refusal)


def _rebuild_error(host: str, resolution: Resolution | None, refusal: AddressRefused | None) -> GuardedLookupError:
    return GuardedLookupError(host, resolution=resolution, refusal=refusal)


@implementer(IHostResolution)
class _HostResolution:
    def __init__(self, name: str, deferred: defer.Deferred[Any]) -> None:
        self.name = name
        self._deferred = deferred

    def cancel(self) -> None:
        self._deferred.cancel()


@implementer(IHostnameResolver)
class GuardedResolver:
    """``IHostnameResolver`` that resolves with :class:`~crawler.resolve.Resolver` and hands
    Twisted only addresses the :class:`~crawler.guard.AddressGuard` accepts.

    A literal IP host (in any spelling browsers accept, ``0x7f.1`` included) skips DNS but is
    still checked.  Of a mixed answer, the acceptable addresses are used and the refused ones are
    recorded in :attr:`refusals`; when none is acceptable the lookup fails.
    """

    def __init__(self, reactor: Any, *, nameserver: str | None = None, allow_private: bool = False,
                 timeout: float = 2.0, lifetime: float = 5.0, max_chain: int = 8,
                 cache_size: int = 100_000, keep: int = DEFAULT_KEEP,
                 own_addresses: Sequence[str] | None = None) -> None:
        self.reactor = reactor
        self.resolver = Resolver(nameserver, timeout=min(timeout, lifetime), lifetime=lifetime,
                                 max_chain=max_chain, cache_size=cache_size)
        self.guard = AddressGuard(allow_private=allow_private, own_addresses=own_addresses)
        self.resolutions: _Bounded[str, Resolution] = _Bounded(keep)
        """Latest Resolution of every name looked up (canonical host → Resolution)."""
        self.refusals: _Bounded[str, tuple[AddressRefused, ...]] = _Bounded(keep)
        """Addresses the guard refused, by name (only names with at least one refusal)."""
        self._failures: _Bounded[str, GuardedLookupError] = _Bounded(keep)

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        """Built by Scrapy from the settings listed in the module docstring."""
        settings = crawler.settings
        lifetime = settings.getfloat("DNS_TIMEOUT", 5.0)
        cache_size = settings.getint("DNSCACHE_SIZE", 100_000) if settings.getbool("DNSCACHE_ENABLED", True) else 0
        resolver = cls(
            reactor,
            nameserver=settings.get("ICPWATCH_RESOLVER") or None,
            allow_private=settings.getbool("ICPWATCH_ALLOW_PRIVATE", False),
            lifetime=lifetime,
            max_chain=settings.getint("ICPWATCH_DNS_MAX_CHAIN", 8),
            cache_size=cache_size,
        )
        try:
            crawler.icpwatch_resolver = resolver
        except AttributeError:  # an object that takes no new attributes: installed() still works
            pass
        return resolver

    def install_on_reactor(self) -> None:
        """Make this the reactor's name resolver (Scrapy calls this after ``from_crawler``)."""
        self.reactor.installNameResolver(self)

    @staticmethod
    def installed(reactor: Any = None) -> GuardedResolver | None:
        """The GuardedResolver installed on ``reactor`` (default: the global one), if any."""
        if reactor is None:
            from twisted.internet import reactor as global_reactor
            reactor = global_reactor
        resolver = getattr(reactor, "nameResolver", None)
        return resolver if isinstance(resolver, GuardedResolver) else None

    # ------------------------------------------------------------------ records

    def lookup_error(self, host: str) -> GuardedLookupError | None:
        """The error of the latest failed lookup of ``host`` (any spelling), or None."""
        key = self._key(host)
        return self._failures.get(key) if key is not None else None

    def resolution_for(self, host: str) -> Resolution | None:
        """The latest Resolution of ``host`` (any spelling), or None if it was never looked up."""
        key = self._key(host)
        return self.resolutions.get(key) if key is not None else None

    @staticmethod
    def _key(host: str) -> str | None:
        try:
            return _canonical(host)
        except InvalidURLHost:
            return None

    # ------------------------------------------------------------------ lookups

    def lookup(self, host: str) -> defer.Deferred[tuple[str, ...]]:
        """Deferred firing with the checked addresses of ``host``, or failing with
        :class:`GuardedLookupError`; the outcome is recorded either way."""
        try:
            name = _canonical(host)
        except InvalidURLHost as exc:
            resolution = Resolution(host, "error", error=str(exc))
            return defer.fail(self._fail(host, GuardedLookupError(host, resolution=resolution)))
        if is_ip_address(name):
            resolved: defer.Deferred[Resolution] = defer.succeed(Resolution(name, "ok", addresses=(name,)))
        else:
            resolved = self._resolve(name)
        return resolved.addCallback(self._admit)

    def _resolve(self, name: str) -> defer.Deferred[Resolution]:
        from scrapy.utils.reactor import is_asyncio_reactor_installed

        if is_asyncio_reactor_installed():
            from scrapy.utils.defer import deferred_from_coro

            return deferred_from_coro(self.resolver.resolve_async(name))
        return deferToThreadPool(self.reactor, self.reactor.getThreadPool(), self.resolver.resolve, name)

    def _admit(self, resolution: Resolution) -> tuple[str, ...]:
        """Record ``resolution`` and keep the addresses the guard accepts (or raise)."""
        name = resolution.name
        self.resolutions[name] = resolution
        if not resolution.ok:
            raise self._fail(name, GuardedLookupError(name, resolution=resolution))
        allowed: list[str] = []
        refused: list[AddressRefused] = []
        for address in resolution.addresses:
            reason = self.guard.refusal(address)
            if reason is None:
                allowed.append(address)
            else:
                refused.append(AddressRefused(address, reason))
        if refused:
            self.refusals[name] = tuple(refused)
        else:
            self.refusals.pop(name, None)
        if not allowed:
            raise self._fail(name, GuardedLookupError(name, resolution=resolution, refusal=refused[0]))
        self._failures.pop(name, None)
        return tuple(allowed)

    def _fail(self, name: str, error: GuardedLookupError) -> GuardedLookupError:
        self._failures[name] = error
        log.debug("lookup of %s failed: %s", name, error)
        return error

    def resolveHostName(  # noqa: N802 (Twisted's interface)
        self,
        resolutionReceiver: IResolutionReceiver,  # noqa: N803
        hostName: str,  # noqa: N803
        portNumber: int = 0,  # noqa: N803
        addressTypes: Sequence[type[IAddress]] | None = None,  # noqa: N803
        transportSemantics: str = "TCP",  # noqa: N803
    ) -> IHostResolution:
        """``IHostnameResolver``: report the checked addresses of ``hostName``, or none at all."""
        deferred = self.lookup(hostName)
        resolution = _HostResolution(hostName, deferred)
        resolutionReceiver.resolutionBegan(resolution)
        kinds = {IPv4Address: False, IPv6Address: True}
        wanted = [k for k in kinds if addressTypes is None or k in addressTypes]

        def deliver(addresses: tuple[str, ...]) -> None:
            for address in addresses:
                kind = IPv6Address if ":" in address else IPv4Address
                if kind in wanted:
                    resolutionReceiver.addressResolved(kind(transportSemantics, address, portNumber))

        def failed(failure: Failure) -> None:
            if not failure.check(GuardedLookupError, defer.CancelledError):
                log.error("resolving %s failed unexpectedly: %s", hostName, failure.getTraceback())

        deferred.addCallbacks(deliver, failed)
        deferred.addBoth(lambda _: resolutionReceiver.resolutionComplete())
        return resolution


def _canonical(host: str) -> str:
    """``host`` as Twisted or a URL gives it (bare or bracketed IPv6 too) in canonical form."""
    return parse_host(f"[{host}]" if ":" in host and not host.startswith("[") else host)


class GuardedLookupMiddleware:
    """Downloader middleware: turns the generic "could not resolve host" error of a request into
    the :class:`GuardedLookupError` the installed :class:`GuardedResolver` recorded for its host.

    Enable it above RetryMiddleware (550), e.g. at 560, so refusals and definite DNS answers are
    not retried.
    """

    def process_exception(self, request: Any, exception: Exception) -> None:
        if isinstance(exception, GuardedLookupError):
            return None
        if not isinstance(exception, (DNSLookupError, CannotResolveHostError)):
            return None
        resolver = GuardedResolver.installed()
        if resolver is None:
            return None
        from scrapy.utils.httpobj import urlparse_cached

        host = urlparse_cached(request).hostname
        error = resolver.lookup_error(host) if host else None
        if error is None:
            return None
        raise error from exception
