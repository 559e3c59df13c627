"""A miniature internet on loopback (127.0.0.0/8) for the demo, the tests and the benchmarks.

What lives here:

- ``spec``      the world spec: providers and their address blocks, IP filing units, registrars,
                websites (domains, addresses, page template, redirects, encoding, DNS behaviour,
                hostile behaviour) and the registry records that go with them; load/save as YAML
                or JSON; validation, including the loopback-only rule.
- ``generate``  the world generator (``icpwatch world generate``) and the world's ground truth:
                every finding a correct sweep must raise, per site and per responsible party.
- ``pages``     page templates: footer variants, encodings, parked and default server pages,
                contact details, pre-approval-looking content.
- ``web``       the web hosts: HTTP and HTTPS on many loopback addresses, virtual hosts by Host
                header and SNI, a default virtual host per address, redirects of every kind,
                hostile servers; certificates from a local CA (trustme) written to a CA file.
- ``dns``       the authoritative DNS server (``Zone``, ``SandboxDNS``).
- ``rdap``      IP ownership: RDAP server and origin-ASN records (``AddressBlock``).
- ``serve``     composes DNS + web + RDAP for a spec.
- ``cli``       the ``world`` click group: ``generate``, ``serve``, ``registry``.

What it may import: the standard library, third-party packages, ``icpwatch.clikit`` and (if
useful) ``registry`` helpers for filing numbers and domains; never ``crawler``, ``monitor`` or
``reports``. Conversely, nothing in ``crawler``, ``monitor`` or ``reports`` may read a world's
ground truth: only tests and benchmarks compare against it.

Network discipline: everything here listens on and talks to loopback only. A spec that names any
address outside 127.0.0.0/8 (or ::1) is refused with a clear error.
"""
