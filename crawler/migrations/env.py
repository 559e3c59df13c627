"""Alembic environment of the crawler's tables (version table ``crawler_alembic_version``)."""

from crawler.store import VERSION_TABLE, metadata
from icpwatch.dbkit import run_migrations

run_migrations(metadata, VERSION_TABLE)
