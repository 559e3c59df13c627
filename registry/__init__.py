"""The system of record every sweep is checked against.

What lives here: the filing-number grammar (``numbers``), independent-domain rules (``domains``),
protection of confidential data (``protection``), the store (``models``, ``store``, Alembic
``migrations``), import and export (``importer``, ``exporter``), single lookups (``lookup``) and
the warm in-memory index for bulk matching (``index``).

What it may import: the standard library, third-party packages and ``icpwatch.clikit``; never
``crawler``, ``monitor``, ``reports`` or ``sandbox`` (DESIGN.md §3: dependencies point one way).
"""
