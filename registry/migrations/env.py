"""Alembic environment of the registry's tables (version table ``registry_alembic_version``)."""

from icpwatch.dbkit import run_migrations
from registry.models import Base

VERSION_TABLE = "registry_alembic_version"

run_migrations(Base.metadata, VERSION_TABLE)
