"""The observation: what the crawler saw for one target host (or one probe of an address).

The monitor consumes these; keep the field names stable and extend rather than rename.

===============  ==================================================================================
run_id           the crawl run
target_key       unique within a run: what resume and de-duplication key on
target           the input line as given
target_line      its line number (1-based) in the targets
kind             "domain" | "url" | "ip" | "cidr_member"
host             the host fetched (apex or www. of a domain, or an address)
url              the first URL tried
final_url        the URL of the final response (None when nothing answered)
status           see ``STATUSES``; anything but "ok" means *unknown*, never "no filing"
error            human text for a failure (None when ok)
dns              {name: Resolution.to_dict()} for every name resolved along the way
ip               the address that served the final response
redirect_chain   [{url, status, location, kind: "http"|"meta"|"script", ip, delay?}] hop by hop
http_status      status code of the final response
headers          subset of the final response's headers: server, content-type
encoding         {encoding, declared, source, lied} of the final page
page             PageExtract.to_dict() of the final page, or None
owners           {ip: AddressOwner as dict} for the serving addresses (when ownership is on)
fetched_at       UTC ISO time the observation was completed
elapsed          seconds from first request to observation
probe            IP-range spider only: {"port", "scheme", "host_header": "none"|"address"}
body_size        bytes of the final body received (after decompression)
warnings         notes such as "body over 1 MiB" (list of text)
===============  ==================================================================================
"""

from __future__ import annotations

from typing import Any

import scrapy

#: Every status an observation can carry.  All but "ok" and "http_error" mean the page was not
#: observed; "http_error" means a server answered with 4xx/5xx (observed, but not a homepage).
STATUSES = (
    "ok",
    "http_error",          # final response 4xx/5xx
    "dns_error",           # resolution failed; dns[name].status says which kind
    "refused",             # the address guard or the scheme rule refused a hop
    "timeout",             # total download timeout reached (slowloris, never answering)
    "tls_error",           # handshake or certificate verification failed
    "too_large",           # body (or decompressed body) over the cap
    "redirect_loop",       # a redirect came back to a URL already in the chain (incl. itself)
    "too_many_redirects",  # more hops than the limit
    "connection_error",    # refused/reset/closed connection
    "protocol_error",      # a response that is not valid HTTP (broken chunking, bad headers)
    "error",               # anything else (with error text)
)
OK_STATUSES = ("ok", "http_error")

FIELDS = ("run_id", "target_key", "target", "target_line", "kind", "host", "url", "final_url",
          "status", "error", "dns", "ip", "redirect_chain", "http_status", "headers", "encoding",
          "page", "owners", "fetched_at", "elapsed", "probe", "body_size", "warnings")


class Observation(scrapy.Item):
    """One observation; see the module docstring for each field."""

    run_id = scrapy.Field()
    target_key = scrapy.Field()
    target = scrapy.Field()
    target_line = scrapy.Field()
    kind = scrapy.Field()
    host = scrapy.Field()
    url = scrapy.Field()
    final_url = scrapy.Field()
    status = scrapy.Field()
    error = scrapy.Field()
    dns = scrapy.Field()
    ip = scrapy.Field()
    redirect_chain = scrapy.Field()
    http_status = scrapy.Field()
    headers = scrapy.Field()
    encoding = scrapy.Field()
    page = scrapy.Field()
    owners = scrapy.Field()
    fetched_at = scrapy.Field()
    elapsed = scrapy.Field()
    probe = scrapy.Field()
    body_size = scrapy.Field()
    warnings = scrapy.Field()


def empty_observation(**values: Any) -> Observation:
    """An observation with every field present (None/empty), then ``values``."""
    item = Observation({name: None for name in FIELDS})
    item["dns"], item["redirect_chain"], item["owners"], item["warnings"] = {}, [], {}, []
    item.update(values)
    return item
