"""TLS that verifies certificates, so an expired or wrong-host certificate is an observation
(status ``tls_error``) rather than silently accepted as Scrapy's default context factory does.

Trust: the certificates in ``ICPWATCH_CA_FILE`` when set (the sandbox CA in tests and the demo),
else the platform's trust store.  Wired with ``DOWNLOADER_CLIENTCONTEXTFACTORY``.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from OpenSSL import SSL
from scrapy.core.downloader.contextfactory import _ScrapyClientContextFactory
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


def quiet_deprecation() -> None:
    """DOWNLOADER_CLIENTCONTEXTFACTORY is deprecated in recent Scrapy but still the way to set a
    trust root; do not warn about it on every crawl."""
    warnings.filterwarnings("ignore", message=".*DOWNLOADER_CLIENTCONTEXTFACTORY.*")
