"""Sweeps: choosing targets, running the crawler, turning observations into findings against the
registry, verification, diffs between sweeps, schedules, alerts, and the CLI (DESIGN.md §3).

What lives here:

* ``targets``      — a sweep's target lines from a file, a provider, a province or a saved scope
* ``crawlhooks``   — the Scrapy settings a sweep adds to the crawler's (ownership lookups pointed
  at the sweep's resolver and RDAP service)
* ``observations`` — a crawl run's observations folded into one :class:`~monitor.observations.SiteView`
  per swept site, plus the addresses seen serving
* ``registryview`` — the registry loaded once per sweep for bulk joins (``RegistryIndex`` + pandas)
* ``ownership``    — who owns an address the registry cannot place (ipwhois owner, origin-ASN fallback)
* ``rules``        — the rule table of DESIGN.md §2 and one pure function per rule family
* ``sweep``        — ``run_sweep``: the sweep row, the crawl, the judgement, findings and sightings
* ``verify`` / ``diff`` — analysts' decisions; what changed between two sweeps of one scope
* ``cli``          — ``icpwatch sweep``, ``icpwatch findings …``, ``icpwatch scope …``
* ``models`` / ``store`` — the monitor's tables (own Alembic history)

Dependencies point one way (DESIGN.md §3): this package may import ``registry``, ``crawler``
(its runner, store and observation fields) and ``icpwatch`` (dbkit, clikit); nothing in
``registry`` or ``crawler`` imports it, and ``reports`` reads what it stored.
"""
