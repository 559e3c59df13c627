"""Alembic environment of the registry's tables (version table ``registry_alembic_version``)."""

from icpwatch.dbkit import run_migrations
from registry.models import Base
import registry.ledger.models  # noqa: F401
import registry.workflows.models  # noqa: F401

VERSION_TABLE = "registry_alembic_version"

run_migrations(Base.metadata, VERSION_TABLE)
