"""Alembic environment of the monitor's tables (version table ``monitor_alembic_version``)."""

from icpwatch.dbkit import run_migrations
from monitor.models import Base

run_migrations(Base.metadata, "monitor_alembic_version")
