"""TLS that verifies certificates, so an expired or wrong-host certificate is an observation
(status ``tls_error``) rather than silently accepted as Scrapy's default context factory does.

Trust: the certificates in ``ICPWATCH_CA_FILE`` when set (the sandbox CA in tests and the demo),
else the platform's trust store.  The Twisted handler gets it through
``DOWNLOADER_CLIENTCONTEXTFACTORY`` (:class:`VerifyingContextFactory`), the aiohttp handler
(:mod:`crawler.download`) as an :class:`ssl.SSLContext` (:func:`ssl_context`).
"""

from __future__ import annotations

import re
import ssl
import warnings
from pathlib import Path
from typing import Any

from OpenSSL import SSL
from scrapy.core.downloader.contextfactory import _ScrapyClientContextFactory
from scrapy.settings import BaseSettings
from scrapy.utils.ssl import _make_ssl_context
from twisted.internet.ssl import Certificate, optionsForClientTLS, platformTrust, trustRootFromCertificates

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def trust_root(ca_file: str | None) -> Any:
    """A Twisted trust root: the certificates of ``ca_file``, or the platform's store."""
    if not ca_file:
        return platformTrust()
    pems = _PEM.findall(Path(ca_file).read_bytes())
    if not pems:
        raise ValueError(f"{ca_file}: no PEM certificate in it")
    return trustRootFromCertificates([Certificate.loadPEM(p) for p in pems])


class VerifyingContextFactory(_ScrapyClientContextFactory):
    """Scrapy's context factory with peer verification (hostname or IP address) always on."""

    def __init__(self, *args: Any, ca_file: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trust = trust_root(ca_file)

    @classmethod
    def from_crawler(cls, crawler: Any, method: int | None = SSL.SSLv23_METHOD,  # noqa: S503
                     *args: Any, **kwargs: Any) -> VerifyingContextFactory:
        kwargs["ca_file"] = crawler.settings.get("ICPWATCH_CA_FILE") or None
        return super().from_crawler(crawler, method, *args, **kwargs)  # type: ignore[return-value]

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        return optionsForClientTLS(hostname=hostname.decode("ascii"), trustRoot=self._trust,
                                   extraCertificateOptions=self._get_cert_options_kwargs())


def ssl_context(settings: BaseSettings) -> ssl.SSLContext:
    """The stdlib TLS context of the aiohttp handler, trusting what :func:`trust_root` trusts.

    Scrapy's context carries the TLS settings (``DOWNLOAD_TLS_MIN_VERSION``/``MAX_VERSION``,
    ``DOWNLOADER_CLIENT_TLS_CIPHERS``, ``SSLKEYLOGFILE``); trust and name checks are set here,
    whatever ``DOWNLOAD_VERIFY_CERTIFICATES`` says, and with a CA file nothing else is trusted.
    """
    base = BaseSettings(settings.copy_to_dict())
    base.set("DOWNLOAD_VERIFY_CERTIFICATES", False)  # loads no CA certificates: they are chosen below
    ctx = _make_ssl_context(base)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    # service_identity (the Twisted handler's check) accepts subjectAltName only, never the CN
    ctx.hostname_checks_common_name = False
    ca_file = settings.get("ICPWATCH_CA_FILE") or None
    if ca_file:
        if not _PEM.search(Path(ca_file).read_bytes()):
            raise ValueError(f"{ca_file}: no PEM certificate in it")
        ctx.load_verify_locations(cafile=ca_file)
    else:
        ctx.load_default_certs()
    return ctx


def quiet_deprecation() -> None:
    """DOWNLOADER_CLIENTCONTEXTFACTORY is deprecated in recent Scrapy but still the way to set a
    trust root; do not warn about it on every crawl."""
    warnings.filterwarnings("ignore", message=".*DOWNLOADER_CLIENTCONTEXTFACTORY.*")
